//! `RevocationStore`: the revocation feed. Every revocation appends exactly one event in its own
//! transaction; events are read in seq order; the purge deletes the oldest ones and never lets
//! the head go back.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokenauth_core::session::{RevokeReason, RotationOutcome};
use tokenauth_core::store::{FeedPosition, RevocationEvent, Store};
use tokenauth_core::{SessionId, Timestamp, UserId};

use super::{Backend, GRACE, T0, add_session, at, request, rotate, rotate_ok, sign_up};

/// More than any test appends.
const ALL: u32 = 10_000;

/// The whole feed, oldest first.
pub async fn feed(store: &Arc<dyn Store>) -> Vec<RevocationEvent> {
    store.revocations_after(0, ALL).await.expect("read feed")
}

/// The feed's position.
pub async fn position(store: &Arc<dyn Store>) -> FeedPosition {
    store
        .revocation_feed_position()
        .await
        .expect("feed position")
}

/// The feed after `after`, at most `limit` events.
async fn after(store: &Arc<dyn Store>, after: u64, limit: u32) -> Vec<RevocationEvent> {
    store
        .revocations_after(after, limit)
        .await
        .expect("read feed")
}

/// Purges events revoked before `revoked_before`, whatever their tokens' expiry.
async fn purge(store: &Arc<dyn Store>, revoked_before: Timestamp, limit: u32) -> u64 {
    store
        .purge_revocations(revoked_before, Timestamp::from_millis(i64::MAX), limit)
        .await
        .expect("purge feed")
}

/// Revokes `session` of `user` at `now`; asserts that it was live.
async fn revoke(store: &Arc<dyn Store>, user: UserId, session: SessionId, now: Timestamp) {
    assert!(
        store
            .revoke_session(user, session, RevokeReason::Logout, now)
            .await
            .expect("revoke"),
        "the session was live"
    );
}

fn assert_epoch_form(epoch: &str) {
    assert_eq!(epoch.len(), 16, "epoch {epoch:?}");
    assert!(
        epoch
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "epoch {epoch:?} is not lowercase hex"
    );
}

fn assert_strictly_increasing(events: &[RevocationEvent]) {
    assert!(
        events.windows(2).all(|pair| pair[0].seq < pair[1].seq),
        "seqs must strictly increase: {events:?}"
    );
    assert!(events.iter().all(|event| event.seq >= 1), "seqs start at 1");
}

/// A new database's feed is empty: head and purged_through 0, an epoch of 16 lowercase hex
/// digits, nothing to read and nothing to purge.
pub async fn feed_starts_empty(store: Arc<dyn Store>) {
    let start = position(&store).await;
    assert_eq!((start.head, start.purged_through), (0, 0));
    assert_epoch_form(&start.epoch);
    assert!(feed(&store).await.is_empty());
    assert_eq!(purge(&store, at(1_000_000), 100).await, 0);
    assert_eq!(position(&store).await, start);
}

/// A logout appends exactly one event, naming the session and the time; revoking it again, or
/// revoking a session of someone else's, an unknown one or an expired one, appends nothing.
pub async fn revoke_session_appends_one_event(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let bob = sign_up(&store, "bob@example.com", &[]).await;
    let (short, _) = add_session(&store, alice.user.id, T0).await;
    let after_expiry = short.expires_at.plus(Duration::from_secs(1));

    let failed = [
        (bob.user.id, alice.session.id, at(10)),
        (alice.user.id, SessionId::generate(), at(10)),
        (alice.user.id, short.id, after_expiry),
    ];
    for (user, session, now) in failed {
        assert!(
            !store
                .revoke_session(user, session, RevokeReason::Logout, now)
                .await
                .expect("revoke")
        );
    }
    assert!(
        feed(&store).await.is_empty(),
        "a failed revoke appends nothing"
    );
    assert_eq!(position(&store).await.head, 0);

    revoke(&store, alice.user.id, alice.session.id, at(20)).await;
    let events = feed(&store).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].session, alice.session.id);
    assert_eq!(events[0].revoked_at, at(20));
    assert!(events[0].seq >= 1);
    assert_eq!(position(&store).await.head, events[0].seq);

    assert!(
        !store
            .revoke_session(
                alice.user.id,
                alice.session.id,
                RevokeReason::Logout,
                at(30)
            )
            .await
            .expect("revoke again")
    );
    assert_eq!(
        feed(&store).await,
        events,
        "a second revocation appends nothing"
    );
}

