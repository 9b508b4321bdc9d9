//! The OpenAPI 3.1 document of the HTTP API, served at `GET /openapi.json`.
//!
//! It is generated from the code: each handler carries a `#[utoipa::path(...)]` annotation (its
//! path, methods, parameters, bodies and every answer), and the router is built from those
//! annotated handlers by [`crate::http::routes::api_routes`], so the routes served and the routes
//! documented are one list. This module holds what is shared by all operations: the document's
//! header, the security schemes, the reusable error responses, and [`finish`], which adds the
//! errors any request can meet.

pub mod responses;
pub mod schemas;

use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi, Ref, RefOr};
use utoipa::{Modify, OpenApi as _};

use self::responses::{
    BadRequest, BearerUnauthorized, CsrfRejected, ForwardAuthIdentity, HeadersTooLarge,
    InternalError, NotFound, OAuthInvalidClient, OAuthInvalidRequest, OAuthServerError,
    PayloadTooLarge, RateLimited, Unavailable, UnsupportedMediaType,
};
use crate::http::error::Problem;
use crate::http::rate_limit::RateLimits;
use crate::http::routes::client_auth::OAuthErrorBody;

/// Name of the security scheme for `Authorization: Bearer <access token>`.
pub const BEARER: &str = "bearer";
/// Name of the security scheme for the access-token cookie of cookie mode.
pub const ACCESS_COOKIE: &str = "access_cookie";
/// Name of the security scheme for API clients (HTTP Basic, RFC 6749 §2.3.1).
pub const CLIENT_BASIC: &str = "client_basic";

/// The document's header and shared components; the paths are added by the router.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "tokenauth",
        description = "Token-based authentication: sign-up, login, rotating refresh tokens, sessions, \
            forward auth for reverse proxies, OAuth 2.0 revocation and introspection for API clients, \
            and a revocation feed for verifiers. Errors are `application/problem+json` (RFC 9457) with \
            a stable machine code in `error`, except on `/oauth2/*`, which answer as RFC 6749 says. \
            Every response carries `X-Request-Id`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "auth", description = "Sign-up, login and refresh: the calls that issue tokens."),
        (name = "account", description = "The caller's account and sessions (Bearer access token or access cookie)."),
        (name = "verify", description = "Forward authentication for reverse proxies."),
        (name = "oauth2", description = "RFC 7009 revocation and RFC 7662 introspection for registered API clients."),
        (name = "revocations", description = "The revocation feed that verifiers follow."),
        (name = "discovery", description = "JWKS, OpenID Connect discovery and this document."),
        (name = "health", description = "Liveness and readiness."),
        (name = "ui", description = "The built-in web UI: static files embedded in the binary."),
    ),
    components(
        schemas(Problem, OAuthErrorBody),
        responses(
            BadRequest, BearerUnauthorized, CsrfRejected, NotFound, PayloadTooLarge,
            UnsupportedMediaType, RateLimited, HeadersTooLarge, InternalError, Unavailable,
            OAuthInvalidRequest, OAuthInvalidClient, OAuthServerError, ForwardAuthIdentity,
        ),
    ),
    modifiers(&SecuritySchemes),
)]
pub struct ApiDoc;

/// The header and components, to which the router adds the paths.
pub fn base() -> OpenApi {
    ApiDoc::openapi()
}

/// The whole document as a server with default settings serves it (the access cookie's name
/// depends on the issuer's scheme), without building a server.
pub fn document() -> OpenApi {
    let mut openapi = crate::http::routes::api_routes(&RateLimits::default()).into_openapi();
    finish(&mut openapi, "tokenauth_access");
    openapi
}

/// The ways a caller authenticates.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token (RFC 9068 JWT) from sign-up, login or refresh. Never \
                         accepted in the query string.",
                    ))
                    .build(),
            ),
        );
        // Renamed to the cookie this server really reads by [`finish`].
        components.add_security_scheme(ACCESS_COOKIE, access_cookie_scheme("tokenauth_access"));
        components.add_security_scheme(
            CLIENT_BASIC,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "A registered API client (`tokenauth client add`): \
                         `base64(urlencode(client_id) \":\" urlencode(client_secret))`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Errors any operation can answer, whatever its handler does: they come from the middleware.
const COMMON_RESPONSES: [(&str, &str); 4] = [
    ("413", "PayloadTooLarge"),
    ("431", "HeadersTooLarge"),
    ("500", "InternalError"),
    ("503", "Unavailable"),
];

/// Completes the document the router collected: axum's catch-all segments (`{*path}`) become
/// plain OpenAPI parameters (`{path}`), operations sharing a handler get unique ids, every
/// operation lists the errors the middleware can answer, and the cookie scheme names the cookie
/// this server really reads.
pub fn finish(openapi: &mut OpenApi, access_cookie: &str) {
    let paths = std::mem::take(&mut openapi.paths.paths);
    openapi.paths.paths = paths
        .into_iter()
        .map(|(path, item)| (path.replace("{*", "{"), item))
        .collect();

    let mut seen = std::collections::HashMap::<String, usize>::new();
    for item in openapi.paths.paths.values() {
        for (_, operation) in operations(item) {
            if let Some(id) = &operation.operation_id {
                *seen.entry(id.clone()).or_default() += 1;
            }
        }
    }
    for item in openapi.paths.paths.values_mut() {
        for (method, operation) in operations_mut(item) {
            if let Some(id) = &mut operation.operation_id
                && seen.get(id.as_str()).is_some_and(|count| *count > 1)
            {
                id.push('_');
                id.push_str(method);
            }
            for (status, name) in COMMON_RESPONSES {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
            }
        }
    }

    openapi
        .components
        .get_or_insert_with(Default::default)
        .add_security_scheme(ACCESS_COOKIE, access_cookie_scheme(access_cookie));
}

/// The security scheme of the access cookie called `name` (`tokenauth_access`, or
/// `__Host-tokenauth_access` when the issuer is https).
fn access_cookie_scheme(name: &str) -> SecurityScheme {
    SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
        name,
        "Cookie mode (docs/browser.md): the HttpOnly access-token cookie. Read only when no \
         Authorization header is sent; a state-changing request must also carry \
         `X-Token-Transport: cookie` and come from the server's own or an allowed origin.",
    )))
}

/// The operations of a path item with their method names, lower-case.
fn operations(item: &PathItem) -> impl Iterator<Item = (&'static str, &Operation)> {
    [
        ("get", &item.get),
        ("put", &item.put),
        ("post", &item.post),
        ("delete", &item.delete),
        ("options", &item.options),
        ("head", &item.head),
        ("patch", &item.patch),
        ("trace", &item.trace),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_ref().map(|op| (method, op)))
}

/// [`operations`], mutable.
fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("options", &mut item.options),
        ("head", &mut item.head),
        ("patch", &mut item.patch),
        ("trace", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.as_mut().map(|op| (method, op)))
}
