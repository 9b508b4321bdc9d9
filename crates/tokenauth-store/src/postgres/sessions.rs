//! [`SessionStore`] on PostgreSQL, with refresh-token rotation as one read, the core's
//! [`decide_rotation`], and one compare-and-swap.

use async_trait::async_trait;
use deadpool_postgres::Transaction;
use tokenauth_core::refresh_token::RefreshTokenHash;
use tokenauth_core::session::{
    FamilyState, NewSession, RefreshTokenStatus, RevokeReason, RevokedSession, RotationDecision,
    RotationOutcome, RotationRequest, RotationSwap, Session, decide_rotation,
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

/// How often a rotation reads and decides again after losing its compare-and-swap. The read
/// locks the session's row, so only a change to the user (disabled meanwhile) can make the swap
/// lose; the next read sees it.
const SWAP_ATTEMPTS: usize = 3;

/// The rotation inside the caller's transaction (see `shared/refresh-rotation.md`): one read of
/// the presented token's family, [`decide_rotation`], then the decision applied, as on SQLite.
/// The read locks the family's row (`FOR UPDATE OF s`), so the decision and what applies it act
/// on one state: a concurrent rotation of the same token waits for the lock, then reads the
/// committed state (its successor live: a replay). A rotation is one compare-and-swap on the
/// presented hash that keeps every guard (not revoked, neither end reached, user not disabled).
async fn rotate(
    tx: &Transaction<'_>,
    request: &RotationRequest,
) -> Result<RotationOutcome, StoreError> {
    for _ in 0..SWAP_ATTEMPTS {
        let family = family_of(tx, &request.presented).await?;
        match decide_rotation(family.as_ref(), request) {
            RotationDecision::Rotate(swap) => {
                if swap_successor(tx, request, &swap).await? {
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

/// The compare-and-swap of a [`RotationDecision::Rotate`]: makes the successor the live token
/// and the presented one its previous, with the values the decision computed (the successor's
/// expiry already capped at the absolute end), only while the presented token is still the
/// live one of a session neither revoked nor expired whose user is not disabled, and records
/// the successor in the family's history, in one statement (one round trip, as many as the
/// rotation took before it read first). False, with nothing written, when that no longer holds.
async fn swap_successor(
    tx: &Transaction<'_>,
    request: &RotationRequest,
    swap: &RotationSwap,
) -> Result<bool, StoreError> {
    let statement = tx
        .prepare_cached(
            "WITH swapped AS (UPDATE sessions SET previous_hash = current_hash, \
             current_hash = $2, generation = $6, rotated_at = $3, last_used_at = $3, \
             expires_at = $4, access_expires_at = $5 \
             WHERE current_hash = $1 AND revoked_at IS NULL AND expires_at > $3 \
             AND absolute_expires_at > $3 \
             AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = sessions.user_id \
             AND u.disabled_at IS NOT NULL) RETURNING id) \
             INSERT INTO refresh_tokens (hash, session_id, generation) \
             SELECT $2, id, $6 FROM swapped",
        )
        .await
        .map_err(unavailable)?;
    let recorded = tx
        .execute(
            &statement,
            &[
                &request.presented.as_bytes().as_slice(),
                &request.successor.as_bytes().as_slice(),
                &request.now.as_millis(),
                &swap.expires_at.as_millis(),
                &swap.access_expires_at.as_millis(),
                &swap.successor_generation,
            ],
        )
        .await
        .map_err(unavailable)?;
    Ok(recorded == 1)
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
    token: &RefreshTokenHash,
) -> Result<Option<FamilyState>, StoreError> {
    let statement = tx
        .prepare_cached(
            "SELECT s.id, s.user_id, s.current_hash, s.previous_hash, s.rotated_at, \
             s.generation, s.expires_at, s.absolute_expires_at, s.access_expires_at, \
             s.revoked_at, u.disabled_at IS NOT NULL AS user_disabled, u.roles \
             FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
             JOIN users u ON u.id = s.user_id WHERE t.hash = $1 FOR UPDATE OF s",
        )
        .await
        .map_err(unavailable)?;
    let Some(row) = tx
        .query_opt(&statement, &[&token.as_bytes().as_slice()])
        .await
        .map_err(unavailable)?
    else {
        return Ok(None);
    };
    Ok(Some(FamilyState {
        session_id: rows::session_id(&row, "id")?,
        user_id: rows::user_id(&row, "user_id")?,
        current_hash: rows::token_hash(rows::get(&row, "current_hash")?)?,
        previous_hash: rows::get::<Option<Vec<u8>>>(&row, "previous_hash")?
            .map(rows::token_hash)
            .transpose()?,
        rotated_at: rows::maybe_time(&row, "rotated_at")?,
        generation: rows::get(&row, "generation")?,
        expires_at: rows::time(&row, "expires_at")?,
        absolute_expires_at: rows::time(&row, "absolute_expires_at")?,
        access_expires_at: rows::time(&row, "access_expires_at")?,
        revoked_at: rows::maybe_time(&row, "revoked_at")?,
        user_disabled: rows::get(&row, "user_disabled")?,
        roles: rows::get(&row, "roles")?,
    }))
}
