//! The storage traits, one per capability. Each backend implements all of them; the same
//! conformance suite runs against every backend. Every method is one transaction: it either
//! happens whole or changes nothing.

mod copy;
mod transfer;

use async_trait::async_trait;

pub use crate::audit::AuditStore;
use crate::client::ApiClient;
use crate::clock::Timestamp;
use crate::ids::{SessionId, UserId};
use crate::keys::{KeyPolicy, KeyWithdrawal, SigningKeyRecord};
use crate::refresh_token::PresentedRefreshToken;
use crate::session::{
    NewSession, RefreshTokenStatus, RevokeReason, RevokedSession, RotationOutcome, RotationRequest,
    Session,
};
use crate::throttle::{AttemptReservation, LockoutPolicy, LoginFailures, ThrottleKey};
use crate::user::{Email, User};

pub use crate::store_error::StoreError;
pub use copy::{
    CopyError, CopyProgress, CopySummary, DEFAULT_BATCH_SIZE, Side, TableCopied, copy_database,
};
pub use transfer::{Batch, Cursor, RefreshTokenRow, SessionRow, Table, Transfer, UserRow};

/// Users.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user together with their first session, atomically.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the email is taken; nothing is written then.
    async fn insert_user_with_session(
        &self,
        user: &User,
        session: &NewSession,
    ) -> Result<(), StoreError>;

    /// The user with this (normalised) email.
    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError>;

    /// The user with this id.
    async fn find_user(&self, id: UserId) -> Result<Option<User>, StoreError>;

    /// Replaces the stored password hash (after a login found the old parameters weak).
    async fn set_password_hash(
        &self,
        id: UserId,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<(), StoreError>;

    /// Creates a user with no session (an operator's `tokenauth user add`).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the email is taken; nothing is written then.
    async fn insert_user(&self, user: &User) -> Result<(), StoreError>;

    /// Users in email order: those whose email sorts after `after` (all without it), at most
    /// `limit` of them. Paging with the last email seen visits every user once.
    async fn list_users(&self, after: Option<&Email>, limit: u32) -> Result<Vec<User>, StoreError>;

    /// Adds `role` to the user's roles (no-op if present). False when there is no such user.
    async fn add_role(&self, email: &Email, role: &str, now: Timestamp)
    -> Result<bool, StoreError>;

    /// Removes `role` from the user's roles (no-op if absent). False when there is no such
    /// user.
    async fn remove_role(
        &self,
        email: &Email,
        role: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Erases the user, in one transaction: revokes every live session of theirs (reason
    /// [`RevokeReason::UserDeleted`], one revocation-feed event each, so running servers and
    /// verifiers refuse their access tokens), then deletes their audit events, the user, and
    /// every session with its refresh-token history. Returns the revoked sessions' ids, or
    /// `None` (and no change) when there is no such user. The feed events stay until the
    /// feed's own purge, and [`SessionStore::revoked_sessions_alive_at`] keeps reporting the
    /// revoked sessions from them.
    async fn delete_user(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> Result<Option<Vec<SessionId>>, StoreError>;

    /// Disables the user with this email as of `now` (`Some`), or enables them (`None`).
    /// Disabling a disabled user keeps the time it was first disabled. Returns the user's id,
    /// or `None` (and no change) when there is no such user. Changes no session: revoking
    /// them is the caller's next step.
    async fn set_user_disabled(
        &self,
        email: &Email,
        disabled_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Option<UserId>, StoreError>;
}

/// Sessions and their refresh-token families.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Creates a session at generation 0. Nothing of its refresh token is stored.
    async fn insert_session(&self, session: &NewSession) -> Result<(), StoreError>;

    /// Rotates a refresh token as one compare-and-swap, deciding in the same transaction between
    /// rotation, idempotent replay, theft (which revokes the family), expiry, revocation and
    /// unknown: the store reads the presented token's [`FamilyState`](crate::session::FamilyState)
    /// (a v2 token's session by primary key, a legacy token's by hash, with the generation it
    /// found the token to be) and applies what
    /// [`decide_rotation`](crate::session::decide_rotation) decides (reading and deciding
    /// again if its swap loses a race). A rotation moves the session to the next generation in
    /// place and clears a legacy session's current hash; it stores nothing of the successor. A session whose user is disabled never
    /// rotates or replays: it answers
    /// [`RotationOutcome::Revoked`] (unless the token is unknown, expired, or reused after
    /// an earlier revocation). A failure changes nothing and counts as no reuse.
    async fn rotate_refresh_token(
        &self,
        request: &RotationRequest,
    ) -> Result<RotationOutcome, StoreError>;

    /// The session with this id, live or ended (`None` if there is none, or it was purged).
    async fn find_session(&self, id: SessionId) -> Result<Option<Session>, StoreError>;

    /// Every stored session of the user, live or ended (until purged), newest first.
    async fn sessions_of_user(&self, user: UserId) -> Result<Vec<Session>, StoreError>;

    /// The user's sessions that are neither revoked nor expired at `now`, newest first.
    async fn list_active_sessions(
        &self,
        user: UserId,
        now: Timestamp,
    ) -> Result<Vec<Session>, StoreError>;

    /// Revokes one of the user's live sessions. False when the user has no such live session.
    async fn revoke_session(
        &self,
        user: UserId,
        session: SessionId,
        reason: RevokeReason,
        now: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Revokes every live session of the user; returns the ids revoked.
    async fn revoke_all_sessions(
        &self,
        user: UserId,
        reason: RevokeReason,
        now: Timestamp,
    ) -> Result<Vec<SessionId>, StoreError>;

    /// Revokes every live session of the user except `keep` (which stays as it is, live or
    /// not); returns the ids revoked. Appends one feed event per revoked session, in the same
    /// transaction.
    async fn revoke_other_sessions(
        &self,
        user: UserId,
        keep: SessionId,
        reason: RevokeReason,
        now: Timestamp,
    ) -> Result<Vec<SessionId>, StoreError>;

    /// Deletes up to `limit` sessions (with their refresh-token history) that expired or were
    /// revoked before `ended_before`; returns how many. Small batches keep the write path free.
    async fn purge_ended_sessions(
        &self,
        ended_before: Timestamp,
        limit: u32,
    ) -> Result<u64, StoreError>;

    /// The session that issued the refresh token (its live token or one already rotated away),
    /// read without rotating or consuming anything: a v2 token's session by its id, if the
    /// token's generation is at most the live one; a legacy token's by its hash. `None` if no
    /// session ever issued it (or it was purged).
    async fn find_refresh_token(
        &self,
        token: &PresentedRefreshToken,
    ) -> Result<Option<RefreshTokenStatus>, StoreError>;

    /// Every revoked session whose access tokens may still be unexpired at `alive_at`: those
    /// whose stored latest access-token expiry (`access_expires_at`, set when the tokens were
    /// minted) is at or after it. What a fresh process must know to reject access tokens that
    /// are still unexpired, whatever `access_token_ttl` is today. Includes sessions deleted
    /// since with their user ([`UserStore::delete_user`]), read from the revocation feed. A
    /// session may be listed twice (from both sources).
    async fn revoked_sessions_alive_at(
        &self,
        alive_at: Timestamp,
    ) -> Result<Vec<RevokedSession>, StoreError>;
}

/// Signing keys. At most one key is `next` and at most one `active` at any time; the store
/// enforces it, so concurrent instances cannot both rotate.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Every stored key, in creation order.
    async fn list_signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;

    /// Stores a new key.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if its state is `next` or `active` and such a key exists.
    async fn insert_signing_key(&self, key: &SigningKeyRecord) -> Result<(), StoreError>;

    /// Makes the `next` key `next_kid` active and retires the active one, which stays published
    /// until `retired_publish_until`. False (and no change) if `next_kid` is no longer `next`.
    async fn promote_signing_key(
        &self,
        next_kid: &str,
        now: Timestamp,
        retired_publish_until: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Deletes retired keys whose publication ended at or before `now`; returns how many.
    async fn delete_expired_signing_keys(&self, now: Timestamp) -> Result<u64, StoreError>;

    /// Ends the publication of the `next` or `retired` key `kid` at once by deleting it, in
    /// one step with the check of its state: the `active` key is never deleted (even when a
    /// promotion races with this call), and [`KeyWithdrawal::RefusedActive`] says so. A
    /// withdrawal appends a [`FeedSubject::SigningKey`] event withdrawn at `now` to the
    /// revocation feed in the same transaction, so feed readers learn of it.
    async fn withdraw_signing_key(
        &self,
        kid: &str,
        now: Timestamp,
    ) -> Result<KeyWithdrawal, StoreError>;

    /// The key policy the serving instances stored last; `None` before any has.
    async fn key_policy(&self) -> Result<Option<KeyPolicy>, StoreError>;

    /// Stores `policy` as the serving instances' key policy, replacing the previous one.
    async fn store_key_policy(&self, policy: &KeyPolicy, now: Timestamp) -> Result<(), StoreError>;
}

/// Registered API clients (the callers of `/oauth2/revoke` and `/oauth2/introspect`).
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Stores a new client.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if the client id is taken; nothing is written then.
    async fn insert_client(&self, client: &ApiClient) -> Result<(), StoreError>;

    /// The client with this id.
    async fn find_client(&self, client_id: &str) -> Result<Option<ApiClient>, StoreError>;

    /// Every client, in order of registration.
    async fn list_clients(&self) -> Result<Vec<ApiClient>, StoreError>;
}

/// The database as a whole: its health and its end.
#[async_trait]
pub trait Lifecycle: Send + Sync {
    /// The schema version the database is at; answering at all shows the database is reachable.
    async fn schema_version(&self) -> Result<i64, StoreError>;

    /// The schema version this build expects.
    fn expected_schema_version(&self) -> i64;

    /// Finishes queued work and closes every connection; later calls fail with
    /// [`StoreError::Unavailable`]. Idempotent.
    async fn close(&self);

    /// How busy the database connections are right now (for metrics); `None` when the backend
    /// cannot tell. Cheap: reads counters, never the database.
    fn pool_status(&self) -> Option<PoolStatus> {
        None
    }

    /// Writes one tiny row (the same one each time, stamped `now`): succeeding shows the
    /// database accepts writes now. For readiness while writes fail; never on a hot path.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the write fails (disk full, read-only, unreachable).
    async fn probe_write(&self, now: Timestamp) -> Result<(), StoreError>;

    /// What recent writes say about the database (failures for want of it: unreachable, timed
    /// out, disk full, read-only); [`WriteHealth::Healthy`] when the backend does not keep
    /// count. Cheap: reads counters, never the database.
    fn write_health(&self) -> WriteHealth {
        WriteHealth::Healthy
    }
}

/// What recent writes say about the database, for readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteHealth {
    /// No write has failed, or one succeeded after the last failure and that failure is no
    /// longer recent.
    Healthy,
    /// A write failed a moment ago (within the store's hold time): not ready, whatever
    /// succeeded since, because on a full disk small writes may pass while others fail.
    FailedRecently,
    /// The last write failed, but not recently: a probe write ([`Lifecycle::probe_write`])
    /// decides.
    FailedEarlier,
}

/// A snapshot of a backend's connections, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStatus {
    /// Most connections the backend opens.
    pub max_connections: usize,
    /// Connections open now.
    pub connections: usize,
    /// Open connections not serving an operation now.
    pub idle: usize,
    /// Operations waiting for a connection.
    pub waiting: usize,
    /// Of those, writes waiting for the single writer (SQLite only).
    pub queued_writes: Option<usize>,
}

/// One entry of the revocation feed: a session revoked at `revoked_at`, numbered `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationEvent {
    /// Position in the feed; strictly increasing in commit order, never reused.
    pub seq: u64,
    /// The revoked session.
    pub session: SessionId,
    /// When it was revoked.
    pub revoked_at: Timestamp,
    /// The latest `exp` of the session's access tokens, copied from the session when the event
    /// was appended.
    pub alive_until: Timestamp,
}

