//! [`TrustedKeys`]: the key set in force, swapped atomically so the verify
//! path never takes a lock, plus the verified-token cache that depends on it.

use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};
use tokenauth_jwt::KeySet;

use tokenauth_jwt::TokenCache;

/// The keys tokens are checked against right now.
pub(crate) struct TrustedKeys {
    keys: ArcSwap<KeySet>,
    token_cache: Option<TokenCache>,
}

impl TrustedKeys {
    pub(crate) fn new(keys: KeySet, token_cache: Option<TokenCache>) -> TrustedKeys {
        TrustedKeys {
            keys: ArcSwap::from_pointee(keys),
            token_cache,
        }
    }

    /// The current set, without locking.
    pub(crate) fn load(&self) -> Guard<Arc<KeySet>> {
        self.keys.load()
    }

    /// The current set, as an owned handle.
    pub(crate) fn snapshot(&self) -> Arc<KeySet> {
        self.keys.load_full()
    }

    /// The verified-token cache, if enabled.
    pub(crate) fn token_cache(&self) -> Option<&TokenCache> {
        self.token_cache.as_ref()
    }

    /// Puts `keys` in force. If a `kid` of the previous set is gone (a key
    /// was withdrawn), every cached token is forgotten, so tokens of that
    /// key are checked again, and fail, from now on.
    pub(crate) fn install(&self, keys: KeySet) {
        let new = Arc::new(keys);
        let old = self.keys.swap(Arc::clone(&new));
        let withdrawn = old.kids().filter(|kid| new.get(kid).is_none()).count();
        let added = new.kids().filter(|kid| old.get(kid).is_none()).count();
        if withdrawn > 0 || added > 0 {
            let kids: Vec<&str> = new.kids().collect();
            tracing::info!(?kids, added, withdrawn, "signing keys changed");
        }
        if withdrawn > 0
            && let Some(cache) = &self.token_cache
        {
            cache.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokenauth_jwt::{Audience, VerifyingKey};

    fn key(kid: &str) -> VerifyingKey {
        VerifyingKey::hmac(kid.into(), &[7; 32]).unwrap()
    }

    #[test]
    fn withdrawn_kid_clears_cache_added_kid_does_not() {
        let claims = Arc::new(tokenauth_jwt::AccessTokenClaims {
            iss: "i".into(),
            sub: "s".into(),
            aud: Audience::One("a".into()),
            exp: 100,
            iat: 0,
            nbf: 0,
            jti: "j".into(),
            sid: "x".into(),
            roles: vec![],
        });
        let keys = TrustedKeys::new(KeySet::new([key("a")]), Some(TokenCache::new(4)));
        let cache = keys.token_cache().unwrap();
        let put = || cache.insert("t", Arc::clone(&claims), 100, cache.epoch());
        put();
        keys.install(KeySet::new([key("a"), key("b")]));
        assert_eq!(cache.len(), 1);
        keys.install(KeySet::new([key("b")]));
        assert_eq!(cache.len(), 0);
        assert_eq!(keys.snapshot().kids().collect::<Vec<_>>(), ["b"]);
        put();
        assert_eq!(keys.load().len(), 1);
    }
}
