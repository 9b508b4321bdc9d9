//! The in-memory keyring: parsed keys, ready to sign and verify without touching the database.

use std::sync::Arc;

use tokenauth_jwt::{Jwk, Jwks, KeySet, SigningKey, VerifyingKey};

use crate::clock::Timestamp;
use crate::keys::record::{KeyState, SigningKeyRecord};
use crate::master_key::MasterKey;

/// Why stored keys could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyringError {
    /// There is no active key (the store has not been initialised).
    #[error("no active signing key")]
    NoActiveKey,
    /// A key could not be decrypted or parsed.
    #[error("signing key {kid}: {reason}")]
    BadKey {
        /// The key's id.
        kid: String,
        /// What went wrong (never key material).
        reason: String,
    },
}

/// Parsed keys of one moment: the active signer, every key that may verify a live token, and the
/// JWKS document that publishes the public ones. Immutable; replaced whole when keys change.
#[derive(Debug)]
pub struct Keyring {
    signer: Arc<SigningKey>,
    verifiers: KeySet,
    jwks_json: Arc<[u8]>,
    fingerprint: Vec<(String, KeyState)>,
}

impl Keyring {
    /// Builds the keyring from stored records as they stand at `now`.
    ///
    /// # Errors
    /// [`KeyringError::NoActiveKey`] without an active key; [`KeyringError::BadKey`] if a key
    /// needed for signing or verification cannot be opened.
    pub fn from_records(
        records: &[SigningKeyRecord],
        master: &MasterKey,
        now: Timestamp,
    ) -> Result<Self, KeyringError> {
        let bad = |kid: &str, reason: String| KeyringError::BadKey {
            kid: kid.to_owned(),
            reason,
        };
        let mut signer = None;
        let mut verifiers: Vec<VerifyingKey> = Vec::new();
        let mut jwks = Jwks { keys: Vec::new() };
        let mut fingerprint = Vec::new();
        for record in records.iter().filter(|r| r.is_published_at(now)) {
            fingerprint.push((record.kid.clone(), record.state));
            let needs_secret = record.state == KeyState::Active || record.public_jwk.is_none();
            let secret_key = if needs_secret {
                let material = master
                    .open(&record.kid, &record.sealed_material)
                    .map_err(|e| bad(&record.kid, e.to_string()))?;
                let key = SigningKey::from_material(record.alg, record.kid.clone(), &material)
                    .map_err(|e| bad(&record.kid, e.to_string()))?;
                Some(key)
            } else {
                None
            };
            match (&record.public_jwk, &secret_key) {
                (Some(json), _) => {
                    let jwk: Jwk = serde_json::from_str(json)
                        .map_err(|e| bad(&record.kid, format!("stored JWK: {e}")))?;
                    let key = VerifyingKey::from_jwk(&jwk)
                        .map_err(|e| bad(&record.kid, e.to_string()))?;
                    verifiers.push(key);
                    jwks.keys.push(jwk);
                }
                (None, Some(key)) => verifiers.push(key.verifying_key()),
                (None, None) => {}
            }
            if record.state == KeyState::Active {
                signer = secret_key;
            }
        }
        let signer = signer.ok_or(KeyringError::NoActiveKey)?;
        let jwks_json = serde_json::to_vec(&jwks)
            .map_err(|e| bad(signer.kid(), format!("JWKS serialisation: {e}")))?;
        Ok(Self {
            signer: Arc::new(signer),
            verifiers: KeySet::new(verifiers),
            jwks_json: jwks_json.into(),
            fingerprint,
        })
    }

    /// The key that signs new access tokens.
    pub fn signer(&self) -> &SigningKey {
        &self.signer
    }

    /// Every key that may verify a live token, by kid.
    pub fn verifiers(&self) -> &KeySet {
        &self.verifiers
    }

    /// The serialised JWKS document (public keys only; HS256 keys are never in it).
    pub fn jwks_json(&self) -> Arc<[u8]> {
        Arc::clone(&self.jwks_json)
    }

    /// The ids of the keys it holds (signer and verifiers).
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.fingerprint.iter().map(|(kid, _)| kid.as_str())
    }

    /// Whether `records` (every stored key) show a change this keyring has missed: a key it
    /// holds is no longer stored, the active key is another one, or a `next` key is not held.
    /// Time plays no part: a retired key whose publication ended is left to the schedule.
    pub fn is_behind(&self, records: &[SigningKeyRecord]) -> bool {
        let vanished = self
            .kids()
            .any(|kid| !records.iter().any(|record| record.kid == kid));
        let unseen = records.iter().any(|record| match record.state {
            KeyState::Active => record.kid != self.signer.kid(),
            KeyState::Next => !self.kids().any(|kid| kid == record.kid),
            KeyState::Retired => false,
        });
        vanished || unseen
    }

    /// Whether `records` at `now` would build the same keyring (same kids in the same states).
    pub fn matches(&self, records: &[SigningKeyRecord], now: Timestamp) -> bool {
        let published = records.iter().filter(|r| r.is_published_at(now));
        published.map(|r| (r.kid.as_str(), r.state)).eq(self
            .fingerprint
            .iter()
            .map(|(kid, state)| (kid.as_str(), *state)))
    }
}

/// A keyring verifies with [`Keyring::verifiers`], so the shared token check
/// ([`tokenauth_jwt::check_access_token`]) can load a keyring only on a cache miss.
impl AsRef<KeySet> for Keyring {
    fn as_ref(&self) -> &KeySet {
        self.verifiers()
    }
}