/// `revoke_all_sessions` appends one event per session it revoked, at its time, and none for
/// sessions that were already revoked or belong to someone else.
pub async fn revoke_all_appends_one_event_per_session(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let bob = sign_up(&store, "bob@example.com", &[]).await;
    let (second, _) = add_session(&store, alice.user.id, at(1)).await;
    let (third, _) = add_session(&store, alice.user.id, at(2)).await;
    revoke(&store, alice.user.id, third.id, at(10)).await;

    let revoked = store
        .revoke_all_sessions(alice.user.id, RevokeReason::RevokeAll, at(50))
        .await
        .expect("revoke all");
    assert_eq!(revoked.len(), 2);
    let events = feed(&store).await;
    assert_eq!(events.len(), 3);
    assert_strictly_increasing(&events);
    assert_eq!(
        (events[0].session, events[0].revoked_at),
        (third.id, at(10))
    );
    let appended: HashSet<SessionId> = events[1..].iter().map(|event| event.session).collect();
    assert_eq!(appended, HashSet::from([alice.session.id, second.id]));
    assert_eq!(appended, revoked.into_iter().collect());
    assert!(events[1..].iter().all(|event| event.revoked_at == at(50)));

    assert!(
        store
            .revoke_all_sessions(alice.user.id, RevokeReason::RevokeAll, at(60))
            .await
            .expect("revoke all again")
            .is_empty()
    );
    assert_eq!(feed(&store).await, events, "nothing was left to revoke");
    assert!(events.iter().all(|event| event.session != bob.session.id));
}

/// Reuse detected by `rotate_refresh_token` appends one event for the family, at the request's
/// time; rotations, replays and later presentations of the revoked family append nothing.
pub async fn reuse_detection_appends_one_event(store: Arc<dyn Store>) {
    let carol = sign_up(&store, "carol@example.com", &[]).await;
    let (live, _) = rotate_ok(&store, &carol.token, at(10)).await;
    assert!(matches!(
        rotate(&store, &carol.token, at(11)).await,
        RotationOutcome::Replayed(_)
    ));
    assert!(
        feed(&store).await.is_empty(),
        "rotation and replay revoke nothing"
    );

    let reused_at = at(20).plus(GRACE);
    assert_eq!(
        rotate(&store, &carol.token, reused_at).await,
        RotationOutcome::Reused {
            session_id: carol.session.id,
            user_id: carol.user.id,
        }
    );
    let events = feed(&store).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].session, events[0].revoked_at),
        (carol.session.id, reused_at)
    );

    for presented in [&carol.token, &live] {
        assert_eq!(
            rotate(&store, presented, reused_at.plus(GRACE)).await,
            RotationOutcome::Revoked
        );
    }
    assert_eq!(feed(&store).await, events);
}

/// Concurrent presentations of a stolen token revoke the family once: one event, however many
/// of them were judged reuse.
pub async fn racing_reuse_appends_one_event(store: Arc<dyn Store>) {
    const RACERS: usize = 20;
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    rotate_ok(&store, &alice.token, at(10)).await;
    let now = at(100).plus(GRACE);
    let start = Arc::new(tokio::sync::Barrier::new(RACERS));
    let tasks: Vec<_> = (0..RACERS)
        .map(|_| {
            let store = Arc::clone(&store);
            let req = request(&alice.token, now);
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                store.rotate_refresh_token(&req).await
            })
        })
        .collect();
    for task in tasks {
        let answer = task.await.expect("racer panicked");
        assert!(
            matches!(
                answer,
                Ok(RotationOutcome::Reused { .. } | RotationOutcome::Revoked)
            ),
            "got {answer:?}"
        );
    }
    let events = feed(&store).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].session, alice.session.id);
}

