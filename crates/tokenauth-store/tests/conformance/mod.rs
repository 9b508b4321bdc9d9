//! The storage conformance suite: backend-independent tests of the traits in
//! `tokenauth_core::store`, with the refresh-rotation invariants of
//! `shared/refresh-rotation.md` above all.
//!
//! Every test is a `pub async fn`. Most take a fresh, empty store (`Arc<dyn Store>`); the ones
//! about durability take a [`Backend`], which can close a store and open the same database
//! again; the ones about sessions from before token format v2 (`legacy`) also get the same
//! store's [`Transfer`] side, to import such sessions as a database from before would hold them. A backend's test file (`tests/sqlite.rs`, later `tests/postgres.rs`) runs each of them
//! on a fresh database, one `#[tokio::test]` per function, on a multi-threaded runtime.
//!
//! No clock is involved: every time is a [`Timestamp`] built from [`T0`].

/// Invokes `$runner!(store: …)`, `$runner!(backend: …)`, `$runner!(pair: …)` and
/// `$runner!(legacy: …)` with every conformance test, so each backend's file lists none of them itself and none can be
/// forgotten.
#[allow(unused_macros)]
macro_rules! every_conformance_test {
    ($runner:ident) => {
        $runner!(store:
    users::user_with_session_round_trip,
    users::minimal_user_round_trip,
    users::duplicate_email_conflicts_and_writes_nothing,
    users::set_password_hash_replaces_only_that_users_hash,
    users::add_role_is_idempotent,
    sessions::list_active_sessions_filters_and_orders,
    sessions::revoke_session_only_by_owner_and_once,
    sessions::revoke_session_ignores_expired,
    sessions::revoke_all_sessions_returns_ids_and_spares_others,
    sessions::sessions_revoked_since_reports_every_revocation,
    sessions::purge_removes_only_long_ended_sessions,
    rotation::live_token_rotates,
    rotation::previous_token_within_grace_is_replayed,
    rotation::previous_token_after_grace_is_reuse,
    rotation::older_token_is_reuse_even_within_grace,
    rotation::expired_session_is_expired,
    rotation::revoked_session_never_comes_back,
    rotation::unknown_token_is_unknown,
    rotation::rotation_reports_current_roles,
    rotation::rotation_never_passes_the_absolute_end,
    rotation::idle_session_expires,
    rotation::latest_access_expiry_is_kept_and_reported,
    forgery::an_altered_tag_is_refused_and_changes_nothing,
    forgery::another_session_under_the_same_tag_is_refused,
    forgery::a_generation_above_the_live_one_is_unknown_and_revokes_nothing,
    forgery::a_token_under_another_secret_is_refused_and_revokes_nothing,
    forgery::a_forged_previous_token_within_grace_neither_replays_nor_revokes,
    revocations::purge_keeps_events_whose_tokens_are_alive,
    concurrency::concurrent_refreshes_within_grace_converge,
    concurrency::concurrent_refreshes_without_grace_revoke,
    concurrency::concurrent_rotations_of_different_sessions,
    concurrency::long_chain_keeps_one_live_token,
    concurrency::first_token_of_long_chain_is_reuse,
    keys::keys_round_trip,
    keys::one_active_and_one_next_key,
    keys::promote_signing_key_moves_states,
    keys::promote_without_active_key,
    keys::delete_expired_signing_keys_only_removes_ended_retired_keys,
    keys::withdraw_signing_key_removes_only_next_and_retired_keys,
    keys::withdrawal_is_published_on_the_feed,
    keys::key_policy_round_trips,
    persistence::lifecycle_reports_expected_schema_version,
    persistence::probe_write_writes_again_and_again,
    clients::clients_round_trip,
    clients::duplicate_client_id_conflicts,
    clients::client_permissions_round_trip,
    clients::find_refresh_token_reports_without_consuming,
    revocations::feed_starts_empty,
    revocations::revoke_session_appends_one_event,
    revocations::revoke_all_appends_one_event_per_session,
    revocations::reuse_detection_appends_one_event,
    revocations::racing_reuse_appends_one_event,
    revocations::revocations_after_pages_in_order,
    revocations::purge_deletes_oldest_and_never_lowers_head,
    revocations::purge_deletes_only_a_prefix,
    revocations::concurrent_revocations_appear_in_seq_order,
    accounts::set_user_disabled_disables_and_enables,
    accounts::disabled_users_sessions_do_not_rotate,
    accounts::revoke_other_sessions_keeps_one,
    audit::audit_events_round_trip,
    audit::audit_events_are_listed_newest_first_within_range,
    audit::purge_deletes_oldest_audit_events,
    throttle::fifth_failure_locks_for_thirty_seconds,
    throttle::lockouts_double_up_to_the_cap,
    throttle::a_lockout_never_shrinks,
    throttle::failures_are_forgotten_after_the_memory_window,
    throttle::memory_runs_from_the_end_of_a_lockout,
    throttle::clear_forgets_unless_locked,
    throttle::keys_are_independent,
    throttle::zero_max_failures_never_locks,
    throttle::concurrent_failures_all_count,
    throttle::purge_deletes_only_forgotten_counts,
    throttle::reservations_count_and_lock_at_the_limit,
    throttle::a_success_forgets_unless_another_attempt_locked,
    throttle::concurrent_reservations_never_exceed_the_limit,
    admin::insert_user_without_session,
    admin::list_users_pages_in_email_order,
    admin::remove_role_keeps_the_others,
    admin::sessions_are_read_live_or_ended,
    admin::delete_user_erases_and_publishes_revocations,
    admin::delete_unknown_user_and_late_session,
        );
        $runner!(backend:
    persistence::data_survives_reopen,
    persistence::failed_calls_change_nothing,
    persistence::close_with_calls_in_flight,
    persistence::lifecycle_close_with_calls_in_flight,
    revocations::feed_survives_reopen,
    throttle::failures_through_two_stores_share_one_count,
    throttle::reservations_through_two_stores_never_exceed_the_limit,
        );
        $runner!(pair:
    revocations::databases_have_different_epochs,
        );
        $runner!(legacy:
    legacy::a_legacy_token_rotates_into_v2_and_keeps_working,
    legacy::a_legacy_previous_token_within_grace_replays,
    legacy::a_legacy_previous_token_after_grace_is_theft,
    legacy::an_older_legacy_token_after_the_conversion_is_theft,
    legacy::the_previous_legacy_token_is_theft_once_the_session_moved_on,
    legacy::a_rotation_by_the_old_code_is_replayed_as_v2,
    legacy::a_legacy_token_is_found_without_being_used,
    legacy::legacy_history_goes_with_its_purged_session,
        );
    };
}

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod clients;
pub mod concurrency;
pub mod forgery;
pub mod keys;
pub mod legacy;
pub mod persistence;
pub mod revocations;
pub mod rotation;
pub mod sessions;
pub mod throttle;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokenauth_core::refresh_token::{PresentedRefreshToken, RefreshToken, RotationSecret};
use tokenauth_core::session::{
    NewSession, RotationOutcome, RotationRequest, Session, SessionOwner,
};
use tokenauth_core::store::Store;
use tokenauth_core::user::{Email, User};
use tokenauth_core::{SessionId, Timestamp, UserId};

