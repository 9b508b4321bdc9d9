//! Durability across close and reopen, and invariant 6: a failed call changes nothing.

use std::sync::Arc;
use std::time::Duration;

use tokenauth_core::UserId;
use tokenauth_core::keys::KeyState;
use tokenauth_core::refresh_token::RefreshToken;
use tokenauth_core::session::{RevokeReason, RotationOutcome, Session};
use tokenauth_core::store::{Store, StoreError};

use super::keys::{key, retired};
use super::revocations::feed;
use super::{
    Account, Backend, T0, active, add_session, at, email, new_session, new_user, only_session,
    request, revoked_since, rotate, rotate_ok, sign_up, successor, token,
};

fn assert_unavailable<T: std::fmt::Debug>(what: &str, result: Result<T, StoreError>) {
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{what} on a closed store: expected Unavailable, got {result:?}"
    );
}

/// Users, roles, sessions (with their rotation state and revocations) and keys survive closing
/// the store and opening the database again.
pub async fn data_survives_reopen(backend: &dyn Backend) {
    let store = backend.open().await;
    backend.check().await;
    let alice = sign_up(&store, "alice@example.com", &["admin"]).await;
    let (second, _) = add_session(&store, alice.user.id, at(10)).await;
    let (gone, _) = add_session(&store, alice.user.id, at(20)).await;
    assert!(
        store
            .revoke_session(alice.user.id, gone.id, RevokeReason::Logout, at(30))
            .await
            .expect("revoke")
    );
    let (live, _) = rotate_ok(&store, &alice.token, at(40)).await;
    store
        .set_password_hash(alice.user.id, "$argon2id$rehashed", at(41))
        .await
        .expect("rehash");
    let keys = [
        retired("old", T0, at(9000)),
        key("active", "ES256", KeyState::Active, at(1)),
        key("next", "EdDSA", KeyState::Next, at(2)),
    ];
    for record in &keys {
        store.insert_signing_key(record).await.expect("insert key");
    }
    let sessions_before = active(&store, alice.user.id, at(42)).await;
    assert_eq!(sessions_before.len(), 2);

    backend.close().await;
    drop(store);
    let store = backend.open().await;
    backend.check().await;

    let user = store
        .find_user_by_email(&email("alice@example.com"))
        .await
        .expect("find")
        .expect("alice survives");
    assert_eq!(user.id, alice.user.id);
    assert_eq!(user.roles, ["admin"]);
    assert_eq!(user.password_hash, "$argon2id$rehashed");
    assert_eq!(active(&store, alice.user.id, at(42)).await, sessions_before);
    assert_eq!(sessions_before[0].id, second.id);
    assert_eq!(revoked_since(&store, T0).await, [(gone.id, at(30))]);
    assert_eq!(store.list_signing_keys().await.expect("keys"), keys);

    // The rotation state survived too: the previous token is still a replay within grace,
    // the live one rotates.
    assert!(matches!(
        rotate(&store, &alice.token, at(43)).await,
        RotationOutcome::Replayed(_)
    ));
    let (_, owner) = rotate_ok(&store, &live, at(44)).await;
    assert_eq!(owner.roles, ["admin"]);
    backend.check().await;
}

/// Once closed, every call fails with `Unavailable`; the failed calls changed nothing: the
/// rotation did not consume the live token, the reuse attempt revoked nothing, and after
/// reopening the family is intact and its live token rotates.
pub async fn failed_calls_change_nothing(backend: &dyn Backend) {
    let store = backend.open().await;
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let (live, _) = rotate_ok(&store, &alice.token, at(10)).await;
    let before = only_session(&store, alice.user.id, at(11)).await;

    backend.close().await;
    assert_user_and_session_calls_unavailable(&store, &alice, &live).await;
    assert_revocation_key_and_feed_calls_unavailable(&store, &alice).await;
    drop(store);

    let store = backend.open().await;
    assert_nothing_changed(&store, &alice, &live, &before).await;
    backend.check().await;
}

