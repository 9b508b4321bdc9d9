//! What follows every revocation, written once. The store call that revokes (a logout, a
//! revoke-all, a reuse detected by the rotation, a password change, a disable, an erasure, an
//! operator's or a client's revocation) appends the revocation-feed events in its own
//! transaction; then [`after_revocation`] does the rest, the same way for every kind: the
//! in-memory revoked set (when a server runs), one metric increment per session, one log line,
//! and one audit event per session.

use crate::audit::{AuditEvent, AuditKind, Auditor};
use crate::clock::Timestamp;
use crate::ids::{SessionId, UserId};
use crate::service::{AuthService, ClientInfo};
use crate::session::RevokeReason;
use crate::telemetry;

/// Sessions a store call has just revoked (only those it really revoked: a session that had
/// already ended is not in `sessions`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Revocation<'a> {
    /// Whose sessions.
    pub(crate) user: UserId,
    /// The sessions revoked; may be empty (then nothing is recorded).
    pub(crate) sessions: &'a [SessionId],
    /// Why, as stored with them.
    pub(crate) reason: RevokeReason,
    /// The client that asked (HTTP callers); `None` for the CLI and internal decisions.
    pub(crate) client: Option<&'a ClientInfo>,
    /// When.
    pub(crate) at: Timestamp,
}

/// Where a running server remembers revoked sessions, so its own token checks refuse them at
/// once; the CLI has none (running servers learn of its revocations from the feed).
pub(crate) trait RevokedSetMemory: Sync {
    /// Remembers `session`, revoked at `at`, and wakes the feed follower.
    fn remember(&self, session: SessionId, at: Timestamp);
}

/// Records `revocation` everywhere but the store, which already has it: remembers each session
/// in `memory`, counts it in `tokenauth_session_revocations_total{reason}`, logs one line, and
/// appends one audit event per session — `refresh_reuse_detected` for a reuse, otherwise
/// `session_revoked` with the reason, except for an erasure, whose single `user_deleted` event
/// the erasure records itself (the account's audit log is erased with it, and per-session
/// events would write back what was just erased).
pub(crate) async fn after_revocation(
    audit: &Auditor,
    memory: Option<&dyn RevokedSetMemory>,
    revocation: Revocation<'_>,
) {
    let Revocation {
        user,
        sessions,
        reason,
        client,
        at,
    } = revocation;
    if sessions.is_empty() {
        return;
    }
    if let Some(memory) = memory {
        for session in sessions {
            memory.remember(*session, at);
        }
    }
    telemetry::sessions_revoked(reason, sessions.len());
    if reason == RevokeReason::RefreshTokenReused {
        tracing::warn!(%user, %reason, ?sessions, "refresh token reuse detected; session revoked");
    } else {
        tracing::info!(%user, %reason, ?sessions, "sessions revoked");
    }
    let events: Vec<AuditEvent> = sessions
        .iter()
        .filter_map(|session| audit_event(user, *session, reason, at))
        .map(|event| match client {
            Some(client) => event.client(client),
            None => event,
        })
        .collect();
    audit.record_all(events).await;
}

/// The audit event of one revoked session, if its kind has one of its own.
fn audit_event(
    user: UserId,
    session: SessionId,
    reason: RevokeReason,
    at: Timestamp,
) -> Option<AuditEvent> {
    match reason {
        RevokeReason::RefreshTokenReused => Some(
            AuditEvent::new(AuditKind::RefreshReuseDetected, at)
                .user(user)
                .session(session),
        ),
        RevokeReason::UserDeleted => None,
        RevokeReason::Logout
        | RevokeReason::RevokedByUser
        | RevokeReason::RevokeAll
        | RevokeReason::RevokedByClient
        | RevokeReason::PasswordChanged
        | RevokeReason::Disabled
        | RevokeReason::RevokedByOperator => {
            Some(AuditEvent::session_revoked(user, session, reason, at))
        }
    }
}

impl RevokedSetMemory for AuthService {
    fn remember(&self, session: SessionId, at: Timestamp) {
        self.remember_revoked(session, at);
    }
}

impl AuthService {
    /// [`after_revocation`] with this server's revoked set and audit log.
    pub(crate) async fn after_revocation(&self, revocation: Revocation<'_>) {
        after_revocation(&self.audit, Some(self), revocation).await;
    }
}