/// What one entry of the revocation feed revokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedSubject {
    /// A session: every access token with its `sid`.
    Session(SessionId),
    /// A withdrawn signing key: every token signed by this `kid`.
    SigningKey(String),
}

/// One entry of the revocation feed of either kind, numbered `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEvent {
    /// Position in the feed; strictly increasing in commit order, never reused.
    pub seq: u64,
    /// What was revoked.
    pub subject: FeedSubject,
    /// When.
    pub revoked_at: Timestamp,
    /// The latest `exp` of a revoked session's access tokens, copied from the session when the
    /// event was appended; the withdrawal time for a key (its tokens are refused from then on).
    pub alive_until: Timestamp,
}

/// Where the revocation feed of one database stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPosition {
    /// Random identity of this database's feed (16 lowercase hex digits), fixed when the schema
    /// was created: a cursor from another database (a restore, a `db copy`) is recognised as
    /// foreign by it.
    pub epoch: String,
    /// The highest `seq` ever assigned (0 before the first revocation).
    pub head: u64,
    /// Every event with `seq <= purged_through` has been deleted; a reader whose cursor is below
    /// it may have missed events and must start again from a snapshot.
    pub purged_through: u64,
}

/// The revocation feed: every store method that revokes sessions (`revoke_session`,
/// `revoke_all_sessions`, `revoke_other_sessions`, a reuse detected by `rotate_refresh_token`,
/// and any later one) appends
/// one event per revoked session in the same transaction, so the feed never misses a revocation
/// and never shows one that did not commit. Events become visible in `seq` order: a reader that
/// has seen `seq` n never later finds an event below n.
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// The feed's epoch and bounds.
    async fn revocation_feed_position(&self) -> Result<FeedPosition, StoreError>;

    /// Events of both kinds with `seq > after`, in ascending order, at most `limit` of them.
    async fn feed_events_after(&self, after: u64, limit: u32)
    -> Result<Vec<FeedEvent>, StoreError>;

    /// The session revocations among [`RevocationStore::feed_events_after`]`(after, limit)`.
    async fn revocations_after(
        &self,
        after: u64,
        limit: u32,
    ) -> Result<Vec<RevocationEvent>, StoreError> {
        let events = self.feed_events_after(after, limit).await?;
        Ok(events
            .into_iter()
            .filter_map(|event| match event.subject {
                FeedSubject::Session(session) => Some(RevocationEvent {
                    seq: event.seq,
                    session,
                    revoked_at: event.revoked_at,
                    alive_until: event.alive_until,
                }),
                FeedSubject::SigningKey(_) => None,
            })
            .collect())
    }

    /// Every key withdrawal still in the feed that happened at or after `since`, oldest first,
    /// as `(kid, withdrawn_at)`.
    async fn key_withdrawals_since(
        &self,
        since: Timestamp,
    ) -> Result<Vec<(String, Timestamp)>, StoreError>;

    /// A signal fired when another process may have appended events (PostgreSQL: `LISTEN` on a
    /// channel every append notifies at commit), so a follower can read at once instead of at
    /// its next poll. `None` when the backend has no such channel; poll then. A signal can be
    /// lost (a dropped connection): it speeds polling up, it does not replace it.
    fn revocation_signal(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        None
    }

    /// Deletes up to `limit` of the oldest events that were revoked before `revoked_before`
    /// and whose access tokens expired (`alive_until`) before `alive_before`, stopping at the
    /// first event that is not both, and raises `purged_through` to the highest `seq` deleted;
    /// returns how many were deleted.
    async fn purge_revocations(
        &self,
        revoked_before: Timestamp,
        alive_before: Timestamp,
        limit: u32,
    ) -> Result<u64, StoreError>;
}

