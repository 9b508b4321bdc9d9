//! Refresh-token rotation on SQLite: one read of the presented token's family (by the
//! session's primary key for a v2 token, by hash for a legacy one), the core's
//! [`decide_rotation`], and one compare-and-swap on the live generation.

use rusqlite::{Connection, OptionalExtension, Row, params};
use tokenauth_core::refresh_token::{PresentedRefreshToken, RefreshTokenHash};
use tokenauth_core::session::{
    FamilyState, RevokeReason, RotationDecision, RotationOutcome, RotationRequest, RotationSwap,
    decide_rotation,
};
use tokenauth_core::store::StoreError;
use tokenauth_core::{SessionId, Timestamp};

use super::rows::{self, read_error};
use super::{revocations, unavailable};

/// How often a rotation reads and decides again after losing its compare-and-swap. On SQLite
/// the single writer runs the read and the swap with nothing in between, so the first attempt
/// always holds; the bound only keeps the loop finite.
const SWAP_ATTEMPTS: usize = 3;

/// The columns of a family, as [`family_row`] reads them.
macro_rules! family_columns {
    () => {
        "s.id, s.user_id, s.generation, s.rotated_at, s.expires_at, s.absolute_expires_at, \
         s.access_expires_at, s.revoked_at, u.disabled_at IS NOT NULL, u.roles"
    };
}

/// The family of a v2 token: its session, by primary key.
const FAMILY_BY_ID: &str = concat!(
    "SELECT ",
    family_columns!(),
    " FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = ?1"
);

/// The family of a legacy token, found through the history of hashes, with the generation of
/// the presented token: the live one when it is the session's current hash, one less when its
/// previous hash, else the history's. The history is looked up in scalar subqueries rather
/// than joined: with the statistics `PRAGMA optimize` leaves behind (STAT4), SQLite re-plans a
/// join on `refresh_tokens.hash = ?` at every new binding; the subquery form plans once.
const FAMILY_BY_HASH: &str = concat!(
    "SELECT ",
    family_columns!(),
    ", CASE WHEN s.current_hash = ?1 THEN s.generation \
     WHEN s.previous_hash = ?1 THEN s.generation - 1 \
     ELSE (SELECT generation FROM refresh_tokens WHERE hash = ?1) END \
     FROM sessions s JOIN users u ON u.id = s.user_id \
     WHERE s.id = (SELECT session_id FROM refresh_tokens WHERE hash = ?1)"
);

