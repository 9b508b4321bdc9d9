//! Withdrawing a key: ending its publication at once, before its scheduled end, because tokens
//! signed by it must stop verifying (its private material leaked). Running servers drop it from
//! their keyring within [`super::KEY_CHANGE_CHECK_PERIOD`]
//! ([`super::KeyManager::follow_key_changes`]); the withdrawal is published on the revocation
//! feed, so verifiers that follow it drop the key at once, and the others at their next JWKS
//! refresh.

use crate::audit::{AuditEvent, AuditKind, Auditor};
use crate::clock::Timestamp;
use crate::keys::record::KeyState;
use crate::store::{KeyStore, StoreError};

/// What [`KeyStore::withdraw_signing_key`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyWithdrawal {
    /// The key was deleted; it was in this state (`Next` or `Retired`).
    Withdrawn(KeyState),
    /// The key is the active (signing) one: nothing changed.
    RefusedActive,
    /// No stored key has this kid: nothing changed.
    Unknown,
}

/// Why a key could not be withdrawn. Nothing changed in any case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyWithdrawalError {
    /// The key signs new tokens: another key must become active first.
    #[error("key {0} is the active signing key")]
    Active(String),
    /// No stored key has this kid (never created, expired, or already withdrawn).
    #[error("no signing key {0}")]
    Unknown(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Withdraws the `next` or `retired` key `kid` (deletes it, so no keyring built afterwards
/// holds it, and appends the withdrawal to the revocation feed in the same transaction) and
/// records `key_withdrawn` through `audit`. Returns the state the key was in.
///
/// # Errors
/// [`KeyWithdrawalError::Active`] for the signing key, [`KeyWithdrawalError::Unknown`] for a kid
/// no key has, or a store failure; nothing is changed or recorded then.
pub async fn withdraw_key(
    store: &dyn KeyStore,
    audit: &Auditor,
    kid: &str,
    now: Timestamp,
) -> Result<KeyState, KeyWithdrawalError> {
    match store.withdraw_signing_key(kid, now).await? {
        KeyWithdrawal::Withdrawn(state) => {
            tracing::warn!(kid, %state, "a signing key was withdrawn");
            audit
                .record(AuditEvent::new(AuditKind::KeyWithdrawn, now).detail(kid))
                .await;
            Ok(state)
        }
        KeyWithdrawal::RefusedActive => Err(KeyWithdrawalError::Active(kid.to_owned())),
        KeyWithdrawal::Unknown => Err(KeyWithdrawalError::Unknown(kid.to_owned())),
    }
}
