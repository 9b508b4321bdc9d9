//! Browser apps: tokens in HttpOnly cookies (cookie mode), CSRF protection for requests those
//! cookies authenticate, and CORS for the allowed origins.
//!
//! Cookie mode is chosen per request with `X-Token-Transport: cookie`; header mode (tokens in
//! JSON bodies and `Authorization: Bearer`) stays the default for mobile apps and servers. A
//! state-changing request in cookie mode, or authenticated by a cookie, must carry that header
//! (a cross-site form cannot, and a cross-origin `fetch` with it needs a CORS preflight) and
//! come from the server's own origin or an allowed one.

use std::time::Duration;

use axum::http::Method;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use cookie::{Cookie, SameSite};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::{Config, CookieMode};
use crate::http::error::ApiError;

/// The header that asks for cookie mode and proves, on state-changing requests, that script of
/// an allowed origin sent the request.
pub const TRANSPORT_HEADER: HeaderName = HeaderName::from_static("x-token-transport");

/// The only value of [`TRANSPORT_HEADER`].
const COOKIE_TRANSPORT: &str = "cookie";

/// The path the refresh cookie is scoped to: it travels with refresh requests only.
pub const REFRESH_PATH: &str = "/v1/refresh";

/// How long browsers may cache a CORS preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// How a request carries tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// JSON bodies and `Authorization: Bearer`.
    Header,
    /// HttpOnly cookies.
    Cookie,
}

/// Everything the browser support needs from the configuration, resolved once.
#[derive(Debug, Clone)]
pub struct BrowserPolicy {
    cookies_enabled: bool,
    /// The issuer is https: `__Host-`/`__Secure-` cookie prefixes and HSTS.
    https: bool,
    /// `scheme://host[:port]` of the issuer: same-origin requests come from here.
    own_origin: String,
    allowed_origins: Vec<String>,
    /// Lifetime of both cookies (the refresh token's): the access cookie outlives its JWT on
    /// purpose, so an expired token is answered `token_expired`, not "missing token".
    cookie_max_age: Duration,
}

impl BrowserPolicy {
    /// The policy of `config`.
    pub fn new(config: &Config) -> Self {
        let https = config.issuer.starts_with("https://");
        Self {
            cookies_enabled: config.cookie_mode == CookieMode::On,
            https,
            own_origin: origin_of(&config.issuer),
            allowed_origins: config.cors_allowed_origins.clone(),
            cookie_max_age: config.refresh_token_ttl,
        }
    }

