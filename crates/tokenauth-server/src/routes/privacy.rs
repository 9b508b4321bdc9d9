//! The caller's data protection rights: `GET /v1/me/export` (everything stored about them) and
//! `DELETE /v1/me` (erase the account).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokenauth_core::Timestamp;
use tokenauth_core::audit::AuditEvent;
use tokenauth_core::service::UserExport;
use tokenauth_core::session::Session;

use super::credentials::Client;
use super::responses::{no_store, rfc3339, with_cookies};
use crate::browser::Transport;
use crate::error::ApiError;
use crate::extract::{ApiJson, AuthUser};
use crate::state::AppState;

/// The export document: every stored field of the account, its sessions and its audit events.
/// The password hash is left out: it is a credential, not information about the person, and
/// an export travels further than the database should.
#[derive(Serialize)]
struct ExportBody {
    exported_at: String,
    user: ExportedUser,
    sessions: Vec<ExportedSession>,
    audit_events: Vec<ExportedEvent>,
    audit_events_truncated: bool,
}

#[derive(Serialize)]
struct ExportedUser {
    id: String,
    email: String,
    roles: Vec<String>,
    created_at: String,
    disabled_at: Option<String>,
}

#[derive(Serialize)]
struct ExportedSession {
    id: String,
    created_at: String,
    last_used_at: String,
    expires_at: String,
    revoked_at: Option<String>,
    revoke_reason: Option<&'static str>,
    refresh_count: i64,
    user_agent: Option<String>,
    ip: Option<String>,
}

#[derive(Serialize)]
struct ExportedEvent {
    id: String,
    at: String,
    kind: &'static str,
    session_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: Option<String>,
}

impl ExportBody {
    fn new(export: UserExport, now: Timestamp) -> Self {
        let user = &export.user;
        Self {
            exported_at: rfc3339(now),
            user: ExportedUser {
                id: user.id.to_string(),
                email: user.email.to_string(),
                roles: user.roles.clone(),
                created_at: rfc3339(user.created_at),
                disabled_at: user.disabled_at.map(rfc3339),
            },
            sessions: export.sessions.iter().map(ExportedSession::from).collect(),
            audit_events: export
                .audit_events
                .iter()
                .map(ExportedEvent::from)
                .collect(),
            audit_events_truncated: export.audit_events_truncated,
        }
    }
}

impl From<&Session> for ExportedSession {
    fn from(session: &Session) -> Self {
        Self {
            id: session.id.to_string(),
            created_at: rfc3339(session.created_at),
            last_used_at: rfc3339(session.last_used_at),
            expires_at: rfc3339(session.expires_at),
            revoked_at: session.revoked_at.map(rfc3339),
            revoke_reason: session.revoke_reason.map(|reason| reason.as_str()),
            refresh_count: session.generation,
            user_agent: session.user_agent.clone(),
            ip: session.ip.clone(),
        }
    }
}

impl From<&AuditEvent> for ExportedEvent {
    fn from(event: &AuditEvent) -> Self {
        Self {
            id: event.id.to_string(),
            at: rfc3339(event.at),
            kind: event.kind.as_str(),
            session_id: event.session_id.map(|id| id.to_string()),
            ip: event.ip.clone(),
            user_agent: event.user_agent.clone(),
            detail: event.detail.clone(),
        }
    }
}

/// `GET /v1/me/export`: everything stored about the caller as one JSON document, offered as a
/// download (`Content-Disposition: attachment`), never cached.
pub async fn export(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<Response, ApiError> {
    let export = state.auth.export_user(caller.user_id).await?;
    let body = ExportBody::new(export, state.auth.clock().now());
    let mut response = no_store(Json(body).into_response());
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"tokenauth-export.json\""),
    );
    Ok(response)
}

/// `{password}`: the caller's current password, proving it is them and not a stolen token.
#[derive(Deserialize)]
pub struct DeleteAccountRequest {
    password: String,
}

/// `DELETE /v1/me`: erases the caller's account after checking their password: every session
/// revoked (APIs refuse its access tokens as for a logout), then the account, its sessions and
/// its audit events deleted. 204; in cookie mode also deletes both cookies. 401
/// `invalid_credentials` for a wrong password; nothing changes then.
pub async fn delete_account(
    State(state): State<AppState>,
    headers: HeaderMap,
    AuthUser(caller): AuthUser,
    Client(client): Client,
    ApiJson(body): ApiJson<DeleteAccountRequest>,
) -> Result<Response, ApiError> {
    let transport = state.browser.transport(&headers)?;
    state
        .auth
        .delete_own_account(caller.user_id, body.password, client)
        .await?;
    let response = StatusCode::NO_CONTENT.into_response();
    Ok(match transport {
        Transport::Cookie => with_cookies(response, state.browser.clear_cookies()),
        Transport::Header => response,
    })
}
