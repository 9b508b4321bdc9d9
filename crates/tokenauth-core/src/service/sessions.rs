//! The caller's own account and sessions: who am I, list, revoke one, revoke all, log out.

use crate::error::AuthError;
use crate::ids::{SessionId, UserId};
use crate::service::AuthService;
use crate::session::{RevokeReason, Session};
use crate::user::User;

impl AuthService {
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

    /// Ends the caller's own session; its refresh token never works again. Idempotent.
    ///
    /// # Errors
    /// Store failures.
    pub async fn logout(&self, user: UserId, session: SessionId) -> Result<(), AuthError> {
        let now = self.clock.now();
        self.store
            .revoke_session(user, session, RevokeReason::Logout, now)
            .await?;
        self.remember_revoked(session, now);
        Ok(())
    }

    /// Revokes one of the user's sessions.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] if the user has no such live session (another user's session is
    /// not found either).
    pub async fn revoke_session(&self, user: UserId, session: SessionId) -> Result<(), AuthError> {
        let now = self.clock.now();
        let revoked = self
            .store
            .revoke_session(user, session, RevokeReason::RevokedByUser, now)
            .await?;
        if !revoked {
            return Err(AuthError::NotFound);
        }
        self.remember_revoked(session, now);
        Ok(())
    }

    /// Revokes every session of the user ("log out everywhere"), the caller's own included.
    ///
    /// # Errors
    /// Store failures.
    pub async fn revoke_all_sessions(&self, user: UserId) -> Result<usize, AuthError> {
        let now = self.clock.now();
        let revoked = self
            .store
            .revoke_all_sessions(user, RevokeReason::RevokeAll, now)
            .await?;
        for session in &revoked {
            self.remember_revoked(*session, now);
        }
        Ok(revoked.len())
    }
}
