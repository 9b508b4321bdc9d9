//! Sessions revoked while their access tokens may still be alive, kept in memory so that the
//! server's own endpoints reject those tokens without a database call per request.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::clock::Timestamp;
use crate::ids::SessionId;

/// Revoked session ids, each kept until the last access token of that session has expired.
#[derive(Debug, Default)]
pub struct RevokedSessions {
    entries: RwLock<HashMap<SessionId, Timestamp>>,
}

impl RevokedSessions {
    /// Remembers `session` as revoked until `forget_after` ([`RevokedSessions::purge`] forgets
    /// it after that), or until the later time it was already remembered to: an entry is
    /// only ever extended, never shortened.
    pub fn insert(&self, session: SessionId, forget_after: Timestamp) {
        if let Ok(mut entries) = self.entries.write() {
            let until = entries.entry(session).or_insert(forget_after);
            *until = (*until).max(forget_after);
        }
    }

    /// Whether `session` was revoked and its tokens could still be presented at `now`.
    pub fn contains(&self, session: SessionId, now: Timestamp) -> bool {
        self.entries
            .read()
            .map(|entries| entries.get(&session).is_some_and(|until| now < *until))
            // A poisoned lock means a panic elsewhere; fail closed.
            .unwrap_or(true)
    }

    /// Forgets entries whose tokens have all expired at `now`.
    pub fn purge(&self, now: Timestamp) {
        if let Ok(mut entries) = self.entries.write() {
            entries.retain(|_, until| now < *until);
        }
    }

    /// How many sessions are remembered.
    pub fn len(&self) -> usize {
        self.entries.read().map(|e| e.len()).unwrap_or(0)
    }

    /// Whether none are.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_extended_never_shortened() {
        let revoked = RevokedSessions::default();
        let session = SessionId::generate();
        let at = Timestamp::from_millis;
        revoked.insert(session, at(5_000));
        revoked.insert(session, at(2_000));
        assert!(revoked.contains(session, at(4_999)), "not shortened");
        revoked.insert(session, at(9_000));
        revoked.purge(at(6_000));
        assert!(revoked.contains(session, at(8_999)), "extended");
        assert!(!revoked.contains(session, at(9_000)));
        revoked.purge(at(9_000));
        assert!(revoked.is_empty());
    }
}
