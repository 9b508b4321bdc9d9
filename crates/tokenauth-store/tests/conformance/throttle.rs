//! Login throttling: failures counted per key, lock-outs derived from the count as
//! [`LockoutPolicy::lockout_after`] says, forgotten after the memory window, cleared on success
//! unless locked, and counted exactly under concurrency, across stores on one database too;
//! reservations of credential checks never allow more attempts than the limit.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokenauth_core::Timestamp;
use tokenauth_core::store::Store;
use tokenauth_core::throttle::{AttemptReservation, LockoutPolicy, LoginFailures, ThrottleKey};

use super::{Backend, T0, at};

/// How many failures race in the concurrency tests.
const RACERS: u64 = 20;

fn key(address: &str) -> ThrottleKey {
    ThrottleKey::for_presented(address)
}

async fn fail(store: &Arc<dyn Store>, key: &ThrottleKey, now: Timestamp) -> LoginFailures {
    store
        .record_login_failure(key, now, &LockoutPolicy::default())
        .await
        .expect("record failure")
}

async fn lockout(store: &Arc<dyn Store>, key: &ThrottleKey, now: Timestamp) -> Option<Timestamp> {
    store.login_lockout(key, now).await.expect("lockout")
}

/// Below the threshold failures are counted and nothing is locked; the fifth locks for 30 s,
/// and the lock-out is in force until then, not after.
pub async fn fifth_failure_locks_for_thirty_seconds(store: Arc<dyn Store>) {
    let ada = key("ada@example.com");
    for n in 1..=4 {
        let counted = fail(&store, &ada, at(n)).await;
        assert_eq!(counted.failures, n);
        assert_eq!(counted.locked_until, None);
        assert_eq!(lockout(&store, &ada, at(n)).await, None);
    }
    let counted = fail(&store, &ada, at(5)).await;
    assert_eq!(counted.failures, 5);
    assert_eq!(counted.locked_until, Some(at(35)));
    assert_eq!(lockout(&store, &ada, at(5)).await, Some(at(35)));
    assert_eq!(lockout(&store, &ada, at(34)).await, Some(at(35)));
    assert_eq!(
        lockout(&store, &ada, at(35)).await,
        None,
        "lifted at its end"
    );
}

/// Each failure past the threshold doubles the lock-out, from the time of that failure, up to
/// the cap; the stores agree with the policy's reference formula at every step.
pub async fn lockouts_double_up_to_the_cap(store: Arc<dyn Store>) {
    let ada = key("ada@example.com");
    let policy = LockoutPolicy::default();
    let mut now = at(0);
    for n in 1..=12 {
        let counted = fail(&store, &ada, now).await;
        assert_eq!(counted.failures, n);
        let expected = policy.lockout_after(n).map(|lock| now.plus(lock));
        assert_eq!(counted.locked_until, expected, "failure {n}");
        // The next failure comes right after this lock-out ends (as the service allows).
        now = expected.unwrap_or(now).plus(Duration::from_secs(1));
    }
    assert_eq!(
        policy.lockout_after(12),
        Some(Duration::from_secs(900)),
        "the cap was reached"
    );
}

/// A lock-out is never shortened: a failure recorded during one (a guess that raced past the
/// check) with a lower count cannot end it sooner.
pub async fn a_lockout_never_shrinks(store: Arc<dyn Store>) {
    let ada = key("ada@example.com");
    let short = LockoutPolicy {
        max_lockout: Duration::from_secs(10),
        ..LockoutPolicy::default()
    };
    for n in 1..=6 {
        fail(&store, &ada, at(n)).await;
    }
    // Locked until at(6) + 60 s by the default policy; a later failure under a 10 s cap keeps it.
    let counted = store
        .record_login_failure(&ada, at(7), &short)
        .await
        .expect("record failure");
    assert_eq!(counted.failures, 7);
    assert_eq!(counted.locked_until, Some(at(66)));
}

/// A count is forgotten `memory` after its last failure: the next failure counts one again.
pub async fn failures_are_forgotten_after_the_memory_window(store: Arc<dyn Store>) {
    let ada = key("ada@example.com");
    for n in 1..=3 {
        fail(&store, &ada, at(n)).await;
    }
    let window = LockoutPolicy::default().memory;
    let just_before = at(3).plus(window).minus(Duration::from_millis(1));
    assert_eq!(fail(&store, &ada, just_before).await.failures, 4);
    let after = just_before.plus(window);
    let counted = fail(&store, &ada, after).await;
    assert_eq!(counted.failures, 1, "forgotten, counting again from one");
    assert_eq!(counted.locked_until, None);
}

