//! Account state as operators change it: disabling an account (which ends every session of it)
//! and enabling it again, and reading a user's audit log. Free functions for the CLI, which has
//! a store but no running service; [`AuthService`] methods for the server, which also forget
//! nothing of what they revoke.

use crate::audit::{AuditEvent, AuditKind, Auditor};
use crate::clock::Timestamp;
use crate::error::AuthError;
use crate::ids::{SessionId, UserId};
use crate::service::AuthService;
use crate::service::revocation::{Revocation, RevokedSetMemory, after_revocation};
use crate::session::RevokeReason;
use crate::store::Store;
use crate::user::{Email, User};

/// What disabling or enabling an account did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountChange {
    /// The account.
    pub user_id: UserId,
    /// Its normalised email.
    pub email: Email,
    /// The sessions that were revoked (only disabling revokes any).
    pub revoked_sessions: Vec<SessionId>,
}

/// Disables the account with this email as of `now` and revokes every session of it (reason
/// `disabled`, one revocation-feed event each, so running servers refuse their access tokens
/// too; `memory`, when a server runs, refuses them here at once); records `user_disabled` and
/// a `session_revoked` per session. The user can no longer log in (a right password is
/// answered `account_disabled`) or refresh. Idempotent.
///
/// # Errors
/// [`AuthError::InvalidInput`] for a malformed email, [`AuthError::NotFound`] when no account
/// has it; store failures.
pub(super) async fn disable(
    store: &dyn Store,
    audit: &Auditor,
    memory: Option<&dyn RevokedSetMemory>,
    email: &str,
    now: Timestamp,
) -> Result<AccountChange, AuthError> {
    let email = Email::parse(email)?;
    // Disabled first: from this commit on no rotation succeeds and no login opens a session
    // that outlives it (see the login's re-check), so revoking afterwards leaves none behind.
    let user = store
        .set_user_disabled(&email, Some(now), now)
        .await?
        .ok_or(AuthError::NotFound)?;
    let revoked = store
        .revoke_all_sessions(user, RevokeReason::Disabled, now)
        .await?;
    audit
        .record(AuditEvent::new(AuditKind::UserDisabled, now).user(user))
        .await;
    after_revocation(
        audit,
        memory,
        Revocation {
            user,
            sessions: &revoked,
            reason: RevokeReason::Disabled,
            client: None,
            at: now,
        },
    )
    .await;
    Ok(AccountChange {
        user_id: user,
        email,
        revoked_sessions: revoked,
    })
}

/// Enables the account with this email again (sessions revoked by the disable stay revoked);
/// records `user_enabled`. Idempotent.
///
/// # Errors
/// [`AuthError::InvalidInput`] for a malformed email, [`AuthError::NotFound`] when no account
/// has it; store failures.
pub(super) async fn enable_user(
    store: &dyn Store,
    audit: &Auditor,
    email: &str,
    now: Timestamp,
) -> Result<AccountChange, AuthError> {
    let email = Email::parse(email)?;
    let user = store
        .set_user_disabled(&email, None, now)
        .await?
        .ok_or(AuthError::NotFound)?;
    audit
        .record(AuditEvent::new(AuditKind::UserEnabled, now).user(user))
        .await;
    Ok(AccountChange {
        user_id: user,
        email,
        revoked_sessions: Vec::new(),
    })
}

/// The user with this email and their audit events at or after `since`, newest first, at
/// most `limit` of them.
///
/// # Errors
/// [`AuthError::InvalidInput`] for a malformed email, [`AuthError::NotFound`] when no account
/// has it; store failures.
pub(super) async fn audit_events_of(
    store: &dyn Store,
    email: &str,
    since: Timestamp,
    limit: u32,
) -> Result<(User, Vec<AuditEvent>), AuthError> {
    let email = Email::parse(email)?;
    let user = store
        .find_user_by_email(&email)
        .await?
        .ok_or(AuthError::NotFound)?;
    let events = store.audit_events_of_user(user.id, since, limit).await?;
    Ok((user, events))
}

impl AuthService {
    /// Deletes audit events older than `audit_retention`, at most
    /// `max_batches` batches of 1,000; returns how many.
    ///
    /// # Errors
    /// Store failures (what was deleted before stays deleted).
    pub async fn purge_audit_log(&self, max_batches: u32) -> Result<u64, AuthError> {
        const BATCH: u32 = 1000;
        let cutoff = self.clock.now().minus(self.settings.audit_retention);
        let mut total = 0;
        for _ in 0..max_batches {
            let deleted = self.store.purge_audit_events(cutoff, BATCH).await?;
            total += deleted;
            if deleted < u64::from(BATCH) {
                break;
            }
        }
        Ok(total)
    }
}
