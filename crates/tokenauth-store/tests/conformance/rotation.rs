//! `rotate_refresh_token`, one outcome at a time (invariants 1 to 5 of
//! `shared/refresh-rotation.md`).

use std::sync::Arc;
use std::time::Duration;

use tokenauth_core::refresh_token::PresentedRefreshToken;
use tokenauth_core::session::{RevokeReason, RotationOutcome, SessionOwner};
use tokenauth_core::store::Store;

use super::{
    GRACE, T0, TOKEN_TTL, active, at, legacy_token, only_session, presented, request, request_with,
    revoked_since, rotate, rotate_ok, sign_up, successor, token,
};

/// The live token rotates: the outcome names the session, its user and roles and the
/// successor's expiry, which the session now carries; the successor is the new live token.
pub async fn live_token_rotates(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &["admin"]).await;
    let mut req = request(&alice.token, at(100));
    req.successor_expires_at = at(100).plus(Duration::from_secs(3600));
    let outcome = store.rotate_refresh_token(&req).await.expect("rotate");
    assert_eq!(
        outcome,
        RotationOutcome::Rotated(SessionOwner {
            session_id: alice.session.id,
            user_id: alice.user.id,
            roles: vec!["admin".to_owned()],
            generation: 1,
            expires_at: req.successor_expires_at,
            access_expires_at: req.access_expires_at,
        })
    );

    let session = only_session(&store, alice.user.id, at(101)).await;
    assert_eq!(session.generation, 1);
    assert_eq!(session.expires_at, req.successor_expires_at);
    assert_eq!(session.last_used_at, at(100));
    assert_eq!(session.created_at, T0);
    // The shorter expiry is the one that counts now.
    assert!(
        active(&store, alice.user.id, req.successor_expires_at)
            .await
            .is_empty()
    );

    let second = successor(&alice.token);
    let (_, owner) = rotate_ok(&store, &second, at(200)).await;
    assert_eq!(owner.session_id, alice.session.id);
    assert_eq!(owner.expires_at, at(200).plus(TOKEN_TTL));
    assert_eq!(
        only_session(&store, alice.user.id, at(201))
            .await
            .generation,
        2
    );
    assert!(revoked_since(&store, T0).await.is_empty());
}

/// Within the grace window the previous token, presented with the same successor, is a benign
/// retry: `Replayed` with the same owner, nothing changed, however often; the successor stays
/// the one live token.
pub async fn previous_token_within_grace_is_replayed(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &["user"]).await;
    let (next, rotated) = rotate_ok(&store, &alice.token, at(100)).await;
    let before = only_session(&store, alice.user.id, at(101)).await;

    for retry_at in [at(100), at(101), at(100).plus(GRACE)] {
        // `at(100) + GRACE` puts the cutoff exactly at the rotation: still within grace.
        assert_eq!(
            rotate(&store, &alice.token, retry_at).await,
            RotationOutcome::Replayed(rotated.clone()),
            "retry at {retry_at:?}"
        );
    }
    assert_eq!(only_session(&store, alice.user.id, at(131)).await, before);
    assert!(revoked_since(&store, T0).await.is_empty());

    let (_, owner) = rotate_ok(&store, &next, at(140)).await;
    assert_eq!(owner.session_id, alice.session.id);
    assert_eq!(
        only_session(&store, alice.user.id, at(141))
            .await
            .generation,
        2
    );
}

/// The previous token after the grace window (the cutoff later than the rotation) is theft:
/// `Reused`, and the whole family is revoked, the live successor included.
pub async fn previous_token_after_grace_is_reuse(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let bob = sign_up(&store, "bob@example.com", &[]).await;
    let (next, _) = rotate_ok(&store, &alice.token, at(100)).await;

    let late = at(100).plus(GRACE).plus(Duration::from_millis(1));
    assert_eq!(
        rotate(&store, &alice.token, late).await,
        RotationOutcome::Reused {
            session_id: alice.session.id,
            user_id: alice.user.id,
        }
    );
    assert!(active(&store, alice.user.id, late).await.is_empty());
    assert_eq!(revoked_since(&store, T0).await, [(alice.session.id, late)]);
    assert_eq!(rotate(&store, &next, late).await, RotationOutcome::Revoked);
    assert_eq!(
        rotate(&store, &alice.token, late).await,
        RotationOutcome::Revoked
    );
    assert!(
        !store
            .revoke_session(alice.user.id, alice.session.id, RevokeReason::Logout, late)
            .await
            .expect("revoke"),
        "the family is already revoked"
    );
    // Other families are untouched.
    assert!(matches!(
        rotate(&store, &bob.token, late).await,
        RotationOutcome::Rotated(_)
    ));
}