/// The memory window runs from the end of a lock-out, so waiting out a long lock-out does not
/// reset the count: the next failure still doubles it.
pub async fn memory_runs_from_the_end_of_a_lockout(store: Arc<dyn Store>) {
    let ada = key("ada@example.com");
    for n in 1..=5 {
        fail(&store, &ada, at(n)).await;
    }
    // Locked until at(35); 14 minutes after that the count is still remembered.
    let later = at(35).plus(Duration::from_secs(14 * 60));
    let counted = fail(&store, &ada, later).await;
    assert_eq!(counted.failures, 6);
    assert_eq!(
        counted.locked_until,
        Some(later.plus(Duration::from_secs(60)))
    );
}

/// A success forgets the count; during a lock-out it changes nothing and reports the lock-out.
pub async fn clear_forgets_unless_locked(store: Arc<dyn Store>) {
    let ada = key("ada@example.com");
    for n in 1..=3 {
        fail(&store, &ada, at(n)).await;
    }
    let cleared = store.clear_login_failures(&ada, at(4)).await;
    assert_eq!(cleared.expect("clear"), None);
    assert_eq!(fail(&store, &ada, at(5)).await.failures, 1);
    // Never counted: nothing to clear, nothing locked.
    let cleared = store
        .clear_login_failures(&key("bo@example.com"), at(5))
        .await;
    assert_eq!(cleared.expect("clear"), None);

    for n in 6..=9 {
        fail(&store, &ada, at(n)).await;
    }
    assert_eq!(lockout(&store, &ada, at(9)).await, Some(at(39)));
    let cleared = store.clear_login_failures(&ada, at(10)).await;
    assert_eq!(
        cleared.expect("clear"),
        Some(at(39)),
        "refused while locked"
    );
    assert_eq!(
        fail(&store, &ada, at(40)).await.failures,
        6,
        "the count survived"
    );
    let cleared = store.clear_login_failures(&ada, at(101)).await;
    assert_eq!(
        cleared.expect("clear"),
        None,
        "after the lock-out it clears"
    );
    assert_eq!(fail(&store, &ada, at(102)).await.failures, 1);
}

/// Keys are independent: one email's failures neither count for nor lock another's.
pub async fn keys_are_independent(store: Arc<dyn Store>) {
    let (ada, bo) = (key("ada@example.com"), key("bo@example.com"));
    for n in 1..=5 {
        fail(&store, &ada, at(n)).await;
    }
    assert!(lockout(&store, &ada, at(6)).await.is_some());
    assert_eq!(lockout(&store, &bo, at(6)).await, None);
    assert_eq!(fail(&store, &bo, at(6)).await.failures, 1);
}

/// With the lock-out off (`max_failures` 0) failures are counted but never lock.
pub async fn zero_max_failures_never_locks(store: Arc<dyn Store>) {
    let off = LockoutPolicy {
        max_failures: 0,
        ..LockoutPolicy::default()
    };
    let ada = key("ada@example.com");
    for n in 1..=10 {
        let counted = store
            .record_login_failure(&ada, at(n), &off)
            .await
            .expect("record failure");
        assert_eq!(counted.locked_until, None);
    }
    assert_eq!(lockout(&store, &ada, at(11)).await, None);
}

/// `RACERS` failures recorded at once each count exactly once: the answers are 1 to `RACERS`,
/// each once, and the key ends locked as the count says.
pub async fn concurrent_failures_all_count(store: Arc<dyn Store>) {
    let ada = key("ada@example.com");
    let stores = vec![store.clone(); usize::try_from(RACERS).expect("small")];
    race_failures(&stores, &ada).await;
    let counted = fail(&store, &ada, at(100)).await;
    assert_eq!(counted.failures, RACERS + 1);
}

/// Two stores on one database (two instances) recording failures at once share one count.
pub async fn failures_through_two_stores_share_one_count(backend: &dyn Backend) {
    let first = backend.open().await;
    let second = backend.open().await;
    let ada = key("ada@example.com");
    let stores: Vec<_> = (0..RACERS)
        .map(|i| {
            if i % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            }
        })
        .collect();
    race_failures(&stores, &ada).await;
    let lock = LockoutPolicy::default()
        .lockout_after(RACERS)
        .expect("locked");
    assert_eq!(
        lockout(&first, &ada, at(100)).await,
        Some(at(100).plus(lock))
    );
    assert_eq!(
        lockout(&second, &ada, at(100)).await,
        Some(at(100).plus(lock))
    );
}

