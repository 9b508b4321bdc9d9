//! [`DeadlineStore`]: any backend, with a client-side deadline on every call and a record of
//! whether the last write failed.
//!
//! A database that stops answering (a frozen server, a network that drops packets without an
//! error) never makes a query fail by itself: the server's `statement_timeout` cannot fire for
//! a query that never arrives, and TCP waits minutes. So every call is raced against the
//! deadline here, in one place for both backends, and a late one fails with
//! [`StoreError::Unavailable`] (answered 503 with `Retry-After`). A call that timed out may
//! still complete in the background (a queued SQLite write, a PostgreSQL commit whose answer
//! was lost); every operation is safe to retry (a refresh retried within the reuse grace gets
//! the same successor).
//!
//! Writes that fail for want of the database (not a conflict) are remembered, so readiness can
//! report a database that answers reads but refuses writes (disk full, read-only): for
//! [`WRITE_FAILURE_HOLD`] after any such failure, and after that until a write succeeds.

use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokenauth_core::audit::AuditEvent;
use tokenauth_core::client::ApiClient;
use tokenauth_core::keys::{KeyPolicy, KeyWithdrawal, SigningKeyRecord};
use tokenauth_core::refresh_token::PresentedRefreshToken;
use tokenauth_core::session::{
    NewSession, RefreshTokenStatus, RevokeReason, RevokedSession, RotationOutcome, RotationRequest,
    Session,
};
use tokenauth_core::store::{
    AuditStore, ClientStore, FeedEvent, FeedPosition, KeyStore, Lifecycle, PoolStatus,
    RevocationEvent, RevocationStore, SessionStore, Store, StoreError, ThrottleStore, UserStore,
    WriteHealth,
};
use tokenauth_core::throttle::{AttemptReservation, LockoutPolicy, LoginFailures, ThrottleKey};
use tokenauth_core::user::{Email, User};
use tokenauth_core::{SessionId, Timestamp, UserId};

/// How long a failed write keeps [`Lifecycle::write_health`] at
/// [`WriteHealth::FailedRecently`], whatever succeeds meanwhile: on a full disk, small writes
/// pass while larger ones fail, so one success proves little.
pub const WRITE_FAILURE_HOLD: Duration = Duration::from_secs(10);

/// A store whose every call answers within `deadline` (or fails with
/// [`StoreError::Unavailable`]), and which knows how its recent writes went
/// ([`Lifecycle::write_health`]). `close` is not bounded: it finishes queued work.
pub struct DeadlineStore {
    inner: Arc<dyn Store>,
    deadline: Duration,
    writes: Mutex<WriteOutcomes>,
}

/// The last write failure, and whether a write succeeded after it.
#[derive(Default)]
struct WriteOutcomes {
    last_failure: Option<Instant>,
    succeeded_since: bool,
}

impl DeadlineStore {
    /// Wraps `inner`; every call gets at most `deadline`.
    pub fn new(inner: Arc<dyn Store>, deadline: Duration) -> Self {
        Self {
            inner,
            deadline,
            writes: Mutex::default(),
        }
    }

