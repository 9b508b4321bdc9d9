//! The server's parsing of request headers: `Authorization: Bearer` (`extract::bearer_token`),
//! HTTP Basic client credentials (`client_auth::parse_basic`, `form_decode`,
//! `client_credentials`), the token cookies (`BrowserPolicy::cookie`) and the transport and
//! CSRF checks that read `X-Token-Transport`, `Origin`, `Host` and `Sec-Fetch-Site`. None may
//! panic; each refusal must be the documented 4xx.
//!
//! The input is a list of headers, one per `\n`-separated line: the line's first byte picks the
//! header name (`% 6`: Authorization, Cookie, Origin, Host, Sec-Fetch-Site,
//! X-Token-Transport), the rest is its value. Lines that are not valid header values are
//! dropped, as the HTTP layer would refuse them. Each line is also taken as raw Basic
//! credentials text for a round-trip check of the form encoding.
#![no_main]

use std::sync::OnceLock;

use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use axum::response::IntoResponse;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use tokenauth_server::browser::{BrowserPolicy, TRANSPORT_HEADER, Transport};
use tokenauth_server::config::{Config, CookieMode};
use tokenauth_server::error::ApiError;
use tokenauth_server::extract::bearer_token;
use tokenauth_server::routes::client_auth::{
    OAuthError, client_credentials, form_decode, parse_basic,
};

const NAMES: [HeaderName; 6] = [
    header::AUTHORIZATION,
    header::COOKIE,
    header::ORIGIN,
    header::HOST,
    HeaderName::from_static("sec-fetch-site"),
    TRANSPORT_HEADER,
];

/// Cookie policies: https issuer (prefixed cookie names), http issuer, and cookie mode off.
fn policies() -> &'static [BrowserPolicy; 3] {
    static POLICIES: OnceLock<[BrowserPolicy; 3]> = OnceLock::new();
    POLICIES.get_or_init(|| {
        let policy = |issuer: &str, mode| {
            let mut config = Config::defaults();
            config.issuer = issuer.to_owned();
            config.cookie_mode = mode;
            config.cors_allowed_origins = vec!["https://app.example.com".to_owned()];
            BrowserPolicy::new(&config)
        };
        [
            policy("https://auth.example.com", CookieMode::On),
            policy("http://127.0.0.1:8080", CookieMode::On),
            policy("http://127.0.0.1:8080", CookieMode::Off),
        ]
    })
}

/// `application/x-www-form-urlencoded` encoding, escaping every byte but the unreserved ones.
fn form_encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn check_bearer(parts: &Parts) {
    let values: Vec<&HeaderValue> = parts
        .headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .collect();
    match bearer_token(parts) {
        Ok(token) => {
            assert_eq!(values.len(), 1, "exactly one Authorization header");
            let value = values[0].to_str().expect("accepted headers are ASCII");
            assert!(
                value
                    .get(..7)
                    .is_some_and(|s| s.eq_ignore_ascii_case("bearer "))
            );
            assert!(!token.is_empty() && token == token.trim() && value.contains(token));
        }
        Err(error) => {
            assert!(matches!(error, ApiError::MissingToken(_)), "{error:?}");
            let response = error.into_response();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        }
    }
}

fn check_basic(headers: &HeaderMap, lines: &[&[u8]]) {
    for value in headers.get_all(header::AUTHORIZATION) {
        if let Some(credentials) = parse_basic(value) {
            assert!(!credentials.client_id.is_empty());
            let text = value.to_str().expect("accepted headers are ASCII");
            assert!(
                text.get(..6)
                    .is_some_and(|s| s.eq_ignore_ascii_case("basic "))
            );
        }
    }
    let form = |i: usize| lines.get(i).map(|line| String::from_utf8_lossy(line));
    let (id, secret) = (form(0), form(1));
    match client_credentials(headers, id.as_deref(), secret.as_deref()) {
        Ok(credentials) => assert!(
            !credentials.client_id.is_empty() || !headers.contains_key(header::AUTHORIZATION)
        ),
        Err(error) => {
            assert!(!matches!(error, OAuthError::Server(_)), "{error:?}");
            let status = error.into_response().status();
            assert!(status == StatusCode::UNAUTHORIZED || status == StatusCode::BAD_REQUEST);
        }
    }
    // Round trip: whatever id and secret a client has, encoding them as RFC 6749 §2.3.1 says
    // and parsing the header gives them back.
    for pair in lines.windows(2) {
        let id = String::from_utf8_lossy(pair[0]);
        let secret = String::from_utf8_lossy(pair[1]);
        assert_eq!(form_decode(&form_encode(&id)).as_deref(), Some(&*id));
        if !id.contains(['%', '+']) {
            assert_eq!(form_decode(&id).as_deref(), Some(&*id));
        }
        let raw = format!("{}:{}", form_encode(&id), form_encode(&secret));
        let value = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(raw)))
            .expect("base64 is a valid header value");
        let parsed = parse_basic(&value).map(|c| (c.client_id, c.secret.to_string()));
        if id.is_empty() {
            assert_eq!(parsed, None);
        } else {
            assert_eq!(parsed, Some((id.into_owned(), secret.into_owned())));
        }
    }
}

fn check_browser(parts: &Parts) {
    let headers = &parts.headers;
    for policy in policies() {
        for name in [policy.access_cookie(), policy.refresh_cookie()] {
            if let Some(value) = policy.cookie(headers, name) {
                assert!(!value.is_empty() && !value.contains(';'));
                assert!(headers.contains_key(header::COOKIE));
            }
        }
        match policy.transport(headers) {
            Ok(Transport::Cookie) => assert!(headers.contains_key(TRANSPORT_HEADER)),
            Ok(Transport::Header) => assert!(!headers.contains_key(TRANSPORT_HEADER)),
            Err(error) => {
                assert_eq!(error.into_response().status(), StatusCode::BAD_REQUEST);
            }
        }
        for method in [Method::POST, Method::DELETE, Method::GET] {
            match policy.check_csrf(&method, headers) {
                Ok(()) => assert!(method == Method::GET || headers.contains_key(TRANSPORT_HEADER)),
                Err(error) => {
                    assert!(matches!(error, ApiError::CsrfRejected(_)), "{error:?}");
                    assert_eq!(error.into_response().status(), StatusCode::FORBIDDEN);
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').take(16).collect();
    let (mut parts, ()) = Request::new(()).into_parts();
    for line in &lines {
        let [selector, value @ ..] = line else {
            continue;
        };
        let name = &NAMES[usize::from(*selector) % NAMES.len()];
        if let Ok(value) = HeaderValue::from_bytes(value) {
            parts.headers.append(name.clone(), value);
        }
    }
    check_bearer(&parts);
    check_basic(&parts.headers, &lines);
    check_browser(&parts);
});