/// Records one failure per store in `stores`, all at once at `at(100)`; asserts every count
/// from 1 to the number of stores was answered exactly once.
async fn race_failures(stores: &[Arc<dyn Store>], key: &ThrottleKey) {
    let start = Arc::new(tokio::sync::Barrier::new(stores.len()));
    let tasks: Vec<_> = stores
        .iter()
        .map(|store| {
            let (store, start, key) = (store.clone(), start.clone(), *key);
            tokio::spawn(async move {
                start.wait().await;
                store
                    .record_login_failure(&key, at(100), &LockoutPolicy::default())
                    .await
            })
        })
        .collect();
    let mut counts = BTreeSet::new();
    for task in tasks {
        let counted = task.await.expect("racer").expect("record failure");
        assert!(
            counts.insert(counted.failures),
            "{counted:?} answered twice"
        );
    }
    let all: BTreeSet<u64> = (1..=u64::try_from(stores.len()).expect("small")).collect();
    assert_eq!(counts, all);
}

/// The purge deletes exactly the forgotten counts, never one still remembered or locked.
pub async fn purge_deletes_only_forgotten_counts(store: Arc<dyn Store>) {
    let (ada, bo, cy) = (
        key("ada@example.com"),
        key("bo@example.com"),
        key("cy@example.com"),
    );
    fail(&store, &ada, T0).await;
    for n in 1..=5 {
        fail(&store, &bo, at(n)).await;
    }
    let window = LockoutPolicy::default().memory;
    fail(&store, &cy, at(60)).await;
    // ada is forgotten at T0 + window; bo only at the end of its lock-out (at(35)) + window.
    let now = T0.plus(window);
    assert_eq!(
        store.purge_login_failures(now, 100).await.expect("purge"),
        1
    );
    assert_eq!(fail(&store, &bo, now).await.failures, 6, "bo remembered");
    assert_eq!(fail(&store, &cy, now).await.failures, 2, "cy remembered");
    let much_later = now.plus(window.saturating_mul(10));
    assert_eq!(
        store
            .purge_login_failures(much_later, 1)
            .await
            .expect("purge"),
        1,
        "at most `limit`"
    );
    assert_eq!(
        store
            .purge_login_failures(much_later, 100)
            .await
            .expect("purge"),
        1
    );
    assert_eq!(fail(&store, &ada, much_later).await.failures, 1);
}

/// How many reservations race in the reservation tests: ten times the limit.
const RESERVERS: usize = 50;

async fn reserve(store: &Arc<dyn Store>, key: &ThrottleKey, now: Timestamp) -> AttemptReservation {
    store
        .reserve_attempt(key, now, &LockoutPolicy::default())
        .await
        .expect("reserve")
}

/// A reservation counts the attempt before it is checked: the first four are allowed with
/// their numbers and lock nothing, the fifth is allowed and locks for 30 s from its time, and
/// every later one is refused, changing nothing, until the lock-out ends; then one more is
/// allowed, and locks for twice as long.
pub async fn reservations_count_and_lock_at_the_limit(store: Arc<dyn Store>) {
    let ada = key("ada@example.com");
    for n in 1..=4 {
        let expected = AttemptReservation::Allowed {
            attempt: n,
            locks_until: None,
        };
        assert_eq!(reserve(&store, &ada, at(n)).await, expected);
    }
    let fifth = AttemptReservation::Allowed {
        attempt: 5,
        locks_until: Some(at(35)),
    };
    assert_eq!(reserve(&store, &ada, at(5)).await, fifth);
    assert_eq!(lockout(&store, &ada, at(5)).await, Some(at(35)));
    for now in [at(5), at(20), at(34)] {
        let refused = AttemptReservation::Refused {
            locked_until: at(35),
        };
        assert_eq!(reserve(&store, &ada, now).await, refused, "at {now:?}");
    }
    let sixth = AttemptReservation::Allowed {
        attempt: 6,
        locks_until: Some(at(95)),
    };
    assert_eq!(
        reserve(&store, &ada, at(35)).await,
        sixth,
        "refusals counted nothing"
    );
    // The lock-out keeps the count in memory: 15 minutes after its end, not after the last
    // attempt.
    let later = at(95).plus(LockoutPolicy::default().memory);
    let forgotten = AttemptReservation::Allowed {
        attempt: 1,
        locks_until: None,
    };
    let just_before = later.minus(Duration::from_millis(1));
    assert!(matches!(
        reserve(&store, &key("bo@example.com"), just_before).await,
        AttemptReservation::Allowed { attempt: 1, .. }
    ));
    assert_eq!(
        reserve(&store, &ada, just_before).await,
        AttemptReservation::Allowed {
            attempt: 7,
            locks_until: Some(just_before.plus(Duration::from_secs(120))),
        }
    );
    let much_later = just_before
        .plus(Duration::from_secs(120))
        .plus(LockoutPolicy::default().memory);
    assert_eq!(reserve(&store, &ada, much_later).await, forgotten);
}

