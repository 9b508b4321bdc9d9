//! `SessionStore` apart from rotation: listing, revoking one or all, the revocation feed.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokenauth_core::SessionId;
use tokenauth_core::session::{NewSession, RevokeReason, RotationOutcome};
use tokenauth_core::store::Store;

use super::{
    GRACE, T0, active, add_session, at, new_session, revoked_since, rotate, rotate_ok, sign_up,
    token,
};

fn ids(sessions: &[tokenauth_core::session::Session]) -> Vec<SessionId> {
    sessions.iter().map(|session| session.id).collect()
}

/// `insert_session` stores every field; the listing leaves out revoked and expired sessions
/// (expiry at exactly `now` counts as expired) and other users' sessions, newest first.
pub async fn list_active_sessions_filters_and_orders(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let bob = sign_up(&store, "bob@example.com", &[]).await;
    let alice_id = alice.user.id;

    let (second, _) = add_session(&store, alice_id, at(10)).await;
    let third = NewSession {
        user_agent: Some("another browser".to_owned()),
        ip: Some("2001:db8::1".to_owned()),
        ..new_session(alice_id, &token(), at(20))
    };
    store.insert_session(&third).await.expect("insert session");
    let short_lived = NewSession {
        expires_at: at(100),
        ..new_session(alice_id, &token(), at(30))
    };
    store
        .insert_session(&short_lived)
        .await
        .expect("insert session");
    let (revoked, _) = add_session(&store, alice_id, at(40)).await;
    assert!(
        store
            .revoke_session(alice_id, revoked.id, RevokeReason::Logout, at(50))
            .await
            .expect("revoke")
    );

    let listed = active(&store, alice_id, at(60)).await;
    assert_eq!(
        ids(&listed),
        [short_lived.id, third.id, second.id, alice.session.id],
        "newest first, revoked left out"
    );
    let listed_third = &listed[1];
    assert_eq!(listed_third.user_id, alice_id);
    assert_eq!(listed_third.created_at, at(20));
    assert_eq!(listed_third.last_used_at, at(20));
    assert_eq!(listed_third.expires_at, third.expires_at);
    assert_eq!(listed_third.generation, 0);
    assert_eq!(listed_third.user_agent.as_deref(), Some("another browser"));
    assert_eq!(listed_third.ip.as_deref(), Some("2001:db8::1"));

    assert_eq!(
        ids(&active(&store, alice_id, at(100)).await),
        [third.id, second.id, alice.session.id],
        "a session expiring exactly now is expired"
    );
    assert_eq!(
        ids(&active(&store, bob.user.id, at(60)).await),
        [bob.session.id]
    );
    assert!(
        active(
            &store,
            alice_id,
            T0.plus(Duration::from_secs(400 * 24 * 3600))
        )
        .await
        .is_empty()
    );
}

/// `revoke_session` works only for the session's owner and only once; another user's id
/// changes nothing.
pub async fn revoke_session_only_by_owner_and_once(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let bob = sign_up(&store, "bob@example.com", &[]).await;

    assert!(
        !store
            .revoke_session(
                bob.user.id,
                alice.session.id,
                RevokeReason::RevokedByUser,
                at(10)
            )
            .await
            .expect("revoke someone else's session"),
        "bob must not revoke alice's session"
    );
    assert_eq!(
        ids(&active(&store, alice.user.id, at(11)).await),
        [alice.session.id]
    );
    assert!(revoked_since(&store, T0).await.is_empty());
    assert!(
        !store
            .revoke_session(
                alice.user.id,
                SessionId::generate(),
                RevokeReason::Logout,
                at(12)
            )
            .await
            .expect("revoke unknown session")
    );

    assert!(
        store
            .revoke_session(
                alice.user.id,
                alice.session.id,
                RevokeReason::Logout,
                at(20)
            )
            .await
            .expect("revoke own session")
    );
    assert!(active(&store, alice.user.id, at(21)).await.is_empty());
    assert!(
        !store
            .revoke_session(
                alice.user.id,
                alice.session.id,
                RevokeReason::Logout,
                at(22)
            )
            .await
            .expect("revoke again"),
        "a second revocation finds no live session"
    );
    assert_eq!(
        revoked_since(&store, T0).await,
        [(alice.session.id, at(20))],
        "the second revocation must not move the revocation time"
    );
    assert_eq!(
        rotate(&store, &alice.token, at(23)).await,
        RotationOutcome::Revoked
    );

    // Bob's session is untouched and works.
    assert_eq!(
        ids(&active(&store, bob.user.id, at(24)).await),
        [bob.session.id]
    );
    assert!(matches!(
        rotate(&store, &bob.token, at(24)).await,
        RotationOutcome::Rotated(_)
    ));
}

/// An expired session is not live, so it cannot be revoked.
pub async fn revoke_session_ignores_expired(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let after_expiry = alice.session.expires_at.plus(Duration::from_secs(1));
    assert!(
        !store
            .revoke_session(
                alice.user.id,
                alice.session.id,
                RevokeReason::Logout,
                after_expiry
            )
            .await
            .expect("revoke expired")
    );
    assert!(revoked_since(&store, T0).await.is_empty());
    assert_eq!(
        rotate(&store, &alice.token, after_expiry).await,
        RotationOutcome::Expired
    );
}

