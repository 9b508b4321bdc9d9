//! The built-in web UI: four static files embedded in the binary, served with a strict Content
//! Security Policy (no inline script or style, nothing from another origin, no framing).

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::http::state::AppState;

const INDEX_HTML: &str = include_str!("../../../ui/index.html");
const APP_JS: &str = include_str!("../../../ui/app.js");
const CLIENT_JS: &str = include_str!("../../../ui/tokenauth-client.js");
const APP_CSS: &str = include_str!("../../../ui/app.css");

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The cookie-mode contract's policy for the UI, verbatim.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
    base-uri 'none'";

/// `GET /`: the single page of the UI.
#[utoipa::path(
    get,
    path = "/",
    tag = "ui",
    summary = "The web UI's page",
    responses((status = 200, description = "The embedded file, revalidated on every use, with a strict Content-Security-Policy.", body = String, content_type = "text/html")),
)]
pub async fn index(State(state): State<AppState>) -> Response {
    asset(&state, HTML, INDEX_HTML)
}

/// `GET /ui/app.js`: the UI's behaviour.
#[utoipa::path(
    get,
    path = "/ui/app.js",
    tag = "ui",
    summary = "The web UI's script",
    responses((status = 200, description = "The embedded file, revalidated on every use, with a strict Content-Security-Policy.", body = String, content_type = "text/javascript")),
)]
pub async fn app_js(State(state): State<AppState>) -> Response {
    asset(&state, JAVASCRIPT, APP_JS)
}

/// `GET /ui/tokenauth-client.js`: the cookie-mode client, also meant to be copied by other apps.
#[utoipa::path(
    get,
    path = "/ui/tokenauth-client.js",
    tag = "ui",
    summary = "The cookie-mode client library, for other apps to copy",
    responses((status = 200, description = "The embedded file, revalidated on every use, with a strict Content-Security-Policy.", body = String, content_type = "text/javascript")),
)]
pub async fn client_js(State(state): State<AppState>) -> Response {
    asset(&state, JAVASCRIPT, CLIENT_JS)
}

/// `GET /ui/app.css`: the UI's style sheet.
#[utoipa::path(
    get,
    path = "/ui/app.css",
    tag = "ui",
    summary = "The web UI's style sheet",
    responses((status = 200, description = "The embedded file, revalidated on every use, with a strict Content-Security-Policy.", body = String, content_type = "text/css")),
)]
pub async fn app_css(State(state): State<AppState>) -> Response {
    asset(&state, CSS, APP_CSS)
}

/// One embedded file with its type and the security headers; revalidated on every use so an
/// upgraded server is never paired with a cached old script.
fn asset(state: &AppState, content_type: &'static str, body: &'static str) -> Response {
    let mut headers = vec![
        (header::CONTENT_TYPE, content_type),
        (header::CACHE_CONTROL, "no-cache"),
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    if state.browser.is_https() {
        headers.push((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000"));
    }
    let mut response = body.into_response();
    let map = response.headers_mut();
    for (name, value) in headers {
        map.insert(name, HeaderValue::from_static(value));
    }
    response
}
