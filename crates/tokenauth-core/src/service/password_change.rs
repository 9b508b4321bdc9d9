//! Changing one's password: prove the current one, choose a new one within the policy, and
//! every other session of the account ends.

use crate::audit::{AuditEvent, AuditKind};
use crate::error::AuthError;
use crate::ids::{SessionId, UserId};
use crate::service::credential_check::CheckPurpose;
use crate::service::revocation::Revocation;
use crate::service::{AuthService, ClientInfo};
use crate::session::RevokeReason;
use crate::user::{Password, User};

/// The JSON field the new password comes in, named in its errors.
const NEW_PASSWORD_FIELD: &str = "new_password";

impl AuthService {
    /// Replaces the password of `user` (who is calling from `session`) after checking
    /// `current_password`, then revokes every other live session of the user (reason
    /// `password_changed`, one revocation-feed event each, remembered here at once). The
    /// calling session stays. Records `password_changed` and a `session_revoked` per session.
    /// Returns how many sessions were revoked.
    ///
    /// The current password is checked on the throttled path of
    /// [`crate::service::credential_check`], counted with the account's logins: a failure is
    /// recorded as `password_check_failed` (`password_change`), and while the account is locked
    /// out the check is refused unhashed.
    ///
    /// # Errors
    /// [`AuthError::InvalidInput`] on field `new_password` when the new password breaks the
    /// policy of [`Password::new`] or equals the current one (nothing changes);
    /// [`AuthError::InvalidCredentials`] when `current_password` is wrong (nothing changes);
    /// [`AuthError::RateLimited`] while the account is locked out (nothing changes);
    /// [`AuthError::AccountDisabled`]; [`AuthError::InvalidToken`] if the user no longer exists;
    /// [`AuthError::Overloaded`] when the hasher's queue is full.
    pub async fn change_password(
        &self,
        user: UserId,
        session: SessionId,
        current_password: String,
        new_password: String,
        client: ClientInfo,
    ) -> Result<usize, AuthError> {
        // The cheap checks first: a new password that cannot be accepted costs no hash.
        let new_password = Password::new(new_password).map_err(on_new_password_field)?;
        let current_password = Password::presented(current_password)?;
        let account: User = self
            .store
            .find_user(user)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        if account.disabled_at.is_some() {
            return Err(AuthError::AccountDisabled);
        }
        let same = current_password.as_bytes() == new_password.as_bytes();
        self.recheck_password(
            &account,
            current_password,
            CheckPurpose::PasswordChange,
            &client,
        )
        .await?;
        if same {
            return Err(AuthError::InvalidInput {
                field: NEW_PASSWORD_FIELD,
                reason: "must differ from the current password".to_owned(),
            });
        }
        let hash = self.hasher.hash(new_password).await?;
        let now = self.clock.now();
        // The hash first: from its commit on the old password opens no new session, and the
        // revocation below ends those opened before. (A login that verified the old password
        // just before the commit and opens its session just after the revocation keeps it: a
        // window of one hash verification, noted in docs/operations.md.)
        self.store.set_password_hash(user, &hash, now).await?;
        let revoked = self
            .store
            .revoke_other_sessions(user, session, RevokeReason::PasswordChanged, now)
            .await?;
        self.audit
            .record(
                AuditEvent::new(AuditKind::PasswordChanged, now)
                    .user(user)
                    .session(session)
                    .client(&client),
            )
            .await;
        self.after_revocation(Revocation {
            user,
            sessions: &revoked,
            reason: RevokeReason::PasswordChanged,
            client: Some(&client),
            at: now,
        })
        .await;
        tracing::info!(%user, revoked = revoked.len(), "password changed");
        Ok(revoked.len())
    }
}

/// A policy error about the new password, named after the field it came in.
fn on_new_password_field(error: AuthError) -> AuthError {
    match error {
        AuthError::InvalidInput { reason, .. } => AuthError::InvalidInput {
            field: NEW_PASSWORD_FIELD,
            reason,
        },
        other => other,
    }
}
