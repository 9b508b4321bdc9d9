//! Accounts and sessions as operators manage them (`tokenauth user …`, `tokenauth session …`):
//! create, list, show, set a password, change roles, revoke sessions. Free functions over a
//! store, for the CLI, which works whether or not a server runs: every revocation goes through
//! the store, so running servers and verifiers learn of it from the revocation feed, and every
//! change is audited.

use crate::audit::{AuditEvent, AuditKind, Auditor};
use crate::clock::Timestamp;
use crate::error::AuthError;
use crate::ids::{SessionId, UserId};
use crate::password::PasswordHasher;
use crate::service::AccountChange;
use crate::service::revocation::{Revocation, RevokedSetMemory, after_revocation};
use crate::session::{RevokeReason, Session};
use crate::store::{Store, StoreError};
use crate::user::{Email, Password, User, parse_role};

/// Creates an account with this email, password (held to the sign-up policy) and roles, with
/// no session; records `user_created`.
///
/// # Errors
/// [`AuthError::InvalidInput`] for a bad email, role or password; [`AuthError::EmailTaken`];
/// store failures.
pub(super) async fn create_user(
    store: &dyn Store,
    hasher: &PasswordHasher,
    audit: &Auditor,
    email: &str,
    password: String,
    roles: &[String],
    now: Timestamp,
) -> Result<User, AuthError> {
    let email = Email::parse(email)?;
    let mut checked: Vec<String> = Vec::with_capacity(roles.len());
    for role in roles {
        let role = parse_role(role)?;
        if !checked.contains(&role) {
            checked.push(role);
        }
    }
    let password = Password::new(password)?;
    let password_hash = hasher.hash(password).await?;
    let user = User {
        id: UserId::generate(),
        email,
        password_hash,
        roles: checked,
        created_at: now,
        disabled_at: None,
    };
    match store.insert_user(&user).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(AuthError::EmailTaken),
        Err(other) => return Err(other.into()),
    }
    audit
        .record(
            AuditEvent::new(AuditKind::UserCreated, now)
                .user(user.id)
                .detail("operator"),
        )
        .await;
    Ok(user)
}

/// The account with this email.
///
/// # Errors
/// [`AuthError::InvalidInput`] for a malformed email, [`AuthError::NotFound`] when no account
/// has it; store failures.
pub(super) async fn find_user(store: &dyn Store, email: &str) -> Result<User, AuthError> {
    let email = Email::parse(email)?;
    store
        .find_user_by_email(&email)
        .await?
        .ok_or(AuthError::NotFound)
}

/// Every stored session of the account with this email (live and ended, until purged), newest
/// first.
///
/// # Errors
/// As [`find_user`].
pub(super) async fn sessions_of(
    store: &dyn Store,
    email: &str,
) -> Result<(User, Vec<Session>), AuthError> {
    let user = find_user(store, email).await?;
    let sessions = store.sessions_of_user(user.id).await?;
    Ok((user, sessions))
}

/// Replaces the password of the account with this email (held to the sign-up policy) and
/// revokes every live session of it (reason `revoked_by_operator`): whoever held a session
/// must log in with the new password. Records `password_reset` and a `session_revoked` per
/// session.
///
/// # Errors
/// As [`find_user`], and [`AuthError::InvalidInput`] for a password outside the policy
/// (nothing changes then).
pub(super) async fn reset_password(
    store: &dyn Store,
    hasher: &PasswordHasher,
    audit: &Auditor,
    memory: Option<&dyn RevokedSetMemory>,
    email: &str,
    password: String,
    now: Timestamp,
) -> Result<AccountChange, AuthError> {
    let password = Password::new(password)?;
    let user = find_user(store, email).await?;
    let hash = hasher.hash(password).await?;
    // The hash first, as in a password change: from its commit the old password opens no new
    // session, and the revocation ends those opened before.
    store.set_password_hash(user.id, &hash, now).await?;
    let revoked = store
        .revoke_all_sessions(user.id, RevokeReason::RevokedByOperator, now)
        .await?;
    audit
        .record(AuditEvent::new(AuditKind::PasswordReset, now).user(user.id))
        .await;
    operator_revoked(audit, memory, user.id, &revoked, now).await;
    Ok(AccountChange {
        user_id: user.id,
        email: user.email,
        revoked_sessions: revoked,
    })
}

