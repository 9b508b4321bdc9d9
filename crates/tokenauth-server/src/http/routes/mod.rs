//! The HTTP routes, one file per area, assembled with the middleware stack.

mod account;
// Public for their request parsing (`parse_basic`, `form_decode`, the request bodies), which the
// fuzz targets in `fuzz/` drive directly.
pub mod client_auth;
pub mod credentials;
mod health;
mod oauth2;
mod openapi;
mod privacy;
mod responses;
mod revocations;
mod ui;
mod verify;
mod well_known;

use std::sync::Arc;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::{Extension, Router};
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveHeadersLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use crate::http::browser::BrowserPolicy;
use crate::http::client_ip;
use crate::http::error::ApiError;
use crate::http::rate_limit::{self, IpRateLimiter, RateLimits};
use crate::http::state::AppState;
use crate::telemetry;

/// Largest accepted request body. Every JSON body of the API fits in far less; a password is at
/// most 1 KiB.
pub const BODY_LIMIT: usize = 16 * 1024;

/// Largest total size of a request's headers (names and values). A session cookie and a JWT take
/// a few KiB; anything far larger is abuse.
pub const HEADER_LIMIT: usize = 16 * 1024;

/// The whole application: routes plus middleware.
pub fn router(state: AppState, request_timeout: Duration) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let cors = state.browser.cors_layer();
    let browser = state.browser.clone();
    let trusted_proxies = state.trusted_proxies.clone();
    let request_metrics = state.metrics.clone();
    let (routes, mut document) = api_routes(&state.rate_limits).split_for_parts();
    crate::http::openapi::finish(&mut document, state.browser.access_cookie());
    // Serializing a document of plain maps and strings cannot fail; should it, the route
    // answers an empty document rather than the server not starting.
    let document = openapi::OpenApiJson(document.to_json().unwrap_or_default().into());
    let api = routes
        .layer(Extension(document))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state);
    let api = api.layer(
        ServiceBuilder::new()
            .layer(SetSensitiveHeadersLayer::new([
                header::AUTHORIZATION,
                header::COOKIE,
                header::SET_COOKIE,
            ]))
            .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
            .layer(TraceLayer::new_for_http().make_span_with(request_span))
            .layer(PropagateRequestIdLayer::new(request_id))
            .layer(middleware::from_fn(limit_header_size))
            .layer(middleware::from_fn_with_state(
                trusted_proxies,
                client_ip::resolve_client_ip,
            ))
            .layer(middleware::from_fn_with_state(
                browser,
                no_cors_headers_for_other_origins,
            ))
            // Preflights are answered here, before routing.
            .option_layer(cors)
            .layer(middleware::map_response(problem_for_bare_errors))
            .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                ApiError::Timeout
            }))
            .timeout(request_timeout)
            // A declared Content-Length over the limit is refused before any of the body is
            // read; a chunked body is cut off by the extractor's limit while it is read.
            .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
            .layer(DefaultBodyLimit::max(BODY_LIMIT)),
    );
    // Outermost, so every answer is counted with the status it finally got.
    match request_metrics {
        Some(metrics) => api.layer(middleware::from_fn_with_state(
            metrics,
            telemetry::http::record,
        )),
        None => api,
    }
}

/// Every route of the server with its OpenAPI description, from one list: each entry is a
/// handler annotated with `#[utoipa::path(...)]`, whose path and methods both register the
/// route and document it. To add a route, annotate its handler and add
/// `.routes(routes!(module::handler))` here; `tests/http/openapi.rs` fails for a route served but
/// not documented, or documented but not served.
pub fn api_routes(limits: &RateLimits) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::http::openapi::base())
        .routes(routes!(credentials::signup).map(|r| limited(r, &limits.signup)))
        .routes(routes!(credentials::login).map(|r| limited(r, &limits.login)))
        .routes(routes!(credentials::refresh).map(|r| limited(r, &limits.refresh)))
        .routes(routes!(account::logout))
        .routes(routes!(account::me))
        // Every route that checks a password is behind a bucket per client address: the
        // signed-in users' re-checks share one, at the login rate.
        .routes(routes!(privacy::delete_account).map(|r| limited(r, &limits.password_recheck)))
        .routes(routes!(privacy::export))
        .routes(routes!(account::change_password).map(|r| limited(r, &limits.password_recheck)))
        .routes(routes!(
            account::list_sessions,
            account::revoke_all_sessions
        ))
        .routes(routes!(account::revoke_session))
        // OpenAPI names eight methods; proxies may forward others (CONNECT, WebDAV's), which
        // the method fallback answers the same way.
        .routes(routes!(verify::forward_auth).map(|r| r.fallback(verify::forward_auth)))
        .routes(routes!(verify::forward_auth_path).map(|r| r.fallback(verify::forward_auth_path)))
        .routes(routes!(revocations::feed))
        .routes(routes!(oauth2::revoke))
        .routes(routes!(oauth2::introspect))
        .routes(routes!(well_known::jwks))
        .routes(routes!(well_known::openid_configuration))
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(telemetry::scrape))
        .routes(routes!(ui::index))
        .routes(routes!(ui::app_js))
        .routes(routes!(ui::client_js))
        .routes(routes!(ui::app_css))
}

/// `route` behind a per-client-IP bucket, when `limiter` is set.
fn limited(
    route: MethodRouter<AppState>,
    limiter: &Option<Arc<IpRateLimiter>>,
) -> MethodRouter<AppState> {
    match limiter {
        Some(limiter) => route.route_layer(middleware::from_fn_with_state(
            limiter.clone(),
            rate_limit::enforce,
        )),
        None => route,
    }
}

/// The span of one request: method and path, never the query string (a client may put a
/// token there by mistake; the contract says tokens are never written to logs) and no headers.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = request.uri().path(),
        version = ?request.version(),
    )
}

/// Refuses requests whose headers together exceed [`HEADER_LIMIT`] with 431, before any of them
/// is looked at.
async fn limit_header_size(request: axum::extract::Request, next: middleware::Next) -> Response {
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if size > HEADER_LIMIT {
        return ApiError::HeadersTooLarge.into_response();
    }
    next.run(request).await
}

/// The CORS layer marks some answers (`Access-Control-Allow-Credentials`, `Vary`) whatever the
/// origin; a disallowed origin gets no CORS header at all, so it learns nothing.
async fn no_cors_headers_for_other_origins(
    axum::extract::State(policy): axum::extract::State<std::sync::Arc<BrowserPolicy>>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    let foreign = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_some_and(|origin| !policy.cors_allowed(origin));
    let mut response = next.run(request).await;
    if foreign {
        let cors: Vec<HeaderName> = response
            .headers()
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in cors {
            response.headers_mut().remove(name);
        }
    }
    response
}

/// Errors produced below the handlers (by axum or a layer) come with an empty or plain-text
/// body; give them the same problem+json shape as every other error.
async fn problem_for_bare_errors(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    let is_oauth = response
        .extensions()
        .get::<client_auth::OAuthResponse>()
        .is_some();
    if !(status.is_client_error() || status.is_server_error()) || is_problem || is_oauth {
        return response;
    }
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge.into_response(),
        StatusCode::NOT_FOUND => ApiError::NotFound.into_response(),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed.into_response(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType.into_response(),
        status if status.is_server_error() => ApiError::Auth(tokenauth_core::AuthError::Internal(
            format!("bare {status} response"),
        ))
        .into_response(),
        status => ApiError::Rejected(status).into_response(),
    }
}
