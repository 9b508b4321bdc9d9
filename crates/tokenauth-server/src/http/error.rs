//! Every error the HTTP API can answer, mapped to RFC 9457 problem+json in one place.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokenauth_core::AuthError;
use utoipa::ToSchema;

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A domain failure.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The request is malformed (bad JSON, missing field, bad header).
    #[error("{0}")]
    InvalidRequest(String),
    /// The body is not JSON.
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// The body is larger than the limit.
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// The request headers together are larger than the limit.
    #[error("the request headers are too large")]
    HeadersTooLarge,
    /// No usable `Authorization: Bearer` header.
    #[error("{0}")]
    MissingToken(&'static str),
    /// No such route.
    #[error("no such resource")]
    NotFound,
    /// The route exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The request took longer than the configured timeout.
    #[error("the request timed out")]
    Timeout,
    /// The caller is known but may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// A state-changing request authenticated by cookies lacks the proof that script of an
    /// allowed origin sent it.
    #[error("{0}")]
    CsrfRejected(&'static str),
    /// Any other client error raised below the handlers, answered with its own status.
    #[error("the request was rejected ({0})")]
    Rejected(StatusCode),
}

/// The problem+json body (RFC 9457) plus the stable machine code in `error`. Every error outside
/// `/oauth2/*` has this shape; its schema in the OpenAPI document is derived from this type.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:tokenauth:problem:invalid_token", "title": "Invalid token", "status": 401,
    "detail": "the token is invalid", "error": "invalid_token"
}))]
pub struct Problem {
    /// `urn:tokenauth:problem:` followed by the code in `error`.
    #[serde(rename = "type")]
    #[schema(pattern = "^urn:tokenauth:problem:[a-z_]+$")]
    kind: String,
    /// A short summary of the kind of problem; the same for every occurrence of one `error`.
    title: &'static str,
    /// The HTTP status code, repeated.
    #[schema(minimum = 400, maximum = 599)]
    status: u16,
    /// What went wrong with this request, for a person to read. Never internal detail: for a
    /// 500 it only says the error was logged.
    detail: String,
    /// The stable machine code: `invalid_request`, `invalid_credentials`, `invalid_token`,
    /// `token_expired`, `session_revoked`, `refresh_token_reused`, `invalid_client`,
    /// `account_disabled`, `forbidden`, `csrf_rejected`, `not_found`, `method_not_allowed`,
    /// `email_taken`, `payload_too_large`, `unsupported_media_type`, `headers_too_large`,
    /// `rate_limited`, `overloaded`, `timeout` or `internal_error`.
    #[schema(pattern = "^[a-z_]+$")]
    error: &'static str,
}

impl ApiError {
    /// The HTTP status, the stable machine code and a short title.
    fn classify(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::Auth(error) => classify_auth(error),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            ApiError::InvalidRequest(_) => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Invalid request",
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            ),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload too large",
            ),
            ApiError::HeadersTooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                "Request headers too large",
            ),
            ApiError::MissingToken(_) => {
                (StatusCode::UNAUTHORIZED, "invalid_token", "Missing token")
            }
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
            ),
            ApiError::Timeout => (
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "Request timed out",
            ),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            ApiError::CsrfRejected(_) => (
                StatusCode::FORBIDDEN,
                "csrf_rejected",
                "Cross-site request rejected",
            ),
            ApiError::Rejected(status) => (*status, "invalid_request", "Request rejected"),
        }
    }

    /// Whether the answer is 401 (the credentials presented are no good).
    pub fn is_unauthorized(&self) -> bool {
        self.classify().0 == StatusCode::UNAUTHORIZED
    }

    /// The `WWW-Authenticate` challenge the answer carries. Every 401 has one (RFC 7235
    /// §3.1), decided by kind rather than by a list of variants: client authentication is
    /// challenged with Basic, and any other 401 is about a token (missing, bad, expired, of a
    /// revoked session, a reused refresh token, or a kind added later) and gets RFC 6750's
    /// `Bearer error="invalid_token"`. A wrong password at login is the one 401 that is not
    /// about a token: there is no scheme to challenge with, so it carries none.
    fn challenge(&self, status: StatusCode) -> Option<&'static str> {
        if status != StatusCode::UNAUTHORIZED {
            return None;
        }
        Some(match self {
            ApiError::Auth(AuthError::InvalidClient) => r#"Basic realm="tokenauth""#,
            ApiError::Auth(AuthError::InvalidCredentials) => return None,
            ApiError::MissingToken(_) => r#"Bearer realm="tokenauth", error="invalid_token""#,
            ApiError::Auth(AuthError::TokenExpired) => {
                r#"Bearer error="invalid_token", error_description="The access token expired""#
            }
            ApiError::Auth(AuthError::RefreshTokenReused) => {
                r#"Bearer error="invalid_token", error_description="The refresh token was already used; its session is revoked""#
            }
            _ => r#"Bearer error="invalid_token""#,
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, title) = self.classify();
        let detail = match &self {
            ApiError::Timeout | ApiError::Auth(AuthError::Overloaded) => self.to_string(),
            // Which database failure it was goes to the log, never to the client.
            ApiError::Auth(AuthError::Unavailable(_)) => {
                tracing::error!(error = %self, "database unavailable");
                "the database is unavailable; retry shortly".to_owned()
            }
            _ if status.is_server_error() => {
                // Internal detail goes to the log, never to the client.
                tracing::error!(error = %self, "internal error");
                "an internal error occurred; it has been logged".to_owned()
            }
            _ => self.to_string(),
        };
        let body = Problem {
            kind: format!("urn:tokenauth:problem:{code}"),
            title,
            status: status.as_u16(),
            detail,
            error: code,
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = self.challenge(status) {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let ApiError::Auth(AuthError::RateLimited { retry_after }) = self {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(tokenauth_core::error::retry_after_secs(retry_after)),
            );
        }
        response
    }
}