/// Gives (`grant`) or takes away a role of the account with this email; it is carried by the
/// account's next access tokens. Records `role_added` or `role_removed`. Idempotent.
///
/// # Errors
/// As [`find_user`], and [`AuthError::InvalidInput`] for a malformed role.
pub(super) async fn change_role(
    store: &dyn Store,
    audit: &Auditor,
    email: &str,
    role: &str,
    grant: bool,
    now: Timestamp,
) -> Result<User, AuthError> {
    let role = parse_role(role)?;
    let user = find_user(store, email).await?;
    let found = if grant {
        store.add_role(&user.email, &role, now).await?
    } else {
        store.remove_role(&user.email, &role, now).await?
    };
    if !found {
        return Err(AuthError::NotFound);
    }
    let kind = if grant {
        AuditKind::RoleAdded
    } else {
        AuditKind::RoleRemoved
    };
    audit
        .record(AuditEvent::new(kind, now).user(user.id).detail(role))
        .await;
    find_user(store, user.email.as_str()).await
}

/// What revoking one session by its id found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRevocation {
    /// The session as it was before.
    pub session: Session,
    /// False when it had already ended (revoked or expired): nothing changed.
    pub revoked: bool,
}

/// Revokes the session with this id, whoever owns it (reason `revoked_by_operator`); records
/// `session_revoked`. A session that already ended is left as it is.
///
/// # Errors
/// [`AuthError::NotFound`] when no session has this id (or it was purged); store failures.
pub(super) async fn revoke_session_by_id(
    store: &dyn Store,
    audit: &Auditor,
    memory: Option<&dyn RevokedSetMemory>,
    id: SessionId,
    now: Timestamp,
) -> Result<SessionRevocation, AuthError> {
    let session = store.find_session(id).await?.ok_or(AuthError::NotFound)?;
    let revoked = store
        .revoke_session(session.user_id, id, RevokeReason::RevokedByOperator, now)
        .await?;
    if revoked {
        operator_revoked(audit, memory, session.user_id, &[id], now).await;
    }
    Ok(SessionRevocation { session, revoked })
}

/// Revokes every live session of the account with this email (reason `revoked_by_operator`);
/// the account itself stays usable (log in again). Records a `session_revoked` per session.
///
/// # Errors
/// As [`find_user`].
pub(super) async fn revoke_sessions_of(
    store: &dyn Store,
    audit: &Auditor,
    memory: Option<&dyn RevokedSetMemory>,
    email: &str,
    now: Timestamp,
) -> Result<AccountChange, AuthError> {
    let user = find_user(store, email).await?;
    let revoked = store
        .revoke_all_sessions(user.id, RevokeReason::RevokedByOperator, now)
        .await?;
    operator_revoked(audit, memory, user.id, &revoked, now).await;
    Ok(AccountChange {
        user_id: user.id,
        email: user.email,
        revoked_sessions: revoked,
    })
}

/// [`after_revocation`] of an operator's revocation (from the CLI, with no revoked set of its
/// own: running servers learn of it from the feed).
async fn operator_revoked(
    audit: &Auditor,
    memory: Option<&dyn RevokedSetMemory>,
    user: UserId,
    sessions: &[SessionId],
    now: Timestamp,
) {
    let revocation = Revocation {
        user,
        sessions,
        reason: RevokeReason::RevokedByOperator,
        client: None,
        at: now,
    };
    after_revocation(audit, memory, revocation).await;
}
