//! What both backends' revocation feeds share: reading stored seqs and epochs back, and which
//! of the oldest events a purge may delete.

use tokenauth_core::Timestamp;
use tokenauth_core::store::StoreError;

/// A stored seq (or `purged_through`) as the feed's unsigned number.
///
/// # Errors
/// [`StoreError::Corrupt`] if it is negative.
pub(crate) fn seq(stored: i64) -> Result<u64, StoreError> {
    u64::try_from(stored).map_err(|_| StoreError::Corrupt(format!("negative feed seq {stored}")))
}

/// A reader's cursor as a stored seq. No stored seq exceeds `i64::MAX`, so a larger cursor is
/// clamped to it: nothing comes after either.
pub(crate) fn cursor(after: u64) -> i64 {
    i64::try_from(after).unwrap_or(i64::MAX)
}

/// The stored epoch, if it has the promised form (16 lowercase hex digits).
///
/// # Errors
/// [`StoreError::Corrupt`] otherwise.
pub(crate) fn checked_epoch(epoch: String) -> Result<String, StoreError> {
    let well_formed = epoch.len() == 16
        && epoch
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if well_formed {
        Ok(epoch)
    } else {
        Err(StoreError::Corrupt(format!(
            "revocation feed epoch {epoch:?} is not 16 lowercase hex digits"
        )))
    }
}

/// What a purge reads of one of the oldest events.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stored {
    /// Its position.
    pub(crate) seq: i64,
    /// When the session was revoked.
    pub(crate) revoked_at: Timestamp,
    /// The latest expiry of the session's access tokens.
    pub(crate) alive_until: Timestamp,
}

/// Given the oldest events in seq order, the last seq a purge of events revoked before
/// `revoked_before` whose tokens expired before `alive_before` may delete: the end of the run
/// of such events at the start. The purge stops at the first event that is not old enough,
/// even if later ones are (times need not follow seq order), so that every event at or below
/// `purged_through` is gone.
pub(crate) fn purge_end(
    oldest: &[Stored],
    revoked_before: Timestamp,
    alive_before: Timestamp,
) -> Option<i64> {
    oldest
        .iter()
        .take_while(|event| event.revoked_at < revoked_before && event.alive_until < alive_before)
        .map(|event| event.seq)
        .last()
}