    fn outcomes(&self) -> std::sync::MutexGuard<'_, WriteOutcomes> {
        self.writes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `call`, or [`StoreError::Unavailable`] once the deadline passes.
    async fn bounded<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.deadline, call).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(
                    operation,
                    deadline = ?self.deadline,
                    "the database did not answer in time"
                );
                Err(StoreError::Unavailable(format!(
                    "{operation}: the database did not answer within {:?}",
                    self.deadline
                )))
            }
        }
    }

    /// A read: bounded.
    async fn read<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        self.bounded(operation, call).await
    }

    /// A write that adds or changes rows: bounded, and its outcome remembered. A conflict is a
    /// database that answered; corrupt data says nothing about writes.
    async fn write<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let result = self.bounded(operation, call).await;
        match &result {
            Ok(_) | Err(StoreError::Conflict(_)) => self.outcomes().succeeded_since = true,
            Err(StoreError::Unavailable(_)) => self.write_failed(operation),
            Err(_) => {}
        }
        result
    }

    /// A purge: bounded; a failure is remembered, but a success proves nothing (deleting
    /// nothing needs no space, and a full disk still allows it).
    async fn purge(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<u64, StoreError>>,
    ) -> Result<u64, StoreError> {
        let result = self.bounded(operation, call).await;
        if matches!(result, Err(StoreError::Unavailable(_))) {
            self.write_failed(operation);
        }
        result
    }

    fn write_failed(&self, operation: &'static str) {
        let mut outcomes = self.outcomes();
        let first = outcomes.last_failure.is_none() || outcomes.succeeded_since;
        outcomes.last_failure = Some(Instant::now());
        outcomes.succeeded_since = false;
        drop(outcomes);
        if first {
            tracing::warn!(operation, "a database write failed; readiness reports it");
        }
    }
}

#[async_trait]
impl UserStore for DeadlineStore {
    async fn insert_user_with_session(
        &self,
        user: &User,
        session: &NewSession,
    ) -> Result<(), StoreError> {
        let call = self.inner.insert_user_with_session(user, session);
        self.write("insert_user_with_session", call).await
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        self.read("find_user_by_email", self.inner.find_user_by_email(email))
            .await
    }

