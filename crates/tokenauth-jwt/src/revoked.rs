//! [`RevokedSessions`]: sessions revoked while their access tokens may still be alive, the set
//! [`crate::check_access_token`] refuses a token's `sid` against. One type for the auth server
//! (filled as it revokes and from its own feed) and for the verifier crate (filled from the
//! server's revocation feed), so both apply the same policy:
//!
//! - an entry is only ever extended, never shortened, by [`RevokedSessions::insert`]: a later
//!   report of the same revocation cannot bring a session's tokens back early;
//! - [`RevokedSessions::replace`] swaps in a whole snapshot (a feed reset), the one way to drop
//!   entries besides [`RevokedSessions::purge`] of expired ones;
//! - a poisoned lock (a panic while the set was held) fails closed: every token is refused,
//!   because what the set still holds can no longer be trusted to be everything it should.
//!
//! Keyed by the `sid` string, which is what both checks hold when they look a token up, so a
//! lookup neither parses nor allocates; while the set is empty it is one atomic load.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::clock::Timestamp;

type Map = HashMap<Box<str>, Timestamp, foldhash::fast::RandomState>;

/// Session ids (`sid`) whose access tokens must be refused, each until the latest time one of
/// its tokens could still be accepted.
#[derive(Debug, Default)]
pub struct RevokedSessions {
    entries: RwLock<Map>,
    /// Mirror of `entries.len()`, read without the lock so the common case (nothing revoked)
    /// costs one atomic load.
    len: AtomicUsize,
}

impl RevokedSessions {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuses tokens of session `sid` until `forget_after` ([`RevokedSessions::purge`] forgets
    /// it after that), or until the later time it was already remembered to: an entry is only
    /// ever extended, never shortened.
    pub fn insert(&self, sid: &str, forget_after: Timestamp) {
        self.write(|entries| match entries.get_mut(sid) {
            Some(until) => *until = (*until).max(forget_after),
            None => {
                entries.insert(sid.into(), forget_after);
            }
        });
    }

    /// Replaces the whole set with `entries` (a snapshot, e.g. a revocation feed's reset); a
    /// session listed twice is kept until the later of its times.
    pub fn replace(&self, entries: impl IntoIterator<Item = (String, Timestamp)>) {
        let mut fresh = Map::default();
        for (sid, until) in entries {
            let slot = fresh.entry(sid.into_boxed_str()).or_insert(until);
            *slot = (*slot).max(until);
        }
        self.write(|current| *current = fresh);
    }

    /// Whether tokens of session `sid` are refused at `now`: it was revoked and its tokens could
    /// still be presented. Always `true` once the lock is poisoned (fail closed).
    #[must_use]
    pub fn contains(&self, sid: &str, now: Timestamp) -> bool {
        if self.len.load(Ordering::Acquire) == 0 && !self.entries.is_poisoned() {
            return false;
        }
        self.entries
            .read()
            .map(|entries| entries.get(sid).is_some_and(|until| now < *until))
            // A poisoned lock means a panic elsewhere; fail closed.
            .unwrap_or(true)
    }

    /// Forgets sessions whose tokens have all expired at `now`; returns how many were forgotten.
    pub fn purge(&self, now: Timestamp) -> usize {
        let mut forgotten = 0;
        self.write(|entries| {
            let before = entries.len();
            entries.retain(|_, until| now < *until);
            forgotten = before - entries.len();
        });
        forgotten
    }

    /// How many sessions are held.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// Whether none are.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies `change` and updates the lock-free length. Writes go on after a poisoned lock
    /// (every change is a whole insert, replace or retain, so the map stays consistent), but
    /// [`RevokedSessions::contains`] refuses every token from then on.
    fn write(&self, change: impl FnOnce(&mut Map)) {
        let mut entries = match self.entries.write() {
            Ok(entries) => entries,
            Err(poisoned) => poisoned.into_inner(),
        };
        change(&mut entries);
        self.len.store(entries.len(), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: &str = "0190a7e2-5c1e-7b3a-9f00-000000000001";

    #[test]
    fn an_entry_is_extended_never_shortened() {
        let revoked = RevokedSessions::default();
        let at = Timestamp::from_millis;
        revoked.insert(SESSION, at(5_000));
        revoked.insert(SESSION, at(2_000));
        assert!(revoked.contains(SESSION, at(4_999)), "not shortened");
        revoked.insert(SESSION, at(9_000));
        revoked.purge(at(6_000));
        assert!(revoked.contains(SESSION, at(8_999)), "extended");
        assert!(!revoked.contains(SESSION, at(9_000)));
        revoked.purge(at(9_000));
        assert!(revoked.is_empty());
    }

    #[test]
    fn entries_expire_and_purge() {
        let at = Timestamp::from_secs;
        let set = RevokedSessions::new();
        assert!(!set.contains("a", at(0)));
        set.insert("a", at(100));
        set.insert("b", at(50));
        set.insert("a", at(80)); // the later time wins
        assert!(set.contains("a", at(99)));
        assert!(!set.contains("a", at(100)));
        assert!(set.contains("b", at(49)));
        assert_eq!(set.len(), 2);
        assert_eq!(set.purge(at(60)), 1);
        assert_eq!(set.len(), 1);
        set.replace([("c".to_owned(), at(10))]);
        assert!(!set.contains("a", at(0)));
        assert!(set.contains("c", at(0)));
        assert_eq!(set.purge(at(10)), 1);
        assert!(set.is_empty());
    }

    #[test]
    fn a_snapshot_keeps_the_later_time_of_a_repeated_session() {
        let at = Timestamp::from_secs;
        let set = RevokedSessions::new();
        set.replace([("a".to_owned(), at(50)), ("a".to_owned(), at(20))]);
        assert!(set.contains("a", at(49)));
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn a_poisoned_set_refuses_every_token() {
        let set = std::sync::Arc::new(RevokedSessions::new());
        let holder = std::sync::Arc::clone(&set);
        let panicked = std::thread::spawn(move || {
            let _guard = holder.entries.write();
            panic!("poison the lock");
        })
        .join();
        assert!(panicked.is_err());
        assert!(
            set.contains("never-revoked", Timestamp::from_secs(0)),
            "empty"
        );
        set.insert("a", Timestamp::from_secs(10));
        assert_eq!(set.len(), 1, "writes go on");
        assert!(
            set.contains("other", Timestamp::from_secs(0)),
            "fails closed"
        );
    }
}
