//! [`SessionStore`] on PostgreSQL, with refresh-token rotation as one compare-and-swap.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use tokenauth_core::refresh_token::RefreshTokenHash;
use tokenauth_core::session::{
    NewSession, RefreshTokenStatus, RevokeReason, RevokedSession, RotationOutcome, RotationRequest,
    Session, SessionOwner,
};
use tokenauth_core::store::{SessionStore, StoreError};
use tokenauth_core::{SessionId, Timestamp, UserId};

use super::rows::{self, SESSION_COLUMNS};
use super::{PostgresStore, revocations, unavailable};

/// The conflict of a session inserted for a user deleted meanwhile.
const USER_GONE: &str = "the user no longer exists";

/// Inserts a session and the history row of its first refresh token (generation 0).
///
/// # Errors
/// [`StoreError::Conflict`] when the user no longer exists.
pub(super) async fn insert_session(
    tx: &Transaction<'_>,
    session: &NewSession,
) -> Result<(), StoreError> {
    let hash = session.refresh_token_hash.as_bytes().as_slice();
    let insert = tx
        .prepare_cached(
            "INSERT INTO sessions (id, user_id, current_hash, created_at, last_used_at, expires_at, \
             user_agent, ip, absolute_expires_at, access_expires_at) \
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8, $9)",
        )
        .await
        .map_err(unavailable)?;
    tx.execute(
        &insert,
        &[
            &session.id.as_uuid(),
            &session.user_id.as_uuid(),
            &hash,
            &session.created_at.as_millis(),
            &session.expires_at.as_millis(),
            &session.user_agent,
            &session.ip,
            &session.absolute_expires_at.as_millis(),
            &session.access_expires_at.as_millis(),
        ],
    )
    .await
    .map_err(|error| {
        if error.code() == Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION) {
            StoreError::Conflict(USER_GONE)
        } else {
            unavailable(error)
        }
    })?;
    let history = tx
        .prepare_cached(
            "INSERT INTO refresh_tokens (hash, session_id, generation) VALUES ($1, $2, 0)",
        )
        .await
        .map_err(unavailable)?;
    tx.execute(&history, &[&hash, &session.id.as_uuid()])
        .await
        .map_err(unavailable)?;
    Ok(())
}

impl PostgresStore {
    /// Revokes every live session of `user`, except `keep` if given, and publishes each on the
    /// revocation feed, in one transaction; returns their ids.
    async fn revoke_live(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        reason: RevokeReason,
        now: Timestamp,
    ) -> Result<Vec<SessionId>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(unavailable)?;
        let ids = revoke_live(&tx, user, keep, reason, now).await?;
        tx.commit().await.map_err(unavailable)?;
        Ok(ids)
    }
}

