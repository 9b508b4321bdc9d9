//! Revoked sessions: the set a [`crate::Verifier`] checks every token's
//! `sid` against, and the subscription to the auth server's revocation feed
//! that fills it.
//!
//! The check is local (a hash lookup under a read lock, skipped entirely
//! while the set is empty); the feed runs in the background, so no request
//! ever waits on the network for it.

pub(crate) mod feed;

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicUsize, Ordering};

type Map = HashMap<Box<str>, i64, foldhash::fast::RandomState>;

/// Session ids whose access tokens must be refused, each until the latest
/// time one of its tokens could still be accepted.
///
/// Filled by the revocation feed (see
/// [`crate::VerifierBuilder::revocation_feed`]); an application that learns
/// of revocations another way may fill one itself and pass it to
/// [`crate::VerifierBuilder::revoked_sessions`].
#[derive(Debug, Default)]
pub struct RevokedSessions {
    entries: RwLock<Map>,
    /// Mirror of `entries.len()`, read without the lock so the common case
    /// (nothing revoked) costs one atomic load.
    len: AtomicUsize,
}

impl RevokedSessions {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Refuses tokens of session `sid` until `forget_after` (Unix seconds);
    /// a later time given for the same session wins.
    pub fn insert(&self, sid: &str, forget_after: i64) {
        self.write(|entries| {
            let until = entries.entry(sid.into()).or_insert(forget_after);
            *until = (*until).max(forget_after);
        });
    }

    /// Replaces the whole set with `entries` (a snapshot).
    pub fn replace(&self, entries: impl IntoIterator<Item = (String, i64)>) {
        let mut fresh = Map::default();
        for (sid, until) in entries {
            let slot = fresh.entry(sid.into_boxed_str()).or_insert(until);
            *slot = (*slot).max(until);
        }
        self.write(|current| *current = fresh);
    }

    /// Whether tokens of session `sid` are refused at `now` (Unix seconds).
    #[must_use]
    pub fn contains(&self, sid: &str, now: i64) -> bool {
        if self.len.load(Ordering::Acquire) == 0 {
            return false;
        }
        // Every update is a whole insert, replace or retain, so a set whose
        // writer panicked is still a consistent set.
        let entries = match self.entries.read() {
            Ok(entries) => entries,
            Err(poisoned) => poisoned.into_inner(),
        };
        entries.get(sid).is_some_and(|until| now < *until)
    }

    /// Forgets sessions whose tokens have all expired at `now`; returns how
    /// many were forgotten.
    pub fn purge(&self, now: i64) -> usize {
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

    fn write(&self, change: impl FnOnce(&mut Map)) {
        let mut entries = match self.entries.write() {
            Ok(entries) => entries,
            Err(poisoned) => poisoned.into_inner(),
        };
        change(&mut entries);
        self.len.store(entries.len(), Ordering::Release);
        metrics::gauge!("tokenauth_verifier_revoked_sessions").set(entries.len() as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_purge() {
        let set = RevokedSessions::new();
        assert!(!set.contains("a", 0));
        set.insert("a", 100);
        set.insert("b", 50);
        set.insert("a", 80); // the later time wins
        assert!(set.contains("a", 99));
        assert!(!set.contains("a", 100));
        assert!(set.contains("b", 49));
        assert_eq!(set.len(), 2);
        assert_eq!(set.purge(60), 1);
        assert_eq!(set.len(), 1);
        set.replace([("c".to_owned(), 10)]);
        assert!(!set.contains("a", 0));
        assert!(set.contains("c", 0));
        assert_eq!(set.purge(10), 1);
        assert!(set.is_empty());
    }
}
