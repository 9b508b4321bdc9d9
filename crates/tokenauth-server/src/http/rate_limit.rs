//! Per-client-IP token buckets for sign-up, password checks (login, `POST /v1/password`,
//! `DELETE /v1/me`) and refresh, in this process's memory (each instance keeps its own; the
//! per-account lock-out of credential checks is the one shared through the database). An IPv6 client is keyed by its /64, the block one host normally holds, so
//! rotating through its own addresses gains it nothing.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use tokenauth_core::AuthError;

use crate::http::client_ip::ClientIp;
use crate::http::error::ApiError;

/// Most requests a rate may allow per period (and so the largest burst).
const MAX_COUNT: u32 = 1_000_000;

/// A rate: `count` requests per `period`, of which all `count` may come at once (the burst);
/// the bucket refills one request every `period / count`. Written `10/s`, `30/m`, `100/h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    count: NonZeroU32,
    period: Duration,
}

impl Rate {
    /// `count` per second.
    pub const fn per_second(count: NonZeroU32) -> Self {
        Self {
            count,
            period: Duration::from_secs(1),
        }
    }

    /// `count` per minute.
    pub const fn per_minute(count: NonZeroU32) -> Self {
        Self {
            count,
            period: Duration::from_secs(60),
        }
    }

    fn quota(self) -> Quota {
        let interval = self.period / self.count.get();
        Quota::with_period(interval.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(self.count))
            .allow_burst(self.count)
    }
}

impl FromStr for Rate {
    type Err = String;

    /// Parses `N/s`, `N/m` or `N/h` with N from 1 to 1,000,000.
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not a rate like 10/s, 30/m or 100/h (or off)");
        let (count, unit) = text.trim().split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let count = NonZeroU32::new(count)
            .filter(|count| count.get() <= MAX_COUNT)
            .ok_or_else(|| format!("{text:?}: the count must be from 1 to {MAX_COUNT}"))?;
        let period = match unit.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        Ok(Self { count, period })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period.as_secs() {
            60 => "m",
            3600 => "h",
            _ => "s",
        };
        write!(f, "{}/{unit}", self.count)
    }
}

/// A rate setting: a [`Rate`], or `off` (`None`).
///
/// # Errors
/// Anything else, in words.
pub fn parse_rate_setting(text: &str) -> Result<Option<Rate>, String> {
    match text.trim() {
        "off" => Ok(None),
        other => other.parse().map(Some),
    }
}

/// One bucket per client address for one kind of request.
pub struct IpRateLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl IpRateLimiter {
    /// Buckets that allow `rate` per client address.
    pub fn new(rate: Rate) -> Self {
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(rate.quota()),
            clock: DefaultClock::default(),
        }
    }

    /// Takes one request from `ip`'s bucket; when it is empty, how long until it is not.
    ///
    /// # Errors
    /// The wait, when the bucket is empty.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        self.limiter
            .check_key(&bucket_key(ip))
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets every bucket that has refilled completely (indistinguishable from a new one).
    pub fn forget_full_buckets(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// How many addresses have a bucket now.
    pub fn tracked(&self) -> usize {
        self.limiter.len()
    }
}

/// The rate limits of this instance, `None` where switched off.
#[derive(Default)]
pub struct RateLimits {
    /// `POST /v1/login`.
    pub login: Option<Arc<IpRateLimiter>>,
    /// The password re-checks of signed-in users, `POST /v1/password` and `DELETE /v1/me`,
    /// which share this bucket per address, at the login rate.
    pub password_recheck: Option<Arc<IpRateLimiter>>,
    /// `POST /v1/signup`.
    pub signup: Option<Arc<IpRateLimiter>>,
    /// `POST /v1/refresh`.
    pub refresh: Option<Arc<IpRateLimiter>>,
}

impl RateLimits {
    /// Buckets for the rates given (`None`: no limit); the password re-checks get the login
    /// rate, in buckets of their own.
    pub fn new(login: Option<Rate>, signup: Option<Rate>, refresh: Option<Rate>) -> Self {
        let make = |rate: Option<Rate>| rate.map(|rate| Arc::new(IpRateLimiter::new(rate)));
        Self {
            login: make(login),
            password_recheck: make(login),
            signup: make(signup),
            refresh: make(refresh),
        }
    }

    fn all(&self) -> impl Iterator<Item = &Arc<IpRateLimiter>> {
        [
            &self.login,
            &self.password_recheck,
            &self.signup,
            &self.refresh,
        ]
        .into_iter()
        .flatten()
    }

    /// Forgets the buckets that have refilled, so memory stays bounded however many addresses
    /// have come and gone; returns how many addresses are still tracked.
    pub fn forget_full_buckets(&self) -> usize {
        self.all()
            .map(|limiter| {
                limiter.forget_full_buckets();
                limiter.tracked()
            })
            .sum()
    }
}

/// The bucket an address counts against: itself for IPv4, its /64 for IPv6.
pub fn bucket_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
        v4 => v4,
    }
}

/// Middleware for one route: refuses a request whose client's bucket is empty with 429
/// `rate_limited` and `Retry-After`. A request without a known address (see
/// [`crate::http::client_ip::resolve_client_ip`]) is let through.
pub async fn enforce(
    State(limiter): State<Arc<IpRateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(ClientIp(ip)) = request.extensions().get::<ClientIp>()
        && let Err(retry_after) = limiter.check(*ip)
    {
        return ApiError::Auth(AuthError::RateLimited { retry_after }).into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn rates_parse_and_print() {
        for (text, shown) in [("10/s", "10/s"), (" 30 / m ", "30/m"), ("100/h", "100/h")] {
            assert_eq!(text.parse::<Rate>().expect(text).to_string(), shown);
        }
        for bad in [
            "",
            "10",
            "0/s",
            "10/d",
            "x/s",
            "-1/s",
            "1000001/s",
            "10/s/s",
        ] {
            assert!(bad.parse::<Rate>().is_err(), "{bad:?} accepted");
        }
        assert_eq!(parse_rate_setting("off"), Ok(None));
        assert!(parse_rate_setting("on").is_err());
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_with_a_wait() {
        let limiter = IpRateLimiter::new("3/m".parse().expect("rate"));
        let client = "192.0.2.1".parse().expect("ip");
        for _ in 0..3 {
            assert_eq!(limiter.check(client), Ok(()));
        }
        let wait = limiter.check(client).expect_err("empty");
        assert!(
            wait > Duration::from_secs(15) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert_eq!(limiter.check("192.0.2.2".parse().expect("ip")), Ok(()));
    }

    #[test]
    fn ipv6_clients_share_their_slash_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(bucket_key(a), bucket_key(b));
        assert_ne!(bucket_key(a), bucket_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        assert_eq!(
            bucket_key(mapped),
            "192.0.2.1".parse::<IpAddr>().expect("ip")
        );
    }

    #[test]
    fn full_buckets_are_forgotten() {
        let limits = RateLimits::new(Some("1000/s".parse().expect("rate")), None, None);
        let login = limits.login.as_ref().expect("login limit");
        for i in 0..=255u8 {
            login
                .check(IpAddr::from([198, 51, 100, i]))
                .expect("allowed");
        }
        assert_eq!(login.tracked(), 256);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            limits.forget_full_buckets(),
            0,
            "1 ms refill: all full again"
        );
    }
}
