//! [`AuthRejection`]: why a request was refused, answered as problem+json.

use ::axum::http::{HeaderValue, StatusCode, header};
use ::axum::response::{IntoResponse, Response};
use serde::Serialize;
use thiserror::Error;

use crate::error::VerifierError;

/// Why the axum integration refused a request.
///
/// As a response: RFC 9457 problem+json `{type, title, status, detail,
/// error}` with `Cache-Control: no-store`; 401 and `WWW-Authenticate:
/// Bearer error="invalid_token"` for a missing or invalid token (`error`
/// `invalid_token`, `token_expired` or `session_revoked`), 403 with `error`
/// `insufficient_role` for a missing role, 503 with `error` `keys_stale`
/// (and `Retry-After`) while the verifier fails closed because its keys could
/// not be refreshed for longer than `max_stale`. The detail never says which
/// check a bad token failed (that is logged at debug level).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AuthRejection {
    /// No usable `Authorization: Bearer` header.
    #[error("{0}")]
    MissingToken(&'static str),
    /// The token failed verification.
    #[error("the access token is invalid")]
    InvalidToken(#[source] VerifierError),
    /// The token is valid but lacks the role the route requires.
    #[error("this resource requires a role the token does not have")]
    InsufficientRole,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    error: &'a str,
}

impl AuthRejection {
    /// The stable machine code: `invalid_token`, `token_expired`,
    /// `session_revoked`, `keys_stale` or `insufficient_role`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            AuthRejection::MissingToken(_) => "invalid_token",
            AuthRejection::InvalidToken(VerifierError::Expired) => "token_expired",
            AuthRejection::InvalidToken(VerifierError::SessionRevoked) => "session_revoked",
            AuthRejection::InvalidToken(VerifierError::KeysStale) => "keys_stale",
            AuthRejection::InvalidToken(_) => "invalid_token",
            AuthRejection::InsufficientRole => "insufficient_role",
        }
    }

    /// 401 for token problems, 403 for a missing role, 503 for stale keys.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            AuthRejection::InsufficientRole => StatusCode::FORBIDDEN,
            AuthRejection::InvalidToken(VerifierError::KeysStale) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            _ => StatusCode::UNAUTHORIZED,
        }
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let status = self.status();
        let (title, detail, challenge) = match &self {
            AuthRejection::MissingToken(why) => {
                ("Missing token", *why, r#"Bearer error="invalid_token""#)
            }
            AuthRejection::InvalidToken(VerifierError::Expired) => (
                "Token expired",
                "the access token expired",
                r#"Bearer error="invalid_token", error_description="The access token expired""#,
            ),
            AuthRejection::InvalidToken(VerifierError::SessionRevoked) => (
                "Session revoked",
                "the session of this access token has been revoked",
                r#"Bearer error="invalid_token", error_description="The session has been revoked""#,
            ),
            AuthRejection::InvalidToken(VerifierError::KeysStale) => (
                "Keys stale",
                "the signing keys could not be refreshed from the auth server; try again later",
                "",
            ),
            AuthRejection::InvalidToken(error) => {
                tracing::debug!(reason = error.reason(), "rejected a bearer token");
                (
                    "Invalid token",
                    "the access token is invalid",
                    r#"Bearer error="invalid_token""#,
                )
            }
            AuthRejection::InsufficientRole => (
                "Insufficient role",
                "this resource requires a role the token does not have",
                r#"Bearer error="insufficient_scope""#,
            ),
        };
        let code = self.code();
        let problem = Problem {
            kind: format!("urn:tokenauth:problem:{code}"),
            title,
            status: status.as_u16(),
            detail,
            error: code,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if challenge.is_empty() {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
        } else {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}
