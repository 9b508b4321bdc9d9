//! Time as both token checks see it: one [`Clock`] trait and one [`Timestamp`] type, shared by the
//! auth server (which re-exports them as `tokenauth_core::clock`) and the verifier crate, so the
//! two read "now" the same way and tests control it in both. Passed in, never read from a global.
//!
//! Milliseconds, because the server's session and revocation bookkeeping needs them; JWT
//! `NumericDate`s are whole seconds ([`Timestamp::as_secs`], [`Timestamp::from_secs`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time, in milliseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The timestamp `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// The timestamp `secs` whole seconds after the epoch (saturating, never wraps).
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (rounded down), as JWT `NumericDate` wants them.
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// This instant moved forward by `duration` (saturating, never wraps).
    pub fn plus(self, duration: Duration) -> Self {
        Self(self.0.saturating_add(duration_millis(duration)))
    }

    /// This instant moved back by `duration` (saturating, never wraps).
    pub fn minus(self, duration: Duration) -> Self {
        Self(self.0.saturating_sub(duration_millis(duration)))
    }

    /// The time from `earlier` to `self`, zero when `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }
}

fn duration_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Where a token check (and the domain around it) reads the current time.
///
/// Any `Fn() -> i64 + Send + Sync + 'static` closure is a `Clock` that returns whole Unix
/// **seconds** (the unit of JWT `NumericDate`s), so a test of the verifier can pass
/// `move || now.load(Ordering::SeqCst)`.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

impl<F> Clock for F
where
    F: Fn() -> i64 + Send + Sync + 'static,
{
    fn now(&self) -> Timestamp {
        Timestamp::from_secs(self())
    }
}

/// The system's wall clock; the default. Times before the epoch come out negative.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(since) => Timestamp(duration_millis(since)),
            Err(before) => Timestamp(duration_millis(before.duration()).saturating_neg()),
        }
    }
}

/// A clock that only moves when told to; for tests of expiry, grace windows and key rotation.
///
/// Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    millis: Arc<AtomicI64>,
}

impl ManualClock {
    /// A manual clock set to the current system time.
    pub fn starting_now() -> Self {
        Self::at(SystemClock.now())
    }

    /// A manual clock set to `at`.
    pub fn at(at: Timestamp) -> Self {
        Self {
            millis: Arc::new(AtomicI64::new(at.as_millis())),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.millis.fetch_add(duration_millis(by), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.millis.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced_and_clones_share_time() {
        let clock = ManualClock::at(Timestamp::from_millis(1_000));
        let other = clock.clone();
        clock.advance(Duration::from_secs(2));
        assert_eq!(other.now(), Timestamp::from_millis(3_000));
        assert_eq!(other.now().as_secs(), 3);
    }

    #[test]
    fn system_clock_is_recent_and_closures_are_clocks_of_seconds() {
        assert!(SystemClock.now().as_secs() > 1_700_000_000);
        let fixed = || 42;
        assert_eq!(fixed.now().as_secs(), 42);
        assert_eq!(fixed.now(), Timestamp::from_millis(42_000));
    }

    #[test]
    fn arithmetic_saturates() {
        let end = Timestamp::from_millis(i64::MAX - 1).plus(Duration::from_secs(10));
        assert_eq!(end.as_millis(), i64::MAX);
        assert_eq!(Timestamp::from_millis(0).since(end), Duration::ZERO);
        assert_eq!(Timestamp::from_secs(i64::MIN).as_millis(), i64::MIN);
    }
}