/// A backend under test, over one database that outlives the stores opened on it.
#[async_trait]
pub trait Backend: Send + Sync {
    /// Opens a store on this backend's database: the same database every time, empty at first.
    async fn open(&self) -> Arc<dyn Store>;

    /// Closes the store opened last. Its later calls must fail with `StoreError::Unavailable`;
    /// everything committed must be there for the next [`Backend::open`].
    async fn close(&self);

    /// The backend's own health checks of its database (integrity, schema version) through the
    /// store opened last; panics when one fails.
    async fn check(&self);
}

/// The suite's epoch: every time in it is an offset from here.
pub const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);
/// The refresh-reuse grace window the tests use.
pub const GRACE: Duration = Duration::from_secs(30);
/// How long a refresh token lives in the tests.
pub const TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long a session lives at most in the tests (its absolute end after creation).
pub const MAX_LIFETIME: Duration = Duration::from_secs(90 * 24 * 3600);
/// How long an access token lives in the tests.
pub const ACCESS_TTL: Duration = Duration::from_secs(15 * 60);

/// `T0` plus `secs` seconds.
pub fn at(secs: u64) -> Timestamp {
    T0.plus(Duration::from_secs(secs))
}

/// The rotation secret every test makes and recognises tokens with.
pub fn secret() -> RotationSecret {
    RotationSecret::new(&[7; 32])
}

