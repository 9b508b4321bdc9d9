//! Error responses that several operations share, as reusable components
//! (`#/components/responses/NAME`). Each names the `error` codes it can carry; the body is
//! always [`Problem`], except the `OAuth*` ones, which are RFC 6749 §5.2 JSON.
//!
//! The types are never built: they exist for their `ToResponse` implementation, which
//! `#[utoipa::path(responses((status = 401, response = BearerUnauthorized)))]` refers to.

use utoipa::ToResponse;

use crate::http::error::Problem;
use crate::http::routes::client_auth::OAuthErrorBody;

/// `invalid_request`: malformed JSON, a missing or mistyped field, a bad email or password, a
/// bad `X-Token-Transport` header, or a malformed query. `detail` names the problem.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({"type": "urn:tokenauth:problem:invalid_request", "title": "Invalid request",
        "status": 400, "detail": "email: is not a valid email address", "error": "invalid_request"})
)]
pub struct BadRequest(pub Problem);

/// `invalid_token` (missing, malformed, forged or unknown access token), `token_expired` or
/// `session_revoked`, with an RFC 6750 challenge.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "`Bearer error=\"invalid_token\"`, with `error_description` for an expired token")),
    example = json!({"type": "urn:tokenauth:problem:invalid_token", "title": "Missing token",
        "status": 401, "detail": "an Authorization: Bearer access token (or the access cookie) is required",
        "error": "invalid_token"})
)]
pub struct BearerUnauthorized(pub Problem);

/// `csrf_rejected`: a state-changing request authenticated by the access cookie (or asking
/// for cookie mode) without `X-Token-Transport: cookie`, or from an origin that is not allowed.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({"type": "urn:tokenauth:problem:csrf_rejected", "title": "Cross-site request rejected",
        "status": 403, "detail": "the request comes from an origin that is not allowed", "error": "csrf_rejected"})
)]
pub struct CsrfRejected(pub Problem);

/// `not_found`.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({"type": "urn:tokenauth:problem:not_found", "title": "Not found",
        "status": 404, "detail": "no such resource", "error": "not_found"})
)]
pub struct NotFound(pub Problem);

/// `payload_too_large`: the body is over 16 KiB.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({"type": "urn:tokenauth:problem:payload_too_large", "title": "Payload too large",
        "status": 413, "detail": "the request body is too large", "error": "payload_too_large"})
)]
pub struct PayloadTooLarge(pub Problem);

/// `unsupported_media_type`: the body is not declared `application/json`.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({"type": "urn:tokenauth:problem:unsupported_media_type", "title": "Unsupported media type",
        "status": 415, "detail": "the request body must be JSON (Content-Type: application/json)",
        "error": "unsupported_media_type"})
)]
pub struct UnsupportedMediaType(pub Problem);

/// `rate_limited`: the client's address used up its rate for this endpoint, or (login,
/// password change, account deletion) the account is locked out after repeated failed
/// password checks, whatever password this request carries.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "seconds until an attempt can succeed (rounded up)")),
    example = json!({"type": "urn:tokenauth:problem:rate_limited", "title": "Too many requests",
        "status": 429, "detail": "too many requests; retry after 30 s", "error": "rate_limited"})
)]
pub struct RateLimited(pub Problem);

/// `headers_too_large`: the request headers together are over 16 KiB.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({"type": "urn:tokenauth:problem:headers_too_large", "title": "Request headers too large",
        "status": 431, "detail": "the request headers are too large", "error": "headers_too_large"})
)]
pub struct HeadersTooLarge(pub Problem);

/// `internal_error`: a server fault. The detail is logged, never sent.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    example = json!({"type": "urn:tokenauth:problem:internal_error", "title": "Internal error",
        "status": 500, "detail": "an internal error occurred; it has been logged", "error": "internal_error"})
)]
pub struct InternalError(pub Problem);

/// `overloaded` (the password-hashing queue is full) or `timeout` (the request took longer
/// than `request_timeout`).
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "seconds to wait before retrying")),
    example = json!({"type": "urn:tokenauth:problem:timeout", "title": "Request timed out",
        "status": 503, "detail": "the request timed out", "error": "timeout"})
)]
pub struct Unavailable(pub Problem);

/// `invalid_request` (RFC 6749 §5.2): a missing `token`, a repeated parameter, a body that is
/// not a form, or both client authentication methods at once.
#[derive(ToResponse)]
#[response(
    content_type = "application/json",
    headers(("Cache-Control" = String, description = "`no-store`")),
    example = json!({"error": "invalid_request", "error_description": "the token parameter is required"})
)]
pub struct OAuthInvalidRequest(pub OAuthErrorBody);

/// `invalid_client` (RFC 6749 §5.2): client credentials missing, malformed or wrong.
#[derive(ToResponse)]
#[response(
    content_type = "application/json",
    headers(
        ("WWW-Authenticate" = String, description = "`Basic realm=\"tokenauth\"`"),
        ("Cache-Control" = String, description = "`no-store`")
    ),
    example = json!({"error": "invalid_client", "error_description": "client authentication failed"})
)]
pub struct OAuthInvalidClient(pub OAuthErrorBody);

/// `server_error` (RFC 6749 §5.2): a server fault, logged, never described.
#[derive(ToResponse)]
#[response(
    content_type = "application/json",
    example = json!({"error": "server_error"})
)]
pub struct OAuthServerError(pub OAuthErrorBody);

/// The forward-auth success: the caller's identity in headers, no body.
#[derive(ToResponse)]
#[response(
    description = "A valid access token: the identity in headers, no body.",
    headers(
        ("X-Auth-User" = String, description = "the user id (`sub`)"),
        ("X-Auth-Session" = String, description = "the session id (`sid`)"),
        ("X-Auth-Roles" = String, description = "the roles, comma-separated (empty for none)"),
        ("Cache-Control" = String, description = "`no-store`"),
    )
)]
pub struct ForwardAuthIdentity;
