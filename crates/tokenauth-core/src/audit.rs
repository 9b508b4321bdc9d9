//! The audit log: security-relevant events (sign-ups, logins, revocations, account and key
//! changes) with who and where, recorded by the services and read by operators
//! (`tokenauth audit`). An event never holds an email, a password or a token.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use crate::client_info::{ClientInfo, cut_user_agent, truncate};
use crate::clock::Timestamp;
use crate::ids::{AuditEventId, SessionId, UserId};
use crate::session::RevokeReason;
use crate::store_error::StoreError;

pub use crate::retention::AUDIT_RETENTION;

/// Longest `detail` stored with an event, in bytes.
const MAX_DETAIL_LEN: usize = 256;

/// What happened. Each kind has a stable snake_case name, stored and printed as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditKind {
    /// A user signed up (with the session it opened).
    Signup,
    /// A login succeeded (with the session it opened).
    LoginSucceeded,
    /// A login failed: with the user when the email has an account, without one otherwise.
    /// `detail` is `account_disabled` when the password was right but the account disabled.
    LoginFailed,
    /// Failed credential checks locked the email out (with the user when the email has an
    /// account); `detail` is the number of consecutive failures.
    LockedOut,
    /// A rotated refresh token was presented again; its session was revoked.
    RefreshReuseDetected,
    /// A session was revoked; `detail` is the [`crate::session::RevokeReason`].
    SessionRevoked,
    /// The user changed their password.
    PasswordChanged,
    /// An operator disabled the account.
    UserDisabled,
    /// An operator enabled the account again.
    UserEnabled,
    /// A new signing key started signing; `detail` is its `kid`.
    KeyRotated,
    /// An operator created the account (`tokenauth user add`).
    UserCreated,
    /// The account was erased with its sessions and audit events; this event, with the user's
    /// id only, is what remains. `detail` is `self` (DELETE /v1/me) or `operator`.
    UserDeleted,
    /// An operator set the user's password (`tokenauth user set-password`).
    PasswordReset,
    /// An operator gave the user a role; `detail` is the role.
    RoleAdded,
    /// An operator took a role from the user; `detail` is the role.
    RoleRemoved,
    /// An operator withdrew a signing key (ended its publication at once); `detail` is its
    /// `kid`.
    KeyWithdrawn,
    /// A signed-in user's password re-check failed (a wrong current password); `detail` is what
    /// asked for it: `password_change` (`POST /v1/password`) or `account_deletion`
    /// (`DELETE /v1/me`). Counted with the account's failed logins.
    PasswordCheckFailed,
}

impl AuditKind {
    /// Every kind.
    pub const ALL: [AuditKind; 17] = [
        AuditKind::Signup,
        AuditKind::LoginSucceeded,
        AuditKind::LoginFailed,
        AuditKind::LockedOut,
        AuditKind::RefreshReuseDetected,
        AuditKind::SessionRevoked,
        AuditKind::PasswordChanged,
        AuditKind::UserDisabled,
        AuditKind::UserEnabled,
        AuditKind::KeyRotated,
        AuditKind::UserCreated,
        AuditKind::UserDeleted,
        AuditKind::PasswordReset,
        AuditKind::RoleAdded,
        AuditKind::RoleRemoved,
        AuditKind::KeyWithdrawn,
        AuditKind::PasswordCheckFailed,
    ];

    /// The stable name.
    pub const fn as_str(self) -> &'static str {
        match self {
            AuditKind::Signup => "signup",
            AuditKind::LoginSucceeded => "login_succeeded",
            AuditKind::LoginFailed => "login_failed",
            AuditKind::LockedOut => "locked_out",
            AuditKind::RefreshReuseDetected => "refresh_reuse_detected",
            AuditKind::SessionRevoked => "session_revoked",
            AuditKind::PasswordChanged => "password_changed",
            AuditKind::UserDisabled => "user_disabled",
            AuditKind::UserEnabled => "user_enabled",
            AuditKind::KeyRotated => "key_rotated",
            AuditKind::UserCreated => "user_created",
            AuditKind::UserDeleted => "user_deleted",
            AuditKind::PasswordReset => "password_reset",
            AuditKind::RoleAdded => "role_added",
            AuditKind::RoleRemoved => "role_removed",
            AuditKind::KeyWithdrawn => "key_withdrawn",
            AuditKind::PasswordCheckFailed => "password_check_failed",
        }
    }
}

impl fmt::Display for AuditKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuditKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AuditKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| format!("unknown audit event kind {s:?}"))
    }
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Identifier.
    pub id: AuditEventId,
    /// When it happened.
    pub at: Timestamp,
    /// What happened.
    pub kind: AuditKind,
    /// The user it concerns, if any.
    pub user_id: Option<UserId>,
    /// The session it concerns, if any.
    pub session_id: Option<SessionId>,
    /// The client's address, when the event came from a request.
    pub ip: Option<String>,
    /// The client's `User-Agent`, when the event came from a request.
    pub user_agent: Option<String>,
    /// A short kind-specific detail (a revocation reason, a key id); never a secret.
    pub detail: Option<String>,
}

