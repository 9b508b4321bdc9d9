//! The abuse-protection settings: the per-account login lock-out (shared through the database)
//! and the per-client-IP rate limits (per instance), with the proxies trusted to name clients.

use std::time::Duration;

use tokenauth_core::throttle::LockoutPolicy;

use crate::http::client_ip::TrustedProxies;
use crate::http::rate_limit::{Rate, RateLimits};

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