    async fn find_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.read("find_user", self.inner.find_user(id)).await
    }

    async fn set_password_hash(
        &self,
        id: UserId,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let call = self.inner.set_password_hash(id, password_hash, now);
        self.write("set_password_hash", call).await
    }

    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        self.write("insert_user", self.inner.insert_user(user))
            .await
    }

    async fn list_users(&self, after: Option<&Email>, limit: u32) -> Result<Vec<User>, StoreError> {
        self.read("list_users", self.inner.list_users(after, limit))
            .await
    }

    async fn add_role(
        &self,
        email: &Email,
        role: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.write("add_role", self.inner.add_role(email, role, now))
            .await
    }

    async fn remove_role(
        &self,
        email: &Email,
        role: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.write("remove_role", self.inner.remove_role(email, role, now))
            .await
    }

    async fn delete_user(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> Result<Option<Vec<SessionId>>, StoreError> {
        self.write("delete_user", self.inner.delete_user(user, now))
            .await
    }

    async fn set_user_disabled(
        &self,
        email: &Email,
        disabled_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Option<UserId>, StoreError> {
        let call = self.inner.set_user_disabled(email, disabled_at, now);
        self.write("set_user_disabled", call).await
    }
}

#[async_trait]
impl SessionStore for DeadlineStore {
    async fn insert_session(&self, session: &NewSession) -> Result<(), StoreError> {
        self.write("insert_session", self.inner.insert_session(session))
            .await
    }

    async fn rotate_refresh_token(
        &self,
        request: &RotationRequest,
    ) -> Result<RotationOutcome, StoreError> {
        let call = self.inner.rotate_refresh_token(request);
        self.write("rotate_refresh_token", call).await
    }

    async fn find_session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        self.read("find_session", self.inner.find_session(id)).await
    }

    async fn sessions_of_user(&self, user: UserId) -> Result<Vec<Session>, StoreError> {
        self.read("sessions_of_user", self.inner.sessions_of_user(user))
            .await
    }

    async fn list_active_sessions(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> Result<Vec<Session>, StoreError> {
        let call = self.inner.list_active_sessions(user, now);
        self.read("list_active_sessions", call).await
    }

    async fn revoke_session(
        &self,
        user: UserId,
        session: SessionId,
        reason: RevokeReason,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let call = self.inner.revoke_session(user, session, reason, now);
        self.write("revoke_session", call).await
    }

    async fn revoke_all_sessions(
        &self,
        user: UserId,
        reason: RevokeReason,
        now: Timestamp,
    ) -> Result<Vec<SessionId>, StoreError> {
        let call = self.inner.revoke_all_sessions(user, reason, now);
        self.write("revoke_all_sessions", call).await
    }

    async fn revoke_other_sessions(
        &self,
        user: UserId,
        keep: SessionId,
        reason: RevokeReason,
        now: Timestamp,
    ) -> Result<Vec<SessionId>, StoreError> {
        let call = self.inner.revoke_other_sessions(user, keep, reason, now);
        self.write("revoke_other_sessions", call).await
    }

    async fn purge_ended_sessions(
        &self,
        ended_before: Timestamp,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let call = self.inner.purge_ended_sessions(ended_before, limit);
        self.purge("purge_ended_sessions", call).await
    }

    async fn find_refresh_token(
        &self,
        token: &PresentedRefreshToken,
    ) -> Result<Option<RefreshTokenStatus>, StoreError> {
        self.read("find_refresh_token", self.inner.find_refresh_token(token))
            .await
    }

    async fn revoked_sessions_alive_at(
        &self,
        alive_at: Timestamp,
    ) -> Result<Vec<RevokedSession>, StoreError> {
        let call = self.inner.revoked_sessions_alive_at(alive_at);
        self.read("revoked_sessions_alive_at", call).await
    }
}

#[async_trait]
impl KeyStore for DeadlineStore {
    async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        self.read("list_signing_keys", self.inner.list_signing_keys())
            .await
    }

    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError> {
        self.write("insert_signing_key", self.inner.insert_signing_key(key))
            .await
    }

    async fn promote_signing_key(
        &self,
        next_kid: &str,
        now: Timestamp,
        retired_publish_until: Timestamp,
    ) -> Result<bool, StoreError> {
        let call = self
            .inner
            .promote_signing_key(next_kid, now, retired_publish_until);
        self.write("promote_signing_key", call).await
    }

    async fn delete_expired_signing_keys(&self, now: Timestamp) -> Result<u64, StoreError> {
        let call = self.inner.delete_expired_signing_keys(now);
        self.purge("delete_expired_signing_keys", call).await
    }

    async fn withdraw_signing_key(
        &self,
        kid: &str,
        now: Timestamp,
    ) -> Result<KeyWithdrawal, StoreError> {
        self.write(
            "withdraw_signing_key",
            self.inner.withdraw_signing_key(kid, now),
        )
        .await
    }

    async fn key_policy(&self) -> Result<Option<KeyPolicy>, StoreError> {
        self.read("key_policy", self.inner.key_policy()).await
    }

    async fn store_key_policy(&self, policy: &KeyPolicy, now: Timestamp) -> Result<(), StoreError> {
        self.write("store_key_policy", self.inner.store_key_policy(policy, now))
            .await
    }
}

#[async_trait]
impl ClientStore for DeadlineStore {
    async fn insert_client(&self, client: &ApiClient) -> Result<(), StoreError> {
        self.write("insert_client", self.inner.insert_client(client))
            .await
    }

    async fn find_client(&self, client_id: &str) -> Result<Option<ApiClient>, StoreError> {
        self.read("find_client", self.inner.find_client(client_id))
            .await
    }

    async fn list_clients(&self) -> Result<Vec<ApiClient>, StoreError> {
        self.read("list_clients", self.inner.list_clients()).await
    }
}

