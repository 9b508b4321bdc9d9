//! The data protection rights: a user's export of everything stored about them, and erasure
//! of their account, by themselves (`DELETE /v1/me`, with their password) or by an operator
//! (`tokenauth user delete`).

use crate::audit::{AuditEvent, AuditKind, Auditor};
use crate::clock::Timestamp;
use crate::error::AuthError;
use crate::ids::{SessionId, UserId};
use crate::service::credential_check::CheckPurpose;
use crate::service::revocation::{Revocation, RevokedSetMemory, after_revocation};
use crate::service::{AccountChange, AuthService, ClientInfo};
use crate::session::{RevokeReason, Session};
use crate::store::Store;
use crate::user::{Password, User};

/// Most audit events an export carries; a user with more (years of logins under a long
/// retention) gets the newest ones and `audit_events_truncated`.
pub const EXPORT_AUDIT_LIMIT: u32 = 100_000;

/// Everything stored about one user.
#[derive(Debug, Clone)]
pub struct UserExport {
    /// The account (its password hash is stored too; exports leave it out, see the API docs).
    pub user: User,
    /// Every stored session, live or ended (until purged), newest first.
    pub sessions: Vec<Session>,
    /// The user's audit events within the retention time, newest first.
    pub audit_events: Vec<AuditEvent>,
    /// True when there were more than [`EXPORT_AUDIT_LIMIT`] audit events.
    pub audit_events_truncated: bool,
}

/// Who erased an account; the `detail` of its `user_deleted` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eraser {
    /// The user, through `DELETE /v1/me`.
    User,
    /// An operator, through `tokenauth user delete`.
    Operator,
}

impl Eraser {
    const fn as_str(self) -> &'static str {
        match self {
            Eraser::User => "self",
            Eraser::Operator => "operator",
        }
    }
}

/// Everything stored about the user with this id.
///
/// # Errors
/// [`AuthError::NotFound`] when there is no such user; store failures.
pub(super) async fn export_user(store: &dyn Store, user: UserId) -> Result<UserExport, AuthError> {
    let account = store.find_user(user).await?.ok_or(AuthError::NotFound)?;
    let sessions = store.sessions_of_user(user).await?;
    let mut audit_events = store
        .audit_events_of_user(user, Timestamp::from_millis(0), EXPORT_AUDIT_LIMIT + 1)
        .await?;
    let audit_events_truncated = audit_events.len() > EXPORT_AUDIT_LIMIT as usize;
    audit_events.truncate(EXPORT_AUDIT_LIMIT as usize);
    Ok(UserExport {
        user: account,
        sessions,
        audit_events,
        audit_events_truncated,
    })
}

/// Erases the account with this id: every live session revoked (through the revocation feed,
/// so running servers and verifiers refuse its access tokens), then the account, its sessions,
/// refresh-token history and audit events deleted, in one transaction. What remains is one
/// `user_deleted` audit event naming only the user's id. Returns the revoked sessions; `memory`, when a server runs, refuses their tokens here at once.
///
/// # Errors
/// [`AuthError::NotFound`] when there is no such user; store failures (nothing changed then).
pub(super) async fn erase(
    store: &dyn Store,
    audit: &Auditor,
    memory: Option<&dyn RevokedSetMemory>,
    user: UserId,
    eraser: Eraser,
    now: Timestamp,
) -> Result<Vec<SessionId>, AuthError> {
    let revoked = store
        .delete_user(user, now)
        .await?
        .ok_or(AuthError::NotFound)?;
    audit
        .record(
            AuditEvent::new(AuditKind::UserDeleted, now)
                .user(user)
                .detail(eraser.as_str()),
        )
        .await;
    let revocation = Revocation {
        user,
        sessions: &revoked,
        reason: RevokeReason::UserDeleted,
        client: None,
        at: now,
    };
    after_revocation(audit, memory, revocation).await;
    Ok(revoked)
}

/// [`erase`] of the account with this email, by an operator.
///
/// # Errors
/// [`AuthError::InvalidInput`] for a malformed email, [`AuthError::NotFound`] when no account
/// has it; store failures.
pub(super) async fn erase_user_by_email(
    store: &dyn Store,
    audit: &Auditor,
    memory: Option<&dyn RevokedSetMemory>,
    email: &str,
    now: Timestamp,
) -> Result<AccountChange, AuthError> {
    let user = super::user_admin::find_user(store, email).await?;
    let revoked = erase(store, audit, memory, user.id, Eraser::Operator, now).await?;
    Ok(AccountChange {
        user_id: user.id,
        email: user.email,
        revoked_sessions: revoked,
    })
}

impl AuthService {
    /// Everything stored about the caller (`GET /v1/me/export`).
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] if the user no longer exists; store failures.
    pub async fn export_own_account(&self, user: UserId) -> Result<UserExport, AuthError> {
        self.accounts()
            .export(user)
            .await
            .map_err(|error| match error {
                AuthError::NotFound => AuthError::InvalidToken,
                other => other,
            })
    }

    /// Erases the caller's own account after checking `password` (see
    /// [`Accounts::erase`](crate::service::Accounts::erase)); the
    /// revoked sessions are remembered here at once. Returns how many were revoked.
    ///
    /// The password is checked on the throttled path of [`crate::service::credential_check`],
    /// counted with the account's logins: a failure is recorded as `password_check_failed`
    /// (`account_deletion`), and while the account is locked out the check is refused unhashed.
    ///
    /// # Errors
    /// [`AuthError::InvalidCredentials`] when the password is wrong (nothing changes);
    /// [`AuthError::RateLimited`] while the account is locked out (nothing changes);
    /// [`AuthError::InvalidToken`] if the user no longer exists; [`AuthError::Overloaded`]
    /// when the hasher's queue is full.
    pub async fn delete_own_account(
        &self,
        user: UserId,
        password: String,
        client: ClientInfo,
    ) -> Result<usize, AuthError> {
        let password = Password::presented(password)?;
        let account = self
            .store
            .find_user(user)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        self.recheck_password(&account, password, CheckPurpose::AccountDeletion, &client)
            .await?;
        let now = self.clock.now();
        let revoked = erase(
            self.store.as_ref(),
            &self.audit,
            Some(self),
            user,
            Eraser::User,
            now,
        )
        .await
        .map_err(|error| match error {
            AuthError::NotFound => AuthError::InvalidToken,
            other => other,
        })?;
        tracing::info!(%user, revoked = revoked.len(), "account deleted by its user");
        Ok(revoked.len())
    }
}