    /// Whether the issuer is https (HSTS belongs on its responses).
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// Name of the access-token cookie.
    pub fn access_cookie(&self) -> &'static str {
        if self.https {
            "__Host-tokenauth_access"
        } else {
            "tokenauth_access"
        }
    }

    /// Name of the refresh-token cookie.
    pub fn refresh_cookie(&self) -> &'static str {
        if self.https {
            "__Secure-tokenauth_refresh"
        } else {
            "tokenauth_refresh"
        }
    }

    /// The transport a request asks for.
    ///
    /// # Errors
    /// 400 for an unknown transport, or cookie mode on a server that has it off.
    pub fn transport(&self, headers: &HeaderMap) -> Result<Transport, ApiError> {
        match headers.get(TRANSPORT_HEADER) {
            None => Ok(Transport::Header),
            Some(value)
                if value
                    .as_bytes()
                    .eq_ignore_ascii_case(COOKIE_TRANSPORT.as_bytes()) =>
            {
                if self.cookies_enabled {
                    Ok(Transport::Cookie)
                } else {
                    Err(ApiError::InvalidRequest(
                        "cookie mode is off on this server (cookie_mode = off)".into(),
                    ))
                }
            }
            Some(_) => Err(ApiError::InvalidRequest(
                "X-Token-Transport must be \"cookie\" (or absent for header mode)".into(),
            )),
        }
    }

    /// The value of our cookie `name` in the request, if cookies are on and it is there once.
    pub fn cookie<'a>(&self, headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
        if !self.cookies_enabled {
            return None;
        }
        let mut found = None;
        for value in headers.get_all(header::COOKIE) {
            let Ok(text) = value.to_str() else { continue };
            for pair in text.split(';') {
                let Some((key, value)) = pair.trim().split_once('=') else {
                    continue;
                };
                if key == name {
                    if found.is_some() {
                        // Two cookies of one name (a sibling domain may plant one): trust
                        // neither.
                        return None;
                    }
                    found = Some(value.trim().trim_matches('"'));
                }
            }
        }
        found.filter(|value| !value.is_empty())
    }

    /// Refuses a state-changing request that cookies authenticate (or that asks for cookie
    /// mode) unless it carries [`TRANSPORT_HEADER`] and comes from an allowed origin.
    ///
    /// # Errors
    /// 403 `csrf_rejected`.
    ///
    /// A forward-auth subrequest (nginx `auth_request` always sends GET) is judged by the
    /// method of the request it checks, named in [`ORIGINAL_METHOD_HEADERS`]: the request is
    /// state-changing when its own method or any named original method is (a malformed name
    /// counts as state-changing). These headers can only make the check stricter, so a client
    /// sending them itself gains nothing.
    pub fn check_csrf(&self, method: &Method, headers: &HeaderMap) -> Result<(), ApiError> {
        if !changes_state(method, headers) {
            return Ok(());
        }
        if headers.get(TRANSPORT_HEADER).is_none() {
            return Err(ApiError::CsrfRejected(
                "a cookie-authenticated request must carry X-Token-Transport: cookie",
            ));
        }
        match headers.get(header::ORIGIN).map(HeaderValue::to_str) {
            Some(Ok(origin)) if self.origin_allowed(origin) || self.same_host(origin, headers) => {
                Ok(())
            }
            Some(_) => Err(ApiError::CsrfRejected(
                "the request comes from an origin that is not allowed",
            )),
            None => {
                let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
                if matches!(site, Some("cross-site" | "same-site")) {
                    Err(ApiError::CsrfRejected(
                        "a cross-site request without an allowed Origin",
                    ))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Whether `origin` names the host the request was sent to (a page of this server reached
    /// under another name than the issuer's, e.g. `localhost` for `127.0.0.1`), under the
    /// issuer's scheme: `http://host` and `https://host` are different origins (RFC 6454), and
    /// a page served over plain http must not pass for one of an https server. Browsers set
    /// `Origin`; page script cannot.
    fn same_host(&self, origin: &str, headers: &HeaderMap) -> bool {
        let scheme = if self.https { "https" } else { "http" };
        let Some((origin_scheme, authority)) = origin.split_once("://") else {
            return false;
        };
        origin_scheme.eq_ignore_ascii_case(scheme)
            && headers
                .get(header::HOST)
                .and_then(|host| host.to_str().ok())
                .is_some_and(|host| !host.is_empty() && host.eq_ignore_ascii_case(authority))
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        origin == self.own_origin || self.cors_allowed(origin)
    }

    /// Whether `origin` is one of `cors_allowed_origins`.
    pub fn cors_allowed(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|o| o == origin)
    }

    /// `Set-Cookie` values that store `access_token` and `refresh_token`.
    pub fn set_cookies(&self, access_token: &str, refresh_token: &str) -> [HeaderValue; 2] {
        [
            self.render(self.access_cookie(), access_token, "/", false),
            self.render(self.refresh_cookie(), refresh_token, REFRESH_PATH, false),
        ]
    }

    /// `Set-Cookie` values that delete both cookies.
    pub fn clear_cookies(&self) -> [HeaderValue; 2] {
        [
            self.render(self.access_cookie(), "", "/", true),
            self.render(self.refresh_cookie(), "", REFRESH_PATH, true),
        ]
    }

    fn render(
        &self,
        name: &'static str,
        value: &str,
        path: &'static str,
        clear: bool,
    ) -> HeaderValue {
        let max_age = if clear {
            cookie::time::Duration::ZERO
        } else {
            cookie::time::Duration::seconds(
                i64::try_from(self.cookie_max_age.as_secs()).unwrap_or(i64::MAX),
            )
        };
        // The refresh cookie only ever goes to our own refresh endpoint, never cross-site.
        let same_site = if path == REFRESH_PATH {
            SameSite::Strict
        } else {
            SameSite::Lax
        };
        let cookie = Cookie::build((name, value.to_owned()))
            .http_only(true)
            // Browsers accept Secure cookies from http://localhost and 127.0.0.1, so local
            // development over plain http still works.
            .secure(true)
            .same_site(same_site)
            .path(path)
            .max_age(max_age)
            .build();
        // Tokens are base64url and JWT dots: always a valid header value.
        HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// The CORS layer for the allowed origins; `None` when there are none (no CORS headers at
    /// all: browsers then allow only same-origin calls).
    pub fn cors_layer(&self) -> Option<CorsLayer> {
        if self.allowed_origins.is_empty() {
            return None;
        }
        let origins: Vec<HeaderValue> = self
            .allowed_origins
            .iter()
            .filter_map(|origin| HeaderValue::from_str(origin).ok())
            .collect();
        Some(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_credentials(true)
                .allow_methods([Method::GET, Method::POST, Method::DELETE])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    TRANSPORT_HEADER,
                    HeaderName::from_static("x-request-id"),
                ])
                .expose_headers([
                    HeaderName::from_static("x-request-id"),
                    header::WWW_AUTHENTICATE,
                    header::RETRY_AFTER,
                ])
                .max_age(PREFLIGHT_MAX_AGE),
        )
    }
}

/// Headers in which a forward-auth proxy names the method of the request it asks about:
/// Traefik sends `X-Forwarded-Method` by itself; nginx is configured to send
/// `X-Original-Method` (docs/forward-auth.md).
pub const ORIGINAL_METHOD_HEADERS: [HeaderName; 2] = [
    HeaderName::from_static("x-forwarded-method"),
    HeaderName::from_static("x-original-method"),
];

/// Whether a method is safe (RFC 9110 §9.2.1): it reads and changes nothing.
fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// Whether a request may change state: its method, or the original method a forward-auth proxy
/// names, is not safe. A named method that is not a method at all counts as unsafe.
fn changes_state(method: &Method, headers: &HeaderMap) -> bool {
    !is_safe(method)
        || ORIGINAL_METHOD_HEADERS
            .iter()
            .flat_map(|name| headers.get_all(name))
            .any(|value| {
                Method::from_bytes(value.as_bytes().trim_ascii())
                    .map_or(true, |original| !is_safe(&original))
            })
}

/// `scheme://host[:port]` of a URL without path (the issuer is validated to be one).
fn origin_of(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let host = rest.split('/').next().unwrap_or_default();
    format!("{scheme}://{host}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn policy(issuer: &str, allowed: &[&str]) -> BrowserPolicy {
        BrowserPolicy {
            cookies_enabled: true,
            https: issuer.starts_with("https://"),
            own_origin: origin_of(issuer),
            allowed_origins: allowed.iter().map(|s| (*s).to_owned()).collect(),
            cookie_max_age: Duration::from_secs(60),
        }
    }

    fn headers(list: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in list {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn csrf_needs_the_header_and_an_allowed_origin() {
        let p = policy("http://127.0.0.1:8080/", &["https://app.example.com"]);
        let ok =
            |h: &[(&'static str, &'static str)]| p.check_csrf(&Method::POST, &headers(h)).is_ok();
        assert!(ok(&[("x-token-transport", "cookie")]));
        assert!(ok(&[
            ("x-token-transport", "cookie"),
            ("origin", "http://127.0.0.1:8080")
        ]));
        assert!(ok(&[
            ("x-token-transport", "cookie"),
            ("origin", "https://app.example.com")
        ]));
        assert!(!ok(&[]));
        assert!(!ok(&[("origin", "http://127.0.0.1:8080")]));
        assert!(!ok(&[
            ("x-token-transport", "cookie"),
            ("origin", "https://evil.example")
        ]));
        assert!(!ok(&[("x-token-transport", "cookie"), ("origin", "null")]));
        assert!(ok(&[
            ("x-token-transport", "cookie"),
            ("origin", "http://localhost:8080"),
            ("host", "localhost:8080"),
        ]));
        assert!(!ok(&[
            ("x-token-transport", "cookie"),
            ("origin", "http://evil.example"),
            ("host", "localhost:8080"),
        ]));
        assert!(!ok(&[
            ("x-token-transport", "cookie"),
            ("sec-fetch-site", "cross-site")
        ]));
        assert!(p.check_csrf(&Method::GET, &headers(&[])).is_ok());
    }

    #[test]
    fn same_host_origins_must_have_the_issuers_scheme() {
        let plain = policy("http://127.0.0.1:8080", &[]);
        let ok = |p: &BrowserPolicy, h: &[(&'static str, &'static str)]| {
            p.check_csrf(&Method::POST, &headers(h)).is_ok()
        };
        assert!(ok(
            &plain,
            &[
                ("x-token-transport", "cookie"),
                ("origin", "http://localhost:8080"),
                ("host", "localhost:8080"),
            ]
        ));
        assert!(!ok(
            &plain,
            &[
                ("x-token-transport", "cookie"),
                ("origin", "https://localhost:8080"),
                ("host", "localhost:8080"),
            ]
        ));
        let tls = policy("https://auth.example.com", &[]);
        assert!(!ok(
            &tls,
            &[
                ("x-token-transport", "cookie"),
                ("origin", "http://auth.example.com"),
                ("host", "auth.example.com"),
            ]
        ));
        assert!(ok(
            &tls,
            &[
                ("x-token-transport", "cookie"),
                ("origin", "https://auth.example.com"),
                ("host", "auth.example.com"),
            ]
        ));
        assert!(!ok(
            &tls,
            &[
                ("x-token-transport", "cookie"),
                ("origin", "auth.example.com"),
                ("host", "auth.example.com"),
            ]
        ));
    }

    #[test]
    fn forward_auth_is_judged_by_the_original_method() {
        let p = policy("http://127.0.0.1:8080", &[]);
        let get = |h: &[(&'static str, &'static str)]| p.check_csrf(&Method::GET, &headers(h));
        let cross_site = [
            ("origin", "https://evil.example"),
            ("sec-fetch-site", "cross-site"),
        ];
        assert!(get(&cross_site).is_ok(), "a plain GET changes nothing");
        for header in ["x-forwarded-method", "x-original-method"] {
            for unsafe_method in ["POST", "delete", "BREW", "not a method"] {
                let mut h = cross_site.to_vec();
                h.push((header, unsafe_method));
                assert!(
                    matches!(get(&h), Err(ApiError::CsrfRejected(_))),
                    "{header}: {unsafe_method}"
                );
            }
            let mut safe = cross_site.to_vec();
            safe.push((header, "GET"));
            assert!(get(&safe).is_ok(), "{header}: GET");
        }
        // A client naming a safe method cannot make a POST pass.
        assert!(
            p.check_csrf(
                &Method::POST,
                &headers(&[
                    ("x-forwarded-method", "GET"),
                    ("origin", "https://evil.example")
                ])
            )
            .is_err()
        );
        // With the proof, an original POST passes.
        assert!(
            get(&[
                ("x-original-method", "POST"),
                ("x-token-transport", "cookie"),
                ("origin", "http://127.0.0.1:8080"),
            ])
            .is_ok()
        );
    }

    #[test]
    fn cookies_are_read_once_and_named_by_scheme() {
        let p = policy("https://auth.example.com", &[]);
        assert_eq!(p.access_cookie(), "__Host-tokenauth_access");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-tokenauth_access=tok"),
        );
        assert_eq!(p.cookie(&headers, "__Host-tokenauth_access"), Some("tok"));
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("__Host-tokenauth_access=other"),
        );
        assert_eq!(
            p.cookie(&headers, "__Host-tokenauth_access"),
            None,
            "ambiguous"
        );
        let plain = policy("http://127.0.0.1:8080", &[]);
        assert_eq!(plain.refresh_cookie(), "tokenauth_refresh");
    }

    #[test]
    fn set_cookie_values_carry_every_flag() {
        let p = policy("http://127.0.0.1:8080", &[]);
        let [access, refresh] = p.set_cookies("a.b.c", "r");
        let access = access.to_str().unwrap();
        for flag in [
            "tokenauth_access=a.b.c",
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=60",
        ] {
            assert!(access.contains(flag), "{access} lacks {flag}");
        }
        let refresh = refresh.to_str().unwrap();
        for flag in [
            "tokenauth_refresh=r",
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/v1/refresh",
        ] {
            assert!(refresh.contains(flag), "{refresh} lacks {flag}");
        }
        let [cleared, _] = p.clear_cookies();
        assert!(cleared.to_str().unwrap().contains("Max-Age=0"));
    }
}
