//! Prometheus metrics: the process's recorder, `GET /metrics`, and the gauges read when it is
//! scraped. The domain counters (logins, refreshes, revocations, password hashing) are emitted
//! by `tokenauth_core::telemetry`; the HTTP ones by [`http`].
//!
//! The `metrics` facade has one recorder per process. The first server built with `metrics = on`
//! installs it and every later one (tests start many servers in one process) shares it, so the
//! counters of a process are the sum over its servers.

pub mod http;
pub mod log_sink;
pub mod logging;

use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use metrics::{counter, describe_counter, describe_gauge, gauge};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::http::error::ApiError;
use crate::http::state::AppState;

/// Open database connections.
pub const DB_CONNECTIONS: &str = "tokenauth_db_pool_connections";
/// Most database connections.
pub const DB_MAX_CONNECTIONS: &str = "tokenauth_db_pool_max_connections";
/// Open database connections not serving an operation.
pub const DB_IDLE_CONNECTIONS: &str = "tokenauth_db_pool_idle_connections";
/// Database operations waiting for a connection.
pub const DB_WAITING: &str = "tokenauth_db_pool_waiting";
/// SQLite writes waiting for the single writer.
pub const DB_QUEUED_WRITES: &str = "tokenauth_db_queued_writes";
/// Revoked sessions this instance remembers (their access tokens are refused).
pub const REVOKED_IN_MEMORY: &str = "tokenauth_revoked_sessions_in_memory";
/// Highest revocation-feed `seq` this instance has applied.
pub const FEED_APPLIED: &str = "tokenauth_revocation_feed_applied_seq";
/// 1 for the key signing now (labels `kid`, `alg`); 0 for keys that signed earlier.
pub const SIGNING_KEY: &str = "tokenauth_signing_key_info";
/// Keys published in the JWKS.
pub const KEYS_PUBLISHED: &str = "tokenauth_signing_keys_published";
/// Audit events that could not be written.
pub const AUDIT_FAILURES: &str = "tokenauth_audit_write_failures_total";
/// Log lines lost because stderr could not be written.
pub const LOG_LINES_DROPPED: &str = "tokenauth_log_lines_dropped_total";
/// 1, labelled with the version.
pub const BUILD_INFO: &str = "tokenauth_build_info";

/// How often histogram samples are folded in, so memory stays bounded between scrapes.
const UPKEEP_PERIOD: Duration = Duration::from_secs(5);

/// The recorder of this process, once installed; `None` when another recorder was there first.
static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// One server's view of the process's metrics: the exporter and what it remembers between
/// scrapes.
pub struct Telemetry {
    handle: PrometheusHandle,
    /// The key reported as signing at the last scrape (`kid`, `alg`), set to 0 when another
    /// takes over.
    last_signer: Mutex<Option<(String, &'static str)>>,
    /// Interned route and status labels of [`http::record`].
    labels: http::LabelCache,
}

impl Telemetry {
    /// The process's Prometheus recorder, installed on the first call. `None` (with a warning
    /// logged once) when the program installed another recorder first: `/metrics` is then not
    /// served.
    pub fn install() -> Option<Arc<Self>> {
        let handle = RECORDER.get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(http::REQUEST_DURATION.to_owned()),
                    http::DURATION_BUCKETS,
                )
                .and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot install the Prometheus recorder; /metrics is off");
                    None
                }
            }
        });
        let handle = handle.clone()?;
        Some(Arc::new(Self {
            handle,
            last_signer: Mutex::new(None),
            labels: http::LabelCache::default(),
        }))
    }

    /// Folds recorded histogram samples in; run every few seconds.
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// The metrics in Prometheus' text format, gauges read now.
    fn render(&self, state: &AppState) -> String {
        self.sample(state);
        self.handle.render()
    }

    /// Reads the gauges whose truth lives elsewhere (the pool, the key ring, the revoked set).
    fn sample(&self, state: &AppState) {
        if let Some(pool) = state.store.pool_status() {
            gauge!(DB_MAX_CONNECTIONS).set(pool.max_connections as f64);
            gauge!(DB_CONNECTIONS).set(pool.connections as f64);
            gauge!(DB_IDLE_CONNECTIONS).set(pool.idle as f64);
            gauge!(DB_WAITING).set(pool.waiting as f64);
            if let Some(writes) = pool.queued_writes {
                gauge!(DB_QUEUED_WRITES).set(writes as f64);
            }
        }
        let auth = &state.auth;
        gauge!(REVOKED_IN_MEMORY).set(auth.revoked_sessions_in_memory() as f64);
        gauge!(FEED_APPLIED).set(*auth.revocation_feed_head().borrow() as f64);
        counter!(AUDIT_FAILURES).absolute(auth.auditor().failures());
        counter!(LOG_LINES_DROPPED).absolute(log_sink::lines_dropped());
        let keyring = auth.keys().keyring();
        gauge!(KEYS_PUBLISHED).set(keyring.verifiers().len() as f64);
        let signer = keyring.signer();
        let current = (signer.kid().to_owned(), signer.alg().as_str());
        let mut last = self
            .last_signer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.as_ref() != Some(&current) {
            if let Some((kid, alg)) = last.take() {
                gauge!(SIGNING_KEY, "kid" => kid, "alg" => alg).set(0.0);
            }
            gauge!(SIGNING_KEY, "kid" => current.0.clone(), "alg" => current.1).set(1.0);
            *last = Some(current);
        }
    }
}

