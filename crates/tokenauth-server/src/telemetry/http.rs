//! Request metrics: a count by route template, method and status, a latency histogram by route
//! template and method, and the requests in flight. Labels come from fixed or bounded sets only:
//! the route is axum's matched template (`/v1/sessions/{id}`), never the raw path, and
//! `unmatched` when no route matched; a method outside the standard ones is `other`.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics::{SharedString, counter, describe_counter, describe_gauge, describe_histogram, gauge};
use metrics::{Unit, histogram};

use super::Telemetry;

/// Requests answered, by `route`, `method` and `status`.
pub const REQUESTS: &str = "tokenauth_http_requests_total";
/// Time from the request's arrival to its response head, by `route` and `method`.
pub const REQUEST_DURATION: &str = "tokenauth_http_request_duration_seconds";
/// Requests being served now.
pub const IN_FLIGHT: &str = "tokenauth_http_requests_in_flight";

/// Histogram buckets (seconds): from a JWKS read (under a millisecond) through a login (one
/// Argon2 hash, tens of milliseconds) to the request timeout.
pub const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The route label of requests no route matched.
const UNMATCHED: &str = "unmatched";

pub(super) fn describe() {
    describe_counter!(
        REQUESTS,
        "HTTP requests by route template, method and status"
    );
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "HTTP request latency by route template and method"
    );
    describe_gauge!(IN_FLIGHT, "HTTP requests being served now");
}

/// Label values made once and shared afterwards (route templates and status codes: a few
/// dozen in all), so a request allocates no label text.
#[derive(Default)]
pub struct LabelCache {
    values: RwLock<HashMap<Box<str>, SharedString>>,
}

impl LabelCache {
    /// `text` as a label value, interned on first use. Only for values from a bounded set.
    fn get(&self, text: &str) -> SharedString {
        if let Some(value) = self
            .values
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(text)
        {
            return value.clone();
        }
        let mut values = self.values.write().unwrap_or_else(PoisonError::into_inner);
        values
            .entry(text.into())
            .or_insert_with(|| SharedString::from(Arc::<str>::from(text)))
            .clone()
    }
}

/// Counts and times every request (middleware; the outermost layer, so timeouts and
/// rejections by other layers are counted with the status they got).
pub async fn record(
    State(telemetry): State<Arc<Telemetry>>,
    request: Request,
    next: Next,
) -> Response {
    let route = match request.extensions().get::<MatchedPath>() {
        Some(path) => telemetry.labels.get(path.as_str()),
        None => SharedString::const_str(UNMATCHED),
    };
    let method = method_label(request.method());
    let started = Instant::now();
    let in_flight = InFlight::enter();
    let response = next.run(request).await;
    drop(in_flight);
    let status = telemetry.labels.get(response.status().as_str());
    histogram!(REQUEST_DURATION, "route" => route.clone(), "method" => method)
        .record(started.elapsed().as_secs_f64());
    counter!(REQUESTS, "route" => route, "method" => method, "status" => status).increment(1);
    response
}

/// The label of a method: its name for the standard ones, `other` for any extension method
/// (which a client may make up at will).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// One request in the in-flight gauge, until dropped (also when the client goes away).
struct InFlight;

impl InFlight {
    fn enter() -> Self {
        gauge!(IN_FLIGHT).increment(1.0);
        Self
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        gauge!(IN_FLIGHT).decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label() {
        let made_up = Method::from_bytes(b"BREW").unwrap_or(Method::GET);
        assert_eq!(method_label(&made_up), "other");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
    }

    #[test]
    fn a_label_is_interned_once() {
        let cache = LabelCache::default();
        let first = cache.get("/v1/sessions/{id}");
        let second = cache.get("/v1/sessions/{id}");
        assert_eq!(first, second);
        assert_eq!(cache.values.read().map(|v| v.len()).unwrap_or(0), 1);
    }
}