/// On the closed `store`, the rotation of `live` and of `alice`'s first (rotated) token and
/// every user and session read or write fail with `Unavailable`.
async fn assert_user_and_session_calls_unavailable(
    store: &Arc<dyn Store>,
    alice: &Account,
    live: &RefreshToken,
) {
    assert_unavailable(
        "rotate live token",
        store.rotate_refresh_token(&request(live, at(12))).await,
    );
    assert_unavailable(
        "reuse old token",
        store
            .rotate_refresh_token(&request(&alice.token, at(10_000)))
            .await,
    );
    assert_unavailable("find user", store.find_user(alice.user.id).await);
    assert_unavailable(
        "find user by email",
        store.find_user_by_email(&alice.user.email).await,
    );
    assert_unavailable(
        "set password hash",
        store.set_password_hash(alice.user.id, "x", at(12)).await,
    );
    assert_unavailable(
        "add role",
        store.add_role(&alice.user.email, "admin", at(12)).await,
    );
    assert_unavailable(
        "sign up",
        store
            .insert_user_with_session(
                &new_user("bob@example.com", &[]),
                &new_session(UserId::generate(), &token(), at(12)),
            )
            .await,
    );
    assert_unavailable(
        "insert session",
        store
            .insert_session(&new_session(alice.user.id, &token(), at(12)))
            .await,
    );
    assert_unavailable(
        "list sessions",
        store.list_active_sessions(alice.user.id, at(12)).await,
    );
}

/// On the closed `store`, every revocation, key and revocation-feed call fails with
/// `Unavailable`.
async fn assert_revocation_key_and_feed_calls_unavailable(store: &Arc<dyn Store>, alice: &Account) {
    assert_unavailable(
        "revoke session",
        store
            .revoke_session(
                alice.user.id,
                alice.session.id,
                RevokeReason::Logout,
                at(12),
            )
            .await,
    );
    assert_unavailable(
        "revoke all",
        store
            .revoke_all_sessions(alice.user.id, RevokeReason::RevokeAll, at(12))
            .await,
    );
    assert_unavailable("revoked since", store.revoked_sessions_alive_at(T0).await);
    assert_unavailable("list keys", store.list_signing_keys().await);
    assert_unavailable(
        "insert key",
        store
            .insert_signing_key(&key("k", "ES256", KeyState::Active, T0))
            .await,
    );
    assert_unavailable(
        "promote key",
        store.promote_signing_key("k", at(12), at(13)).await,
    );
    assert_unavailable(
        "delete keys",
        store.delete_expired_signing_keys(at(12)).await,
    );
    assert_unavailable("feed position", store.revocation_feed_position().await);
    assert_unavailable("read feed", store.revocations_after(0, 10).await);
    assert_unavailable(
        "purge feed",
        store.purge_revocations(at(12), at(12), 10).await,
    );
}

/// After reopening, the failed calls left nothing behind: `alice`'s one session is as
/// `before`, nothing is revoked or in the feed, bob was not signed up, no key was inserted,
/// and `live` still rotates for `alice`'s session.
async fn assert_nothing_changed(
    store: &Arc<dyn Store>,
    alice: &Account,
    live: &RefreshToken,
    before: &Session,
) {
    assert_eq!(only_session(store, alice.user.id, at(13)).await, *before);
    assert!(revoked_since(store, T0).await.is_empty());
    assert!(
        feed(store).await.is_empty(),
        "failed revocations appended nothing"
    );
    assert!(
        store
            .find_user_by_email(&email("bob@example.com"))
            .await
            .expect("find")
            .is_none()
    );
    assert!(store.list_signing_keys().await.expect("keys").is_empty());
    let (_, owner) = rotate_ok(store, live, at(14)).await;
    assert_eq!(owner.session_id, alice.session.id);
    assert!(owner.roles.is_empty());
}

/// How a test closes the store.
#[derive(Clone, Copy)]
enum CloseBy {
    /// The backend's own close ([`Backend::close`]).
    Backend,
    /// The store's `Lifecycle::close`.
    Lifecycle,
}