/// Revokes every live session of `user` inside `tx`, except `keep` if given, and appends their
/// feed events; returns their ids.
pub(super) async fn revoke_live(
    tx: &Transaction<'_>,
    user: UserId,
    keep: Option<SessionId>,
    reason: RevokeReason,
    now: Timestamp,
) -> Result<Vec<SessionId>, StoreError> {
    let ids = tx
        .query(
            "UPDATE sessions SET revoked_at = $3, revoke_reason = $4 \
             WHERE user_id = $1 AND id IS DISTINCT FROM $2::uuid AND revoked_at IS NULL \
             AND expires_at > $3 RETURNING id",
            &[
                &user.as_uuid(),
                &keep.map(|id| id.as_uuid()),
                &now.as_millis(),
                &reason.as_str(),
            ],
        )
        .await
        .map_err(unavailable)?
        .iter()
        .map(|row| rows::session_id(row, "id"))
        .collect::<Result<Vec<_>, _>>()?;
    revocations::append(tx, &ids, now).await?;
    Ok(ids)
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn insert_session(&self, session: &NewSession) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(unavailable)?;
        insert_session(&tx, session).await?;
        tx.commit().await.map_err(unavailable)
    }

    async fn rotate_refresh_token(
        &self,
        request: &RotationRequest,
    ) -> Result<RotationOutcome, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(unavailable)?;
        let outcome = rotate(&tx, request).await?;
        // An error above drops the transaction, which rolls everything back: a failed rotation
        // consumes nothing and counts as no reuse.
        tx.commit().await.map_err(unavailable)?;
        Ok(outcome)
    }

    async fn find_session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1"
            ))
            .await
            .map_err(unavailable)?;
        client
            .query_opt(&statement, &[&id.as_uuid()])
            .await
            .map_err(unavailable)?
            .as_ref()
            .map(rows::session)
            .transpose()
    }

    async fn sessions_of_user(&self, user: UserId) -> Result<Vec<Session>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 \
                 ORDER BY created_at DESC, id DESC"
            ))
            .await
            .map_err(unavailable)?;
        client
            .query(&statement, &[&user.as_uuid()])
            .await
            .map_err(unavailable)?
            .iter()
            .map(rows::session)
            .collect()
    }

    async fn list_active_sessions(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> Result<Vec<Session>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 AND revoked_at IS NULL \
                 AND expires_at > $2 ORDER BY created_at DESC, id DESC"
            ))
            .await
            .map_err(unavailable)?;
        client
            .query(&statement, &[&user.as_uuid(), &now.as_millis()])
            .await
            .map_err(unavailable)?
            .iter()
            .map(rows::session)
            .collect()
    }

    async fn revoke_session(
        &self,
        user: UserId,
        session: SessionId,
        reason: RevokeReason,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(unavailable)?;
        let changed = tx
            .execute(
                "UPDATE sessions SET revoked_at = $3, revoke_reason = $4 \
                 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3",
                &[
                    &session.as_uuid(),
                    &user.as_uuid(),
                    &now.as_millis(),
                    &reason.as_str(),
                ],
            )
            .await
            .map_err(unavailable)?;
        if changed == 1 {
            revocations::append(&tx, &[session], now).await?;
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(changed == 1)
    }

    async fn revoke_all_sessions(
        &self,
        user: UserId,
        reason: RevokeReason,
        now: Timestamp,
    ) -> Result<Vec<SessionId>, StoreError> {
        self.revoke_live(user, None, reason, now).await
    }

    async fn revoke_other_sessions(
        &self,
        user: UserId,
        keep: SessionId,
        reason: RevokeReason,
        now: Timestamp,
    ) -> Result<Vec<SessionId>, StoreError> {
        self.revoke_live(user, Some(keep), reason, now).await
    }

    async fn purge_ended_sessions(
        &self,
        ended_before: Timestamp,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let client = self.client().await?;
        // SKIP LOCKED: instances purging at once take different rows instead of waiting.
        client
            .execute(
                "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions \
                 WHERE expires_at < $1 OR revoked_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
                &[&ended_before.as_millis(), &i64::from(limit)],
            )
            .await
            .map_err(unavailable)
    }

    async fn find_refresh_token(
        &self,
        hash: &RefreshTokenHash,
    ) -> Result<Option<RefreshTokenStatus>, StoreError> {
        self.refresh_token_status(hash).await
    }

    async fn revoked_sessions_alive_at(
        &self,
        alive_at: Timestamp,
    ) -> Result<Vec<RevokedSession>, StoreError> {
        let client = self.client().await?;
        client
            .query(
                "SELECT id, revoked_at, access_expires_at FROM sessions \
                 WHERE revoked_at IS NOT NULL AND access_expires_at >= $1 \
                 UNION SELECT session_id, revoked_at, access_expires_at FROM revocations \
                 WHERE access_expires_at >= $1 AND session_id IS NOT NULL",
                &[&alive_at.as_millis()],
            )
            .await
            .map_err(unavailable)?
            .iter()
            .map(|row| {
                Ok(RevokedSession {
                    session: rows::session_id(row, "id")?,
                    revoked_at: rows::time(row, "revoked_at")?,
                    alive_until: rows::time(row, "access_expires_at")?,
                })
            })
            .collect()
    }
}

