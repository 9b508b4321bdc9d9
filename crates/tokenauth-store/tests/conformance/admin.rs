//! What operators and users' data rights need of a store: accounts without sessions, paging
//! through users, taking roles away, reading any session by id, and erasing a user.

use std::collections::HashSet;
use std::sync::Arc;

use tokenauth_core::audit::{AuditEvent, AuditKind};
use tokenauth_core::refresh_token::RefreshToken;
use tokenauth_core::session::{RevokeReason, RotationOutcome};
use tokenauth_core::store::{Store, StoreError};
use tokenauth_core::{SessionId, UserId};

use super::revocations::feed;
use super::{
    Account, T0, add_session, at, email, new_session, new_user, revoked_since, rotate, sign_up,
    token,
};

/// A user inserted without a session is found and has none; a taken email is a `Conflict`
/// that writes nothing.
pub async fn insert_user_without_session(store: Arc<dyn Store>) {
    let ada = new_user("ada@example.com", &["admin"]);
    store.insert_user(&ada).await.expect("insert user");
    let found = store.find_user(ada.id).await.expect("find").expect("ada");
    assert_eq!(found.email, ada.email);
    assert_eq!(found.roles, ["admin"]);
    assert!(
        store
            .sessions_of_user(ada.id)
            .await
            .expect("sessions")
            .is_empty()
    );

    let twin = new_user("ADA@example.com", &[]);
    let result = store.insert_user(&twin).await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert!(store.find_user(twin.id).await.expect("find").is_none());
}

/// Paging with the last email seen visits every user once, in email order.
pub async fn list_users_pages_in_email_order(store: Arc<dyn Store>) {
    let mut addresses = vec![
        "zed@example.com",
        "amy@example.com",
        "bob@example.org",
        "amy@example.org",
        "carl@example.com",
    ];
    for address in &addresses {
        store
            .insert_user(&new_user(address, &[]))
            .await
            .expect("insert");
    }
    addresses.sort_unstable();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_users(after.as_ref(), 2).await.expect("list");
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.email.clone());
        seen.extend(page.iter().map(|user| user.email.to_string()));
    }
    assert_eq!(seen, addresses);
    let all = store.list_users(None, 100).await.expect("list");
    assert_eq!(all.len(), 5);
    assert!(
        store
            .list_users(Some(&email("zed@example.com")), 10)
            .await
            .expect("list")
            .is_empty()
    );
}

/// `remove_role` takes one role away, keeps the others, is idempotent, and says when there is
/// no such user; the next rotation reports the remaining roles.
pub async fn remove_role_keeps_the_others(store: Arc<dyn Store>) {
    let ada = sign_up(&store, "ada@example.com", &["admin", "ops", "dev"]).await;
    let address = email("ada@example.com");
    assert!(
        store
            .remove_role(&address, "ops", at(1))
            .await
            .expect("remove")
    );
    assert!(
        store
            .remove_role(&address, "ops", at(2))
            .await
            .expect("again")
    );
    assert!(
        store
            .remove_role(&address, "never", at(3))
            .await
            .expect("absent")
    );
    let found = store
        .find_user(ada.user.id)
        .await
        .expect("find")
        .expect("ada");
    assert_eq!(found.roles, ["admin", "dev"]);
    assert!(
        !store
            .remove_role(&email("nobody@example.com"), "admin", at(4))
            .await
            .expect("unknown")
    );
    match rotate(&store, &ada.token, at(5)).await {
        RotationOutcome::Rotated(owner) => assert_eq!(owner.roles, ["admin", "dev"]),
        other => panic!("expected a rotation: {other:?}"),
    }
}

/// `find_session` and `sessions_of_user` report live and ended sessions, with when and why
/// an ended one was revoked; nothing of another user.
pub async fn sessions_are_read_live_or_ended(store: Arc<dyn Store>) {
    let ada = sign_up(&store, "ada@example.com", &[]).await;
    let bob = sign_up(&store, "bob@example.com", &[]).await;
    let (second, _) = add_session(&store, ada.user.id, at(10)).await;
    assert!(
        store
            .revoke_session(ada.user.id, ada.session.id, RevokeReason::Logout, at(20))
            .await
            .expect("revoke")
    );

    let first = store
        .find_session(ada.session.id)
        .await
        .expect("find")
        .expect("first session");
    assert_eq!(first.user_id, ada.user.id);
    assert_eq!(first.revoked_at, Some(at(20)));
    assert_eq!(first.revoke_reason, Some(RevokeReason::Logout));
    assert!(!first.is_live(at(21)));
    let live = store
        .find_session(second.id)
        .await
        .expect("find")
        .expect("second session");
    assert_eq!((live.revoked_at, live.revoke_reason), (None, None));
    assert!(live.is_live(at(21)));
    assert!(
        store
            .find_session(SessionId::generate())
            .await
            .expect("find")
            .is_none()
    );

    let all = store.sessions_of_user(ada.user.id).await.expect("sessions");
    let ids: Vec<SessionId> = all.iter().map(|session| session.id).collect();
    assert_eq!(ids, [second.id, ada.session.id], "newest first");
    let bobs = store.sessions_of_user(bob.user.id).await.expect("sessions");
    assert_eq!(bobs.len(), 1);
}

