//! Refresh-token rotation on PostgreSQL: one locking read of the presented token's family (by
//! the session's primary key for a v2 token, by hash for a legacy one), the core's
//! [`decide_rotation`], and one compare-and-swap on the live generation.

use deadpool_postgres::Transaction;
use tokenauth_core::refresh_token::PresentedRefreshToken;
use tokenauth_core::session::{
    FamilyState, RevokeReason, RotationDecision, RotationOutcome, RotationRequest, RotationSwap,
    decide_rotation,
};
use tokenauth_core::store::StoreError;
use tokenauth_core::{SessionId, Timestamp};
use tokio_postgres::Row;

use super::rows;
use super::{revocations, unavailable};

/// How often a rotation reads and decides again after losing its compare-and-swap. The read
/// locks the session's row, so only a change to the user (disabled meanwhile) can make the swap
/// lose; the next read sees it.
const SWAP_ATTEMPTS: usize = 3;

/// The columns of a family, as [`family_row`] reads them.
macro_rules! family_columns {
    () => {
        "s.id, s.user_id, s.generation, s.rotated_at, s.expires_at, s.absolute_expires_at, \
         s.access_expires_at, s.revoked_at, u.disabled_at IS NOT NULL AS user_disabled, u.roles"
    };
}

/// The family of a v2 token: its session, by primary key, locked until the transaction ends.
const FAMILY_BY_ID: &str = concat!(
    "SELECT ",
    family_columns!(),
    " FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1 FOR UPDATE OF s"
);

/// The family of a legacy token, found through the history of hashes and locked, with the
/// presented token's generation: the live one when it is the session's current hash, one less
/// when its previous hash, else the history's.
const FAMILY_BY_HASH: &str = concat!(
    "SELECT ",
    family_columns!(),
    ", CASE WHEN s.current_hash = t.hash THEN s.generation \
     WHEN s.previous_hash = t.hash THEN s.generation - 1 \
     ELSE t.generation END AS presented_generation \
     FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
     JOIN users u ON u.id = s.user_id WHERE t.hash = $1 FOR UPDATE OF s"
);

/// The rotation inside the caller's transaction (see `shared/refresh-rotation.md`): one read of
/// the presented token's family, [`decide_rotation`], then the decision applied, as on SQLite.
/// The read locks the family's row (`FOR UPDATE OF s`), so the decision and what applies it act
/// on one state: a concurrent rotation of the same token waits for the lock, then reads the
/// committed state (the next generation live: a replay). A rotation is one compare-and-swap on
/// the live generation that keeps every guard (not revoked, neither end reached, user not
/// disabled).
pub(super) async fn rotate(
    tx: &Transaction<'_>,
    request: &RotationRequest,
) -> Result<RotationOutcome, StoreError> {
    for _ in 0..SWAP_ATTEMPTS {
        let family = family_of(tx, &request.presented).await?;
        match decide_rotation(family.as_ref(), request) {
            RotationDecision::Rotate(swap) => {
                if swap_successor(tx, request.now, &swap).await? {
                    return Ok(RotationOutcome::Rotated(swap.owner));
                }
            }
            RotationDecision::Replay(owner) => return Ok(RotationOutcome::Replayed(owner)),
            RotationDecision::RevokeFamily {
                session_id,
                user_id,
            } => {
                revoke_reused(tx, session_id, request.now).await?;
                return Ok(RotationOutcome::Reused {
                    session_id,
                    user_id,
                });
            }
            RotationDecision::Refuse(refusal) => return Ok(refusal.outcome()),
        }
    }
    Err(StoreError::Unavailable(
        "the rotation kept losing its compare-and-swap".to_owned(),
    ))
}

