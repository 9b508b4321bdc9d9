//! [`SessionStore`] on SQLite, with refresh-token rotation as one read, the core's
//! [`decide_rotation`], and one compare-and-swap.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tokenauth_core::refresh_token::RefreshTokenHash;
use tokenauth_core::session::{
    FamilyState, NewSession, RefreshTokenStatus, RevokeReason, RevokedSession, RotationDecision,
    RotationOutcome, RotationRequest, RotationSwap, Session, decide_rotation,
};
use tokenauth_core::store::{SessionStore, StoreError};
use tokenauth_core::{SessionId, Timestamp, UserId};

use super::rows::{self, SESSION_COLUMNS, read_error};
use super::{SqliteStore, revocations, unavailable};

/// Inserts a session and the history row of its first refresh token (generation 0), inside the
/// caller's transaction.
///
/// # Errors
/// [`StoreError::Conflict`] when the user no longer exists.
pub(super) fn insert_session(tx: &Connection, session: &NewSession) -> Result<(), StoreError> {
    let id = session.id.to_string();
    let hash = session.refresh_token_hash.as_bytes().as_slice();
    tx.prepare_cached(
        "INSERT INTO sessions (id, user_id, current_hash, created_at, last_used_at, expires_at, \
         user_agent, ip, absolute_expires_at, access_expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8, ?9)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            id,
            session.user_id.to_string(),
            hash,
            session.created_at.as_millis(),
            session.expires_at.as_millis(),
            session.user_agent,
            session.ip,
            session.absolute_expires_at.as_millis(),
            session.access_expires_at.as_millis(),
        ])
    })
    .map_err(|error| {
        // The only constraint a new session id and a fresh hash can break is the user's
        // foreign key: the user was deleted meanwhile.
        if super::is_constraint_violation(&error) {
            StoreError::Conflict("the user no longer exists")
        } else {
            unavailable(error)
        }
    })?;
    tx.prepare_cached(
        "INSERT INTO refresh_tokens (hash, session_id, generation) VALUES (?1, ?2, 0)",
    )
    .and_then(|mut stmt| stmt.execute(params![hash, id]))
    .map_err(unavailable)?;
    Ok(())
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn insert_session(&self, session: &NewSession) -> Result<(), StoreError> {
        let session = session.clone();
        self.workers
            .write_batched(move |tx| insert_session(tx, &session))
            .await
    }

    async fn rotate_refresh_token(
        &self,
        request: &RotationRequest,
    ) -> Result<RotationOutcome, StoreError> {
        let request = request.clone();
        // Group-committed: a failure rolls this rotation back to its savepoint, and the caller
        // hears of success only once the shared transaction has committed.
        self.workers
            .write_batched(move |tx| rotate(tx, &request))
            .await
    }

    async fn find_session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        self.workers
            .read(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1"
                ))
                .and_then(|mut stmt| stmt.query_row([id.to_string()], rows::session).optional())
                .map_err(read_error)
            })
            .await
    }

    async fn sessions_of_user(&self, user: UserId) -> Result<Vec<Session>, StoreError> {
        self.workers
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = ?1 \
                         ORDER BY created_at DESC, id DESC"
                    ))
                    .map_err(read_error)?;
                let sessions = stmt
                    .query_map([user.to_string()], rows::session)
                    .map_err(read_error)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(read_error)?;
                Ok(sessions)
            })
            .await
    }

    async fn list_active_sessions(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> Result<Vec<Session>, StoreError> {
        self.workers
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = ?1 \
                         AND revoked_at IS NULL AND expires_at > ?2 ORDER BY created_at DESC, id DESC"
                    ))
                    .map_err(read_error)?;
                let sessions = stmt
                    .query_map(params![user.to_string(), now.as_millis()], rows::session)
                    .map_err(read_error)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(read_error)?;
                Ok(sessions)
            })
            .await
    }

    async fn revoke_session(
        &self,
        user: UserId,
        session: SessionId,
        reason: RevokeReason,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.workers
            .write(move |conn| {
                let tx = conn.transaction().map_err(unavailable)?;
                let changed = tx
                    .prepare_cached(
                        "UPDATE sessions SET revoked_at = ?3, revoke_reason = ?4 \
                         WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NULL AND expires_at > ?3",
                    )
                    .and_then(|mut stmt| {
                        stmt.execute(params![
                            session.to_string(),
                            user.to_string(),
                            now.as_millis(),
                            reason.as_str()
                        ])
                    })
                    .map_err(unavailable)?;
                if changed == 1 {
                    revocations::append(&tx, &[session], now)?;
                }
                tx.commit().map_err(unavailable)?;
                Ok(changed == 1)
            })
            .await
    }

    async fn revoke_all_sessions(
        &self,
        user: UserId,
        reason: RevokeReason,
        now: Timestamp,
    ) -> Result<Vec<SessionId>, StoreError> {
        self.workers
            .write(move |conn| {
                let tx = conn.transaction().map_err(unavailable)?;
                let ids = revoke_live(&tx, user, None, reason, now)?;
                revocations::append(&tx, &ids, now)?;
                tx.commit().map_err(unavailable)?;
                Ok(ids)
            })
            .await
    }

    async fn revoke_other_sessions(
        &self,
        user: UserId,
        keep: SessionId,
        reason: RevokeReason,
        now: Timestamp,
    ) -> Result<Vec<SessionId>, StoreError> {
        self.workers
            .write(move |conn| {
                let tx = conn.transaction().map_err(unavailable)?;
                let ids = revoke_live(&tx, user, Some(keep), reason, now)?;
                revocations::append(&tx, &ids, now)?;
                tx.commit().map_err(unavailable)?;
                Ok(ids)
            })
            .await
    }

    async fn purge_ended_sessions(
        &self,
        ended_before: Timestamp,
        limit: u32,
    ) -> Result<u64, StoreError> {
        self.workers
            .write(move |conn| {
                // The refresh-token history goes with each session (ON DELETE CASCADE).
                let deleted = conn
                    .prepare_cached(
                        "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions \
                         WHERE expires_at < ?1 OR revoked_at < ?1 LIMIT ?2)",
                    )
                    .and_then(|mut stmt| stmt.execute(params![ended_before.as_millis(), limit]))
                    .map_err(unavailable)?;
                Ok(u64::try_from(deleted).unwrap_or(0))
            })
            .await
    }

    async fn find_refresh_token(
        &self,
        hash: &RefreshTokenHash,
    ) -> Result<Option<RefreshTokenStatus>, StoreError> {
        let hash = *hash;
        self.workers
            .read(move |conn| super::token_status::find_refresh_token(conn, &hash))
            .await
    }

    async fn revoked_sessions_alive_at(
        &self,
        alive_at: Timestamp,
    ) -> Result<Vec<RevokedSession>, StoreError> {
        self.workers
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT id, revoked_at, access_expires_at FROM sessions \
                         WHERE revoked_at IS NOT NULL AND access_expires_at >= ?1 \
                         UNION SELECT session_id, revoked_at, access_expires_at FROM revocations \
                         WHERE access_expires_at >= ?1 AND session_id IS NOT NULL",
                    )
                    .map_err(read_error)?;
                let revoked = stmt
                    .query_map([alive_at.as_millis()], |row| {
                        Ok(RevokedSession {
                            session: rows::parse::<SessionId>(row, 0)?,
                            revoked_at: rows::time(row, 1)?,
                            alive_until: rows::time(row, 2)?,
                        })
                    })
                    .map_err(read_error)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(read_error)?;
                Ok(revoked)
            })
            .await
    }
}

