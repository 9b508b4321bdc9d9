//! The abuse-protection settings: the per-account login lock-out (shared through the database)
//! and the per-client-IP rate limits (per instance), with the proxies trusted to name clients.

use std::num::NonZeroU32;
use std::time::Duration;

use tokenauth_core::throttle::LockoutPolicy;

use super::parse::text;
use super::{
    ConfigError, Layer, RawValue, invalid, parse_duration, require_at_least, require_at_most,
};
use crate::http::client_ip::TrustedProxies;
use crate::http::rate_limit::{Rate, RateLimits, parse_rate_setting};

/// Most consecutive failures `login_max_failures` may allow.
const MAX_LOGIN_FAILURES: u32 = 1000;

/// The default rates: far above what one person, or an office behind one address, sends; below
/// what one address would need to monopolise the password hasher (login, sign-up). Refresh
/// costs no hash and its tokens cannot be guessed: its limit only stops one address from
/// flooding the database, and stays above the load benchmark's rate from one address.
const DEFAULT_LOGIN_RATE: Rate = Rate::per_second(nonzero(10));
const DEFAULT_SIGNUP_RATE: Rate = Rate::per_minute(nonzero(60));
const DEFAULT_REFRESH_RATE: Rate = Rate::per_second(nonzero(10_000));

/// `n` as a `NonZeroU32`, for constants: a zero fails the build, never a run.
const fn nonzero(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(n) => n,
        None => panic!("a default rate must not be zero"),
    }
}

/// Lock-out and rate-limit settings, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttling {
    /// Consecutive failed logins for one email that lock it out; 0 turns the lock-out off.
    pub login_max_failures: u32,
    /// The longest lock-out (the first is 30 s, doubling per further failure).
    pub login_lockout_max: Duration,
    /// Per-IP rate of `POST /v1/login`; `None` for no limit.
    pub rate_limit_login: Option<Rate>,
    /// Per-IP rate of `POST /v1/signup`; `None` for no limit.
    pub rate_limit_signup: Option<Rate>,
    /// Per-IP rate of `POST /v1/refresh`; `None` for no limit.
    pub rate_limit_refresh: Option<Rate>,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
}

impl Throttling {
    /// Takes this group's settings out of `raw` and validates them, filling in defaults.
    pub(super) fn take(raw: &mut Layer) -> Result<Self, ConfigError> {
        let defaults = LockoutPolicy::default();
        let login_max_failures = match text(raw, "login_max_failures")? {
            None => defaults.max_failures,
            Some(t) => t
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= MAX_LOGIN_FAILURES)
                .ok_or_else(|| {
                    invalid(
                        "login_max_failures",
                        format!("{t:?} is not a whole number from 0 (off) to {MAX_LOGIN_FAILURES}"),
                    )
                })?,
        };
        let login_lockout_max = match text(raw, "login_lockout_max")? {
            None => defaults.max_lockout,
            Some(t) => parse_duration(&t).map_err(|e| invalid("login_lockout_max", e))?,
        };
        require_at_least(
            "login_lockout_max",
            login_lockout_max,
            Duration::from_secs(1),
        )?;
        require_at_most(
            "login_lockout_max",
            login_lockout_max,
            Duration::from_secs(86_400),
        )?;
        let rate = |raw: &mut Layer, name: &'static str, default: Option<Rate>| {
            text(raw, name)?.map_or(Ok(default), |t| {
                parse_rate_setting(&t).map_err(|e| invalid(name, e))
            })
        };
        let rate_limit_login = rate(raw, "rate_limit_login", Some(DEFAULT_LOGIN_RATE))?;
        let rate_limit_signup = rate(raw, "rate_limit_signup", Some(DEFAULT_SIGNUP_RATE))?;
        let rate_limit_refresh = rate(raw, "rate_limit_refresh", Some(DEFAULT_REFRESH_RATE))?;
        let proxies = raw
            .remove("trusted_proxies")
            .map(RawValue::into_list)
            .unwrap_or_default();
        let trusted_proxies =
            TrustedProxies::parse(&proxies).map_err(|e| invalid("trusted_proxies", e))?;
        Ok(Self {
            login_max_failures,
            login_lockout_max,
            rate_limit_login,
            rate_limit_signup,
            rate_limit_refresh,
            trusted_proxies,
        })
    }

    /// The lock-out policy the login service applies.
    pub fn lockout_policy(&self) -> LockoutPolicy {
        LockoutPolicy {
            max_failures: self.login_max_failures,
            max_lockout: self.login_lockout_max,
            ..LockoutPolicy::default()
        }
    }

    /// Fresh, empty buckets at the configured rates.
    pub fn rate_limits(&self) -> RateLimits {
        RateLimits::new(
            self.rate_limit_login,
            self.rate_limit_signup,
            self.rate_limit_refresh,
        )
    }
}