impl AuditEvent {
    /// An event of `kind` at `at`, about nobody yet, with a new id.
    pub fn new(kind: AuditKind, at: Timestamp) -> Self {
        Self {
            id: AuditEventId::generate(),
            at,
            kind,
            user_id: None,
            session_id: None,
            ip: None,
            user_agent: None,
            detail: None,
        }
    }

    /// A `session_revoked` event: `session` of `user` revoked at `at` for `reason`.
    pub fn session_revoked(
        user: UserId,
        session: SessionId,
        reason: RevokeReason,
        at: Timestamp,
    ) -> Self {
        Self::new(AuditKind::SessionRevoked, at)
            .user(user)
            .session(session)
            .detail(reason.as_str())
    }

    /// The same event about `user`.
    #[must_use]
    pub fn user(mut self, user: UserId) -> Self {
        self.user_id = Some(user);
        self
    }

    /// The same event about `session`.
    #[must_use]
    pub fn session(mut self, session: SessionId) -> Self {
        self.session_id = Some(session);
        self
    }

    /// The same event with the request's address and user agent (cut to the length a session
    /// keeps).
    #[must_use]
    pub fn client(mut self, client: &ClientInfo) -> Self {
        self.ip.clone_from(&client.ip);
        self.user_agent = client.user_agent.clone().map(cut_user_agent);
        self
    }

    /// The same event with `detail`, cut to 256 bytes.
    #[must_use]
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(truncate(detail.into(), MAX_DETAIL_LEN));
        self
    }
}

/// The audit log's storage: appended to by the services, read by operators, purged
/// after a retention time. Events have no reference to users or sessions that would stop
/// those from being purged: an event outlives what it names.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends one event.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if an event with its id exists; nothing is written then.
    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError>;

    /// The user's events at or after `since`, newest first (events of the same millisecond:
    /// the one with the greater id first), at most `limit` of them.
    async fn audit_events_of_user(
        &self,
        user: UserId,
        since: Timestamp,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError>;

    /// Every event at or after `since`, whoever it concerns (also those about no user, such as
    /// key rotations and failed logins of unknown emails), newest first as
    /// [`AuditStore::audit_events_of_user`] orders them, at most `limit` of them.
    async fn audit_events_since(
        &self,
        since: Timestamp,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError>;

    /// Deletes up to `limit` events that happened before `before`, oldest first; returns how
    /// many.
    async fn purge_audit_events(&self, before: Timestamp, limit: u32) -> Result<u64, StoreError>;
}

/// Records audit events for the services. A failed write never fails the operation that
/// caused it: it is logged at warn and counted ([`Auditor::failures`]), so that tests (and
/// metrics) can tell that nothing was lost. Cheap to clone; clones share the count.
#[derive(Clone)]
pub struct Auditor {
    store: Arc<dyn AuditStore>,
    failures: Arc<AtomicU64>,
}

impl Auditor {
    /// An auditor writing to `store`.
    pub fn new(store: Arc<dyn AuditStore>) -> Self {
        Self {
            store,
            failures: Arc::default(),
        }
    }

    /// Appends `event`; a failure is logged and counted, never returned.
    pub async fn record(&self, event: AuditEvent) {
        if let Err(error) = self.store.append_audit_event(&event).await {
            self.failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                kind = %event.kind,
                user = ?event.user_id,
                %error,
                "could not write an audit event"
            );
        }
    }

    /// Appends every event in order, as [`Auditor::record`] does each.
    pub async fn record_all(&self, events: Vec<AuditEvent>) {
        for event in events {
            self.record(event).await;
        }
    }

    /// How many events could not be written since this auditor (or a clone) was made.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// The store events are written to.
    pub fn store(&self) -> &Arc<dyn AuditStore> {
        &self.store
    }
}

impl fmt::Debug for Auditor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auditor")
            .field("failures", &self.failures())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_stable_name() {
        let names: Vec<_> = AuditKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "signup",
                "login_succeeded",
                "login_failed",
                "locked_out",
                "refresh_reuse_detected",
                "session_revoked",
                "password_changed",
                "user_disabled",
                "user_enabled",
                "key_rotated",
                "user_created",
                "user_deleted",
                "password_reset",
                "role_added",
                "role_removed",
                "key_withdrawn",
                "password_check_failed"
            ]
        );
        for kind in AuditKind::ALL {
            assert_eq!(kind.as_str().parse::<AuditKind>(), Ok(kind));
        }
        assert!("Signup".parse::<AuditKind>().is_err());
    }

    #[test]
    fn client_info_and_detail_are_cut_to_bounded_lengths() {
        let client = ClientInfo {
            user_agent: Some("é".repeat(300)),
            ip: Some("192.0.2.1".into()),
        };
        let event = AuditEvent::new(AuditKind::Signup, Timestamp::from_millis(0))
            .client(&client)
            .detail("x".repeat(1000));
        assert!(event.user_agent.as_ref().is_some_and(|ua| ua.len() <= 256));
        assert_eq!(event.detail.as_ref().map(String::len), Some(256));
        assert_eq!(event.ip.as_deref(), Some("192.0.2.1"));
    }
}