/// Per-account throttling of credential checks: consecutive failed checks (logins, and the
/// password re-checks of `POST /v1/password` and `DELETE /v1/me`) counted per [`ThrottleKey`]
/// in the database, so every instance on it sees the same count and the same lock-out. The
/// services use [`ThrottleStore::reserve_attempt`] and [`ThrottleStore::forget_attempts`];
/// the other methods read and count without reserving. A count is
/// forgotten `policy.memory` after its last failure or the end of its lock-out, whichever is
/// later (its `forget_at`); a forgotten count starts again from zero.
#[async_trait]
pub trait ThrottleStore: Send + Sync {
    /// The end of the lock-out on `key`, if one is in force at `now`.
    async fn login_lockout(
        &self,
        key: &ThrottleKey,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError>;

    /// Counts one failed login at `now` and locks the key as `policy` says
    /// ([`LockoutPolicy::lockout_after`] the new count, from `now`; a lock-out never shrinks).
    /// Atomic: concurrent calls, from any number of instances, each count once.
    async fn record_login_failure(
        &self,
        key: &ThrottleKey,
        now: Timestamp,
        policy: &LockoutPolicy,
    ) -> Result<LoginFailures, StoreError>;

    /// Forgets the failures of `key` after a successful login, unless a lock-out is in force at
    /// `now`: then nothing changes and its end is returned (the login must be refused).
    async fn clear_login_failures(
        &self,
        key: &ThrottleKey,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError>;

    /// Reserves one credential check on `key` at `now`, before anything is hashed: refused,
    /// changing nothing, while a lock-out is in force; otherwise counted at once (a forgotten
    /// count starting again from one) and, when the new count reaches `policy.max_failures`,
    /// locked from `now` for [`LockoutPolicy::lockout_after`] the count, so that concurrent
    /// reservations are refused. The count is remembered `policy.memory` past `now` or the end
    /// of that lock-out. Atomic: concurrent reservations, from any number of instances, each
    /// get a different attempt number, and no more than the policy allows are ever allowed.
    async fn reserve_attempt(
        &self,
        key: &ThrottleKey,
        now: Timestamp,
        policy: &LockoutPolicy,
    ) -> Result<AttemptReservation, StoreError>;

    /// Settles the reservation numbered `attempt` as a success: forgets the count of `key`,
    /// unless a lock-out not of this attempt's own making is in force at `now` (one earned by
    /// a concurrent attempt): then nothing changes and its end is returned (the success must be
    /// refused). A lock-out is this attempt's own when the count still stands at `attempt`.
    async fn forget_attempts(
        &self,
        key: &ThrottleKey,
        attempt: u64,
        now: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError>;

    /// Deletes up to `limit` counts already forgotten at `now`; returns how many.
    async fn purge_login_failures(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError>;
}

/// Everything the server needs from a backend.
pub trait Store:
    UserStore
    + SessionStore
    + KeyStore
    + ClientStore
    + RevocationStore
    + AuditStore
    + ThrottleStore
    + Lifecycle
{
}

impl<
    T: UserStore
        + SessionStore
        + KeyStore
        + ClientStore
        + RevocationStore
        + AuditStore
        + ThrottleStore
        + Lifecycle,
> Store for T
{
}