/// `revoke_all_sessions` revokes every live session of the user, returns exactly their ids,
/// and leaves other users' sessions alone.
pub async fn revoke_all_sessions_returns_ids_and_spares_others(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let bob = sign_up(&store, "bob@example.com", &[]).await;
    let (second, second_token) = add_session(&store, alice.user.id, at(10)).await;
    let (already, _) = add_session(&store, alice.user.id, at(20)).await;
    assert!(
        store
            .revoke_session(alice.user.id, already.id, RevokeReason::Logout, at(30))
            .await
            .expect("revoke")
    );
    let (bob_second, _) = add_session(&store, bob.user.id, at(40)).await;

    let revoked = store
        .revoke_all_sessions(alice.user.id, RevokeReason::RevokeAll, at(50))
        .await
        .expect("revoke all");
    let revoked: HashSet<SessionId> = revoked.into_iter().collect();
    assert_eq!(revoked, HashSet::from([alice.session.id, second.id]));

    assert!(active(&store, alice.user.id, at(51)).await.is_empty());
    assert_eq!(
        ids(&active(&store, bob.user.id, at(51)).await),
        [bob_second.id, bob.session.id]
    );
    assert!(
        store
            .revoke_all_sessions(alice.user.id, RevokeReason::RevokeAll, at(60))
            .await
            .expect("revoke all again")
            .is_empty()
    );
    let mut feed = revoked_since(&store, at(50)).await;
    feed.sort();
    let mut expected = vec![(alice.session.id, at(50)), (second.id, at(50))];
    expected.sort();
    assert_eq!(
        feed, expected,
        "revocation times are not moved by a second call"
    );

    assert_eq!(
        rotate(&store, &alice.token, at(61)).await,
        RotationOutcome::Revoked
    );
    assert_eq!(
        rotate(&store, &second_token, at(61)).await,
        RotationOutcome::Revoked
    );
    assert!(matches!(
        rotate(&store, &bob.token, at(61)).await,
        RotationOutcome::Rotated(_)
    ));
}

/// `sessions_revoked_since` lists each revocation at or after `since` with its time, whatever
/// revoked it: logout, revoke-all or reuse detection.
pub async fn sessions_revoked_since_reports_every_revocation(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let bob = sign_up(&store, "bob@example.com", &[]).await;
    let carol = sign_up(&store, "carol@example.com", &[]).await;
    // A second session of carol's that nothing revokes.
    add_session(&store, carol.user.id, at(1)).await;
    assert!(revoked_since(&store, T0).await.is_empty());

    assert!(
        store
            .revoke_session(
                alice.user.id,
                alice.session.id,
                RevokeReason::Logout,
                at(10)
            )
            .await
            .expect("revoke")
    );
    assert_eq!(
        store
            .revoke_all_sessions(bob.user.id, RevokeReason::RevokeAll, at(20))
            .await
            .expect("revoke all"),
        [bob.session.id]
    );
    // Reuse of carol's first token after its grace window revokes her first session.
    rotate_ok(&store, &carol.token, at(25)).await;
    let reused = rotate(&store, &carol.token, at(30).plus(GRACE)).await;
    assert_eq!(
        reused,
        RotationOutcome::Reused {
            session_id: carol.session.id,
            user_id: carol.user.id,
        }
    );
    let carol_revoked_at = at(30).plus(GRACE);

    let sorted = |mut list: Vec<(SessionId, tokenauth_core::Timestamp)>| {
        list.sort_by_key(|(_, when)| *when);
        list
    };
    let all = vec![
        (alice.session.id, at(10)),
        (bob.session.id, at(20)),
        (carol.session.id, carol_revoked_at),
    ];
    assert_eq!(sorted(revoked_since(&store, T0).await), all);
    assert_eq!(
        sorted(revoked_since(&store, at(10)).await),
        all,
        "since is inclusive"
    );
    assert_eq!(sorted(revoked_since(&store, at(11)).await), all[1..]);
    assert_eq!(sorted(revoked_since(&store, at(20)).await), all[1..]);
    assert_eq!(sorted(revoked_since(&store, at(21)).await), all[2..]);
    assert!(
        revoked_since(&store, carol_revoked_at.plus(Duration::from_millis(1)))
            .await
            .is_empty()
    );
}

/// Purging removes, in batches of at most `limit`, exactly the sessions that expired or were
/// revoked before the cutoff, with their refresh-token history; everything else stays.
pub async fn purge_removes_only_long_ended_sessions(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    // Expired long ago: created at T0, lives TOKEN_TTL.
    let (_, expired_token) = add_session(&store, alice.user.id, T0).await;
    // Revoked long ago.
    let (revoked, revoked_token) = add_session(&store, alice.user.id, T0).await;
    assert!(
        store
            .revoke_session(alice.user.id, revoked.id, RevokeReason::Logout, at(10))
            .await
            .expect("revoke")
    );
    // Live: created late enough to outlive the cutoff.
    let late = T0.plus(super::TOKEN_TTL);
    let (_, live_token) = add_session(&store, alice.user.id, late).await;

    let cutoff = T0.plus(super::TOKEN_TTL).plus(Duration::from_secs(1));
    // The signup session also expired at T0 + TTL: three ended sessions in all.
    assert_eq!(
        store.purge_ended_sessions(cutoff, 2).await.expect("purge"),
        2
    );
    assert_eq!(
        store.purge_ended_sessions(cutoff, 2).await.expect("purge"),
        1
    );
    assert_eq!(
        store.purge_ended_sessions(cutoff, 2).await.expect("purge"),
        0
    );

    for gone in [&alice.token, &expired_token, &revoked_token] {
        assert_eq!(rotate(&store, gone, cutoff).await, RotationOutcome::Unknown);
    }
    let remaining = store
        .list_active_sessions(alice.user.id, cutoff)
        .await
        .expect("list");
    assert_eq!(remaining.len(), 1);
    rotate_ok(&store, &live_token, cutoff).await;
}
