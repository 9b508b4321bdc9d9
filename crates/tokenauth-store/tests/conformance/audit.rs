//! `AuditStore`: events are appended whole, listed per user newest first within a time range
//! and a limit, and purged oldest first.

use std::sync::Arc;

use tokenauth_core::audit::{AuditEvent, AuditKind};
use tokenauth_core::store::{Store, StoreError};
use tokenauth_core::{SessionId, Timestamp, UserId};

use super::at;

async fn append(store: &Arc<dyn Store>, event: &AuditEvent) {
    store
        .append_audit_event(event)
        .await
        .expect("append audit event");
}

async fn of_user(
    store: &Arc<dyn Store>,
    user: UserId,
    since: Timestamp,
    limit: u32,
) -> Vec<AuditEvent> {
    store
        .audit_events_of_user(user, since, limit)
        .await
        .expect("list audit events")
}

/// Every field round-trips, absent ones as `None`; an event about nobody is stored but listed
/// for no user; a second event with the same id is a `Conflict` and changes nothing.
pub async fn audit_events_round_trip(store: Arc<dyn Store>) {
    let user = UserId::generate();
    let full = AuditEvent::new(AuditKind::LoginSucceeded, at(1))
        .user(user)
        .session(SessionId::generate())
        .detail("détail")
        .client(&tokenauth_core::service::ClientInfo {
            user_agent: Some("conformance/1.0 (ünïcode)".into()),
            ip: Some("2001:db8::1".into()),
        });
    let bare = AuditEvent::new(AuditKind::LoginFailed, at(2)).user(user);
    let nobody = AuditEvent::new(AuditKind::KeyRotated, at(3)).detail("kid-1");
    for event in [&full, &bare, &nobody] {
        append(&store, event).await;
    }
    assert_eq!(
        of_user(&store, user, at(0), 10).await,
        [bare.clone(), full.clone()]
    );

    let mut twin = AuditEvent::new(AuditKind::Signup, at(4)).user(user);
    twin.id = full.id;
    let result = store.append_audit_event(&twin).await;
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "expected Conflict, got {result:?}"
    );
    assert_eq!(of_user(&store, user, at(0), 10).await, [bare, full]);
}

/// The list holds only that user's events at or after `since`, newest first (same time: the
/// later-made id first), cut to `limit` from the newest end.
pub async fn audit_events_are_listed_newest_first_within_range(store: Arc<dyn Store>) {
    let alice = UserId::generate();
    let bob = UserId::generate();
    let kinds = [
        AuditKind::Signup,
        AuditKind::LoginFailed,
        AuditKind::LoginSucceeded,
        AuditKind::SessionRevoked,
        AuditKind::PasswordChanged,
    ];
    let mut made = Vec::new();
    for (i, kind) in kinds.into_iter().enumerate() {
        let event = AuditEvent::new(kind, at(10 * i as u64)).user(alice);
        append(&store, &event).await;
        append(&store, &AuditEvent::new(kind, at(10 * i as u64)).user(bob)).await;
        made.push(event);
    }
    // Two events in the same millisecond: the one made later is listed first.
    let first = AuditEvent::new(AuditKind::UserDisabled, at(100)).user(alice);
    let second = AuditEvent::new(AuditKind::SessionRevoked, at(100)).user(alice);
    append(&store, &second).await;
    append(&store, &first).await;
    made.push(first);
    made.push(second);

    let newest_first: Vec<AuditEvent> = made.iter().rev().cloned().collect();
    assert_eq!(of_user(&store, alice, at(0), 100).await, newest_first);
    assert_eq!(of_user(&store, alice, at(0), 3).await, newest_first[..3]);
    assert_eq!(
        of_user(&store, alice, at(20), 100).await,
        newest_first[..5],
        "since is inclusive"
    );
    assert!(of_user(&store, alice, at(101), 100).await.is_empty());
    assert!(
        of_user(&store, UserId::generate(), at(0), 100)
            .await
            .is_empty()
    );
    assert!(
        of_user(&store, bob, at(0), 100)
            .await
            .iter()
            .all(|event| event.user_id == Some(bob))
    );

    // Across users (and events about none), in the same order: bob's event at 40 s was made
    // after alice's, the key event after every other.
    let key = AuditEvent::new(AuditKind::KeyRotated, at(100)).detail("kid-2");
    append(&store, &key).await;
    let all = store
        .audit_events_since(at(40), 100)
        .await
        .expect("list all");
    let kinds: Vec<(AuditKind, Option<UserId>)> = all.iter().map(|e| (e.kind, e.user_id)).collect();
    assert_eq!(
        kinds,
        [
            (AuditKind::KeyRotated, None),
            (AuditKind::SessionRevoked, Some(alice)),
            (AuditKind::UserDisabled, Some(alice)),
            (AuditKind::PasswordChanged, Some(bob)),
            (AuditKind::PasswordChanged, Some(alice)),
        ]
    );
    assert_eq!(
        store
            .audit_events_since(at(0), 2)
            .await
            .expect("limited")
            .len(),
        2
    );
}

/// The purge deletes events before the cutoff, oldest first and at most `limit` at a time,
/// whoever they concern, and keeps the rest.
pub async fn purge_deletes_oldest_audit_events(store: Arc<dyn Store>) {
    let user = UserId::generate();
    let mut events = Vec::new();
    for i in 0..5u64 {
        let event = AuditEvent::new(AuditKind::LoginSucceeded, at(i)).user(user);
        append(&store, &event).await;
        events.push(event);
    }
    append(
        &store,
        &AuditEvent::new(AuditKind::KeyRotated, at(1)).detail("k"),
    )
    .await;

    let purge = |before, limit| {
        let store = Arc::clone(&store);
        async move {
            store
                .purge_audit_events(before, limit)
                .await
                .expect("purge audit events")
        }
    };
    assert_eq!(purge(at(0), 100).await, 0, "nothing before the first");
    assert_eq!(purge(at(3), 1).await, 1, "the limit holds");
    let left = of_user(&store, user, at(0), 100).await;
    assert_eq!(left.len(), 4);
    assert!(!left.contains(&events[0]), "the oldest went first");
    assert_eq!(
        purge(at(3), 100).await,
        3,
        "the user's events at 1 s and 2 s, and the key event"
    );
    let left: Vec<AuditEvent> = of_user(&store, user, at(0), 100).await;
    assert_eq!(left, [events[4].clone(), events[3].clone()]);
    assert_eq!(purge(at(3), 100).await, 0);
}
