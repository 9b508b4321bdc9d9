//! Authentication of API clients on the OAuth 2.0 endpoints (RFC 6749 §2.3.1): HTTP Basic with
//! the form-urlencoded client id and secret (`client_secret_basic`), or `client_id` and
//! `client_secret` in the form body (`client_secret_post`); and the RFC 6749 §5.2 error
//! responses those endpoints answer with (plain JSON, not problem+json).

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use tokenauth_core::AuthError;
use utoipa::ToSchema;
use zeroize::Zeroizing;

/// Marks a response as an OAuth 2.0 error already in its final shape, so the problem+json
/// middleware leaves it alone.
#[derive(Debug, Clone, Copy)]
pub struct OAuthResponse;

/// An error of `/oauth2/*`, answered as `{"error": …}` (RFC 6749 §5.2).
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// Client authentication failed or was missing: 401 with a Basic challenge.
    #[error("client authentication failed")]
    InvalidClient,
    /// The request is malformed.
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// An internal failure; logged, never described to the client.
    #[error("internal error: {0}")]
    Server(AuthError),
}

impl From<AuthError> for OAuthError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::InvalidClient => OAuthError::InvalidClient,
            other => OAuthError::Server(other),
        }
    }
}

/// The body of an RFC 6749 §5.2 error.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `temporarily_unavailable` or `server_error`.
    #[schema(example = "invalid_client")]
    error: &'static str,
    /// What went wrong, for a person to read; absent for `server_error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<String>,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let (status, error, error_description) = match &self {
            OAuthError::InvalidClient => (
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                Some(self.to_string()),
            ),
            OAuthError::InvalidRequest(detail) => (
                StatusCode::BAD_REQUEST,
                "invalid_request",
                Some((*detail).to_owned()),
            ),
            OAuthError::Server(error @ (AuthError::Overloaded | AuthError::Unavailable(_))) => {
                tracing::warn!(%error, "an OAuth endpoint is temporarily unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    None,
                )
            }
            OAuthError::Server(error) => {
                tracing::error!(%error, "internal error on an OAuth endpoint");
                (StatusCode::INTERNAL_SERVER_ERROR, "server_error", None)
            }
        };
        let body = OAuthErrorBody {
            error,
            error_description,
        };
        let mut response = no_store((status, Json(body)).into_response());
        if matches!(self, OAuthError::InvalidClient) {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="tokenauth""#),
            );
        }
        response
    }
}

/// Adds `Cache-Control: no-store` and `Pragma: no-cache`, and marks the response as final.
pub fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response.extensions_mut().insert(OAuthResponse);
    response
}

/// A client id and secret as presented; the secret is wiped on drop.
pub struct ClientCredentials {
    /// The client id.
    pub client_id: String,
    /// The secret.
    pub secret: Zeroizing<String>,
}

/// The credentials of the request: from `Authorization: Basic` or from the form fields
/// `client_id`/`client_secret`, never both.
///
/// # Errors
/// [`OAuthError::InvalidClient`] if none are given, the header is not well-formed Basic, or
/// the form has a `client_id` without a secret; [`OAuthError::InvalidRequest`] if both methods
/// are used at once.
pub fn client_credentials(
    headers: &HeaderMap,
    form_id: Option<&str>,
    form_secret: Option<&str>,
) -> Result<ClientCredentials, OAuthError> {
    match (headers.get(header::AUTHORIZATION), form_id, form_secret) {
        (Some(_), _, Some(_)) => Err(OAuthError::InvalidRequest(
            "use one client authentication method, not both",
        )),
        (Some(value), _, None) => parse_basic(value).ok_or(OAuthError::InvalidClient),
        (None, Some(id), Some(secret)) => Ok(ClientCredentials {
            client_id: id.to_owned(),
            secret: Zeroizing::new(secret.to_owned()),
        }),
        (None, _, _) => Err(OAuthError::InvalidClient),
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`; `None` if anything is off (not ASCII,
/// another scheme, bad base64, no colon, a bad escape, not UTF-8, an empty id). Public so that
/// fuzzers and tests reach it.
pub fn parse_basic(value: &HeaderValue) -> Option<ClientCredentials> {
    let value = value.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = Zeroizing::new(STANDARD.decode(encoded.trim()).ok()?);
    let text = std::str::from_utf8(&decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    let client_id = form_decode(id)?;
    let secret = Zeroizing::new(form_decode(secret)?);
    (!client_id.is_empty()).then_some(ClientCredentials { client_id, secret })
}

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a byte; the result
/// must be UTF-8. `None` for a malformed escape or a result that is not UTF-8. Public so that
/// fuzzers and tests reach it.
pub fn form_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut input = text.bytes();
    while let Some(byte) = input.next() {
        match byte {
            b'+' => bytes.push(b' '),
            b'%' => {
                let high = char::from(input.next()?).to_digit(16)?;
                let low = char::from(input.next()?).to_digit(16)?;
                bytes.push(u8::try_from(high * 16 + low).ok()?);
            }
            other => bytes.push(other),
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(raw: &str) -> Option<(String, String)> {
        let value = HeaderValue::from_str(raw).ok()?;
        parse_basic(&value).map(|c| (c.client_id, c.secret.to_string()))
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let encoded = STANDARD.encode("tac_a%3Ab:s%2B3+cr%C3%A9t");
        assert_eq!(
            basic(&format!("Basic {encoded}")),
            Some(("tac_a:b".into(), "s+3 crét".into()))
        );
        assert_eq!(
            basic(&format!("basic {}", STANDARD.encode("id:"))),
            Some(("id".into(), String::new()))
        );
    }

    #[test]
    fn malformed_basic_headers_are_rejected() {
        for raw in [
            "Basic",
            "Basic !!!",
            "Bearer abc",
            &format!("Basic {}", STANDARD.encode("no-colon")),
            &format!("Basic {}", STANDARD.encode(":secret")),
            &format!("Basic {}", STANDARD.encode("id:%zz")),
            &format!("Basic {}", STANDARD.encode([0xff, b':', b'x'])),
        ] {
            assert_eq!(basic(raw), None, "{raw}");
        }
    }
}