/// Erasing a user revokes their live sessions through the feed (and `sessions_revoked_since`
/// keeps reporting them after the rows are gone), deletes the user, every session with its
/// refresh-token history, and their audit events; nothing of anyone else.
pub async fn delete_user_erases_and_publishes_revocations(store: Arc<dyn Store>) {
    let ada = sign_up(&store, "ada@example.com", &["admin"]).await;
    let bob = sign_up(&store, "bob@example.com", &[]).await;
    let (second, second_token) = add_session(&store, ada.user.id, at(5)).await;
    let (ended, _) = add_session(&store, ada.user.id, at(6)).await;
    assert!(
        store
            .revoke_session(ada.user.id, ended.id, RevokeReason::Logout, at(7))
            .await
            .expect("revoke")
    );
    for user in [ada.user.id, bob.user.id] {
        store
            .append_audit_event(&AuditEvent::new(AuditKind::LoginSucceeded, at(8)).user(user))
            .await
            .expect("audit");
    }
    let feed_before = feed(&store).await.len();

    let revoked = store
        .delete_user(ada.user.id, at(10))
        .await
        .expect("delete")
        .expect("ada existed");
    let revoked: HashSet<SessionId> = revoked.into_iter().collect();
    assert_eq!(
        revoked,
        HashSet::from([ada.session.id, second.id]),
        "only the live ones"
    );

    assert_revocations_published(&store, &revoked, feed_before).await;
    assert_user_erased(&store, &ada, [second.id, ended.id], &second_token).await;
    assert_others_untouched_and_email_free(&store, &bob).await;
}

/// The erasure appended one feed event per session in `revoked` after the first
/// `feed_before`, all at the erasure's time (`at(10)`), and `sessions_revoked_since` still
/// reports exactly them.
async fn assert_revocations_published(
    store: &Arc<dyn Store>,
    revoked: &HashSet<SessionId>,
    feed_before: usize,
) {
    let events = feed(store).await;
    assert_eq!(events.len(), feed_before + 2);
    let published: HashSet<SessionId> = events[feed_before..].iter().map(|e| e.session).collect();
    assert_eq!(published, *revoked);
    assert!(events[feed_before..].iter().all(|e| e.revoked_at == at(10)));
    let reported: HashSet<SessionId> = revoked_since(store, at(10))
        .await
        .into_iter()
        .map(|(session, _)| session)
        .collect();
    assert_eq!(
        reported, *revoked,
        "still known as revoked after the rows are gone"
    );
}

/// Nothing of `ada` is left: not the user (by id or email), not her first session nor
/// `others`, not her refresh-token history (`second_token` is unknown), not her audit events.
async fn assert_user_erased(
    store: &Arc<dyn Store>,
    ada: &Account,
    others: [SessionId; 2],
    second_token: &RefreshToken,
) {
    assert!(store.find_user(ada.user.id).await.expect("find").is_none());
    assert!(
        store
            .find_user_by_email(&email("ada@example.com"))
            .await
            .expect("find")
            .is_none()
    );
    for session in [ada.session.id, others[0], others[1]] {
        assert!(store.find_session(session).await.expect("find").is_none());
    }
    assert!(
        store
            .sessions_of_user(ada.user.id)
            .await
            .expect("sessions")
            .is_empty()
    );
    assert_eq!(
        rotate(store, second_token, at(11)).await,
        RotationOutcome::Unknown
    );
    assert!(
        store
            .find_refresh_token(&super::presented(&ada.token))
            .await
            .expect("find token")
            .is_none(),
        "the refresh-token history is gone"
    );
    assert!(
        store
            .audit_events_of_user(ada.user.id, T0, 100)
            .await
            .expect("audit")
            .is_empty()
    );
}

/// `bob`'s user, session and audit event are untouched, and ada's email is free again.
async fn assert_others_untouched_and_email_free(store: &Arc<dyn Store>, bob: &Account) {
    assert!(store.find_user(bob.user.id).await.expect("find").is_some());
    assert_eq!(
        store.sessions_of_user(bob.user.id).await.expect("s").len(),
        1
    );
    assert_eq!(
        store
            .audit_events_of_user(bob.user.id, T0, 100)
            .await
            .expect("audit")
            .len(),
        1
    );
    // The email is free again.
    store
        .insert_user(&new_user("ada@example.com", &[]))
        .await
        .expect("a new account with the erased email");
}

/// Erasing a user that does not exist answers `None` and changes nothing; a session inserted
/// for an erased user is a `Conflict` (a login that raced the erasure) and writes nothing.
pub async fn delete_unknown_user_and_late_session(store: Arc<dyn Store>) {
    let ada = sign_up(&store, "ada@example.com", &[]).await;
    assert!(
        store
            .delete_user(UserId::generate(), at(1))
            .await
            .expect("delete")
            .is_none()
    );
    assert!(feed(&store).await.is_empty());
    assert!(store.find_user(ada.user.id).await.expect("find").is_some());

    store
        .delete_user(ada.user.id, at(2))
        .await
        .expect("delete")
        .expect("ada existed");
    let late = new_session(ada.user.id, &token(), at(3));
    let result = store.insert_session(&late).await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert!(store.find_session(late.id).await.expect("find").is_none());
    assert!(
        store
            .delete_user(ada.user.id, at(4))
            .await
            .expect("again")
            .is_none()
    );
}
