//! Rotation under concurrency (invariants 1 to 4) and over a long chain.

use std::sync::Arc;
use std::time::Duration;

use tokenauth_core::refresh_token::RefreshToken;
use tokenauth_core::session::{RotationOutcome, RotationRequest};
use tokenauth_core::store::{Store, StoreError};

use super::{
    T0, active, add_session, at, only_session, presented, request, request_with, revoked_since,
    rotate, rotate_ok, sign_up, successor,
};

/// How many requests race in each concurrency test.
const RACERS: usize = 50;
/// Length of the long rotation chain.
const CHAIN: usize = 200;

/// Sends `RACERS` copies of `request` at once from separate tasks; returns every answer.
async fn race(
    store: &Arc<dyn Store>,
    request: &RotationRequest,
) -> Vec<Result<RotationOutcome, StoreError>> {
    let start = Arc::new(tokio::sync::Barrier::new(RACERS));
    let tasks: Vec<_> = (0..RACERS)
        .map(|_| {
            let store = Arc::clone(store);
            let request = request.clone();
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                store.rotate_refresh_token(&request).await
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(RACERS);
    for task in tasks {
        answers.push(task.await.expect("racer task panicked"));
    }
    answers
}

/// Concurrent refreshes of the live token with the same successor (two tabs, client retries)
/// all succeed: exactly one rotates, every other one is an idempotent replay of it, and the
/// family ends with exactly one live token, the successor.
pub async fn concurrent_refreshes_within_grace_converge(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &["user"]).await;
    let req = request(&alice.token, at(100));
    let answers = race(&store, &req).await;

    let mut rotated = Vec::new();
    let mut replayed = Vec::new();
    for answer in answers {
        match answer {
            Ok(RotationOutcome::Rotated(owner)) => rotated.push(owner),
            Ok(RotationOutcome::Replayed(owner)) => replayed.push(owner),
            other => panic!("a racer within grace got {other:?}"),
        }
    }
    assert_eq!(rotated.len(), 1, "exactly one rotation");
    assert_eq!(replayed.len(), RACERS - 1);
    assert!(
        replayed.iter().all(|owner| *owner == rotated[0]),
        "replays answer for the same session, user, roles and expiry"
    );

    let session = only_session(&store, alice.user.id, at(101)).await;
    assert_eq!(session.generation, 1, "only one rotation took place");
    assert!(revoked_since(&store, T0).await.is_empty());

    // Exactly one live token: the original is not (a retry is still only a replay), the
    // successor is.
    assert!(matches!(
        rotate(&store, &alice.token, at(102)).await,
        RotationOutcome::Replayed(_)
    ));
    let next = successor(&alice.token);
    let (_, owner) = rotate_ok(&store, &next, at(103)).await;
    assert_eq!(owner.session_id, alice.session.id);
    assert_eq!(
        only_session(&store, alice.user.id, at(104))
            .await
            .generation,
        2
    );
}

/// Without a grace window, concurrent refreshes of one token are one rotation and theft for the
/// rest: exactly one `Rotated`; the others are `Reused` (at least the first one to be looked at;
/// a later racer may instead find the family already revoked, `Revoked`), never anything else;
/// and the family ends revoked.
pub async fn concurrent_refreshes_without_grace_revoke(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let now = at(100);
    let req = request_with(
        presented(&alice.token),
        now,
        now.plus(Duration::from_millis(1)),
    );
    let answers = race(&store, &req).await;

    let (mut rotated, mut reused, mut revoked) = (0, 0, 0);
    for answer in answers {
        match answer {
            Ok(RotationOutcome::Rotated(owner)) => {
                assert_eq!(owner.session_id, alice.session.id);
                rotated += 1;
            }
            Ok(RotationOutcome::Reused {
                session_id,
                user_id,
            }) => {
                assert_eq!((session_id, user_id), (alice.session.id, alice.user.id));
                reused += 1;
            }
            Ok(RotationOutcome::Revoked) => revoked += 1,
            other => panic!("a racer without grace got {other:?}"),
        }
    }
    assert_eq!(rotated, 1, "exactly one rotation");
    assert!(reused >= 1, "the reuse must be detected");
    assert_eq!(rotated + reused + revoked, RACERS);

    assert!(active(&store, alice.user.id, now).await.is_empty());
    assert_eq!(revoked_since(&store, T0).await, [(alice.session.id, now)]);
    assert_eq!(
        rotate(&store, &successor(&alice.token), at(101)).await,
        RotationOutcome::Revoked
    );
}

/// Concurrent rotations of many different families all succeed, each once.
pub async fn concurrent_rotations_of_different_sessions(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let mut tokens: Vec<RefreshToken> = vec![alice.token];
    for i in 1..RACERS {
        let (_, first) =
            add_session(&store, alice.user.id, at(u64::try_from(i).expect("small"))).await;
        tokens.push(first);
    }
    let tasks: Vec<_> = tokens
        .iter()
        .map(|presented| {
            let store = Arc::clone(&store);
            let req = request(presented, at(1000));
            tokio::spawn(async move { store.rotate_refresh_token(&req).await })
        })
        .collect();
    for task in tasks {
        let answer = task.await.expect("task panicked");
        assert!(
            matches!(answer, Ok(RotationOutcome::Rotated(_))),
            "got {answer:?}"
        );
    }
    let sessions = active(&store, alice.user.id, at(1001)).await;
    assert_eq!(sessions.len(), RACERS);
    assert!(sessions.iter().all(|session| session.generation == 1));
    for presented in &tokens {
        rotate_ok(&store, &successor(presented), at(1002)).await;
    }
}

/// Invariant 1 over a long chain: after each of `CHAIN` rotations only the newest token
/// rotates, the one it replaced is no longer live (a retry of it is only a replay), and at the
/// end every older token is still recognised as the family's (theft, not unknown).
pub async fn long_chain_keeps_one_live_token(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let mut chain = vec![alice.token];
    for step in 0..CHAIN {
        let now = at(10 + u64::try_from(step).expect("small"));
        let presented = chain.last().expect("chain is never empty");
        let (next, owner) = rotate_ok(&store, presented, now).await;
        assert_eq!(owner.session_id, alice.session.id);
        // The token just presented is no longer live: presenting it again changes nothing.
        assert!(
            matches!(
                rotate(&store, presented, now).await,
                RotationOutcome::Replayed(_)
            ),
            "step {step}: the replaced token must not rotate again"
        );
        chain.push(next);
    }
    let session = only_session(&store, alice.user.id, at(1000)).await;
    assert_eq!(session.generation, i64::try_from(CHAIN).expect("small"));
    assert!(revoked_since(&store, T0).await.is_empty());

    // A token from the middle of the chain is theft and revokes the family...
    let now = at(1000);
    assert_eq!(
        rotate(&store, &chain[CHAIN / 2], now).await,
        RotationOutcome::Reused {
            session_id: alice.session.id,
            user_id: alice.user.id,
        }
    );
    // ...and every token of the chain, the first and the live one included, is still known
    // to belong to it: none is `Unknown`.
    for (generation, presented) in chain.iter().enumerate() {
        assert_eq!(
            rotate(&store, presented, now).await,
            RotationOutcome::Revoked,
            "generation {generation}"
        );
    }
    assert!(active(&store, alice.user.id, now).await.is_empty());
}

/// Every old token of a long chain is theft, not merely the previous one: after `CHAIN / 4`
/// rotations of a fresh family, its first token, presented within grace of the last rotation,
/// gives `Reused`.
pub async fn first_token_of_long_chain_is_reuse(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let (mut live, _) = rotate_ok(&store, &alice.token, at(10)).await;
    for step in 1..CHAIN / 4 {
        let now = at(10 + u64::try_from(step).expect("small"));
        let (next, _) = rotate_ok(&store, &live, now).await;
        live = next;
    }
    let now = at(10 + u64::try_from(CHAIN / 4).expect("small"));
    assert_eq!(
        rotate(&store, &alice.token, now).await,
        RotationOutcome::Reused {
            session_id: alice.session.id,
            user_id: alice.user.id,
        }
    );
    assert_eq!(rotate(&store, &live, now).await, RotationOutcome::Revoked);
    assert_eq!(revoked_since(&store, T0).await, [(alice.session.id, now)]);
}
