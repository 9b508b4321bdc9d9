//! The revocation feed as the service serves it: pages of revoked sessions and withdrawn
//! signing keys after a cursor, a full snapshot when a cursor cannot be continued, and the instance's own follower that keeps
//! its in-memory revoked set in step with revocations made by other instances or processes.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use tokio::sync::watch;

use crate::clock::Timestamp;
use crate::error::AuthError;
use crate::service::AuthService;
use crate::session::RevokedSession;
use crate::store::{FeedPosition, FeedSubject};

/// Most entries in one page of the feed; a full page tells the reader to ask again at once.
pub const FEED_PAGE_LIMIT: u32 = 1000;

/// How long feed events are kept. A reader cut off for longer starts again from a snapshot.
/// Far longer than any access-token lifetime, so purging never loses a live revocation.
pub const FEED_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// The largest clock leeway a reader may allow (the verifier crate's limit): a snapshot covers
/// sessions whose tokens such a reader could still accept.
const MAX_READER_LEEWAY: Duration = Duration::from_secs(300);

/// Feed events deleted per purge transaction.
const FEED_PURGE_BATCH: u32 = 1000;

/// A reader's position in one database's feed: its epoch and the last `seq` it has applied.
/// Written as `EPOCH.SEQ`, e.g. `3f9a1c2b4d5e6f70.42`; opaque to readers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedCursor {
    epoch: String,
    seq: u64,
}

impl FeedCursor {
    fn at(position: &FeedPosition, seq: u64) -> Self {
        Self {
            epoch: position.epoch.clone(),
            seq,
        }
    }

    /// Whether the events after this cursor are all still in `position`'s feed.
    fn continues(&self, position: &FeedPosition) -> bool {
        self.epoch == position.epoch
            && self.seq >= position.purged_through
            && self.seq <= position.head
    }
}

impl fmt::Display for FeedCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.epoch, self.seq)
    }
}

/// A cursor that is not `EPOCH.SEQ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a feed cursor is 16 hex digits, a dot and a sequence number")]
pub struct InvalidCursor;

impl FromStr for FeedCursor {
    type Err = InvalidCursor;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (epoch, seq) = text.split_once('.').ok_or(InvalidCursor)?;
        let epoch_ok = epoch.len() == 16
            && epoch
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        let seq_ok = !seq.is_empty() && seq.len() <= 20 && seq.bytes().all(|b| b.is_ascii_digit());
        if !epoch_ok || !seq_ok {
            return Err(InvalidCursor);
        }
        let seq = seq.parse().map_err(|_| InvalidCursor)?;
        Ok(Self {
            epoch: epoch.to_owned(),
            seq,
        })
    }
}

/// One withdrawn signing key, as the feed publishes it: a reader that trusts this `kid` (from
/// a cached JWKS) must stop at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawnKey {
    /// The key's id (`kid` of the tokens it signed).
    pub kid: String,
    /// When it was withdrawn.
    pub withdrawn_at: Timestamp,
}

/// One answer of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPage {
    /// Where the reader continues from.
    pub cursor: FeedCursor,
    /// True: `revocations` is a full snapshot of the sessions whose tokens may still be alive,
    /// and replaces whatever the reader held. False: new revocations to add.
    pub reset: bool,
    /// The revocations, oldest first.
    pub revocations: Vec<RevokedSession>,
    /// The signing keys withdrawn after the cursor, oldest first; in a snapshot, every
    /// withdrawal the feed still holds.
    pub withdrawn_keys: Vec<WithdrawnKey>,
    /// More events are already waiting: ask again at once.
    pub more: bool,
}

/// The service's own place in the feed and the signal readers wait on.
#[derive(Debug)]
pub(crate) struct FeedFollower {
    /// Last position applied to the in-memory revoked set; `None` before the first sync.
    applied: tokio::sync::Mutex<Option<FeedCursor>>,
    /// The highest `seq` applied, published to long-polling readers.
    head: watch::Sender<u64>,
    /// Woken by a revocation made through this instance, so it is synced at once.
    nudge: tokio::sync::Notify,
    /// The store's signal of revocations made by other processes, if it has one.
    store_signal: Option<std::sync::Arc<tokio::sync::Notify>>,
}

impl FeedFollower {
    pub(crate) fn new(store_signal: Option<std::sync::Arc<tokio::sync::Notify>>) -> Self {
        Self {
            applied: tokio::sync::Mutex::new(None),
            head: watch::Sender::new(0),
            nudge: tokio::sync::Notify::new(),
            store_signal,
        }
    }
}

impl AuthService {
    /// The feed after `after`: the events that follow it, or a full snapshot (`reset`) when
    /// there is no cursor or it cannot be continued (another database, purged history, or a
    /// position this feed never reached).
    ///
    /// # Errors
    /// Store failures.
    pub async fn revocation_feed(&self, after: Option<&FeedCursor>) -> Result<FeedPage, AuthError> {
        let position = self.store.revocation_feed_position().await?;
        match after {
            Some(cursor) if cursor.continues(&position) => {
                let events = self
                    .store
                    .feed_events_after(cursor.seq, FEED_PAGE_LIMIT)
                    .await?;
                let seq = events.last().map_or(cursor.seq, |event| event.seq);
                let more = events.len() >= FEED_PAGE_LIMIT as usize;
                let mut revocations = Vec::new();
                let mut withdrawn_keys = Vec::new();
                for event in events {
                    match event.subject {
                        FeedSubject::Session(session) => {
                            revocations.push(RevokedSession {
                                session,
                                revoked_at: event.revoked_at,
                                alive_until: event.alive_until,
                            });
                        }
                        FeedSubject::SigningKey(kid) => withdrawn_keys.push(WithdrawnKey {
                            kid,
                            withdrawn_at: event.revoked_at,
                        }),
                    }
                }
                Ok(FeedPage {
                    cursor: FeedCursor::at(&position, seq),
                    reset: false,
                    more,
                    revocations,
                    withdrawn_keys,
                })
            }
            _ => self.revocation_snapshot(&position).await,
        }
    }

