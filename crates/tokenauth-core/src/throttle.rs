//! Per-account login throttling: the key failed logins are counted under, and the policy that
//! turns a count into a lock-out.
//!
//! Failures are counted per *presented* email, whether or not an account has it, so a lock-out
//! tells nobody which emails exist. Only a SHA-256 of the normalised email is stored.

use std::fmt;
use std::time::Duration;

use aws_lc_rs::digest;

use crate::clock::Timestamp;
use crate::user::Email;

/// The first lock-out lasts this long; each further failure doubles it, up to the policy's cap.
pub const FIRST_LOCKOUT: Duration = Duration::from_secs(30);

/// How long failures are remembered: a count is forgotten this long after its last failure or
/// the end of its last lock-out, whichever is later.
pub const FAILURE_MEMORY: Duration = Duration::from_secs(15 * 60);

/// What failed logins are counted under: the SHA-256 of the normalised email.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ThrottleKey([u8; 32]);

impl ThrottleKey {
    /// The key of a well-formed email.
    pub fn for_email(email: &Email) -> Self {
        Self::hash(email.as_str())
    }

    /// The key of whatever was presented as an email at login: for a well-formed address the
    /// same as [`ThrottleKey::for_email`]; a malformed one (which no account can have) is
    /// trimmed and lower-cased the same way, so it is counted like any unknown email.
    pub fn for_presented(raw: &str) -> Self {
        match Email::parse(raw) {
            Ok(email) => Self::for_email(&email),
            Err(_) => Self::hash(&raw.trim().to_lowercase()),
        }
    }

    /// Wraps 32 bytes read back from storage.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key's bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn hash(normalised: &str) -> Self {
        let digest = digest::digest(&digest::SHA256, normalised.as_bytes());
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        Self(bytes)
    }
}

impl fmt::Debug for ThrottleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ThrottleKey({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// When consecutive failures lock an account, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Consecutive failures that lock the account; 0 turns the lock-out off.
    pub max_failures: u32,
    /// The first lock-out; each further failure doubles it.
    pub first_lockout: Duration,
    /// The longest lock-out.
    pub max_lockout: Duration,
    /// How long a count is remembered after its last failure or the end of its last lock-out,
    /// whichever is later.
    pub memory: Duration,
}

impl LockoutPolicy {
    /// Whether failures are counted at all.
    pub fn enabled(&self) -> bool {
        self.max_failures > 0
    }

    /// The lock-out after `failures` consecutive failures: none below `max_failures`, then
    /// `first_lockout` doubled once per failure beyond it, never above `max_lockout`. Stores
    /// compute the same in SQL; this is the reference they are tested against.
    pub fn lockout_after(&self, failures: u64) -> Option<Duration> {
        let max = u64::from(self.max_failures);
        if max == 0 || failures < max {
            return None;
        }
        let doublings = u32::try_from((failures - max).min(u64::from(MAX_DOUBLINGS))).unwrap_or(0);
        let lockout = self.first_lockout.saturating_mul(1 << doublings);
        Some(lockout.min(self.max_lockout))
    }
}

/// Beyond this many doublings the cap has always been reached (2^30 × 30 s is decades); the
/// bound keeps the arithmetic in SQL from overflowing.
pub const MAX_DOUBLINGS: u32 = 30;

impl Default for LockoutPolicy {
    /// 5 failures, then 30 s doubling up to 15 minutes; forgotten 15 minutes after.
    fn default() -> Self {
        Self {
            max_failures: 5,
            first_lockout: FIRST_LOCKOUT,
            max_lockout: Duration::from_secs(15 * 60),
            memory: FAILURE_MEMORY,
        }
    }
}

/// The count of one key after a failure was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginFailures {
    /// Consecutive failures still remembered, this one included.
    pub failures: u64,
    /// The end of the lock-out now in force, if any.
    pub locked_until: Option<Timestamp>,
}

/// The answer to a reservation of one credential check ([`crate::store::ThrottleStore::reserve_attempt`]).
///
/// A reservation counts the attempt *before* it is checked, as a failure until a success takes
/// the count back, so concurrent checks can never outnumber the policy: once the count reaches
/// `max_failures` the reservation that reached it locks the key, and every later one is refused
/// until the lock-out ends, whatever password it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptReservation {
    /// The check may run. It is the `attempt`-th consecutive attempt still remembered (this one
    /// included, counted as failed until settled).
    Allowed {
        /// This attempt's number in the count, from 1.
        attempt: u64,
        /// The lock-out this attempt put in force by reaching the threshold (from the time of the
        /// reservation): concurrent attempts are refused meanwhile, and it stays if this attempt
        /// fails. `None` below the threshold.
        locks_until: Option<Timestamp>,
    },
    /// A lock-out is in force: the check must not run. Nothing was counted.
    Refused {
        /// When the lock-out ends.
        locked_until: Timestamp,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_email_share_a_key() {
        let a = ThrottleKey::for_presented("  Ada@Example.COM ");
        let b = ThrottleKey::for_email(&Email::parse("ada@example.com").expect("valid"));
        assert_eq!(a, b);
        assert_ne!(a, ThrottleKey::for_presented("bob@example.com"));
        assert_eq!(
            ThrottleKey::for_presented(" Not An Email "),
            ThrottleKey::for_presented("not an email")
        );
    }

    #[test]
    fn lockout_doubles_from_the_threshold_up_to_the_cap() {
        let policy = LockoutPolicy::default();
        assert_eq!(policy.lockout_after(4), None);
        let secs = |n| policy.lockout_after(n).map(|d| d.as_secs());
        assert_eq!(secs(5), Some(30));
        assert_eq!(secs(6), Some(60));
        assert_eq!(secs(7), Some(120));
        assert_eq!(secs(9), Some(480));
        assert_eq!(secs(10), Some(900), "capped at 15 minutes");
        assert_eq!(secs(u64::MAX), Some(900));
        let off = LockoutPolicy {
            max_failures: 0,
            ..policy
        };
        assert_eq!(off.lockout_after(1000), None);
    }
}