/// `revocations_after` returns the events after the cursor, in ascending seq order, at most
/// `limit` of them; paging through it with any limit yields the whole feed.
pub async fn revocations_after_pages_in_order(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let mut sessions = vec![alice.session.id];
    for i in 1..7 {
        let (session, _) = add_session(&store, alice.user.id, at(i)).await;
        sessions.push(session.id);
    }
    for (i, session) in sessions.iter().enumerate() {
        let secs = 100 + u64::try_from(i).expect("small");
        revoke(&store, alice.user.id, *session, at(secs)).await;
    }

    let all = feed(&store).await;
    assert_eq!(all.len(), 7);
    assert_strictly_increasing(&all);
    let order: Vec<SessionId> = all.iter().map(|event| event.session).collect();
    assert_eq!(
        order, sessions,
        "events come in the order they were revoked"
    );
    let head = position(&store).await.head;
    assert_eq!(head, all[6].seq);

    assert_eq!(after(&store, all[2].seq, 3).await, all[3..6]);
    assert_eq!(after(&store, all[2].seq, ALL).await, all[3..]);
    assert_eq!(after(&store, 0, 1).await, all[..1]);
    assert!(after(&store, 0, 0).await.is_empty(), "limit 0");
    assert!(after(&store, head, ALL).await.is_empty());
    assert!(after(&store, u64::MAX, ALL).await.is_empty());
    for limit in [1, 2, 3] {
        let mut paged = Vec::new();
        let mut cursor = 0;
        loop {
            let page = after(&store, cursor, limit).await;
            assert!(page.len() <= usize::try_from(limit).expect("small"));
            let Some(last) = page.last() else { break };
            cursor = last.seq;
            paged.extend(page);
        }
        assert_eq!(paged, all, "paging with limit {limit}");
    }
}

/// The purge deletes only events revoked before the cutoff, oldest first and at most `limit`
/// per call, and raises `purged_through` to the last one deleted; the head never goes back,
/// not even when every event is gone, and later events are numbered above it.
pub async fn purge_deletes_oldest_and_never_lowers_head(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let mut sessions = vec![alice.session.id];
    for i in 1..5 {
        let (session, _) = add_session(&store, alice.user.id, at(i)).await;
        sessions.push(session.id);
    }
    for (i, session) in sessions.iter().take(4).enumerate() {
        let secs = 10 * (1 + u64::try_from(i).expect("small"));
        revoke(&store, alice.user.id, *session, at(secs)).await;
    }
    let all = feed(&store).await;
    let head = position(&store).await.head;

    assert_eq!(purge(&store, at(25), 1).await, 1, "limit holds");
    assert_eq!(feed(&store).await, all[1..]);
    assert_eq!(position(&store).await.purged_through, all[0].seq);
    assert_eq!(purge(&store, at(25), 10).await, 1);
    assert_eq!(purge(&store, at(25), 10).await, 0, "the rest is too young");
    assert_eq!(feed(&store).await, all[2..]);
    let middle = position(&store).await;
    assert_eq!((middle.head, middle.purged_through), (head, all[1].seq));

    assert_eq!(purge(&store, at(1000), 10).await, 2);
    assert!(feed(&store).await.is_empty());
    let emptied = position(&store).await;
    assert_eq!((emptied.head, emptied.purged_through), (head, head));
    assert_eq!(emptied.epoch, middle.epoch);
    assert_eq!(purge(&store, at(1000), 10).await, 0);
    assert_eq!(position(&store).await, emptied);

    revoke(&store, alice.user.id, sessions[4], at(2000)).await;
    let later = feed(&store).await;
    assert_eq!(later.len(), 1);
    assert!(later[0].seq > head, "a seq is never reused after a purge");
    let last = position(&store).await;
    assert_eq!((last.head, last.purged_through), (later[0].seq, head));
    assert_eq!(after(&store, head, ALL).await, later);
}

