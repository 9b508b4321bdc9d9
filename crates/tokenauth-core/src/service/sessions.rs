//! The caller's own account and sessions: who am I, list, revoke one, revoke all, log out.

use crate::error::AuthError;
use crate::ids::{SessionId, UserId};
use crate::service::revocation::Revocation;
use crate::service::{AuthService, ClientInfo};
use crate::session::{RevokeReason, Session};
use crate::user::User;

/// Sessions deleted per purge transaction, small enough not to hold up logins and refreshes.
const PURGE_BATCH: u32 = 500;

impl AuthService {
    /// Deletes sessions that ended more than `ended_session_retention` ago, in batches of
    /// [`PURGE_BATCH`], at most `max_batches` of them; returns how many were deleted.
    ///
    /// # Errors
    /// Store failures (what was deleted before stays deleted).
    pub async fn purge_ended_sessions(&self, max_batches: u32) -> Result<u64, AuthError> {
        let cutoff = self
            .clock
            .now()
            .minus(self.settings.ended_session_retention);
        let mut total = 0;
        for _ in 0..max_batches {
            let deleted = self.store.purge_ended_sessions(cutoff, PURGE_BATCH).await?;
            total += deleted;
            if deleted < u64::from(PURGE_BATCH) {
                break;
            }
        }
        Ok(total)
    }

    /// Deletes forgotten login-failure counts (see [`crate::store::ThrottleStore`]), in batches
    /// of [`PURGE_BATCH`], at most `max_batches` of them; returns how many were deleted.
    ///
    /// # Errors
    /// Store failures (what was deleted before stays deleted).
    pub async fn purge_login_failures(&self, max_batches: u32) -> Result<u64, AuthError> {
        let now = self.clock.now();
        let mut total = 0;
        for _ in 0..max_batches {
            let deleted = self.store.purge_login_failures(now, PURGE_BATCH).await?;
            total += deleted;
            if deleted < u64::from(PURGE_BATCH) {
                break;
            }
        }
        Ok(total)
    }

    /// The user behind an access token.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] if the user no longer exists.
    pub async fn user(&self, user: UserId) -> Result<User, AuthError> {
        self.store
            .find_user(user)
            .await?
            .ok_or(AuthError::InvalidToken)
    }

    /// The user's live sessions, newest first.
    ///
    /// # Errors
    /// Store failures.
    pub async fn sessions(&self, user: UserId) -> Result<Vec<Session>, AuthError> {
        Ok(self
            .store
            .list_active_sessions(user, self.clock.now())
            .await?)
    }

    /// Ends the caller's own session; its refresh token never works again. Idempotent; the
    /// first call records `session_revoked` (reason `logout`) with `client`.
    ///
    /// # Errors
    /// Store failures.
    pub async fn logout(
        &self,
        user: UserId,
        session: SessionId,
        client: ClientInfo,
    ) -> Result<(), AuthError> {
        let now = self.clock.now();
        let revoked = self
            .store
            .revoke_session(user, session, RevokeReason::Logout, now)
            .await?;
        let sessions: &[SessionId] = if revoked { &[session] } else { &[] };
        self.after_revocation(Revocation {
            user,
            sessions,
            reason: RevokeReason::Logout,
            client: Some(&client),
            at: now,
        })
        .await;
        Ok(())
    }

    /// Revokes one of the user's sessions; records `session_revoked` (reason
    /// `revoked_by_user`) with `client`.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] if the user has no such live session (another user's session is
    /// not found either).
    pub async fn revoke_session(
        &self,
        user: UserId,
        session: SessionId,
        client: ClientInfo,
    ) -> Result<(), AuthError> {
        let now = self.clock.now();
        let revoked = self
            .store
            .revoke_session(user, session, RevokeReason::RevokedByUser, now)
            .await?;
        if !revoked {
            return Err(AuthError::NotFound);
        }
        self.after_revocation(Revocation {
            user,
            sessions: &[session],
            reason: RevokeReason::RevokedByUser,
            client: Some(&client),
            at: now,
        })
        .await;
        Ok(())
    }

    /// Revokes every session of the user ("log out everywhere"), the caller's own included;
    /// records a `session_revoked` (reason `revoke_all`) per session with `client`.
    ///
    /// # Errors
    /// Store failures.
    pub async fn revoke_all_sessions(
        &self,
        user: UserId,
        client: ClientInfo,
    ) -> Result<usize, AuthError> {
        let now = self.clock.now();
        let revoked = self
            .store
            .revoke_all_sessions(user, RevokeReason::RevokeAll, now)
            .await?;
        self.after_revocation(Revocation {
            user,
            sessions: &revoked,
            reason: RevokeReason::RevokeAll,
            client: Some(&client),
            at: now,
        })
        .await;
        Ok(revoked.len())
    }
}
