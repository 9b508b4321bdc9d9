//! The caller's account: who am I, sessions, logout, password change.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokenauth_core::SessionId;
use tokenauth_core::session::Session;
use tokenauth_jwt::AccessTokenClaims;

use super::credentials::Client;
use super::responses::{UserBody, no_store, rfc3339, with_cookies};
use crate::browser::Transport;
use crate::error::ApiError;
use crate::extract::{ApiJson, AuthUser};
use crate::state::AppState;

#[derive(Serialize)]
struct MeBody {
    user: UserBody,
    claims: AccessTokenClaims,
}

/// `GET /v1/me`: the caller's user and the token's claims.
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

#[derive(Serialize)]
struct SessionBody {
    id: String,
    current: bool,
    created_at: String,
    last_used_at: String,
    expires_at: String,
    user_agent: Option<String>,
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
            user_agent: session.user_agent.clone(),
            ip: session.ip.clone(),
        }
    }
}

#[derive(Serialize)]
struct SessionsBody {
    sessions: Vec<SessionBody>,
}

/// `GET /v1/sessions`: the caller's active sessions, newest first.
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
#[derive(Deserialize)]
pub struct PasswordChangeRequest {
    current_password: String,
    new_password: String,
}

/// `POST /v1/password`: 204 once the password is replaced and every other session of the
/// caller revoked (the calling session stays). 400 when the new password breaks the policy,
/// 401 `invalid_credentials` for a wrong current password; nothing changes then.
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
