//! [`RemoteKeys`]: keeps [`TrustedKeys`] in step with a JWKS URL.
//!
//! Every fetch (first, background, on-demand) goes through one async gate,
//! so at most one request is in flight and callers that arrive meanwhile
//! wait for its result instead of starting their own. Fetches for an
//! unknown `kid` are further limited to one per `min_refetch_interval`,
//! counted from the start of the previous fetch of any kind: a flood of
//! tokens with random `kid`s costs the auth server at most one request per
//! interval. A failed fetch never removes keys already in force, but keys
//! not refreshed for longer than `max_stale` are no longer vouched for
//! ([`RemoteKeys::is_stale`]).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::fetch::Fetcher;
use crate::error::FetchError;
use crate::trusted_keys::TrustedKeys;
use tokenauth_jwt::Clock;

/// Refresh no more often than this, whatever `max-age` says.
const MIN_REFRESH_DELAY: Duration = Duration::from_secs(1);
/// Refresh at least this often, whatever `max-age` says.
const MAX_REFRESH_DELAY: Duration = Duration::from_secs(24 * 3600);

/// Timing settings of a [`RemoteKeys`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct RefreshPolicy {
    /// Least time between the start of two fetches caused by unknown `kid`s.
    pub(crate) min_refetch_interval: Duration,
    /// Lifetime of a JWKS whose response states none.
    pub(crate) default_max_age: Duration,
    /// How long after the last successful fetch the keys are still trusted.
    pub(crate) max_stale: Duration,
}

/// A JWKS URL, the keys it feeds and the refresh schedule.
pub(crate) struct RemoteKeys {
    fetcher: Fetcher,
    keys: Arc<TrustedKeys>,
    policy: RefreshPolicy,
    /// Start of the latest fetch attempt; held across the fetch itself.
    gate: tokio::sync::Mutex<Option<Instant>>,
    /// When the background task should fetch next.
    next_refresh: Mutex<Instant>,
    /// The verifier's clock, which also decides `max_stale`.
    clock: Arc<dyn Clock>,
    /// When the last fetch succeeded, Unix seconds by `clock`; `i64::MIN`
    /// before the first.
    refreshed_at: AtomicI64,
}

impl RemoteKeys {
    pub(crate) fn new(
        fetcher: Fetcher,
        keys: Arc<TrustedKeys>,
        policy: RefreshPolicy,
        clock: Arc<dyn Clock>,
    ) -> Self {
        RemoteKeys {
            fetcher,
            keys,
            policy,
            gate: tokio::sync::Mutex::new(None),
            next_refresh: Mutex::new(Instant::now()),
            clock,
            refreshed_at: AtomicI64::new(i64::MIN),
        }
    }

    /// Whether, at `now` (Unix seconds), the last successful fetch is more
    /// than `max_stale` ago: the keys may no longer be the server's (a key
    /// withdrawn meanwhile would still be in them), so tokens must not be
    /// accepted on their strength.
    pub(crate) fn is_stale(&self, now: i64) -> bool {
        let max_stale = i64::try_from(self.policy.max_stale.as_secs()).unwrap_or(i64::MAX);
        let refreshed_at = self.refreshed_at.load(Ordering::Acquire);
        now.saturating_sub(refreshed_at) > max_stale
    }

    /// The JWKS URL.
    pub(crate) fn url(&self) -> &str {
        self.fetcher.url().as_str()
    }

    /// When the next scheduled refresh is due.
    pub(crate) fn next_refresh(&self) -> Instant {
        *self
            .next_refresh
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves the next scheduled refresh to `at`.
    pub(crate) fn set_next_refresh(&self, at: Instant) {
        *self
            .next_refresh
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = at;
    }

    /// Fetches now (after any fetch in flight) and installs the keys.
    ///
    /// # Errors
    /// The fetch failure; the keys in force are then unchanged.
    pub(crate) async fn refresh(&self) -> Result<(), FetchError> {
        let mut last_attempt = self.gate.lock().await;
        self.fetch_locked(&mut last_attempt).await
    }

    /// Called when a token names a `kid` we do not have: fetches unless a
    /// fetch started less than `min_refetch_interval` ago (waiting for one
    /// in flight first). Failures are logged; the caller retries its check
    /// once either way.
    pub(crate) async fn refetch_for_unknown_kid(&self) {
        let mut last_attempt = self.gate.lock().await;
        if last_attempt.is_some_and(|at| at.elapsed() < self.policy.min_refetch_interval) {
            return;
        }
        if let Err(error) = self.fetch_locked(&mut last_attempt).await {
            tracing::warn!(
                url = self.url(),
                error = %crate::error::chain(&error),
                "JWKS refetch for an unknown kid failed; still using the cached keys"
            );
        }
    }

    async fn fetch_locked(&self, last_attempt: &mut Option<Instant>) -> Result<(), FetchError> {
        *last_attempt = Some(Instant::now());
        let fetched = self.fetcher.fetch().await?;
        self.keys.install(fetched.keys);
        self.refreshed_at
            .fetch_max(self.clock.now().as_secs(), Ordering::AcqRel);
        let lifetime = fetched.fresh_for.unwrap_or(self.policy.default_max_age);
        // Refresh well within max_stale too, so a reachable server never
        // lets the keys go stale.
        let delay = refresh_delay(lifetime).min(self.policy.max_stale / 2);
        self.set_next_refresh(Instant::now() + delay.max(MIN_REFRESH_DELAY));
        Ok(())
    }
}

/// When to refresh a JWKS that stays fresh for `lifetime`: a little before
/// it goes stale (at 90 %), within [1 s, 24 h].
pub(crate) fn refresh_delay(lifetime: Duration) -> Duration {
    (lifetime / 10 * 9).clamp(MIN_REFRESH_DELAY, MAX_REFRESH_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_delay_is_bounded() {
        let secs = Duration::from_secs;
        assert_eq!(refresh_delay(secs(300)), secs(270));
        assert_eq!(refresh_delay(secs(0)), secs(1));
        assert_eq!(refresh_delay(secs(10 * 24 * 3600)), secs(24 * 3600));
    }
}
