//! Sign-up, login and refresh.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokenauth_core::AuthError;
use tokenauth_core::service::{ClientInfo, IssuedTokens};
use tokenauth_core::user::User;

use super::responses::{CookieTokenBody, TokenBody, no_store, with_cookies};
use crate::browser::Transport;
use crate::client_ip::ClientIp;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

/// `{email, password}`.
#[derive(Deserialize)]
pub struct CredentialsRequest {
    email: String,
    password: String,
}

/// `{refresh_token}`.
#[derive(Deserialize)]
pub struct RefreshRequest {
    refresh_token: String,
}

/// The client's user agent and address (as [`crate::client_ip`] resolves it), for the session
/// list and the audit log. Never fails.
pub struct Client(pub ClientInfo);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let ip = parts
            .extensions
            .get::<ClientIp>()
            .map(|ClientIp(ip)| ip.to_string());
        Ok(Self(ClientInfo { user_agent, ip }))
    }
}

/// The transport a credentials request asked for; in cookie mode, after the CSRF check (login
/// CSRF would sign a victim into the attacker's account).
fn transport(state: &AppState, headers: &HeaderMap) -> Result<Transport, ApiError> {
    let transport = state.browser.transport(headers)?;
    if transport == Transport::Cookie {
        state.browser.check_csrf(&Method::POST, headers)?;
    }
    Ok(transport)
}

/// The token response in the transport asked for: tokens in the body (header mode), or in
/// cookies with only lifetimes and ids in the body (cookie mode).
fn respond(
    state: &AppState,
    transport: Transport,
    tokens: IssuedTokens,
    user: Option<&User>,
    status: StatusCode,
) -> Response {
    match transport {
        Transport::Header => TokenBody::new(tokens, user).respond(status),
        Transport::Cookie => {
            let cookies = state
                .browser
                .set_cookies(&tokens.access_token, tokens.refresh_token.expose());
            with_cookies(CookieTokenBody::new(&tokens, user).respond(status), cookies)
        }
    }
}

/// `POST /v1/signup`: 201 with tokens and the user.
pub async fn signup(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    ApiJson(body): ApiJson<CredentialsRequest>,
) -> Result<Response, ApiError> {
    let transport = transport(&state, &headers)?;
    let signed_up = state.auth.signup(&body.email, body.password, client).await;
    if state.uniform_signup {
        // A taken email was hashed like a new one before the insert failed: same work, same
        // answer, no tokens either way.
        return match signed_up {
            Ok(_) | Err(AuthError::EmailTaken) => Ok(no_store(
                (
                    StatusCode::ACCEPTED,
                    Json(json!({
                        "status": "accepted",
                        "detail": "if this email had no account, it has one now: log in"
                    })),
                )
                    .into_response(),
            )),
            Err(other) => Err(other.into()),
        };
    }
    let (user, tokens) = signed_up?;
    Ok(respond(
        &state,
        transport,
        tokens,
        Some(&user),
        StatusCode::CREATED,
    ))
}

/// `POST /v1/login`: 200 with tokens and the user.
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    ApiJson(body): ApiJson<CredentialsRequest>,
) -> Result<Response, ApiError> {
    let transport = transport(&state, &headers)?;
    let (user, tokens) = state.auth.login(&body.email, body.password, client).await?;
    Ok(respond(
        &state,
        transport,
        tokens,
        Some(&user),
        StatusCode::OK,
    ))
}

/// `POST /v1/refresh`: 200 with the rotated tokens. In cookie mode the refresh token comes from
/// the refresh cookie (any body is ignored), and a refused refresh clears both cookies.
pub async fn refresh(
    State(state): State<AppState>,
    Client(client): Client,
    request: Request,
) -> Result<Response, ApiError> {
    let transport = transport(&state, request.headers())?;
    match transport {
        Transport::Header => {
            let ApiJson(body) = ApiJson::<RefreshRequest>::from_request(request, &state).await?;
            let tokens = state.auth.refresh(&body.refresh_token, client).await?;
            Ok(respond(&state, transport, tokens, None, StatusCode::OK))
        }
        Transport::Cookie => {
            let policy = &state.browser;
            let presented = policy
                .cookie(request.headers(), policy.refresh_cookie())
                .map(str::to_owned);
            let refreshed = match presented {
                Some(token) => state
                    .auth
                    .refresh(&token, client)
                    .await
                    .map_err(ApiError::from),
                None => Err(ApiError::MissingToken("no refresh cookie was sent")),
            };
            match refreshed {
                Ok(tokens) => Ok(respond(&state, transport, tokens, None, StatusCode::OK)),
                Err(error) if error.is_unauthorized() => {
                    Ok(with_cookies(error.into_response(), policy.clear_cookies()))
                }
                Err(error) => Err(error),
            }
        }
    }
}
