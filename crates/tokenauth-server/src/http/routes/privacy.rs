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
use utoipa::ToSchema;

use super::credentials::Client;
use super::responses::{no_store, rfc3339, with_cookies};
use crate::http::browser::Transport;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{ApiJson, AuthUser};
use crate::http::openapi::responses::{
    BadRequest, BearerUnauthorized, CsrfRejected, RateLimited, UnsupportedMediaType,
};
use crate::http::openapi::schemas::TransportHeader;
use crate::http::state::AppState;

/// The export document: every stored field of the account, its sessions and its audit events.
/// The password hash is left out: it is a credential, not information about the person, and
/// an export travels further than the database should.
#[derive(Serialize, ToSchema)]
#[schema(as = UserExport)]
struct ExportBody {
    /// When the export was made, RFC 3339.
    #[schema(format = DateTime)]
    exported_at: String,
    /// The account.
    user: ExportedUser,
    /// Every stored session, live and ended (until purged), newest first.
    sessions: Vec<ExportedSession>,
    /// The account's audit events within the retention time, newest first.
    audit_events: Vec<ExportedEvent>,
    /// True when there were more than 100,000 audit events (the newest are given).
    audit_events_truncated: bool,
}

/// The account as stored, without its password hash.
#[derive(Serialize, ToSchema)]
struct ExportedUser {
    /// User id (`sub`).
    #[schema(format = Uuid)]
    id: String,
    /// Normalised email.
    email: String,
    /// Roles.
    roles: Vec<String>,
    /// Creation time, RFC 3339.
    #[schema(format = DateTime)]
    created_at: String,
    /// When an operator disabled the account, if they did.
    #[schema(format = DateTime)]
    disabled_at: Option<String>,
}

/// A session as stored.
#[derive(Serialize, ToSchema)]
struct ExportedSession {
    /// Session id (`sid`).
    #[schema(format = Uuid)]
    id: String,
    /// When it was opened, RFC 3339.
    #[schema(format = DateTime)]
    created_at: String,
    /// When its refresh token was last used.
    #[schema(format = DateTime)]
    last_used_at: String,
    /// When its refresh token expires (or expired).
    #[schema(format = DateTime)]
    expires_at: String,
    /// When it was revoked, if it was.
    #[schema(format = DateTime)]
    revoked_at: Option<String>,
    /// Why it was revoked (`logout`, `revoke_all`, `password_changed`, …).
    revoke_reason: Option<&'static str>,
    /// How many times its refresh token was rotated.
    refresh_count: i64,
    /// The `User-Agent` of the request that opened it.
    user_agent: Option<String>,
    /// The client address that opened it.
    ip: Option<String>,
}

/// An audit event about the account.
#[derive(Serialize, ToSchema)]
struct ExportedEvent {
    /// Event id.
    #[schema(format = Uuid)]
    id: String,
    /// When it happened, RFC 3339.
    #[schema(format = DateTime)]
    at: String,
    /// What happened (`signup`, `login_succeeded`, `login_failed`, `session_revoked`, …).
    kind: &'static str,
    /// The session it concerns, if any.
    #[schema(format = Uuid)]
    session_id: Option<String>,
    /// The client address, when a request caused it.
    ip: Option<String>,
    /// The client's `User-Agent`, when a request caused it.
    user_agent: Option<String>,
    /// A short kind-specific detail (a revocation reason, a role).
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
#[utoipa::path(
    get,
    path = "/v1/me/export",
    tag = "account",
    summary = "Export everything stored about the caller",
    description = "The account (without its password hash), every stored session and the audit \
        events within the retention time: the rights of access and portability (GDPR art. 15, 20).",
    security(("bearer" = []), ("access_cookie" = [])),
    responses(
        (status = 200, description = "The export, as a download.", body = ExportBody,
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"tokenauth-export.json\"`"))),
        (status = 401, response = BearerUnauthorized),
    )
)]
pub async fn export(
    State(state): State<AppState>,
    AuthUser(caller): AuthUser,
) -> Result<Response, ApiError> {
    let export = state.auth.export_own_account(caller.user_id).await?;
    let body = ExportBody::new(export, state.auth.clock().now());
    let mut response = no_store(Json(body).into_response());
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"tokenauth-export.json\""),
    );
    Ok(response)
}

/// `{password}`: the caller's current password, proving it is them and not a stolen token.
#[derive(Deserialize, ToSchema)]
pub struct DeleteAccountRequest {
    /// The password the account has now.
    password: String,
}

/// `DELETE /v1/me`: erases the caller's account after checking their password: every session
/// revoked (APIs refuse its access tokens as for a logout), then the account, its sessions and
/// its audit events deleted. 204; in cookie mode also deletes both cookies. 401
/// `invalid_credentials` for a wrong password, 429 `rate_limited` while the account is locked
/// out (right password or not) or the address used up its rate; nothing changes then.
#[utoipa::path(
    delete,
    path = "/v1/me",
    tag = "account",
    summary = "Erase the caller's account",
    description = "Checks the password, revokes every session (APIs refuse their access tokens as \
        after a logout), then deletes the account, its sessions and its audit events: the right \
        to erasure (GDPR art. 17). The email can sign up again, as a new user.",
    params(TransportHeader),
    request_body = DeleteAccountRequest,
    security(("bearer" = []), ("access_cookie" = [])),
    responses(
        (status = 204, description = "Erased; every session revoked.",
            headers(("Set-Cookie" = String, description = "cookie mode: both cookies cleared"))),
        (status = 400, response = BadRequest),
        (status = 401, description = "`invalid_token`, `token_expired` or `session_revoked` (the access token, with `WWW-Authenticate`), or `invalid_credentials` (the password is wrong; nothing changes).",
            body = Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "for a token error: `Bearer error=\"invalid_token\"`"))),
        (status = 403, response = CsrfRejected),
        (status = 415, response = UnsupportedMediaType),
        (status = 429, response = RateLimited),
    )
)]
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
