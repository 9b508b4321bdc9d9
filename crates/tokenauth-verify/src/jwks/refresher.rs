//! The background task that refreshes a [`RemoteKeys`] before its JWKS goes
//! stale, and retries with backoff while the server is unreachable.
//!
//! The task holds only a `Weak` reference and a stop channel whose sender
//! lives in the verifier: when the last verifier clone is dropped, the task
//! ends at once (or, if a fetch is in flight, right after it).

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::remote::RemoteKeys;

/// Longest wait between two retries of a failing refresh.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Starts the refresher of `remote` on the current tokio runtime. Dropping
/// the returned sender stops it.
pub(crate) fn spawn(remote: &Arc<RemoteKeys>) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel();
    tokio::spawn(run(Arc::downgrade(remote), stopped));
    stop
}

async fn run(remote: Weak<RemoteKeys>, mut stopped: oneshot::Receiver<()>) {
    let mut failures: u32 = 0;
    loop {
        let Some(due) = remote.upgrade().map(|r| r.next_refresh()) else {
            return;
        };
        tokio::select! {
            () = tokio::time::sleep_until(due) => {}
            _ = &mut stopped => return,
        }
        let Some(remote) = remote.upgrade() else {
            return;
        };
        if Instant::now() < remote.next_refresh() {
            continue; // an on-demand fetch moved the schedule
        }
        match remote.refresh().await {
            Ok(()) => {
                if failures > 0 {
                    tracing::info!(url = remote.url(), "JWKS refresh succeeded again");
                }
                failures = 0;
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                let retry_in = backoff(failures);
                tracing::warn!(
                    url = remote.url(),
                    error = %crate::error::chain(&error),
                    failures,
                    retry_in_secs = retry_in.as_secs(),
                    "JWKS refresh failed; still using the cached keys"
                );
                remote.set_next_refresh(Instant::now() + retry_in);
            }
        }
    }
}

/// 1 s, 2 s, 4 s, ... up to [`MAX_BACKOFF`], after `failures` ≥ 1 failures.
fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    Duration::from_secs(1u64 << exponent).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_then_caps() {
        let secs: Vec<u64> = (1..=8).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }
}
