//! The caller's account: who am I, sessions, logout, password change.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokenauth_core::SessionId;
use tokenauth_core::session::Session;
use tokenauth_jwt::AccessTokenClaims;
use utoipa::ToSchema;

use super::credentials::Client;
use super::responses::{UserBody, no_store, rfc3339, with_cookies};
use crate::http::browser::Transport;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, AuthUser};
use crate::http::openapi::responses::{
    BadRequest, BearerUnauthorized, CsrfRejected, NotFound, RateLimited, UnsupportedMediaType,
};
use crate::http::openapi::schemas::TransportHeader;
use crate::http::state::AppState;

/// The caller's user and the verified claims of the access token.
#[derive(Serialize, ToSchema)]
#[schema(as = Me)]
struct MeBody {
    /// The user as stored now.
    user: UserBody,
    /// The claims of the access token the request was authenticated with.
    #[schema(value_type = crate::http::openapi::schemas::AccessTokenClaims)]
    claims: AccessTokenClaims,
}

/// `GET /v1/me`: the caller's user and the token's claims.
#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "account",
    summary = "Who am I",
    security(("bearer" = []), ("access_cookie" = [])),
    responses(
        (status = 200, description = "The caller's user and the verified claims.", body = MeBody),
        (status = 401, response = BearerUnauthorized),
        (status = 404, response = NotFound),
    )
)]
pub async fn me(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<Response, ApiError> {
    let user = state.auth.user(caller.user_id).await?;
    let body = MeBody {
        user: UserBody::from(&user),
        claims: caller.claims,
    };
    Ok(no_store(Json(body).into_response()))
}

/// A live session of the caller.
#[derive(Serialize, ToSchema)]
#[schema(as = Session)]
struct SessionBody {
    /// Session id (`sid` of its access tokens).
    #[schema(format = Uuid)]
    id: String,
    /// Whether this is the session of the calling token.
    current: bool,
    /// When it was opened (login or sign-up), RFC 3339.
    #[schema(format = DateTime)]
    created_at: String,
    /// When its refresh token was last used, RFC 3339.
    #[schema(format = DateTime)]
    last_used_at: String,
    /// When its refresh token expires unless it is used before (the idle timeout after its
    /// last use, never after `absolute_expires_at`), RFC 3339.
    #[schema(format = DateTime)]
    expires_at: String,
    /// The session's absolute end (`created_at` + `session_max_lifetime`), however often it is
    /// refreshed, RFC 3339.
    #[schema(format = DateTime)]
    absolute_expires_at: String,
    /// The `User-Agent` of the request that opened it.
    user_agent: Option<String>,
    /// The client address that opened it.
    ip: Option<String>,
}

impl SessionBody {
    fn new(session: &Session, current: SessionId) -> Self {
        Self {
            id: session.id.to_string(),
            current: session.id == current,
            created_at: rfc3339(session.created_at),
            last_used_at: rfc3339(session.last_used_at),
            expires_at: rfc3339(session.expires_at),
            absolute_expires_at: rfc3339(session.absolute_expires_at),
            user_agent: session.user_agent.clone(),
            ip: session.ip.clone(),
        }
    }
}

/// The caller's live sessions.
#[derive(Serialize, ToSchema)]
#[schema(as = Sessions)]
struct SessionsBody {
    /// Newest first.
    sessions: Vec<SessionBody>,
}

/// `GET /v1/sessions`: the caller's active sessions, newest first.
#[utoipa::path(
    get,
    path = "/v1/sessions",
    tag = "account",
    summary = "List the caller's sessions",
    security(("bearer" = []), ("access_cookie" = [])),
    responses(
        (status = 200, description = "The live sessions, newest first.", body = SessionsBody),
        (status = 401, response = BearerUnauthorized),
    )
)]
pub async fn list_sessions(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<Response, ApiError> {
    let sessions = state.auth.sessions(caller.user_id).await?;
    let body = SessionsBody {
        sessions: sessions
            .iter()
            .map(|s| SessionBody::new(s, caller.session_id))
            .collect(),
    };
    Ok(no_store(Json(body).into_response()))
}

/// `DELETE /v1/sessions/{id}`: revokes one of the caller's sessions; 404 for any other id.
#[utoipa::path(
    delete,
    path = "/v1/sessions/{id}",
    tag = "account",
    summary = "Revoke one of the caller's sessions",
    params(("id" = String, Path, description = "A session id from `GET /v1/sessions`.")),
    security(("bearer" = []), ("access_cookie" = [])),
    responses(
        (status = 204, description = "Revoked: its refresh token and access tokens stop working."),
        (status = 401, response = BearerUnauthorized),
        (status = 403, response = CsrfRejected),
        (status = 404, description = "`not_found`: not one of the caller's live sessions (or not a session id).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_session(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let session: SessionId = id.parse().map_err(|_| ApiError::NotFound)?;
    state
        .auth
        .revoke_session(caller.user_id, session, client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/sessions`: revokes every session of the caller ("log out everywhere"), the
/// current one included; in cookie mode also deletes both cookies.
#[utoipa::path(
    delete,
    path = "/v1/sessions",
    tag = "account",
    summary = "Log out everywhere",
    params(TransportHeader),
    security(("bearer" = []), ("access_cookie" = [])),
    responses(
        (status = 204, description = "Every session of the caller is revoked, this one included.",
            headers(("Set-Cookie" = String, description = "cookie mode: both cookies cleared"))),
        (status = 400, response = BadRequest),
        (status = 401, response = BearerUnauthorized),
        (status = 403, response = CsrfRejected),
    )
)]
pub async fn revoke_all_sessions(
    State(state): State<AppState>,
    headers: HeaderMap,
    AuthUser(caller): AuthUser,
    Client(client): Client,
) -> Result<Response, ApiError> {
    let transport = state.browser.transport(&headers)?;
    state
        .auth
        .revoke_all_sessions(caller.user_id, client)
        .await?;
    let response = StatusCode::NO_CONTENT.into_response();
    Ok(match transport {
        Transport::Cookie => with_cookies(response, state.browser.clear_cookies()),
        Transport::Header => response,
    })
}

/// `POST /v1/logout`: revokes the caller's session; in cookie mode also deletes both cookies.
#[utoipa::path(
    post,
    path = "/v1/logout",
    tag = "account",
    summary = "Log out: revoke the caller's session",
    params(TransportHeader),
    security(("bearer" = []), ("access_cookie" = [])),
    responses(
        (status = 204, description = "The session is revoked (idempotent).",
            headers(("Set-Cookie" = String, description = "cookie mode: both cookies cleared"))),
        (status = 400, response = BadRequest),
        (status = 401, response = BearerUnauthorized),
        (status = 403, response = CsrfRejected),
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    AuthUser(caller): AuthUser,
    Client(client): Client,
) -> Result<Response, ApiError> {
    let transport = state.browser.transport(&headers)?;
    state
        .auth
        .logout(caller.user_id, caller.session_id, client)
        .await?;
    let response = StatusCode::NO_CONTENT.into_response();
    Ok(match transport {
        Transport::Cookie => with_cookies(response, state.browser.clear_cookies()),
        Transport::Header => response,
    })
}

/// `{current_password, new_password}`.
#[derive(Deserialize, ToSchema)]
pub struct PasswordChangeRequest {
    /// The password the account has now.
    current_password: String,
    /// Held to the sign-up rules (8 to 1024 bytes of UTF-8 after NFKC, not a common password),
    /// and different from the current one.
    #[schema(min_length = 8, max_length = 1024)]
    new_password: String,
}

/// `POST /v1/password`: 204 once the password is replaced and every other session of the
/// caller revoked (the calling session stays). 400 when the new password breaks the policy,
/// 401 `invalid_credentials` for a wrong current password, 429 `rate_limited` while the
/// account is locked out (right password or not) or the address used up its rate; nothing
/// changes then.
#[utoipa::path(
    post,
    path = "/v1/password",
    tag = "account",
    summary = "Change the password",
    description = "Checks the current password, stores the new one and revokes every other session \
        of the user; the calling session stays, with its tokens.",
    request_body = PasswordChangeRequest,
    security(("bearer" = []), ("access_cookie" = [])),
    responses(
        (status = 204, description = "Changed; every other session is revoked."),
        (status = 400, description = "`invalid_request`: a malformed body, or a new password that breaks the rules (the detail names `new_password`). Nothing changes.",
            body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_token`, `token_expired` or `session_revoked` (the access token, with `WWW-Authenticate`), or `invalid_credentials` (the current password is wrong; nothing changes).",
            body = Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "for a token error: `Bearer error=\"invalid_token\"`"))),
        (status = 403, response = CsrfRejected),
        (status = 415, response = UnsupportedMediaType),
        (status = 429, response = RateLimited),
    )
)]
pub async fn change_password(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
    Client(client): Client,
    ApiJson(body): ApiJson<PasswordChangeRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .auth
        .change_password(
            caller.user_id,
            caller.session_id,
            body.current_password,
            body.new_password,
            client,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