/// The first refresh token of a new session (generation 0 of a fresh session id, which
/// [`new_session`] takes from it); until that session is stored, a token no session issued.
pub fn token() -> RefreshToken {
    secret().token(SessionId::generate(), 0)
}

/// What the store is told of `token`, recognised under [`secret()`] as a server would.
pub fn presented(token: &RefreshToken) -> PresentedRefreshToken {
    secret()
        .verify(token.expose())
        .expect("a token made with secret()")
}

/// The successor of the v2 token `token`: its session's token of the next generation.
pub fn successor(token: &RefreshToken) -> RefreshToken {
    match presented(token) {
        PresentedRefreshToken::Session {
            session_id,
            generation,
        } => secret().token(session_id, generation + 1),
        PresentedRefreshToken::Legacy(_) => panic!("a legacy token names no generation"),
    }
}

/// A random token of the legacy shape (43 base64url characters), as sessions from before
/// token format v2 were issued.
pub fn legacy_token() -> String {
    let random = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    random[..tokenauth_core::refresh_token::LEGACY_TOKEN_CHARS].to_owned()
}

/// The hash under which a session from before token format v2 stored `legacy`.
pub fn legacy_hash(legacy: &str) -> tokenauth_core::refresh_token::RefreshTokenHash {
    match secret().verify(legacy) {
        Ok(PresentedRefreshToken::Legacy(hash)) => hash,
        other => panic!("not a legacy token: {other:?}"),
    }
}

/// The token a rotation or replay answered with: the live generation's of the owner's session.
pub fn answered(owner: &SessionOwner) -> RefreshToken {
    secret().token(owner.session_id, owner.generation)
}

/// A parsed (normalised) email.
pub fn email(raw: &str) -> Email {
    Email::parse(raw).expect("valid email")
}

/// A user with the given email and roles, created at `T0`.
pub fn new_user(address: &str, roles: &[&str]) -> User {
    User {
        id: UserId::generate(),
        email: email(address),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$fake${address}"),
        roles: roles.iter().map(|role| (*role).to_owned()).collect(),
        created_at: T0,
        disabled_at: None,
    }
}

/// A new session of `user` whose first refresh token is `first` (made by [`token`]: the session
/// gets its id), created at `created`, expiring `TOKEN_TTL` later, ending absolutely
/// `MAX_LIFETIME` later, with an access token that lives `ACCESS_TTL`.
pub fn new_session(user: UserId, first: &RefreshToken, created: Timestamp) -> NewSession {
    let PresentedRefreshToken::Session {
        session_id,
        generation: 0,
    } = presented(first)
    else {
        panic!("a session's first token is of generation 0");
    };
    NewSession {
        id: session_id,
        user_id: user,
        created_at: created,
        expires_at: created.plus(TOKEN_TTL),
        absolute_expires_at: created.plus(MAX_LIFETIME),
        access_expires_at: created.plus(ACCESS_TTL),
        user_agent: Some("conformance/1.0".to_owned()),
        ip: Some("192.0.2.7".to_owned()),
    }
}

/// A signed-up user: the user, their first session and its live refresh token.
pub struct Account {
    /// The stored user.
    pub user: User,
    /// The session created with the user.
    pub session: NewSession,
    /// The session's first refresh token.
    pub token: RefreshToken,
}

