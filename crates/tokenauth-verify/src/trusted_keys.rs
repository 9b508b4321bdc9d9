//! [`TrustedKeys`]: the key set in force, swapped atomically so the verify
//! path never takes a lock, plus the verified-token cache that depends on it,
//! and the `kid`s withdrawn through the revocation feed, which no later JWKS
//! (a stale copy from a cache on the way, say) can bring back.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::{ArcSwap, Guard};
use tokenauth_jwt::KeySet;

use tokenauth_jwt::TokenCache;

/// Withdrawn `kid`s remembered; the oldest is forgotten beyond this. Keys are
/// withdrawn a handful of times in a deployment's life, and a forgotten one
/// is long gone from every JWKS.
const WITHDRAWN_KIDS_KEPT: usize = 1024;

/// The keys tokens are checked against right now.
pub(crate) struct TrustedKeys {
    keys: ArcSwap<KeySet>,
    token_cache: Option<TokenCache>,
    /// `kid`s withdrawn through the revocation feed, oldest first.
    withdrawn: Mutex<VecDeque<String>>,
}

impl TrustedKeys {
    pub(crate) fn new(keys: KeySet, token_cache: Option<TokenCache>) -> TrustedKeys {
        TrustedKeys {
            keys: ArcSwap::from_pointee(keys),
            token_cache,
            withdrawn: Mutex::new(VecDeque::new()),
        }
    }

    /// Stops trusting the keys `kids` at once (clearing the token cache if
    /// one of them was in force), and never trusts them again, whatever a
    /// later JWKS holds.
    pub(crate) fn withdraw<'a>(&self, kids: impl IntoIterator<Item = &'a str>) {
        let mut withdrawn = self
            .withdrawn
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut any = false;
        for kid in kids {
            any = true;
            if !withdrawn.iter().any(|known| known == kid) {
                tracing::warn!(kid, "signing key withdrawn by the auth server");
                withdrawn.push_back(kid.to_owned());
                if withdrawn.len() > WITHDRAWN_KIDS_KEPT {
                    withdrawn.pop_front();
                }
            }
        }
        if any {
            // Under the lock, so a concurrent install cannot put back what
            // this one takes out.
            self.install_locked(&withdrawn, KeySet::clone(&self.keys.load()));
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
        let withdrawn = self
            .withdrawn
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.install_locked(&withdrawn, keys);
    }

    /// [`TrustedKeys::install`] of `keys` without the `withdrawn` ones.
    fn install_locked(&self, withdrawn: &VecDeque<String>, keys: KeySet) {
        let keys = if keys.kids().any(|kid| withdrawn.iter().any(|w| w == kid)) {
            KeySet::new(
                keys.kids()
                    .filter(|kid| !withdrawn.iter().any(|w| w == kid))
                    .filter_map(|kid| keys.get(kid).cloned()),
            )
        } else {
            keys
        };
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

    #[test]
    fn a_withdrawn_kid_goes_at_once_and_never_comes_back() {
        let keys = TrustedKeys::new(KeySet::new([key("a"), key("b")]), Some(TokenCache::new(4)));
        keys.withdraw(["a"]);
        assert_eq!(keys.snapshot().kids().collect::<Vec<_>>(), ["b"]);
        keys.install(KeySet::new([key("a"), key("b"), key("c")]));
        assert_eq!(keys.snapshot().kids().collect::<Vec<_>>(), ["b", "c"]);
        keys.withdraw(["unknown"]);
        assert_eq!(keys.snapshot().len(), 2);
    }
}
