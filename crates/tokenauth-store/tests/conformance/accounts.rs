//! Account state in the stores: disabling and enabling a user, what a disabled user's
//! sessions can still do, and revoking every session but one (a password change).

use std::collections::HashSet;
use std::sync::Arc;

use tokenauth_core::session::{RevokeReason, RotationOutcome};
use tokenauth_core::store::Store;
use tokenauth_core::{SessionId, Timestamp, UserId};

use super::revocations::feed;
use super::{active, add_session, at, email, rotate, rotate_ok, sign_up};

async fn disabled_at(store: &Arc<dyn Store>, user: UserId) -> Option<Timestamp> {
    store
        .find_user(user)
        .await
        .expect("find")
        .expect("user")
        .disabled_at
}

/// `set_user_disabled` disables (keeping the first time when repeated) and enables by email,
/// answers `None` for an unknown email without creating anyone, and touches no other user.
pub async fn set_user_disabled_disables_and_enables(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let bob = sign_up(&store, "bob@example.com", &[]).await;

    let found = store
        .set_user_disabled(&email("ALICE@example.com"), Some(at(10)), at(10))
        .await
        .expect("disable");
    assert_eq!(found, Some(alice.user.id));
    assert_eq!(disabled_at(&store, alice.user.id).await, Some(at(10)));
    let by_email = store
        .find_user_by_email(&alice.user.email)
        .await
        .expect("find")
        .expect("alice");
    assert_eq!(by_email.disabled_at, Some(at(10)));

    // Disabling again keeps the first time.
    store
        .set_user_disabled(&alice.user.email, Some(at(20)), at(20))
        .await
        .expect("disable again");
    assert_eq!(disabled_at(&store, alice.user.id).await, Some(at(10)));
    assert_eq!(
        disabled_at(&store, bob.user.id).await,
        None,
        "bob untouched"
    );

    assert_eq!(
        store
            .set_user_disabled(&alice.user.email, None, at(30))
            .await
            .expect("enable"),
        Some(alice.user.id)
    );
    assert_eq!(disabled_at(&store, alice.user.id).await, None);

    let nobody = email("nobody@example.com");
    assert_eq!(
        store
            .set_user_disabled(&nobody, Some(at(40)), at(40))
            .await
            .expect("disable unknown"),
        None
    );
    assert!(
        store
            .find_user_by_email(&nobody)
            .await
            .expect("find")
            .is_none()
    );
}

/// A disabled user's live session neither rotates nor replays: every presentation answers
/// `Revoked` and changes nothing (no feed event, no theft). Enabled again, it rotates.
pub async fn disabled_users_sessions_do_not_rotate(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &["admin"]).await;
    let (live, _) = rotate_ok(&store, &alice.token, at(10)).await;
    let bob = sign_up(&store, "bob@example.com", &[]).await;

    store
        .set_user_disabled(&alice.user.email, Some(at(11)), at(11))
        .await
        .expect("disable");
    assert_eq!(
        rotate(&store, &live, at(12)).await,
        RotationOutcome::Revoked,
        "the live token"
    );
    assert_eq!(
        rotate(&store, &alice.token, at(12)).await,
        RotationOutcome::Revoked,
        "the previous token, within the grace window, is no replay"
    );
    assert!(feed(&store).await.is_empty(), "nothing was revoked");
    assert_eq!(active(&store, alice.user.id, at(12)).await.len(), 1);
    assert!(
        matches!(
            rotate(&store, &bob.token, at(12)).await,
            RotationOutcome::Rotated(_)
        ),
        "other users are not affected"
    );

    store
        .set_user_disabled(&alice.user.email, None, at(13))
        .await
        .expect("enable");
    let (_, owner) = rotate_ok(&store, &live, at(14)).await;
    assert_eq!(owner.roles, ["admin"]);
}

/// `revoke_other_sessions` revokes every live session of the user but the one kept, returns
/// their ids, appends one feed event per revoked session, and spares other users and
/// sessions already ended. The kept session still rotates; the others answer `Revoked`.
pub async fn revoke_other_sessions_keeps_one(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let bob = sign_up(&store, "bob@example.com", &[]).await;
    let (second, second_token) = add_session(&store, alice.user.id, at(1)).await;
    let (third, third_token) = add_session(&store, alice.user.id, at(2)).await;
    let (ended, _) = add_session(&store, alice.user.id, at(3)).await;
    assert!(
        store
            .revoke_session(alice.user.id, ended.id, RevokeReason::Logout, at(4))
            .await
            .expect("revoke")
    );
    let before = feed(&store).await.len();

    let revoked = store
        .revoke_other_sessions(
            alice.user.id,
            second.id,
            RevokeReason::PasswordChanged,
            at(10),
        )
        .await
        .expect("revoke others");
    let revoked: HashSet<SessionId> = revoked.into_iter().collect();
    assert_eq!(revoked, HashSet::from([alice.session.id, third.id]));

    let events = feed(&store).await;
    assert_eq!(events.len(), before + 2);
    let appended: HashSet<SessionId> = events[before..].iter().map(|e| e.session).collect();
    assert_eq!(appended, revoked);
    assert!(events[before..].iter().all(|e| e.revoked_at == at(10)));

    let listed: Vec<SessionId> = active(&store, alice.user.id, at(11))
        .await
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, [second.id]);
    assert_eq!(active(&store, bob.user.id, at(11)).await.len(), 1);
    assert_eq!(
        rotate(&store, &third_token, at(12)).await,
        RotationOutcome::Revoked
    );
    assert_eq!(
        rotate(&store, &alice.token, at(12)).await,
        RotationOutcome::Revoked
    );
    rotate_ok(&store, &second_token, at(12)).await;

    // Nothing left to revoke: no ids, no events.
    assert!(
        store
            .revoke_other_sessions(
                alice.user.id,
                second.id,
                RevokeReason::PasswordChanged,
                at(20)
            )
            .await
            .expect("again")
            .is_empty()
    );
    assert_eq!(feed(&store).await.len(), before + 2);

    // Keeping a session that is not the user's (or not live) revokes all of theirs.
    let revoked = store
        .revoke_other_sessions(bob.user.id, second.id, RevokeReason::Disabled, at(30))
        .await
        .expect("revoke bob's");
    assert_eq!(revoked, [bob.session.id]);
    assert_eq!(active(&store, alice.user.id, at(31)).await.len(), 1);
}