/// Registers the help text of every metric.
fn describe() {
    tokenauth_core::telemetry::describe();
    http::describe();
    describe_gauge!(DB_MAX_CONNECTIONS, "Most database connections");
    describe_gauge!(DB_CONNECTIONS, "Open database connections");
    describe_gauge!(
        DB_IDLE_CONNECTIONS,
        "Open database connections not serving an operation"
    );
    describe_gauge!(DB_WAITING, "Database operations waiting for a connection");
    describe_gauge!(
        DB_QUEUED_WRITES,
        "SQLite writes waiting for the single writer"
    );
    describe_gauge!(
        REVOKED_IN_MEMORY,
        "Revoked sessions remembered while their access tokens may be alive"
    );
    describe_gauge!(
        FEED_APPLIED,
        "Highest revocation-feed seq this instance has applied"
    );
    describe_gauge!(
        SIGNING_KEY,
        "1 for the key signing now, 0 for keys that signed earlier"
    );
    describe_gauge!(KEYS_PUBLISHED, "Signing keys published in the JWKS");
    describe_counter!(AUDIT_FAILURES, "Audit events that could not be written");
    describe_counter!(
        LOG_LINES_DROPPED,
        "Log lines lost because stderr could not be written"
    );
    describe_counter!(
        crate::http::listener::CONNECTIONS_REFUSED,
        "Connections closed at accept because their address held max_connections_per_ip"
    );
    describe_counter!(
        crate::http::connection::CONNECTIONS_TIMED_OUT,
        "Connections closed because the client sent no request head (phase=header) or no next request (phase=idle) in time"
    );
    // Shown at 0 from the start, so rate() works from the first scrape.
    counter!(crate::http::listener::CONNECTIONS_REFUSED, "reason" => "per_ip_limit").increment(0);
    for phase in ["header", "idle"] {
        counter!(crate::http::connection::CONNECTIONS_TIMED_OUT, "phase" => phase).increment(0);
    }
    describe_gauge!(BUILD_INFO, "Always 1; the version is a label");
    gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

/// Runs the recorder's upkeep every few seconds, for as long as the task lives.
pub fn spawn_upkeep(telemetry: Arc<Telemetry>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(UPKEEP_PERIOD);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            telemetry.run_upkeep();
        }
    })
}

/// `GET /metrics`: every metric in Prometheus' text exposition format (version 0.0.4).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    summary = "Prometheus metrics",
    description = "Every metric in Prometheus' text exposition format 0.0.4 (docs/operations.md \
        lists them). Needs no credentials: keep it off the public name. 404 when the `metrics` \
        setting is `off`.",
    responses(
        (status = 200, description = "The metrics.", body = String, content_type = "text/plain"),
        (status = 404, response = crate::http::openapi::responses::NotFound),
    )
)]
pub async fn scrape(State(state): State<AppState>) -> Response {
    let Some(telemetry) = state.metrics.clone() else {
        return ApiError::NotFound.into_response();
    };
    let body = telemetry.render(&state);
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