/// The rotation, inside the caller's transaction (see `shared/refresh-rotation.md`): one read
/// of the presented token's family, [`decide_rotation`], then the decision applied. A rotation
/// is one compare-and-swap on the live generation, which makes the presented token non-live in
/// the statement that makes its successor live.
pub(super) fn rotate(
    tx: &Connection,
    request: &RotationRequest,
) -> Result<RotationOutcome, StoreError> {
    for _ in 0..SWAP_ATTEMPTS {
        let family = family_of(tx, &request.presented)?;
        match decide_rotation(family.as_ref(), request) {
            RotationDecision::Rotate(swap) => {
                if swap_successor(tx, request.now, &swap)? {
                    return Ok(RotationOutcome::Rotated(swap.owner));
                }
            }
            RotationDecision::Replay(owner) => return Ok(RotationOutcome::Replayed(owner)),
            RotationDecision::RevokeFamily {
                session_id,
                user_id,
            } => {
                revoke_reused(tx, session_id, request.now)?;
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
/// (the successor's expiry already capped at the absolute end), only while the live
/// generation is still the presented one, in a session neither revoked nor expired whose user
/// is not disabled. A legacy session's hash moves to `previous_hash` (a retry of it within
/// grace is still recognised) and `current_hash` is cleared: its successor is a v2 token, and
/// after the next rotation no hash is left. False, with nothing written, when the guards fail.
fn swap_successor(
    tx: &Connection,
    now: Timestamp,
    swap: &RotationSwap,
) -> Result<bool, StoreError> {
    let swapped = tx
        .prepare_cached(
            "UPDATE sessions SET previous_hash = current_hash, current_hash = NULL, \
             generation = ?2, rotated_at = ?3, last_used_at = ?3, expires_at = ?4, \
             access_expires_at = ?5 \
             WHERE id = ?1 AND generation = ?6 AND revoked_at IS NULL AND expires_at > ?3 \
             AND absolute_expires_at > ?3 \
             AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = sessions.user_id \
             AND u.disabled_at IS NOT NULL)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                swap.owner.session_id.to_string(),
                rows::stored_generation(swap.successor_generation)?,
                now.as_millis(),
                swap.expires_at.as_millis(),
                swap.access_expires_at.as_millis(),
                rows::stored_generation(swap.generation)?,
            ])
        })
        .map_err(unavailable)?;
    Ok(swapped == 1)
}

/// Revokes a family whose rotated token came back (reason `refresh_token_reused`), with its
/// feed event; a family revoked meanwhile is left as it is.
fn revoke_reused(tx: &Connection, session: SessionId, now: Timestamp) -> Result<(), StoreError> {
    let revoked = tx
        .prepare_cached(
            "UPDATE sessions SET revoked_at = ?2, revoke_reason = ?3 WHERE id = ?1 AND revoked_at IS NULL",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                session.to_string(),
                now.as_millis(),
                RevokeReason::RefreshTokenReused.as_str()
            ])
        })
        .map_err(unavailable)?;
    if revoked == 1 {
        revocations::append(tx, &[session], now)?;
    }
    Ok(())
}

/// The state of the family that issued `token`, read in one statement (`None`: no session
/// ever issued it, or it was purged).
fn family_of(
    conn: &Connection,
    token: &PresentedRefreshToken,
) -> Result<Option<FamilyState>, StoreError> {
    let found = match token {
        PresentedRefreshToken::Session {
            session_id,
            generation,
        } => conn.prepare_cached(FAMILY_BY_ID).and_then(|mut stmt| {
            stmt.query_row([session_id.to_string()], |row| {
                family_row(row, Some(*generation))
            })
            .optional()
        }),
        PresentedRefreshToken::Legacy(hash) => {
            conn.prepare_cached(FAMILY_BY_HASH).and_then(|mut stmt| {
                stmt.query_row([hash_bytes(hash)], |row| family_row(row, None))
                    .optional()
            })
        }
    }
    .map_err(read_error)?;
    found
        .map(|(family, roles)| {
            Ok(FamilyState {
                roles: rows::roles(&roles)?,
                ..family
            })
        })
        .transpose()
}

/// A family from a row of [`FAMILY_BY_ID`] or [`FAMILY_BY_HASH`], its roles still as stored
/// JSON; the presented generation is `presented`, or the hash query's last column.
fn family_row(row: &Row<'_>, presented: Option<u64>) -> rusqlite::Result<(FamilyState, String)> {
    let presented_generation = match presented {
        Some(generation) => generation,
        None => rows::generation(row, 10)?,
    };
    let family = FamilyState {
        session_id: rows::parse(row, 0)?,
        user_id: rows::parse(row, 1)?,
        generation: rows::generation(row, 2)?,
        presented_generation,
        rotated_at: rows::maybe_time(row, 3)?,
        expires_at: rows::time(row, 4)?,
        absolute_expires_at: rows::time(row, 5)?,
        access_expires_at: rows::time(row, 6)?,
        revoked_at: rows::maybe_time(row, 7)?,
        user_disabled: row.get(8)?,
        roles: Vec::new(),
    };
    Ok((family, row.get(9)?))
}

/// A legacy hash as a blob parameter.
fn hash_bytes(hash: &RefreshTokenHash) -> &[u8] {
    hash.as_bytes().as_slice()
}
