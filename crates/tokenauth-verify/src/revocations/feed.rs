//! The subscription to the auth server's revocation feed
//! (`GET /v1/revocations`): a long-poll loop that resumes from its cursor
//! after any interruption, so a reconnect loses nothing, and takes a full
//! snapshot whenever the server says the cursor cannot be continued.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::ACCEPT;
use reqwest::{Client, Url};
use serde::Deserialize;
use tokenauth_jwt::{Clock, RevokedSessions, Timestamp};
use tokio::sync::oneshot;
use zeroize::Zeroizing;

use super::report_size;
use crate::error::FetchError;
use crate::trusted_keys::TrustedKeys;

/// Largest feed answer accepted (a snapshot of ~100 k revoked sessions).
const MAX_FEED_BYTES: usize = 32 << 20;
/// First wait after a failed poll; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between two attempts while the server is unreachable.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How to reach the feed: its URL, the API client credentials it requires,
/// and how long the server may hold an empty answer.
pub(crate) struct FeedSource {
    client: Client,
    url: Url,
    client_id: String,
    client_secret: Zeroizing<String>,
    wait: Duration,
    http_timeout: Duration,
}

/// One answer of the feed, as the server sends it.
#[derive(Debug, Deserialize)]
struct FeedBody {
    cursor: String,
    reset: bool,
    #[serde(default)]
    more: bool,
    revocations: Vec<RevocationBody>,
    /// Absent from servers that predate key withdrawals on the feed.
    #[serde(default)]
    withdrawn_keys: Vec<WithdrawnKeyBody>,
}

#[derive(Debug, Deserialize)]
struct WithdrawnKeyBody {
    kid: String,
}

#[derive(Debug, Deserialize)]
struct RevocationBody {
    sid: String,
    revoked_at_ms: i64,
    alive_until_ms: i64,
}

/// What the subscription has done so far, for health checks and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FeedStatus {
    /// The last poll succeeded.
    pub connected: bool,
    /// Revoked sessions held in memory now.
    pub revoked_sessions: usize,
    /// Revocations applied from the feed since start (snapshots included).
    pub applied: u64,
    /// Time from the revocation to this verifier applying it, for the last
    /// revocation that arrived as an event (not in a snapshot).
    pub last_lag: Option<Duration>,
    /// Snapshots taken (the first one included).
    pub snapshots: u64,
}

/// The state shared by the background task and the verifier.
#[derive(Debug, Default)]
pub(crate) struct FeedState {
    connected: AtomicBool,
    applied: AtomicU64,
    snapshots: AtomicU64,
    last_lag_ms: AtomicU64,
    has_lag: AtomicBool,
    cursor: Mutex<Option<String>>,
}

impl FeedState {
    pub(crate) fn status(&self, set: &RevokedSessions) -> FeedStatus {
        FeedStatus {
            connected: self.connected.load(Ordering::Acquire),
            revoked_sessions: set.len(),
            applied: self.applied.load(Ordering::Acquire),
            last_lag: self
                .has_lag
                .load(Ordering::Acquire)
                .then(|| Duration::from_millis(self.last_lag_ms.load(Ordering::Acquire))),
            snapshots: self.snapshots.load(Ordering::Acquire),
        }
    }

    fn cursor(&self) -> Option<String> {
        self.cursor.lock().map_or(None, |c| c.clone())
    }

    fn set_cursor(&self, cursor: String) {
        if let Ok(mut slot) = self.cursor.lock() {
            *slot = Some(cursor);
        }
    }
}

impl FeedSource {
    pub(crate) fn new(
        client: Client,
        url: Url,
        client_id: String,
        client_secret: Zeroizing<String>,
        wait: Duration,
        http_timeout: Duration,
    ) -> Self {
        Self {
            client,
            url,
            client_id,
            client_secret,
            wait,
            http_timeout,
        }
    }

    /// One request: the page after `cursor` (a snapshot without one),
    /// held by the server up to `wait` when there is nothing new.
    async fn poll(&self, cursor: Option<&str>, wait: Duration) -> Result<FeedBody, FetchError> {
        let mut url = self.url.clone();
        {
            let mut query = url.query_pairs_mut();
            if let Some(cursor) = cursor {
                query.append_pair("after", cursor);
            }
            query.append_pair("wait", &wait.as_secs().to_string());
        }
        let response = self
            .client
            .get(url)
            .header(ACCEPT, "application/json")
            .basic_auth(&self.client_id, Some(self.client_secret.as_str()))
            .timeout(wait + self.http_timeout)
            .send()
            .await
            .map_err(FetchError::Http)?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        let body = crate::jwks::fetch::read_limited(response, MAX_FEED_BYTES).await?;
        serde_json::from_slice(&body).map_err(|_| FetchError::Document("revocation feed"))
    }

