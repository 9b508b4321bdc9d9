//! Response bodies shared by several routes.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokenauth_core::Timestamp;
use tokenauth_core::service::IssuedTokens;
use tokenauth_core::user::User;

/// A user as the API shows them.
#[derive(Debug, Serialize)]
pub struct UserBody {
    /// User id (`sub`).
    pub id: String,
    /// Normalised email.
    pub email: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Creation time, RFC 3339.
    pub created_at: String,
}

impl From<&User> for UserBody {
    fn from(user: &User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.to_string(),
            roles: user.roles.clone(),
            created_at: rfc3339(user.created_at),
        }
    }
}

/// The token response of the contract.
#[derive(Debug, Serialize)]
pub struct TokenBody {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
    refresh_token_expires_in: u64,
    session_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<UserBody>,
}

impl TokenBody {
    /// The body for `tokens`, with the user on sign-up and login.
    pub fn new(tokens: IssuedTokens, user: Option<&User>) -> Self {
        Self {
            access_token: tokens.access_token,
            token_type: "Bearer",
            expires_in: tokens.expires_in,
            refresh_token: tokens.refresh_token.expose().to_owned(),
            refresh_token_expires_in: tokens.refresh_token_expires_in,
            session_id: tokens.session_id.to_string(),
            user: user.map(UserBody::from),
        }
    }

    /// The response, never cached (RFC 6749 §5.1).
    pub fn respond(self, status: StatusCode) -> Response {
        no_store((status, Json(self)).into_response())
    }
}

/// The token response of cookie mode: the tokens travel in cookies, the body says only when
/// they expire and which session they belong to.
#[derive(Debug, Serialize)]
pub struct CookieTokenBody {
    token_type: &'static str,
    expires_in: u64,
    refresh_token_expires_in: u64,
    session_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<UserBody>,
}

impl CookieTokenBody {
    /// The body for `tokens`, with the user on sign-up and login.
    pub fn new(tokens: &IssuedTokens, user: Option<&User>) -> Self {
        Self {
            token_type: "cookie",
            expires_in: tokens.expires_in,
            refresh_token_expires_in: tokens.refresh_token_expires_in,
            session_id: tokens.session_id.to_string(),
            user: user.map(UserBody::from),
        }
    }

    /// The response, never cached.
    pub fn respond(self, status: StatusCode) -> Response {
        no_store((status, Json(self)).into_response())
    }
}

/// `response` with these `Set-Cookie` headers added.
pub fn with_cookies(mut response: Response, cookies: [HeaderValue; 2]) -> Response {
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// Marks a response as not to be stored by any cache.
pub fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// RFC 3339 text of a timestamp.
pub fn rfc3339(at: Timestamp) -> String {
    jiff::Timestamp::from_millisecond(at.as_millis())
        .map(|t| t.to_string())
        .unwrap_or_default()
}