/// Revocation times need not follow seq order (callers pass the time); the purge deletes only
/// a prefix of the feed, so every event at or below `purged_through` is gone.
pub async fn purge_deletes_only_a_prefix(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let (second, _) = add_session(&store, alice.user.id, at(1)).await;
    let (third, _) = add_session(&store, alice.user.id, at(2)).await;
    revoke(&store, alice.user.id, alice.session.id, at(10)).await;
    revoke(&store, alice.user.id, second.id, at(100)).await;
    revoke(&store, alice.user.id, third.id, at(50)).await;
    let all = feed(&store).await;

    assert_eq!(
        purge(&store, at(60), 10).await,
        1,
        "stops at the young second event"
    );
    assert_eq!(feed(&store).await, all[1..]);
    let position = position(&store).await;
    assert_eq!(position.purged_through, all[0].seq);
    assert!(
        feed(&store)
            .await
            .iter()
            .all(|event| event.seq > position.purged_through)
    );
    assert_eq!(purge(&store, at(101), 10).await, 2);
    assert!(feed(&store).await.is_empty());
}

/// Many revocations at once, through both revoking calls, each append one event with its own
/// seq; a reader polling the feed meanwhile never finds a gap filled later: what it read, in
/// order, is exactly the final feed. A few writers revoke one session after another, so that
/// commits overlap all the time while the reader still gets connections.
pub async fn concurrent_revocations_appear_in_seq_order(store: Arc<dyn Store>) {
    const SESSIONS: usize = 120;
    const WRITERS: usize = 8;
    let mut accounts = Vec::with_capacity(SESSIONS);
    for i in 0..SESSIONS {
        let account = sign_up(&store, &format!("user{i}@example.com"), &[]).await;
        accounts.push((account.user.id, account.session.id));
    }
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (store, done) = (Arc::clone(&store), Arc::clone(&done));
        tokio::spawn(async move { poll_until_done(&store, &done).await })
    };
    let shares: Vec<_> = accounts.chunks(SESSIONS.div_ceil(WRITERS)).collect();
    let start = Arc::new(tokio::sync::Barrier::new(shares.len()));
    let writers: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let (store, share, start) = (Arc::clone(&store), share.to_vec(), Arc::clone(&start));
            tokio::spawn(async move {
                start.wait().await;
                for (i, (user, session)) in share.into_iter().enumerate() {
                    revoke_one_way_or_the_other(&store, user, session, i % 2 == 0).await;
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("revoking task panicked");
    }
    done.store(true, Ordering::Release);
    let seen = reader.await.expect("reader panicked");

    let all = feed(&store).await;
    assert_eq!(all.len(), SESSIONS);
    assert_strictly_increasing(&all);
    let revoked: HashSet<SessionId> = all.iter().map(|event| event.session).collect();
    let expected: HashSet<SessionId> = accounts.iter().map(|(_, session)| *session).collect();
    assert_eq!(revoked, expected);
    assert_eq!(
        seen, all,
        "the reader missed an event that appeared below its cursor"
    );
    assert_eq!(position(&store).await.head, all[SESSIONS - 1].seq);
}

/// Revokes the user's one live session, by `revoke_session` or by `revoke_all_sessions`.
async fn revoke_one_way_or_the_other(
    store: &Arc<dyn Store>,
    user: UserId,
    session: SessionId,
    one: bool,
) {
    if one {
        revoke(store, user, session, at(100)).await;
    } else {
        let revoked = store
            .revoke_all_sessions(user, RevokeReason::RevokeAll, at(100))
            .await
            .expect("revoke all");
        assert_eq!(revoked, [session]);
    }
}

/// Reads the feed in small pages, following its cursor, until a read finds nothing after
/// `done` was set; returns everything read, in order.
async fn poll_until_done(store: &Arc<dyn Store>, done: &AtomicBool) -> Vec<RevocationEvent> {
    let mut seen: Vec<RevocationEvent> = Vec::new();
    let mut cursor = 0;
    loop {
        // Read the flag first: when it is set, every revocation has committed before this read.
        let finished = done.load(Ordering::Acquire);
        let page = after(store, cursor, 3).await;
        assert!(page.iter().all(|event| event.seq > cursor));
        match page.last() {
            Some(last) => cursor = last.seq,
            None if finished => return seen,
            None => tokio::task::yield_now().await,
        }
        seen.extend(page);
    }
}

/// Two databases have feeds of different epochs, so a cursor of one is foreign to the other.
pub async fn databases_have_different_epochs(first: Arc<dyn Store>, second: Arc<dyn Store>) {
    let (first, second) = (position(&first).await, position(&second).await);
    assert_epoch_form(&first.epoch);
    assert_epoch_form(&second.epoch);
    assert_ne!(first.epoch, second.epoch);
}

/// The epoch, the events and the head survive closing the store and opening the database
/// again; numbering continues above the old head.
pub async fn feed_survives_reopen(backend: &dyn Backend) {
    let store = backend.open().await;
    let empty = position(&store).await;
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let (second, _) = add_session(&store, alice.user.id, at(1)).await;
    revoke(&store, alice.user.id, alice.session.id, at(10)).await;
    let before = (position(&store).await, feed(&store).await);
    assert_eq!(before.0.epoch, empty.epoch);

    backend.close().await;
    drop(store);
    let store = backend.open().await;
    backend.check().await;
    assert_eq!((position(&store).await, feed(&store).await), before);

    revoke(&store, alice.user.id, second.id, at(20)).await;
    let events = feed(&store).await;
    assert_eq!(events.len(), 2);
    assert!(events[1].seq > before.0.head);
    assert_eq!(position(&store).await.epoch, empty.epoch);
    backend.check().await;
}

/// The purge keeps an event, old as it is, while its session's access tokens may be alive
/// (`alive_until` not before `alive_before`), and stops there: later events stay too.
pub async fn purge_keeps_events_whose_tokens_are_alive(store: Arc<dyn Store>) {
    let alice = sign_up(&store, "alice@example.com", &[]).await;
    let (other, _) = add_session(&store, alice.user.id, at(1)).await;
    revoke(&store, alice.user.id, alice.session.id, at(10)).await;
    revoke(&store, alice.user.id, other.id, at(20)).await;
    let all = feed(&store).await;
    assert_eq!(all[0].alive_until, alice.session.access_expires_at);
    assert_eq!(all[1].alive_until, other.access_expires_at);

    let purge_at = |revoked_before, alive_before| {
        let store = &store;
        async move {
            store
                .purge_revocations(revoked_before, alive_before, 10)
                .await
                .expect("purge feed")
        }
    };
    assert_eq!(purge_at(at(1000), all[0].alive_until).await, 0, "alive");
    assert_eq!(feed(&store).await, all);
    let between = all[0].alive_until.plus(Duration::from_millis(1));
    assert_eq!(purge_at(at(1000), between).await, 1);
    assert_eq!(feed(&store).await, all[1..]);
    assert_eq!(
        purge_at(at(15), Timestamp::from_millis(i64::MAX)).await,
        0,
        "revoked too recently"
    );
    assert_eq!(
        purge_at(at(1000), all[1].alive_until.plus(Duration::from_millis(1))).await,
        1
    );
    assert!(feed(&store).await.is_empty());
}