    /// Every session whose access tokens may still be alive, with a cursor at `position`'s head.
    /// The head was read before the sessions: a revocation committed in between appears in the
    /// snapshot and again as an event after the cursor, which is harmless; none is lost.
    async fn revocation_snapshot(&self, position: &FeedPosition) -> Result<FeedPage, AuthError> {
        let alive_at = self.clock.now().minus(MAX_READER_LEEWAY);
        let revocations = self.store.revoked_sessions_alive_at(alive_at).await?;
        let withdrawn_keys = self
            .store
            .key_withdrawals_since(Timestamp::from_millis(0))
            .await?
            .into_iter()
            .map(|(kid, withdrawn_at)| WithdrawnKey { kid, withdrawn_at })
            .collect();
        Ok(FeedPage {
            cursor: FeedCursor::at(position, position.head),
            reset: true,
            revocations,
            withdrawn_keys,
            more: false,
        })
    }

    /// A receiver of the highest feed `seq` this instance has applied; it changes after every
    /// [`AuthService::follow_revocation_feed`] that found something new. Long-polling readers
    /// wait on it.
    pub fn revocation_feed_head(&self) -> watch::Receiver<u64> {
        self.feed.head.subscribe()
    }

    /// Waits until a revocation is made through this instance, the store signals one made
    /// elsewhere, or `timeout` passes: the follower's cue to sync at once rather than at its
    /// next poll.
    pub async fn revocation_made(&self, timeout: Duration) {
        let elsewhere = async {
            match &self.feed.store_signal {
                Some(signal) => signal.notified().await,
                None => std::future::pending().await,
            }
        };
        let _ = tokio::time::timeout(timeout, async {
            tokio::select! {
                () = self.feed.nudge.notified() => {}
                () = elsewhere => {}
            }
        })
        .await;
    }

    /// Brings the in-memory revoked set up to date with the feed: revocations made by other
    /// instances (or by the CLI) reach this instance's `/v1/verify`, `/v1/me` and introspection.
    /// Returns how many revocations were applied.
    ///
    /// # Errors
    /// Store failures; the set keeps what it had.
    pub async fn follow_revocation_feed(&self) -> Result<usize, AuthError> {
        let mut applied = self.feed.applied.lock().await;
        let mut total = 0;
        loop {
            let page = self.revocation_feed(applied.as_ref()).await?;
            let now = self.clock.now();
            for revoked in &page.revocations {
                self.remember_revoked_until_expiry(revoked);
            }
            total += page.revocations.len();
            let seq = page.cursor.seq;
            *applied = Some(page.cursor);
            self.feed.head.send_if_modified(|head| {
                let changed = *head != seq;
                *head = seq;
                changed
            });
            if !page.more {
                self.revoked.purge(now);
                return Ok(total);
            }
        }
    }

    /// Signals the follower that a revocation was just made here.
    pub(crate) fn nudge_revocation_follower(&self) {
        self.feed.nudge.notify_one();
    }

    /// Deletes feed events older than [`FEED_RETENTION`], at most `max_batches` batches;
    /// returns how many. Never one whose session's access tokens may still be alive by the
    /// expiry stored with the event (plus the largest reader leeway), whatever today's
    /// `access_token_ttl`: the sessions of a deleted user are known as revoked only from the
    /// feed.
    ///
    /// # Errors
    /// Store failures (what was deleted before stays deleted).
    pub async fn purge_revocation_feed(&self, max_batches: u32) -> Result<u64, AuthError> {
        let now = self.clock.now();
        let revoked_before = now.minus(FEED_RETENTION);
        let alive_before = now.minus(MAX_READER_LEEWAY);
        let mut total = 0;
        for _ in 0..max_batches {
            let deleted = self
                .store
                .purge_revocations(revoked_before, alive_before, FEED_PURGE_BATCH)
                .await?;
            total += deleted;
            if deleted < u64::from(FEED_PURGE_BATCH) {
                break;
            }
        }
        Ok(total)
    }

    /// How many revoked sessions this instance holds in memory.
    pub fn revoked_sessions_in_memory(&self) -> usize {
        self.revoked.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor: FeedCursor = "0123456789abcdef.42".parse().expect("valid");
        assert_eq!(cursor.to_string(), "0123456789abcdef.42");
        for bad in [
            "",
            ".",
            "0123456789abcdef",
            "0123456789abcdef.",
            "0123456789ABCDEF.1",
            "0123456789abcde.1",
            "0123456789abcdef.-1",
            "0123456789abcdef.+1",
            "0123456789abcdef.1.2",
            "0123456789abcdef.99999999999999999999",
            "0123456789abcdef.000000000000000000001",
        ] {
            assert_eq!(bad.parse::<FeedCursor>(), Err(InvalidCursor), "{bad:?}");
        }
    }

    #[test]
    fn a_cursor_continues_only_its_own_retained_feed() {
        let position = FeedPosition {
            epoch: "0123456789abcdef".into(),
            head: 10,
            purged_through: 4,
        };
        let at = |text: &str| text.parse::<FeedCursor>().expect("valid");
        assert!(at("0123456789abcdef.4").continues(&position));
        assert!(at("0123456789abcdef.10").continues(&position));
        assert!(!at("0123456789abcdef.3").continues(&position), "purged");
        assert!(!at("0123456789abcdef.11").continues(&position), "ahead");
        assert!(!at("fedcba9876543210.5").continues(&position), "foreign");
    }
}
