//! [`SessionStore`] on PostgreSQL; the refresh-token rotation itself is in `rotation.rs`.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use tokenauth_core::refresh_token::PresentedRefreshToken;
use tokenauth_core::session::{
    NewSession, RefreshTokenStatus, RevokeReason, RevokedSession, RotationOutcome, RotationRequest,
    Session,
};
use tokenauth_core::store::{SessionStore, StoreError};
use tokenauth_core::{SessionId, Timestamp, UserId};

use super::rows::{self, SESSION_COLUMNS};
use super::{PostgresStore, revocations, rotation, unavailable};

/// The conflict of a session inserted for a user deleted meanwhile.
const USER_GONE: &str = "the user no longer exists";

/// Inserts a session at generation 0: one row, with no token hash and no history (its tokens
/// are v2 tokens).
///
/// # Errors
/// [`StoreError::Conflict`] when the user no longer exists.
pub(super) async fn insert_session(
    tx: &Transaction<'_>,
    session: &NewSession,
) -> Result<(), StoreError> {
    let insert = tx
        .prepare_cached(
            "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, \
             user_agent, ip, absolute_expires_at, access_expires_at) \
             VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8)",
        )
        .await
        .map_err(unavailable)?;
    tx.execute(
        &insert,
        &[
            &session.id.as_uuid(),
            &session.user_id.as_uuid(),
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
        let outcome = rotation::rotate(&tx, request).await?;
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
        token: &PresentedRefreshToken,
    ) -> Result<Option<RefreshTokenStatus>, StoreError> {
        self.refresh_token_status(token).await
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