    /// Polls until the server has nothing more to send right now, applying
    /// each page: the first sync at build time.
    pub(crate) async fn sync(
        &self,
        state: &FeedState,
        set: &RevokedSessions,
        keys: &TrustedKeys,
        leeway_secs: i64,
        clock: &dyn Clock,
    ) -> Result<(), FetchError> {
        loop {
            let page = self.poll(state.cursor().as_deref(), Duration::ZERO).await?;
            let more = page.more;
            apply(page, state, set, keys, leeway_secs, clock.now());
            if !more {
                return Ok(());
            }
        }
    }
}

/// Applies one page to the set (and its key withdrawals to `keys`) and
/// records its cursor and lag; `now` is the verifier's clock, which decides
/// what has expired.
fn apply(
    page: FeedBody,
    state: &FeedState,
    set: &RevokedSessions,
    keys: &TrustedKeys,
    leeway_secs: i64,
    now: Timestamp,
) {
    if !page.withdrawn_keys.is_empty() {
        keys.withdraw(page.withdrawn_keys.iter().map(|key| key.kid.as_str()));
    }
    let now_ms = unix_millis();
    // The first whole second after the last token's expiry, plus the leeway.
    let forget_after = |r: &RevocationBody| {
        let secs = r.alive_until_ms.div_euclid(1000).saturating_add(1);
        Timestamp::from_secs(secs.saturating_add(leeway_secs))
    };
    let count = page.revocations.len() as u64;
    if page.reset {
        set.replace(
            page.revocations
                .iter()
                .map(|r| (r.sid.clone(), forget_after(r))),
        );
        state.snapshots.fetch_add(1, Ordering::AcqRel);
    } else {
        for revoked in &page.revocations {
            set.insert(&revoked.sid, forget_after(revoked));
            let lag_ms = u64::try_from(now_ms.saturating_sub(revoked.revoked_at_ms)).unwrap_or(0);
            metrics::histogram!("tokenauth_revocation_feed_lag_seconds")
                .record(lag_ms as f64 / 1000.0);
            state.last_lag_ms.store(lag_ms, Ordering::Release);
            state.has_lag.store(true, Ordering::Release);
        }
    }
    state.applied.fetch_add(count, Ordering::AcqRel);
    state.connected.store(true, Ordering::Release);
    state.set_cursor(page.cursor);
    set.purge(now);
    report_size(set);
}

/// Starts the long-poll loop on the current tokio runtime. Dropping the
/// returned sender (with the last verifier clone) stops it.
pub(crate) fn spawn(
    source: FeedSource,
    state: &Arc<FeedState>,
    set: &Arc<RevokedSessions>,
    keys: &Arc<TrustedKeys>,
    leeway_secs: i64,
    clock: Arc<dyn Clock>,
) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel();
    let subscription = Subscription {
        source,
        state: Arc::downgrade(state),
        set: Arc::downgrade(set),
        keys: Arc::downgrade(keys),
        leeway_secs,
        clock,
    };
    tokio::spawn(subscription.run(stopped));
    stop
}

/// The background task's view: weak references, so it ends with the verifier.
struct Subscription {
    source: FeedSource,
    state: Weak<FeedState>,
    set: Weak<RevokedSessions>,
    keys: Weak<TrustedKeys>,
    leeway_secs: i64,
    clock: Arc<dyn Clock>,
}

impl Subscription {
    async fn run(self, mut stopped: oneshot::Receiver<()>) {
        let Subscription {
            source,
            state,
            set,
            keys,
            leeway_secs,
            clock,
        } = self;
        let mut backoff = FIRST_BACKOFF;
        loop {
            let Some(cursor) = state.upgrade().map(|s| s.cursor()) else {
                return;
            };
            let polled = tokio::select! {
                polled = source.poll(cursor.as_deref(), source.wait) => polled,
                _ = &mut stopped => return,
            };
            let (Some(state), Some(set), Some(keys)) =
                (state.upgrade(), set.upgrade(), keys.upgrade())
            else {
                return;
            };
            match polled {
                Ok(page) => {
                    if !state.connected.load(Ordering::Acquire) {
                        tracing::info!(url = %source.url, "revocation feed connected");
                    }
                    apply(page, &state, &set, &keys, leeway_secs, clock.now());
                    backoff = FIRST_BACKOFF;
                }
                Err(error) => {
                    if state.connected.swap(false, Ordering::AcqRel) {
                        tracing::warn!(
                            url = %source.url,
                            error = %crate::error::chain(&error),
                            "revocation feed lost; retrying, revocations already known stay in force"
                        );
                    }
                    set.purge(clock.now());
                    report_size(&set);
                    drop((state, set, keys));
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = &mut stopped => return,
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}
