//! [`Clock`]: where a verifier reads "now" for `exp`/`nbf`, so tests can
//! control time.

use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time in whole seconds since the Unix epoch.
///
/// Any `Fn() -> i64 + Send + Sync + 'static` closure is a `Clock`, so a test
/// can pass `move || now.load(Ordering::SeqCst)`.
pub trait Clock: Send + Sync + 'static {
    /// Seconds since 1970-01-01T00:00:00Z (may be negative before it).
    fn now_secs(&self) -> i64;
}

/// The system wall clock; the default.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_secs(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
        }
    }
}

impl<F> Clock for F
where
    F: Fn() -> i64 + Send + Sync + 'static,
{
    fn now_secs(&self) -> i64 {
        self()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_is_recent_and_closures_are_clocks() {
        assert!(SystemClock.now_secs() > 1_700_000_000);
        let fixed = || 42;
        assert_eq!(fixed.now_secs(), 42);
    }
}
