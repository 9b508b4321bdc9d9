//! Response bodies shared by several routes.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokenauth_core::Timestamp;
use tokenauth_core::service::IssuedTokens;
use tokenauth_core::user::User;
use utoipa::ToSchema;

/// A user as the API shows them.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserBody {
    /// User id (`sub`).
    #[schema(format = Uuid)]
    pub id: String,
    /// Normalised email (trimmed, lower-cased).
    #[schema(format = Email)]
    pub email: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Creation time, RFC 3339.
    #[schema(format = DateTime)]
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

/// The token response of the contract (header mode): both tokens in the body.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenBody {
    /// The access token, a JWT after RFC 9068 (`typ: at+jwt`).
    access_token: String,
    /// Always `Bearer`.
    token_type: BearerType,
    /// Seconds until the access token expires.
    expires_in: u64,
    /// The opaque refresh token (75 base64url characters); the one it replaces stops working.
    refresh_token: String,
    /// Seconds until the refresh token expires.
    refresh_token_expires_in: u64,
    /// The session the tokens belong to.
    #[schema(format = Uuid)]
    session_id: String,
    /// The user, on sign-up and login (not on refresh).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    user: Option<UserBody>,
}

/// `token_type` of header mode.
#[derive(Debug, Serialize, ToSchema)]
enum BearerType {
    /// RFC 6750 bearer tokens.
    Bearer,
}

/// `token_type` of cookie mode.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum CookieType {
    /// The tokens travel in HttpOnly cookies.
    Cookie,
}

/// A token response in the transport the client asked for.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum TokenResponse {
    /// Header mode.
    Header(TokenBody),
    /// Cookie mode.
    Cookie(CookieTokenBody),
}

impl TokenResponse {
    /// The response, never cached (RFC 6749 §5.1).
    pub fn respond(self, status: StatusCode) -> Response {
        no_store((status, Json(self)).into_response())
    }
}

impl TokenBody {
    /// The body for `tokens`, with the user on sign-up and login.
    pub fn new(tokens: IssuedTokens, user: Option<&User>) -> Self {
        Self {
            access_token: tokens.access_token,
            token_type: BearerType::Bearer,
            expires_in: tokens.expires_in,
            refresh_token: tokens.refresh_token.expose().to_owned(),
            refresh_token_expires_in: tokens.refresh_token_expires_in,
            session_id: tokens.session_id.to_string(),
            user: user.map(UserBody::from),
        }
    }
}

/// The token response of cookie mode: the tokens travel in cookies, the body says only when
/// they expire and which session they belong to.
#[derive(Debug, Serialize, ToSchema)]
pub struct CookieTokenBody {
    /// Always `cookie`.
    token_type: CookieType,
    /// Seconds until the access token (in its cookie) expires.
    expires_in: u64,
    /// Seconds until the refresh token (in its cookie) expires.
    refresh_token_expires_in: u64,
    /// The session the tokens belong to.
    #[schema(format = Uuid)]
    session_id: String,
    /// The user, on sign-up and login (not on refresh).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    user: Option<UserBody>,
}

impl CookieTokenBody {
    /// The body for `tokens`, with the user on sign-up and login.
    pub fn new(tokens: &IssuedTokens, user: Option<&User>) -> Self {
        Self {
            token_type: CookieType::Cookie,
            expires_in: tokens.expires_in,
            refresh_token_expires_in: tokens.refresh_token_expires_in,
            session_id: tokens.session_id.to_string(),
            user: user.map(UserBody::from),
        }
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