/// Revokes every live session of `user` inside `tx`, except `keep` if given; returns their ids.
pub(super) fn revoke_live(
    tx: &Transaction<'_>,
    user: UserId,
    keep: Option<SessionId>,
    reason: RevokeReason,
    now: Timestamp,
) -> Result<Vec<SessionId>, StoreError> {
    let mut stmt = tx
        .prepare_cached(
            // `IS NOT NULL` is true for every id: no session is kept.
            "UPDATE sessions SET revoked_at = ?3, revoke_reason = ?4 \
             WHERE user_id = ?1 AND id IS NOT ?2 AND revoked_at IS NULL AND expires_at > ?3 \
             RETURNING id",
        )
        .map_err(unavailable)?;
    stmt.query_map(
        params![
            user.to_string(),
            keep.map(|id| id.to_string()),
            now.as_millis(),
            reason.as_str()
        ],
        |row| rows::parse::<SessionId>(row, 0),
    )
    .map_err(unavailable)?
    .collect::<Result<Vec<_>, _>>()
    .map_err(read_error)
}

/// How often a rotation reads and decides again after losing its compare-and-swap. On SQLite
/// the single writer runs the read and the swap with nothing in between, so the first attempt
/// always holds; the bound only keeps the loop finite.
const SWAP_ATTEMPTS: usize = 3;