/// A success forgets the count, and lifts the lock-out its own attempt put in force (the count
/// still stands at its number), but never one a concurrent attempt earned: then it changes
/// nothing and reports that lock-out.
pub async fn a_success_forgets_unless_another_attempt_locked(store: Arc<dyn Store>) {
    let ada = key("ada@example.com");
    for n in 1..=3 {
        reserve(&store, &ada, at(n)).await;
    }
    assert_eq!(
        store.forget_attempts(&ada, 2, at(4)).await.expect("forget"),
        None
    );
    assert!(matches!(
        reserve(&store, &ada, at(5)).await,
        AttemptReservation::Allowed { attempt: 1, .. }
    ));

    // The fifth attempt locks; its own success lifts the lock.
    for n in 6..=9 {
        reserve(&store, &ada, at(n)).await;
    }
    assert_eq!(lockout(&store, &ada, at(9)).await, Some(at(39)));
    assert_eq!(
        store
            .forget_attempts(&ada, 5, at(10))
            .await
            .expect("forget"),
        None
    );
    assert_eq!(
        lockout(&store, &ada, at(10)).await,
        None,
        "its own lock-out lifted"
    );

    // An earlier attempt succeeding after the fifth locked is refused, and the lock stays.
    for n in 11..=15 {
        reserve(&store, &ada, at(n)).await;
    }
    assert_eq!(
        store
            .forget_attempts(&ada, 3, at(16))
            .await
            .expect("forget"),
        Some(at(45)),
        "locked by the fifth"
    );
    assert_eq!(lockout(&store, &ada, at(16)).await, Some(at(45)));
    assert!(matches!(
        reserve(&store, &ada, at(17)).await,
        AttemptReservation::Refused { .. }
    ));
    // After the lock-out anything clears.
    assert_eq!(
        store
            .forget_attempts(&ada, 3, at(45))
            .await
            .expect("forget"),
        None
    );
    assert!(matches!(
        reserve(&store, &ada, at(46)).await,
        AttemptReservation::Allowed { attempt: 1, .. }
    ));
}

/// `RESERVERS` reservations at once with a limit of 5: exactly 5 are allowed, numbered 1 to 5,
/// and every other one is refused with the lock-out the fifth earned.
pub async fn concurrent_reservations_never_exceed_the_limit(store: Arc<dyn Store>) {
    let stores = vec![store; RESERVERS];
    race_reservations(&stores).await;
}

/// The same across two stores on one database (two instances).
pub async fn reservations_through_two_stores_never_exceed_the_limit(backend: &dyn Backend) {
    let first = backend.open().await;
    let second = backend.open().await;
    let stores: Vec<_> = (0..RESERVERS)
        .map(|i| {
            if i % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            }
        })
        .collect();
    race_reservations(&stores).await;
}

/// Reserves once per store in `stores`, all at once at `at(100)`, on one key; asserts the
/// answers are exactly the allowed attempts 1 to 5 (the fifth locking) and refusals.
async fn race_reservations(stores: &[Arc<dyn Store>]) {
    let ada = key("ada@example.com");
    let start = Arc::new(tokio::sync::Barrier::new(stores.len()));
    let tasks: Vec<_> = stores
        .iter()
        .map(|store| {
            let (store, start) = (store.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                store
                    .reserve_attempt(&ada, at(100), &LockoutPolicy::default())
                    .await
            })
        })
        .collect();
    let lock = at(100).plus(Duration::from_secs(30));
    let mut allowed = BTreeSet::new();
    let mut refused = 0;
    for task in tasks {
        match task.await.expect("racer").expect("reserve") {
            AttemptReservation::Allowed {
                attempt,
                locks_until,
            } => {
                assert!(allowed.insert(attempt), "attempt {attempt} allowed twice");
                let expected = (attempt >= 5).then_some(lock);
                assert_eq!(locks_until, expected, "attempt {attempt}");
            }
            AttemptReservation::Refused { locked_until } => {
                assert_eq!(locked_until, lock);
                refused += 1;
            }
        }
    }
    assert_eq!(allowed, (1..=5).collect::<BTreeSet<u64>>());
    assert_eq!(refused, stores.len() - 5);
}
