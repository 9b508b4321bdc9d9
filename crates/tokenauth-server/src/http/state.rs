//! What every handler shares.

use std::sync::Arc;
use std::time::Duration;

use tokenauth_core::service::AuthService;
use tokenauth_core::store::Store;
use tokio::sync::watch;

use crate::http::browser::BrowserPolicy;
use crate::http::client_ip::TrustedProxies;
use crate::http::rate_limit::RateLimits;
use crate::telemetry::Telemetry;

/// The application state handed to handlers (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    /// The domain services.
    pub auth: Arc<AuthService>,
    /// The database (readiness checks, shutdown, tests).
    pub store: Arc<dyn Store>,
    /// `max-age` of the JWKS document, in seconds.
    pub jwks_max_age_secs: u64,
    /// Longest a long-polling feed reader is held (kept below the request timeout).
    pub feed_max_wait: Duration,
    /// Whether sign-up answers a taken email like a new one.
    pub uniform_signup: bool,
    /// Cookies, CSRF and CORS for browser apps.
    pub browser: Arc<BrowserPolicy>,
    /// The per-client-IP buckets of this instance.
    pub rate_limits: Arc<RateLimits>,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Arc<TrustedProxies>,
    /// The Prometheus exporter, when `metrics = on`.
    pub metrics: Option<Arc<Telemetry>>,
    /// Turns true when the server starts shutting down, so held long-polls answer at once
    /// instead of delaying the shutdown.
    pub shutting_down: watch::Receiver<bool>,
}