#[async_trait]
impl RevocationStore for DeadlineStore {
    async fn feed_events_after(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<FeedEvent>, StoreError> {
        self.read(
            "feed_events_after",
            self.inner.feed_events_after(after, limit),
        )
        .await
    }

    async fn key_withdrawals_since(
        &self,
        since: Timestamp,
    ) -> Result<Vec<(String, Timestamp)>, StoreError> {
        self.read(
            "key_withdrawals_since",
            self.inner.key_withdrawals_since(since),
        )
        .await
    }

    async fn revocation_feed_position(&self) -> Result<FeedPosition, StoreError> {
        let call = self.inner.revocation_feed_position();
        self.read("revocation_feed_position", call).await
    }

    async fn revocations_after(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<RevocationEvent>, StoreError> {
        let call = self.inner.revocations_after(after, limit);
        self.read("revocations_after", call).await
    }

    fn revocation_signal(&self) -> Option<Arc<tokio::sync::Notify>> {
        self.inner.revocation_signal()
    }

    async fn purge_revocations(
        &self,
        revoked_before: Timestamp,
        alive_before: Timestamp,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let call = self
            .inner
            .purge_revocations(revoked_before, alive_before, limit);
        self.purge("purge_revocations", call).await
    }
}

#[async_trait]
impl AuditStore for DeadlineStore {
    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.write("append_audit_event", self.inner.append_audit_event(event))
            .await
    }

    async fn audit_events_of_user(
        &self,
        user: UserId,
        since: Timestamp,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let call = self.inner.audit_events_of_user(user, since, limit);
        self.read("audit_events_of_user", call).await
    }

    async fn audit_events_since(
        &self,
        since: Timestamp,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let call = self.inner.audit_events_since(since, limit);
        self.read("audit_events_since", call).await
    }

    async fn purge_audit_events(&self, before: Timestamp, limit: u32) -> Result<u64, StoreError> {
        let call = self.inner.purge_audit_events(before, limit);
        self.purge("purge_audit_events", call).await
    }
}

#[async_trait]
impl ThrottleStore for DeadlineStore {
    async fn reserve_attempt(
        &self,
        key: &ThrottleKey,
        now: Timestamp,
        policy: &LockoutPolicy,
    ) -> Result<AttemptReservation, StoreError> {
        self.write(
            "reserve_attempt",
            self.inner.reserve_attempt(key, now, policy),
        )
        .await
    }

    async fn forget_attempts(
        &self,
        key: &ThrottleKey,
        attempt: u64,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        self.write(
            "forget_attempts",
            self.inner.forget_attempts(key, attempt, now),
        )
        .await
    }

    async fn login_lockout(
        &self,
        key: &ThrottleKey,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        self.read("login_lockout", self.inner.login_lockout(key, now))
            .await
    }

    async fn record_login_failure(
        &self,
        key: &ThrottleKey,
        now: Timestamp,
        policy: &LockoutPolicy,
    ) -> Result<LoginFailures, StoreError> {
        let call = self.inner.record_login_failure(key, now, policy);
        self.write("record_login_failure", call).await
    }

    async fn clear_login_failures(
        &self,
        key: &ThrottleKey,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        let call = self.inner.clear_login_failures(key, now);
        self.write("clear_login_failures", call).await
    }

    async fn purge_login_failures(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        let call = self.inner.purge_login_failures(now, limit);
        self.purge("purge_login_failures", call).await
    }
}

#[async_trait]
impl Lifecycle for DeadlineStore {
    async fn schema_version(&self) -> Result<i64, StoreError> {
        self.read("schema_version", self.inner.schema_version())
            .await
    }

    fn expected_schema_version(&self) -> i64 {
        self.inner.expected_schema_version()
    }

    async fn close(&self) {
        self.inner.close().await;
    }

    fn pool_status(&self) -> Option<PoolStatus> {
        self.inner.pool_status()
    }

    async fn probe_write(&self, now: Timestamp) -> Result<(), StoreError> {
        self.write("probe_write", self.inner.probe_write(now)).await
    }

    fn write_health(&self) -> WriteHealth {
        let outcomes = self.outcomes();
        match outcomes.last_failure {
            None => WriteHealth::Healthy,
            Some(at) if at.elapsed() < WRITE_FAILURE_HOLD => WriteHealth::FailedRecently,
            Some(_) if outcomes.succeeded_since => WriteHealth::Healthy,
            Some(_) => WriteHealth::FailedEarlier,
        }
    }
}
