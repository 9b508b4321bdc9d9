//! [`Accounts`]: account and session administration as one service, the same whether the CLI
//! calls it (a store and an audit log, no server: `tokenauth user|session|audit …`) or a running
//! server does ([`AuthService::accounts`], which also refuses revoked sessions' tokens at once).
//! Every revocation goes through the store (so running servers and verifiers learn of it from
//! the revocation feed) and the one path of [`super::revocation`]; every change is audited.

use crate::audit::{AuditEvent, Auditor};
use crate::clock::Timestamp;
use crate::error::AuthError;
use crate::ids::{SessionId, UserId};
use crate::password::PasswordHasher;
use crate::service::revocation::RevokedSetMemory;
use crate::service::{
    AccountChange, AuthService, Eraser, SessionRevocation, UserExport, account_state, erasure,
    user_admin,
};
use crate::session::Session;
use crate::store::Store;
use crate::user::User;

/// Account administration over one store, as of one moment.
pub struct Accounts<'a> {
    store: &'a dyn Store,
    audit: &'a Auditor,
    /// The running server's revoked set, if any.
    memory: Option<&'a dyn RevokedSetMemory>,
    now: Timestamp,
}

impl<'a> Accounts<'a> {
    /// The service over `store` for a process that runs no server (the CLI), acting as of
    /// `now` and recording into `audit`.
    pub fn new(store: &'a dyn Store, audit: &'a Auditor, now: Timestamp) -> Self {
        Self {
            store,
            audit,
            memory: None,
            now,
        }
    }

    /// Creates an account with this email, password (held to the sign-up policy) and roles,
    /// with no session; records `user_created`.
    ///
    /// # Errors
    /// [`AuthError::InvalidInput`] for a bad email, role or password;
    /// [`AuthError::EmailTaken`]; store failures.
    pub async fn create_user(
        &self,
        hasher: &PasswordHasher,
        email: &str,
        password: String,
        roles: &[String],
    ) -> Result<User, AuthError> {
        let (store, audit) = (self.store, self.audit);
        user_admin::create_user(store, hasher, audit, email, password, roles, self.now).await
    }

    /// The account with this email.
    ///
    /// # Errors
    /// [`AuthError::InvalidInput`] for a malformed email, [`AuthError::NotFound`] when no
    /// account has it; store failures.
    pub async fn find_user(&self, email: &str) -> Result<User, AuthError> {
        user_admin::find_user(self.store, email).await
    }

    /// Every stored session of the account with this email (live and ended, until purged),
    /// newest first.
    ///
    /// # Errors
    /// As [`Accounts::find_user`].
    pub async fn sessions_of(&self, email: &str) -> Result<(User, Vec<Session>), AuthError> {
        user_admin::sessions_of(self.store, email).await
    }

    /// Replaces the password of the account with this email (held to the sign-up policy) and
    /// revokes every live session of it (reason `revoked_by_operator`); records
    /// `password_reset` and a `session_revoked` per session.
    ///
    /// # Errors
    /// As [`Accounts::find_user`], and [`AuthError::InvalidInput`] for a password outside the
    /// policy (nothing changes then).
    pub async fn reset_password(
        &self,
        hasher: &PasswordHasher,
        email: &str,
        password: String,
    ) -> Result<AccountChange, AuthError> {
        let (store, audit, memory) = (self.store, self.audit, self.memory);
        user_admin::reset_password(store, hasher, audit, memory, email, password, self.now).await
    }

    /// Gives (`grant`) or takes away a role of the account with this email; records
    /// `role_added` or `role_removed`. Idempotent.
    ///
    /// # Errors
    /// As [`Accounts::find_user`], and [`AuthError::InvalidInput`] for a malformed role.
    pub async fn change_role(
        &self,
        email: &str,
        role: &str,
        grant: bool,
    ) -> Result<User, AuthError> {
        user_admin::change_role(self.store, self.audit, email, role, grant, self.now).await
    }

    /// Revokes the session with this id, whoever owns it (reason `revoked_by_operator`).
    ///
    /// # Errors
    /// [`AuthError::NotFound`] when no session has this id; store failures.
    pub async fn revoke_session(&self, id: SessionId) -> Result<SessionRevocation, AuthError> {
        let (store, audit, memory) = (self.store, self.audit, self.memory);
        user_admin::revoke_session_by_id(store, audit, memory, id, self.now).await
    }

    /// Revokes every live session of the account with this email (reason
    /// `revoked_by_operator`); the account stays usable.
    ///
    /// # Errors
    /// As [`Accounts::find_user`].
    pub async fn revoke_sessions_of(&self, email: &str) -> Result<AccountChange, AuthError> {
        let (store, audit, memory) = (self.store, self.audit, self.memory);
        user_admin::revoke_sessions_of(store, audit, memory, email, self.now).await
    }

    /// Disables the account with this email and revokes every session of it (reason
    /// `disabled`); records `user_disabled` and a `session_revoked` per session. Idempotent.
    ///
    /// # Errors
    /// As [`Accounts::find_user`].
    pub async fn disable(&self, email: &str) -> Result<AccountChange, AuthError> {
        account_state::disable(self.store, self.audit, self.memory, email, self.now).await
    }

    /// Enables the account with this email again (sessions revoked by the disable stay
    /// revoked); records `user_enabled`. Idempotent.
    ///
    /// # Errors
    /// As [`Accounts::find_user`].
    pub async fn enable(&self, email: &str) -> Result<AccountChange, AuthError> {
        account_state::enable_user(self.store, self.audit, email, self.now).await
    }

    /// The account with this email and its audit events at or after `since`, newest first,
    /// at most `limit` of them.
    ///
    /// # Errors
    /// As [`Accounts::find_user`].
    pub async fn audit_events_of(
        &self,
        email: &str,
        since: Timestamp,
        limit: u32,
    ) -> Result<(User, Vec<AuditEvent>), AuthError> {
        account_state::audit_events_of(self.store, email, since, limit).await
    }

    /// Erases the account with this id (see [`erasure`]): its live sessions revoked through the
    /// feed, then the account, its sessions and audit events deleted in one transaction, one
    /// `user_deleted` event left. Returns the revoked sessions.
    ///
    /// # Errors
    /// [`AuthError::NotFound`] when there is no such user; store failures.
    pub async fn erase(&self, user: UserId, eraser: Eraser) -> Result<Vec<SessionId>, AuthError> {
        erasure::erase(self.store, self.audit, self.memory, user, eraser, self.now).await
    }

    /// [`Accounts::erase`] of the account with this email, by an operator.
    ///
    /// # Errors
    /// As [`Accounts::find_user`].
    pub async fn erase_by_email(&self, email: &str) -> Result<AccountChange, AuthError> {
        erasure::erase_user_by_email(self.store, self.audit, self.memory, email, self.now).await
    }

    /// Everything stored about the account with this id: the account, its sessions and its
    /// audit events (at most [`super::EXPORT_AUDIT_LIMIT`], said when cut).
    ///
    /// # Errors
    /// [`AuthError::NotFound`] when there is no such user; store failures.
    pub async fn export(&self, user: UserId) -> Result<UserExport, AuthError> {
        erasure::export_user(self.store, user).await
    }
}

impl AuthService {
    /// [`Accounts`] over this server's store, as of now; revoked sessions are refused here at
    /// once, not only after the feed follower's next read.
    pub fn accounts(&self) -> Accounts<'_> {
        Accounts {
            store: self.store.as_ref(),
            audit: &self.audit,
            memory: Some(self),
            now: self.clock.now(),
        }
    }
}