/// The rotation, inside the caller's transaction (see `shared/refresh-rotation.md`): one read
/// of the presented token's family, [`decide_rotation`], then the decision applied. A rotation
/// is one compare-and-swap on the presented hash, which makes the presented token non-live in
/// the statement that makes its successor live.
fn rotate(tx: &Connection, request: &RotationRequest) -> Result<RotationOutcome, StoreError> {
    for _ in 0..SWAP_ATTEMPTS {
        let family = family_of(tx, &request.presented)?;
        match decide_rotation(family.as_ref(), request) {
            RotationDecision::Rotate(swap) => {
                if swap_successor(tx, request, &swap)? {
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

/// The compare-and-swap of a [`RotationDecision::Rotate`]: makes the successor the live token
/// and the presented one its previous, with the values the decision computed (the successor's
/// expiry already capped at the absolute end), only while the presented token is still the
/// live one of a session neither revoked nor expired whose user is not disabled; then records
/// the successor in the family's history. False, with nothing written, when that no longer
/// holds.
fn swap_successor(
    tx: &Connection,
    request: &RotationRequest,
    swap: &RotationSwap,
) -> Result<bool, StoreError> {
    let successor = request.successor.as_bytes().as_slice();
    let swapped = tx
        .prepare_cached(
            "UPDATE sessions SET previous_hash = current_hash, current_hash = ?2, \
             generation = ?6, rotated_at = ?3, last_used_at = ?3, expires_at = ?4, \
             access_expires_at = ?5 \
             WHERE current_hash = ?1 AND revoked_at IS NULL AND expires_at > ?3 \
             AND absolute_expires_at > ?3 \
             AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = sessions.user_id \
             AND u.disabled_at IS NOT NULL)",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                request.presented.as_bytes().as_slice(),
                successor,
                request.now.as_millis(),
                swap.expires_at.as_millis(),
                swap.access_expires_at.as_millis(),
                swap.successor_generation,
            ])
        })
        .map_err(unavailable)?;
    if swapped == 0 {
        return Ok(false);
    }
    tx.prepare_cached(
        "INSERT INTO refresh_tokens (hash, session_id, generation) VALUES (?1, ?2, ?3)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            successor,
            swap.owner.session_id.to_string(),
            swap.successor_generation
        ])
    })
    .map_err(unavailable)?;
    Ok(true)
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
///
/// The history is looked up in a scalar subquery rather than joined: with the statistics
/// `PRAGMA optimize` leaves behind (STAT4), SQLite re-plans a join on `refresh_tokens.hash = ?`
/// at every new binding, re-preparing the statement on each rotation; the subquery form plans
/// once.
fn family_of(
    conn: &Connection,
    token: &RefreshTokenHash,
) -> Result<Option<FamilyState>, StoreError> {
    let found = conn
        .prepare_cached(
            "SELECT s.id, s.user_id, s.current_hash, s.previous_hash, s.rotated_at, \
             s.generation, s.expires_at, s.absolute_expires_at, s.access_expires_at, \
             s.revoked_at, u.disabled_at IS NOT NULL, u.roles \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id = (SELECT session_id FROM refresh_tokens WHERE hash = ?1)",
        )
        .and_then(|mut stmt| {
            stmt.query_row([token.as_bytes().as_slice()], |row| {
                let previous: Option<Vec<u8>> = row.get(3)?;
                let family = FamilyState {
                    session_id: rows::parse(row, 0)?,
                    user_id: rows::parse(row, 1)?,
                    current_hash: rows::token_hash(row, 2)?,
                    previous_hash: match previous {
                        Some(_) => Some(rows::token_hash(row, 3)?),
                        None => None,
                    },
                    rotated_at: rows::maybe_time(row, 4)?,
                    generation: row.get(5)?,
                    expires_at: rows::time(row, 6)?,
                    absolute_expires_at: rows::time(row, 7)?,
                    access_expires_at: rows::time(row, 8)?,
                    revoked_at: rows::maybe_time(row, 9)?,
                    user_disabled: row.get(10)?,
                    roles: Vec::new(),
                };
                Ok((family, row.get::<_, String>(11)?))
            })
            .optional()
        })
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