/// The compare-and-swap of a [`RotationDecision::Rotate`]: moves the session from the live
/// generation to the next, in place, by primary key, with the values the decision computed
/// (the successor's expiry already capped at the absolute end), only while the live generation
/// is still the presented one, in a session neither revoked nor expired whose user is not
/// disabled. A legacy session's hash moves to `previous_hash` (a retry of it within grace is
/// still recognised) and `current_hash` is cleared: its successor is a v2 token. No history
/// row is written. False, with nothing written, when the guards fail.
async fn swap_successor(
    tx: &Transaction<'_>,
    now: Timestamp,
    swap: &RotationSwap,
) -> Result<bool, StoreError> {
    let statement = tx
        .prepare_cached(
            "UPDATE sessions SET previous_hash = current_hash, current_hash = NULL, \
             generation = $2, rotated_at = $3, last_used_at = $3, expires_at = $4, \
             access_expires_at = $5 \
             WHERE id = $1 AND generation = $6 AND revoked_at IS NULL AND expires_at > $3 \
             AND absolute_expires_at > $3 \
             AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = sessions.user_id \
             AND u.disabled_at IS NOT NULL)",
        )
        .await
        .map_err(unavailable)?;
    let swapped = tx
        .execute(
            &statement,
            &[
                &swap.owner.session_id.as_uuid(),
                &rows::stored_generation(swap.successor_generation)?,
                &now.as_millis(),
                &swap.expires_at.as_millis(),
                &swap.access_expires_at.as_millis(),
                &rows::stored_generation(swap.generation)?,
            ],
        )
        .await
        .map_err(unavailable)?;
    Ok(swapped == 1)
}

/// Revokes a family whose rotated token came back (reason `refresh_token_reused`), with its
/// feed event; a family revoked meanwhile is left as it is.
async fn revoke_reused(
    tx: &Transaction<'_>,
    session: SessionId,
    now: Timestamp,
) -> Result<(), StoreError> {
    let revoked = tx
        .execute(
            "UPDATE sessions SET revoked_at = $2, revoke_reason = $3 WHERE id = $1 AND revoked_at IS NULL",
            &[
                &session.as_uuid(),
                &now.as_millis(),
                &RevokeReason::RefreshTokenReused.as_str(),
            ],
        )
        .await
        .map_err(unavailable)?;
    if revoked == 1 {
        revocations::append(tx, &[session], now).await?;
    }
    Ok(())
}

/// The state of the family that issued `token`, read in one statement that locks the
/// session's row until the transaction ends (`None`: no session ever issued it, or it was
/// purged).
async fn family_of(
    tx: &Transaction<'_>,
    token: &PresentedRefreshToken,
) -> Result<Option<FamilyState>, StoreError> {
    let found = match token {
        PresentedRefreshToken::Session { session_id, .. } => {
            let statement = tx.prepare_cached(FAMILY_BY_ID).await.map_err(unavailable)?;
            tx.query_opt(&statement, &[&session_id.as_uuid()]).await
        }
        PresentedRefreshToken::Legacy(hash) => {
            let statement = tx
                .prepare_cached(FAMILY_BY_HASH)
                .await
                .map_err(unavailable)?;
            tx.query_opt(&statement, &[&hash.as_bytes().as_slice()])
                .await
        }
    }
    .map_err(unavailable)?;
    let Some(row) = found else {
        return Ok(None);
    };
    let presented_generation = match token {
        PresentedRefreshToken::Session { generation, .. } => *generation,
        PresentedRefreshToken::Legacy(_) => rows::generation(&row, "presented_generation")?,
    };
    family_row(&row, presented_generation).map(Some)
}

/// A family from a row of [`FAMILY_BY_ID`] or [`FAMILY_BY_HASH`].
fn family_row(row: &Row, presented_generation: u64) -> Result<FamilyState, StoreError> {
    Ok(FamilyState {
        session_id: rows::session_id(row, "id")?,
        user_id: rows::user_id(row, "user_id")?,
        generation: rows::generation(row, "generation")?,
        presented_generation,
        rotated_at: rows::maybe_time(row, "rotated_at")?,
        expires_at: rows::time(row, "expires_at")?,
        absolute_expires_at: rows::time(row, "absolute_expires_at")?,
        access_expires_at: rows::time(row, "access_expires_at")?,
        revoked_at: rows::maybe_time(row, "revoked_at")?,
        user_disabled: rows::get(row, "user_disabled")?,
        roles: rows::get(row, "roles")?,
    })
}
