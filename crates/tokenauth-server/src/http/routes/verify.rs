//! Forward authentication for reverse proxies: nginx `auth_request`, Traefik ForwardAuth and
//! Envoy `ext_authz` (HTTP service) ask here whether a request's Bearer token is good, and pass
//! the identity on to the upstream in headers. The check is the one every endpoint uses, from the
//! in-memory keyring: no database call.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::http::error::{ApiError, Problem};
use crate::http::extract::AuthUser;
use crate::http::openapi::responses::{BearerUnauthorized, ForwardAuthIdentity};

/// `GET /v1/verify` (any method, since Envoy forwards the original method): 200 with
/// `X-Auth-User`, `X-Auth-Session` and `X-Auth-Roles` (comma-separated) for a valid access
/// token; the extractor answers 401 otherwise. A cookie-authenticated request is CSRF-checked by
/// the original method the proxy names (`X-Forwarded-Method`, `X-Original-Method`).
#[utoipa::path(
    method(get, post, put, delete, patch, head, options, trace),
    path = "/v1/verify",
    tag = "verify",
    summary = "Forward-auth check",
    description = "For nginx `auth_request`, Traefik ForwardAuth and Envoy `ext_authz`: answers any \
        method (also methods OpenAPI cannot name), from the in-memory keyring, without a database call.",
    security(("bearer" = []), ("access_cookie" = [])),
    responses(
        (status = 200, response = ForwardAuthIdentity),
        (status = 401, response = BearerUnauthorized),
        (status = 403, description = "`csrf_rejected` (a state-changing method, or original method named in `X-Forwarded-Method` or `X-Original-Method`, authenticated by the access cookie without the cookie-mode proof), or `forbidden` (roles that cannot be written in a header).",
            body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn forward_auth(caller: AuthUser) -> Response {
    identity_headers(caller)
}

/// `/v1/verify/{*path}`: [`forward_auth`] under any sub-path, since Envoy appends the original
/// path of the request it checks.
#[utoipa::path(
    method(get, post, put, delete, patch, head, options, trace),
    path = "/v1/verify/{*path}",
    tag = "verify",
    summary = "Forward-auth check (Envoy: the original path appended)",
    description = "The same check as `/v1/verify`; the path after `/v1/verify/` is ignored.",
    params(("path" = String, Path, description = "The original request's path, any number of segments; ignored.")),
    security(("bearer" = []), ("access_cookie" = [])),
    responses(
        (status = 200, response = ForwardAuthIdentity),
        (status = 401, response = BearerUnauthorized),
        (status = 403, description = "`csrf_rejected` or `forbidden`, as for `/v1/verify`.",
            body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn forward_auth_path(caller: AuthUser) -> Response {
    identity_headers(caller)
}

/// The answer for an authenticated caller.
fn identity_headers(AuthUser(caller): AuthUser) -> Response {
    let mut headers = HeaderMap::new();
    let roles = caller.claims.roles.join(",");
    for (name, value) in [
        ("x-auth-user", caller.user_id.to_string()),
        ("x-auth-session", caller.session_id.to_string()),
        ("x-auth-roles", roles),
    ] {
        match HeaderValue::from_str(&value) {
            Ok(value) => {
                headers.insert(name, value);
            }
            // Roles are restricted to header-safe characters when granted; should one slip
            // through, refuse rather than pass on an identity we cannot express faithfully.
            Err(_) => {
                return ApiError::Forbidden("the identity cannot be expressed in headers")
                    .into_response();
            }
        }
    }
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    (StatusCode::OK, headers).into_response()
}