/// Signs up a user with `address` and `roles` (at `T0`), with a first session.
pub async fn sign_up(store: &Arc<dyn Store>, address: &str, roles: &[&str]) -> Account {
    let user = new_user(address, roles);
    let first = token();
    let session = new_session(user.id, &first, T0);
    store
        .insert_user_with_session(&user, &session)
        .await
        .expect("sign-up");
    Account {
        user,
        session,
        token: first,
    }
}

/// Adds a session to `user` created at `created`; returns it and its first token.
pub async fn add_session(
    store: &Arc<dyn Store>,
    user: UserId,
    created: Timestamp,
) -> (NewSession, RefreshToken) {
    let first = token();
    let session = new_session(user, &first, created);
    store
        .insert_session(&session)
        .await
        .expect("insert session");
    (session, first)
}

/// A rotation request presenting `presented` at `now`, with the grace cutoff `grace_cutoff`;
/// the successor lives `TOKEN_TTL` from `now` (before the cap of the absolute end), its access
/// token `ACCESS_TTL`.
pub fn request_with(
    presented: PresentedRefreshToken,
    now: Timestamp,
    grace_cutoff: Timestamp,
) -> RotationRequest {
    RotationRequest {
        presented,
        now,
        grace_cutoff,
        successor_expires_at: now.plus(TOKEN_TTL),
        access_expires_at: now.plus(ACCESS_TTL),
    }
}

/// The request a server would make for `presented` at `now` with grace window [`GRACE`].
pub fn request(token: &RefreshToken, now: Timestamp) -> RotationRequest {
    request_with(presented(token), now, now.minus(GRACE))
}

/// Rotates `presented` at `now` (grace [`GRACE`]).
pub async fn rotate(
    store: &Arc<dyn Store>,
    presented: &RefreshToken,
    now: Timestamp,
) -> RotationOutcome {
    store
        .rotate_refresh_token(&request(presented, now))
        .await
        .expect("rotate")
}

/// Rotates `presented` at `now`, asserts it was `Rotated` (to the next generation, for a v2
/// token), and returns the successor.
pub async fn rotate_ok(
    store: &Arc<dyn Store>,
    presented: &RefreshToken,
    now: Timestamp,
) -> (RefreshToken, SessionOwner) {
    match rotate(store, presented, now).await {
        RotationOutcome::Rotated(owner) => {
            let next = answered(&owner);
            if let PresentedRefreshToken::Session { .. } = self::presented(presented) {
                assert_eq!(next.expose(), successor(presented).expose());
            }
            (next, owner)
        }
        other => panic!("expected Rotated, got {other:?}"),
    }
}

/// The user's active sessions at `now`.
pub async fn active(store: &Arc<dyn Store>, user: UserId, now: Timestamp) -> Vec<Session> {
    store
        .list_active_sessions(user, now)
        .await
        .expect("list sessions")
}

/// The one active session of `user` at `now`; panics unless there is exactly one.
pub async fn only_session(store: &Arc<dyn Store>, user: UserId, now: Timestamp) -> Session {
    let mut sessions = active(store, user, now).await;
    assert_eq!(
        sessions.len(),
        1,
        "expected exactly one session: {sessions:?}"
    );
    sessions.remove(0)
}

/// Sessions revoked at or after `since`, whatever their access tokens' expiry, each once: the
/// revoked sessions the store reports alive at the epoch, filtered by time of revocation.
pub async fn revoked_since(
    store: &Arc<dyn Store>,
    since: Timestamp,
) -> Vec<(SessionId, Timestamp)> {
    let mut revoked: Vec<(SessionId, Timestamp)> = store
        .revoked_sessions_alive_at(Timestamp::from_millis(0))
        .await
        .expect("revoked sessions")
        .into_iter()
        .filter(|revoked| revoked.revoked_at >= since)
        .map(|revoked| (revoked.session, revoked.revoked_at))
        .collect();
    revoked.sort_by_key(|(session, at)| (*at, session.to_string()));
    revoked.dedup();
    revoked
}
