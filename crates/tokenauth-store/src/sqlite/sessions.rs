//! [`SessionStore`] on SQLite; the refresh-token rotation itself is in `rotation.rs`.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tokenauth_core::refresh_token::PresentedRefreshToken;
use tokenauth_core::session::{
    NewSession, RefreshTokenStatus, RevokeReason, RevokedSession, RotationOutcome, RotationRequest,
    Session,
};
use tokenauth_core::store::{SessionStore, StoreError};
use tokenauth_core::{SessionId, Timestamp, UserId};

use super::rows::{self, SESSION_COLUMNS, read_error};
use super::{SqliteStore, revocations, rotation, unavailable};

/// Inserts a session at generation 0, inside the caller's transaction: one row, with no token
/// hash and no history (its tokens are v2 tokens).
///
/// # Errors
/// [`StoreError::Conflict`] when the user no longer exists, or the session id is taken.
pub(super) fn insert_session(tx: &Connection, session: &NewSession) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, \
         user_agent, ip, absolute_expires_at, access_expires_at) \
         VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            session.id.to_string(),
            session.user_id.to_string(),
            session.created_at.as_millis(),
            session.expires_at.as_millis(),
            session.user_agent,
            session.ip,
            session.absolute_expires_at.as_millis(),
            session.access_expires_at.as_millis(),
        ])
    })
    .map_err(|error| {
        // The constraints a new session can break: the user's foreign key (the user was
        // deleted meanwhile), and the primary key (never, for a fresh UUIDv7).
        if super::is_constraint_violation(&error) {
            StoreError::Conflict("the user no longer exists")
        } else {
            unavailable(error)
        }
    })?;
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
            .write_batched(move |tx| rotation::rotate(tx, &request))
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
                // A legacy session's refresh-token history goes with it (ON DELETE CASCADE).
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
        token: &PresentedRefreshToken,
    ) -> Result<Option<RefreshTokenStatus>, StoreError> {
        let token = *token;
        self.workers
            .read(move |conn| super::token_status::find_refresh_token(conn, &token))
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