/// The rotation state machine inside the caller's transaction; the twin of the SQLite one (see
/// `shared/refresh-rotation.md`). The UPDATE takes the row lock; a concurrent rotation of the
/// same token waits for it, then finds `current_hash` changed and takes the slow path, which
/// reads the committed state. The swap enforces both lifetimes as the SQLite one does: no
/// rotation at or past the idle expiry or the absolute end, the successor's expiry capped at
/// the absolute end, the latest access-token expiry raised, in the one statement.
async fn rotate(
    tx: &Transaction<'_>,
    request: &RotationRequest,
) -> Result<RotationOutcome, StoreError> {
    let presented = request.presented.as_bytes().as_slice();
    let successor = request.successor.as_bytes().as_slice();
    let now = request.now.as_millis();
    let swap = tx
        .prepare_cached(
            "UPDATE sessions SET previous_hash = current_hash, current_hash = $2, \
             generation = generation + 1, rotated_at = $3, last_used_at = $3, \
             expires_at = LEAST($4, absolute_expires_at), \
             access_expires_at = GREATEST(access_expires_at, $5) \
             WHERE current_hash = $1 AND revoked_at IS NULL AND expires_at > $3 \
             AND absolute_expires_at > $3 \
             AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = sessions.user_id \
             AND u.disabled_at IS NOT NULL) \
             RETURNING id, user_id, generation, expires_at, \
             (SELECT roles FROM users u WHERE u.id = sessions.user_id) AS roles",
        )
        .await
        .map_err(unavailable)?;
    let swapped = tx
        .query_opt(
            &swap,
            &[
                &presented,
                &successor,
                &now,
                &request.successor_expires_at.as_millis(),
                &request.access_expires_at.as_millis(),
            ],
        )
        .await
        .map_err(unavailable)?;
    if let Some(row) = swapped {
        let session_id = rows::session_id(&row, "id")?;
        let generation: i64 = rows::get(&row, "generation")?;
        let history = tx
            .prepare_cached(
                "INSERT INTO refresh_tokens (hash, session_id, generation) VALUES ($1, $2, $3)",
            )
            .await
            .map_err(unavailable)?;
        tx.execute(&history, &[&successor, &session_id.as_uuid(), &generation])
            .await
            .map_err(unavailable)?;
        return Ok(RotationOutcome::Rotated(SessionOwner {
            session_id,
            user_id: rows::user_id(&row, "user_id")?,
            roles: rows::get(&row, "roles")?,
            expires_at: rows::time(&row, "expires_at")?,
            access_expires_at: request.access_expires_at,
        }));
    }

    // Lock the family's row so the decision below and a revocation act on one state.
    let family = tx
        .prepare_cached(
            "SELECT s.id, s.user_id, s.current_hash, s.previous_hash, s.rotated_at, s.expires_at, \
             s.absolute_expires_at, s.access_expires_at, s.revoked_at IS NOT NULL AS revoked, u.disabled_at IS NOT NULL AS user_disabled, u.roles \
             FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = s.user_id \
             WHERE t.hash = $1 FOR UPDATE OF s",
        )
        .await
        .map_err(unavailable)?;
    let Some(family) = tx
        .query_opt(&family, &[&presented])
        .await
        .map_err(unavailable)?
    else {
        return Ok(RotationOutcome::Unknown);
    };
    let session_id = rows::session_id(&family, "id")?;
    let user_id = rows::user_id(&family, "user_id")?;
    if rows::get::<bool>(&family, "revoked")? {
        return Ok(RotationOutcome::Revoked);
    }
    let expires_at = rows::time(&family, "expires_at")?;
    if expires_at <= request.now || rows::time(&family, "absolute_expires_at")? <= request.now {
        return Ok(RotationOutcome::Expired);
    }
    if rows::get::<bool>(&family, "user_disabled")? {
        // Disabling revokes every session; this one slipped through (or the flag was set by
        // hand). It must not rotate or replay, and is no theft either.
        return Ok(RotationOutcome::Revoked);
    }
    let current = rows::token_hash(rows::get(&family, "current_hash")?)?;
    let previous = rows::get::<Option<Vec<u8>>>(&family, "previous_hash")?
        .map(rows::token_hash)
        .transpose()?;
    let rotated_at = rows::maybe_time(&family, "rotated_at")?;
    let is_previous = previous.as_ref() == Some(&request.presented);
    let within_grace = rotated_at.is_some_and(|at| at >= request.grace_cutoff);
    if is_previous && within_grace && current == request.successor {
        return Ok(RotationOutcome::Replayed(SessionOwner {
            session_id,
            user_id,
            roles: rows::get(&family, "roles")?,
            expires_at,
            access_expires_at: rows::time(&family, "access_expires_at")?,
        }));
    }
    let revoked = tx
        .execute(
            "UPDATE sessions SET revoked_at = $2, revoke_reason = $3 WHERE id = $1 AND revoked_at IS NULL",
            &[&session_id.as_uuid(), &now, &RevokeReason::RefreshTokenReused.as_str()],
        )
        .await
        .map_err(unavailable)?;
    if revoked == 1 {
        revocations::append(tx, &[session_id], request.now).await?;
    }
    Ok(RotationOutcome::Reused {
        session_id,
        user_id,
    })
}