/// The status, `code` and title of a domain error.
fn classify_auth(error: &AuthError) -> (StatusCode, &'static str, &'static str) {
    use AuthError as A;
    match error {
        A::InvalidCredentials => (
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "Invalid credentials",
        ),
        A::AccountDisabled => (
            StatusCode::FORBIDDEN,
            "account_disabled",
            "Account disabled",
        ),
        A::EmailTaken => (
            StatusCode::CONFLICT,
            "email_taken",
            "Email already registered",
        ),
        A::InvalidInput { .. } => (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Invalid request",
        ),
        A::InvalidToken => (StatusCode::UNAUTHORIZED, "invalid_token", "Invalid token"),
        A::TokenExpired => (StatusCode::UNAUTHORIZED, "token_expired", "Token expired"),
        A::RefreshTokenReused => (
            StatusCode::UNAUTHORIZED,
            "refresh_token_reused",
            "Refresh token reused",
        ),
        A::SessionRevoked => (
            StatusCode::UNAUTHORIZED,
            "session_revoked",
            "Session revoked",
        ),
        A::InvalidClient => (
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        ),
        A::NotFound => (StatusCode::NOT_FOUND, "not_found", "Not found"),
        A::RateLimited { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests",
        ),
        A::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "overloaded", "Server busy"),
        A::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
        ),
        A::Internal(_) | _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal error",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every 401 this API can answer, one per kind.
    fn unauthorized() -> Vec<ApiError> {
        vec![
            ApiError::MissingToken("no token"),
            ApiError::Auth(AuthError::InvalidToken),
            ApiError::Auth(AuthError::TokenExpired),
            ApiError::Auth(AuthError::SessionRevoked),
            ApiError::Auth(AuthError::RefreshTokenReused),
            ApiError::Auth(AuthError::InvalidClient),
            ApiError::Auth(AuthError::InvalidCredentials),
        ]
    }

    #[test]
    fn every_401_about_a_token_carries_a_bearer_challenge() {
        for error in unauthorized() {
            let (status, code, _) = error.classify();
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{code}");
            let response = error.into_response();
            let challenge = response
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .and_then(|value| value.to_str().ok());
            match code {
                "invalid_client" => assert_eq!(challenge, Some(r#"Basic realm="tokenauth""#)),
                "invalid_credentials" => assert_eq!(challenge, None),
                _ => assert!(
                    challenge
                        .is_some_and(|c| c.starts_with(r#"Bearer "#)
                            && c.contains(r#"error="invalid_token""#)),
                    "{code}: {challenge:?}"
                ),
            }
        }
    }

    #[test]
    fn answers_other_than_401_carry_no_challenge() {
        for error in [
            ApiError::Forbidden("no"),
            ApiError::CsrfRejected("no"),
            ApiError::NotFound,
            ApiError::Timeout,
        ] {
            let response = error.into_response();
            assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
        }
    }
}
