//! [`KeySet`]: the keys an application trusts, looked up by `kid`.

use crate::error::KeyError;
use crate::jwk::Jwks;
use crate::verifying_key::VerifyingKey;

/// Keys an application trusts, looked up by `kid`.
///
/// A `kid` is only ever compared for equality against the keys already in
/// the set: it is never used as a path, URL or query, and a token can never
/// introduce a key. Each `kid` appears at most once (the first key wins).
/// Sized for a handful of keys (rotation), looked up by linear scan.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: Vec<VerifyingKey>,
}

/// So that [`crate::check_access_token`] takes a plain `&KeySet` as readily as a holder of one
/// (the server's keyring, the verifier's swapped-in snapshot).
impl AsRef<KeySet> for KeySet {
    fn as_ref(&self) -> &KeySet {
        self
    }
}

impl KeySet {
    /// A set of the given keys; a key whose `kid` is already present is
    /// dropped (the first one wins).
    pub fn new(keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        let mut set = KeySet::default();
        for key in keys {
            // Duplicates are dropped silently here; `from_jwks` reports them.
            let _ = set.insert(key);
        }
        set
    }

    /// A set of every usable key in `jwks`, plus one error per skipped key
    /// (unsupported, malformed, symmetric, duplicate `kid`, ...).
    #[must_use]
    pub fn from_jwks(jwks: &Jwks) -> (KeySet, Vec<KeyError>) {
        let mut set = KeySet::default();
        let mut errors = Vec::new();
        for jwk in &jwks.keys {
            match VerifyingKey::from_jwk(jwk).and_then(|key| set.insert(key)) {
                Ok(()) => {}
                Err(err) => errors.push(err),
            }
        }
        (set, errors)
    }

    fn insert(&mut self, key: VerifyingKey) -> Result<(), KeyError> {
        if self.get(key.kid()).is_some() {
            return Err(KeyError::DuplicateKid);
        }
        self.keys.push(key);
        Ok(())
    }

    /// The key with exactly this `kid`, if trusted.
    #[must_use]
    pub fn get(&self, kid: &str) -> Option<&VerifyingKey> {
        self.keys.iter().find(|key| key.kid() == kid)
    }

    /// The trusted `kid`s, in insertion order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(VerifyingKey::kid)
    }

    /// Number of keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// `true` if the set trusts no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_kid_wins() {
        let k = |kid: &str, byte| VerifyingKey::hmac(kid.into(), &[byte; 32]).unwrap();
        let set = KeySet::new([k("a", 1), k("a", 2), k("b", 3)]);
        assert_eq!((set.len(), set.is_empty()), (2, false));
        assert_eq!(set.kids().collect::<Vec<_>>(), ["a", "b"]);
        assert!(set.get("c").is_none());
        assert!(KeySet::new([]).is_empty());
    }
}
