//! Forward authentication for reverse proxies: nginx `auth_request`, Traefik ForwardAuth and
//! Envoy `ext_authz` (HTTP service) ask here whether a request's Bearer token is good, and pass
//! the identity on to the upstream in headers. The check is the one every endpoint uses, from the
//! in-memory keyring: no database call.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::extract::AuthUser;

/// `GET /v1/verify` (any method and any sub-path, since Envoy forwards the original method and
/// appends the original path): 200 with `X-Auth-User`, `X-Auth-Session` and `X-Auth-Roles` (comma-separated) for a valid
/// access token; the extractor answers 401 otherwise.
pub async fn forward_auth(AuthUser(caller): AuthUser) -> Response {
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