/// Any token older than the previous one is theft, even inside the grace window.
pub async fn older_token_is_reuse_even_within_grace(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let (first_successor, _) = rotate_ok(&store, &alice.token, at(100)).await;
    let (live, _) = rotate_ok(&store, &first_successor, at(101)).await;

    assert_eq!(
        rotate(&store, &alice.token, at(102)).await,
        RotationOutcome::Reused {
            session_id: alice.session.id,
            user_id: alice.user.id,
        },
        "a token two generations back"
    );
    assert_eq!(
        rotate(&store, &live, at(103)).await,
        RotationOutcome::Revoked
    );
    assert_eq!(
        rotate(&store, &first_successor, at(103)).await,
        RotationOutcome::Revoked
    );
    assert!(active(&store, alice.user.id, at(103)).await.is_empty());
}

/// A session past its expiry answers `Expired` for its live token (at and after `expires_at`)
/// and for its old tokens, and revokes nothing.
pub async fn expired_session_is_expired(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let (live, _) = rotate_ok(&store, &alice.token, at(100)).await;
    let expires_at = at(100).plus(TOKEN_TTL);

    for now in [expires_at, expires_at.plus(Duration::from_secs(3600))] {
        assert_eq!(rotate(&store, &live, now).await, RotationOutcome::Expired);
        assert_eq!(
            rotate(&store, &alice.token, now).await,
            RotationOutcome::Expired
        );
    }
    // Even a "replay" of the previous token with a grace cutoff covering the rotation.
    let req = request_with(presented(&alice.token), expires_at, at(100));
    assert_eq!(
        store.rotate_refresh_token(&req).await.expect("rotate"),
        RotationOutcome::Expired
    );
    assert!(revoked_since(&store, T0).await.is_empty());
    assert!(active(&store, alice.user.id, expires_at).await.is_empty());
}

/// A revoked family never comes back: its live, previous and older tokens all answer
/// `Revoked`, at any later time, and nothing revives it.
pub async fn revoked_session_never_comes_back(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let (previous, _) = rotate_ok(&store, &alice.token, at(100)).await;
    let (live, _) = rotate_ok(&store, &previous, at(101)).await;
    assert!(
        store
            .revoke_session(
                alice.user.id,
                alice.session.id,
                RevokeReason::Logout,
                at(102)
            )
            .await
            .expect("revoke")
    );

    for now in [at(102), at(103), at(10_000)] {
        assert_eq!(rotate(&store, &live, now).await, RotationOutcome::Revoked);
        assert_eq!(
            rotate(&store, &previous, now).await,
            RotationOutcome::Revoked
        );
        assert_eq!(
            rotate(&store, &alice.token, now).await,
            RotationOutcome::Revoked
        );
    }
    // The successor the live token would have had was never issued.
    assert_eq!(
        rotate(&store, &successor(&live), at(104)).await,
        RotationOutcome::Unknown
    );
    assert!(active(&store, alice.user.id, at(104)).await.is_empty());
    assert_eq!(
        revoked_since(&store, T0).await,
        [(alice.session.id, at(102))]
    );
}

/// A token no session ever had is `Unknown`, and presenting it changes nothing.
pub async fn unknown_token_is_unknown(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    assert_eq!(
        rotate(&store, &token(), at(1)).await,
        RotationOutcome::Unknown
    );
    // The successor of the live token is not issued before the rotation.
    assert_eq!(
        rotate(&store, &successor(&alice.token), at(2)).await,
        RotationOutcome::Unknown
    );
    // A random token of the legacy shape does not touch the family either.
    let req = request_with(
        PresentedRefreshToken::Legacy(super::legacy_hash(&legacy_token())),
        at(3),
        at(3).minus(GRACE),
    );
    assert_eq!(
        store.rotate_refresh_token(&req).await.expect("rotate"),
        RotationOutcome::Unknown
    );
    assert_eq!(
        only_session(&store, alice.user.id, at(4)).await.generation,
        0
    );
    assert!(revoked_since(&store, T0).await.is_empty());
    assert!(matches!(
        rotate(&store, &alice.token, at(5)).await,
        RotationOutcome::Rotated(_)
    ));
}

/// The owner in `Rotated` and `Replayed` carries the user's roles as they are now.
pub async fn rotation_reports_current_roles(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let (next, owner) = rotate_ok(&store, &alice.token, at(10)).await;
    assert!(owner.roles.is_empty());

    assert!(
        store
            .add_role(&alice.user.email, "admin", at(11))
            .await
            .expect("add role")
    );
    match rotate(&store, &alice.token, at(12)).await {
        RotationOutcome::Replayed(owner) => assert_eq!(owner.roles, ["admin"]),
        other => panic!("expected Replayed, got {other:?}"),
    }
    let (_, owner) = rotate_ok(&store, &next, at(13)).await;
    assert_eq!(owner.roles, ["admin"]);
}

