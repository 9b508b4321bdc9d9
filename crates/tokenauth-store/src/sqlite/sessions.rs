//! [`SessionStore`] on SQLite, with refresh-token rotation as one compare-and-swap.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tokenauth_core::refresh_token::RefreshTokenHash;
use tokenauth_core::session::{
    NewSession, RefreshTokenStatus, RevokeReason, RevokedSession, RotationOutcome, RotationRequest,
    Session, SessionOwner,
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

/// The rotation state machine, inside the caller's transaction. See
/// `shared/refresh-rotation.md`: the fast path is one conditional UPDATE on the indexed current
/// hash; only when it changes no row do we look at the history to tell why.
///
/// The swap itself enforces both lifetimes: it refuses a session whose idle expiry or absolute
/// end has come (the slow path then answers `Expired`), caps the successor's expiry at the
/// absolute end, and raises the stored latest access-token expiry, all in the one statement.
fn rotate(tx: &Connection, request: &RotationRequest) -> Result<RotationOutcome, StoreError> {
    let presented = request.presented.as_bytes().as_slice();
    let successor = request.successor.as_bytes().as_slice();
    let now = request.now.as_millis();
    let swapped = tx
        .prepare_cached(
            "UPDATE sessions SET previous_hash = current_hash, current_hash = ?2, \
             generation = generation + 1, rotated_at = ?3, last_used_at = ?3, \
             expires_at = MIN(?4, absolute_expires_at), \
             access_expires_at = MAX(access_expires_at, ?5) \
             WHERE current_hash = ?1 AND revoked_at IS NULL AND expires_at > ?3 \
             AND absolute_expires_at > ?3 \
             AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = sessions.user_id \
             AND u.disabled_at IS NOT NULL) \
             RETURNING id, user_id, generation, \
             (SELECT roles FROM users u WHERE u.id = sessions.user_id), expires_at",
        )
        .and_then(|mut stmt| {
            stmt.query_row(
                params![
                    presented,
                    successor,
                    now,
                    request.successor_expires_at.as_millis(),
                    request.access_expires_at.as_millis(),
                ],
                |row| {
                    Ok((
                        rows::parse::<SessionId>(row, 0)?,
                        rows::parse::<UserId>(row, 1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, String>(3)?,
                        rows::time(row, 4)?,
                    ))
                },
            )
            .optional()
        })
        .map_err(unavailable)?;
    if let Some((session_id, user_id, generation, roles, expires_at)) = swapped {
        tx.prepare_cached(
            "INSERT INTO refresh_tokens (hash, session_id, generation) VALUES (?1, ?2, ?3)",
        )
        .and_then(|mut stmt| stmt.execute(params![successor, session_id.to_string(), generation]))
        .map_err(unavailable)?;
        // Read in the same statement as the swap (one statement less per rotation).
        let roles = rows::roles(&roles)?;
        return Ok(RotationOutcome::Rotated(SessionOwner {
            session_id,
            user_id,
            roles,
            expires_at,
            access_expires_at: request.access_expires_at,
        }));
    }

    let Some(family) = family_of(tx, &request.presented)? else {
        return Ok(RotationOutcome::Unknown);
    };
    if family.revoked {
        return Ok(RotationOutcome::Revoked);
    }
    if family.expires_at <= request.now || family.absolute_expires_at <= request.now {
        return Ok(RotationOutcome::Expired);
    }
    if family.user_disabled {
        // Disabling revokes every session; this one slipped through (or the flag was set by
        // hand). It must not rotate or replay, and is no theft either.
        return Ok(RotationOutcome::Revoked);
    }
    let is_previous = family.previous_hash.as_ref() == Some(&request.presented);
    let within_grace = family
        .rotated_at
        .is_some_and(|at| at >= request.grace_cutoff);
    if is_previous && within_grace && family.current_hash == request.successor {
        let roles = user_roles(tx, family.user_id)?;
        return Ok(RotationOutcome::Replayed(SessionOwner {
            session_id: family.session_id,
            user_id: family.user_id,
            roles,
            expires_at: family.expires_at,
            access_expires_at: family.access_expires_at,
        }));
    }
    let revoked = tx
        .prepare_cached(
            "UPDATE sessions SET revoked_at = ?2, revoke_reason = ?3 WHERE id = ?1 AND revoked_at IS NULL",
        )
        .and_then(|mut stmt| {
            stmt.execute(params![
                family.session_id.to_string(),
                now,
                RevokeReason::RefreshTokenReused.as_str()
            ])
        })
        .map_err(unavailable)?;
    if revoked == 1 {
        revocations::append(tx, &[family.session_id], request.now)?;
    }
    Ok(RotationOutcome::Reused {
        session_id: family.session_id,
        user_id: family.user_id,
    })
}

/// The state of the family a non-live token belongs to.
struct Family {
    session_id: SessionId,
    user_id: UserId,
    current_hash: RefreshTokenHash,
    previous_hash: Option<RefreshTokenHash>,
    rotated_at: Option<Timestamp>,
    expires_at: Timestamp,
    absolute_expires_at: Timestamp,
    access_expires_at: Timestamp,
    revoked: bool,
    user_disabled: bool,
}

fn family_of(conn: &Connection, token: &RefreshTokenHash) -> Result<Option<Family>, StoreError> {
    conn.prepare_cached(
        "SELECT s.id, s.user_id, s.current_hash, s.previous_hash, s.rotated_at, s.expires_at, \
         s.revoked_at IS NOT NULL, u.disabled_at IS NOT NULL, s.absolute_expires_at, \
         s.access_expires_at \
         FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
         JOIN users u ON u.id = s.user_id WHERE t.hash = ?1",
    )
    .and_then(|mut stmt| {
        stmt.query_row([token.as_bytes().as_slice()], |row| {
            let previous: Option<Vec<u8>> = row.get(3)?;
            Ok(Family {
                session_id: rows::parse(row, 0)?,
                user_id: rows::parse(row, 1)?,
                current_hash: rows::token_hash(row, 2)?,
                previous_hash: match previous {
                    Some(_) => Some(rows::token_hash(row, 3)?),
                    None => None,
                },
                rotated_at: rows::maybe_time(row, 4)?,
                expires_at: rows::time(row, 5)?,
                revoked: row.get(6)?,
                user_disabled: row.get(7)?,
                absolute_expires_at: rows::time(row, 8)?,
                access_expires_at: rows::time(row, 9)?,
            })
        })
        .optional()
    })
    .map_err(read_error)
}

fn user_roles(conn: &Connection, user: UserId) -> Result<Vec<String>, StoreError> {
    let json: String = conn
        .prepare_cached("SELECT roles FROM users WHERE id = ?1")
        .and_then(|mut stmt| stmt.query_row([user.to_string()], |row| row.get(0)))
        .map_err(read_error)?;
    rows::roles(&json)
}