/// Closing while calls are in flight: every call still finishes, either done or
/// `Unavailable`; none hangs and none is half done. Afterwards the database is healthy and
/// every family still has exactly one live token.
pub async fn close_with_calls_in_flight(backend: &dyn Backend) {
    close_under_load(backend, CloseBy::Backend).await;
}

/// [`close_with_calls_in_flight`] through the store's own `Lifecycle::close`, which is also
/// idempotent.
pub async fn lifecycle_close_with_calls_in_flight(backend: &dyn Backend) {
    close_under_load(backend, CloseBy::Lifecycle).await;
}

/// The database is at the schema version the build expects, and says so through the store.
pub async fn lifecycle_reports_expected_schema_version(store: Arc<dyn Store>) {
    let version = store.schema_version().await.expect("schema version");
    assert_eq!(version, store.expected_schema_version());
    assert!(version >= 1);
}

/// The probe write succeeds on a healthy database, again and again (it rewrites one row), and
/// a backend keeps no count of failing writes by itself (only `DeadlineStore` does).
pub async fn probe_write_writes_again_and_again(store: Arc<dyn Store>) {
    store.probe_write(at(1)).await.expect("first probe");
    store.probe_write(at(2)).await.expect("second probe");
    store
        .probe_write(at(1))
        .await
        .expect("a probe back in time");
    assert_eq!(
        store.write_health(),
        tokenauth_core::store::WriteHealth::Healthy
    );
}

async fn close_under_load(backend: &dyn Backend, close_by: CloseBy) {
    const FAMILIES: usize = 40;
    let store = backend.open().await;
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let mut firsts = vec![alice.token];
    for i in 1..FAMILIES {
        let (_, first) =
            add_session(&store, alice.user.id, at(u64::try_from(i).expect("small"))).await;
        firsts.push(first);
    }

    let mut tasks = Vec::new();
    for (i, first) in firsts.iter().enumerate() {
        let writer = Arc::clone(&store);
        let req = request(first, at(100));
        tasks.push(tokio::spawn(async move {
            match writer.rotate_refresh_token(&req).await {
                Ok(RotationOutcome::Rotated(_)) | Err(StoreError::Unavailable(_)) => {}
                other => panic!("rotation {i} during close: {other:?}"),
            }
        }));
        let reader = Arc::clone(&store);
        let user = alice.user.id;
        tasks.push(tokio::spawn(async move {
            match reader.list_active_sessions(user, at(100)).await {
                Ok(_) | Err(StoreError::Unavailable(_)) => {}
                Err(other) => panic!("listing during close: {other:?}"),
            }
        }));
        if i == FAMILIES / 4 {
            tokio::task::yield_now().await;
            match close_by {
                CloseBy::Backend => backend.close().await,
                CloseBy::Lifecycle => store.close().await,
            }
        }
    }
    for task in tasks {
        tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .expect("a call in flight during close never finished")
            .expect("task panicked");
    }
    if let CloseBy::Lifecycle = close_by {
        store.close().await;
        assert_unavailable("schema version", store.schema_version().await);
    }
    assert_unavailable("find user", store.find_user(alice.user.id).await);
    drop(store);

    let store = backend.open().await;
    backend.check().await;
    assert_eq!(active(&store, alice.user.id, at(200)).await.len(), FAMILIES);
    assert!(revoked_since(&store, T0).await.is_empty());
    for first in &firsts {
        // Each family rotated once (its first token is then only a replay and the successor
        // rotates) or not at all (the first token rotates).
        match rotate(&store, first, at(101)).await {
            RotationOutcome::Replayed(_) => {
                rotate_ok(&store, &successor(first), at(102)).await;
            }
            RotationOutcome::Rotated(_) => {}
            other => panic!("after an interrupted close: {other:?}"),
        }
    }
    assert!(
        active(&store, alice.user.id, at(200))
            .await
            .iter()
            .all(|session| session.generation >= 1)
    );
    backend.check().await;
}