/// A session whose first token is `first`, created at `T0` with idle expiry `idle_end` and
/// absolute end `absolute_end`.
async fn session_ending(
    store: &Arc<dyn Store>,
    idle_end: tokenauth_core::Timestamp,
    absolute_end: tokenauth_core::Timestamp,
) -> (super::Account, tokenauth_core::session::Session) {
    let user = super::new_user("alice@example.com", &[]);
    store.insert_user(&user).await.expect("insert user");
    let first = token();
    let session = tokenauth_core::session::NewSession {
        expires_at: idle_end,
        absolute_expires_at: absolute_end,
        ..super::new_session(user.id, &first, T0)
    };
    store
        .insert_session(&session)
        .await
        .expect("insert session");
    let listed = only_session(store, user.id, T0).await;
    let account = super::Account {
        user,
        session,
        token: first,
    };
    (account, listed)
}

/// The swap caps a successor's expiry at the session's absolute end: a rotation just before it
/// gives a token that expires exactly there (the listing says so too), and a rotation at or
/// after it is `Expired`, consuming nothing, however long the idle expiry would have been.
pub async fn rotation_never_passes_the_absolute_end(store: Arc<dyn Store>) {
    let end = at(1000);
    let (alice, listed) = session_ending(&store, at(500), end).await;
    assert_eq!(listed.absolute_expires_at, end);
    assert_eq!(listed.expires_at, at(500));

    let (second, owner) = rotate_ok(&store, &alice.token, at(400)).await;
    assert_eq!(owner.expires_at, end, "capped, not at(400) + TOKEN_TTL");
    let just_before = end.minus(Duration::from_millis(1));
    let (third, owner) = rotate_ok(&store, &second, just_before).await;
    assert_eq!(owner.expires_at, end);
    let session = only_session(&store, alice.user.id, just_before).await;
    assert_eq!(
        (session.expires_at, session.absolute_expires_at),
        (end, end)
    );

    // Even with an idle expiry stored past the end (as by hand), the swap refuses at the end.
    for now in [end, end.plus(Duration::from_secs(3600))] {
        assert_eq!(rotate(&store, &third, now).await, RotationOutcome::Expired);
        assert_eq!(rotate(&store, &second, now).await, RotationOutcome::Expired);
    }
    assert!(active(&store, alice.user.id, end).await.is_empty());
    assert!(revoked_since(&store, T0).await.is_empty());
    let status = store
        .find_refresh_token(&presented(&third))
        .await
        .expect("status")
        .expect("known");
    assert!(status.current, "the refused rotation consumed nothing");
}

/// A session not used for its idle timeout has expired, however far its absolute end is: the
/// live token at exactly its expiry is `Expired` and stays the live one.
pub async fn idle_session_expires(store: Arc<dyn Store>) {
    let (alice, _) = session_ending(&store, at(100), at(1_000_000)).await;
    for now in [at(100), at(101)] {
        assert_eq!(
            rotate(&store, &alice.token, now).await,
            RotationOutcome::Expired
        );
    }
    let status = store
        .find_refresh_token(&presented(&alice.token))
        .await
        .expect("status")
        .expect("known");
    assert!(status.current);
    assert!(revoked_since(&store, T0).await.is_empty());
}

/// The store keeps the latest access-token expiry of a session: a rotation raises it, never
/// lowers it (tokens minted under a longer `access_token_ttl` are still alive), the replay of
/// the previous token reports it, and a revoked session is reported alive, with it, until then.
pub async fn latest_access_expiry_is_kept_and_reported(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let first_expiry = alice.session.access_expires_at;
    // A rotation whose access token would expire sooner (the TTL was lowered).
    let mut req = request(&alice.token, at(100));
    req.access_expires_at = at(160);
    let RotationOutcome::Rotated(owner) = store.rotate_refresh_token(&req).await.expect("rotate")
    else {
        panic!("expected Rotated");
    };
    assert_eq!(owner.access_expires_at, at(160), "what this response mints");
    let RotationOutcome::Replayed(replayed) = rotate(&store, &alice.token, at(101)).await else {
        panic!("expected Replayed");
    };
    assert_eq!(
        replayed.access_expires_at, first_expiry,
        "the stored latest expiry, not lowered"
    );
    let second = successor(&alice.token);
    let later = at(2000).plus(super::ACCESS_TTL);
    let (_, owner) = rotate_ok(&store, &second, at(2000)).await;
    assert_eq!(owner.access_expires_at, later);
    assert!(
        store
            .revoke_session(
                alice.user.id,
                alice.session.id,
                RevokeReason::Logout,
                at(2001)
            )
            .await
            .expect("revoke")
    );
    let alive = |at_time| {
        let store = &store;
        async move {
            let mut reported = store
                .revoked_sessions_alive_at(at_time)
                .await
                .expect("revoked sessions");
            reported.dedup();
            reported
        }
    };
    let expected = tokenauth_core::session::RevokedSession {
        session: alice.session.id,
        revoked_at: at(2001),
        alive_until: later,
    };
    assert_eq!(alive(T0).await, [expected]);
    assert_eq!(alive(later).await, [expected], "inclusive");
    assert!(alive(later.plus(Duration::from_millis(1))).await.is_empty());
    // The feed event carries the same expiry.
    let events = store.revocations_after(0, 10).await.expect("feed");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].alive_until, later);
}
