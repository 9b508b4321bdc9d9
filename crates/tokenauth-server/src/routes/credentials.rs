//! Sign-up, login and refresh.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use tokenauth_core::service::ClientInfo;

use super::responses::TokenBody;
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

/// The client's user agent and address, for the session list. Never fails.
pub struct Client(ClientInfo);

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
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string());
        Ok(Self(ClientInfo { user_agent, ip }))
    }
}

/// `POST /v1/signup`: 201 with tokens and the user.
pub async fn signup(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<CredentialsRequest>,
) -> Result<Response, ApiError> {
    let (user, tokens) = state
        .auth
        .signup(&body.email, body.password, client)
        .await?;
    Ok(TokenBody::new(tokens, Some(&user)).respond(StatusCode::CREATED))
}

/// `POST /v1/login`: 200 with tokens and the user.
pub async fn login(
    State(state): State<AppState>,
    Client(client): Client,
    ApiJson(body): ApiJson<CredentialsRequest>,
) -> Result<Response, ApiError> {
    let (user, tokens) = state.auth.login(&body.email, body.password, client).await?;
    Ok(TokenBody::new(tokens, Some(&user)).respond(StatusCode::OK))
}

/// `POST /v1/refresh`: 200 with the rotated tokens.
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Response, ApiError> {
    let tokens = state.auth.refresh(&body.refresh_token).await?;
    Ok(TokenBody::new(tokens, None).respond(StatusCode::OK))
}
