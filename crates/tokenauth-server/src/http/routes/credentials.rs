//! Sign-up, login and refresh.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokenauth_core::AuthError;
use tokenauth_core::service::{ClientInfo, IssuedTokens};
use tokenauth_core::user::User;

use utoipa::ToSchema;

use super::responses::{CookieTokenBody, TokenBody, TokenResponse, no_store, with_cookies};
use crate::http::browser::Transport;
use crate::http::client_ip::ClientIp;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::ApiJson;
use crate::http::openapi::responses::{
    BadRequest, CsrfRejected, RateLimited, UnsupportedMediaType,
};
use crate::http::openapi::schemas::TransportHeader;
use crate::http::state::AppState;

/// Login's `{email, password}`: no rule but the upper bound applies to the password, so accounts
/// made before a rule existed still log in.
#[derive(Deserialize, ToSchema)]
pub struct CredentialsRequest {
    /// The account's email (trimmed and lower-cased before it is looked up).
    #[schema(example = "ada@example.com")]
    email: String,
    /// The password, compared in NFKC.
    #[schema(example = "correct horse battery staple")]
    password: String,
}

/// Sign-up's `{email, password}`, held to the rules.
#[derive(Deserialize, ToSchema)]
pub struct SignupRequest {
    /// Trimmed and lower-cased; must be a valid address of at most 254 bytes whose domain has a
    /// dot.
    #[schema(format = Email, max_length = 254, example = "ada@example.com")]
    email: String,
    /// Any Unicode, compared in NFKC: 8 to 1024 bytes of UTF-8 after NFKC (the length bounds
    /// here count characters), and not one of the 10,000 most common passwords in any letter
    /// case.
    #[schema(
        min_length = 8,
        max_length = 1024,
        example = "correct horse battery staple"
    )]
    password: String,
}

/// `{refresh_token}`.
#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    /// The refresh token of the last token response.
    refresh_token: String,
}

/// The answer of sign-up with `signup_response = uniform`.
#[derive(Serialize, ToSchema)]
pub struct SignupAccepted {
    /// Always `accepted`.
    #[schema(example = "accepted")]
    status: &'static str,
    /// What the client should do next.
    detail: &'static str,
}

/// The client's user agent and address (as [`crate::http::client_ip`] resolves it), for the session
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
        Transport::Header => TokenResponse::Header(TokenBody::new(tokens, user)).respond(status),
        Transport::Cookie => {
            let cookies = state
                .browser
                .set_cookies(&tokens.access_token, tokens.refresh_token.expose());
            let body = TokenResponse::Cookie(CookieTokenBody::new(&tokens, user));
            with_cookies(body.respond(status), cookies)
        }
    }
}

/// `POST /v1/signup`: 201 with tokens and the user.
#[utoipa::path(
    post,
    path = "/v1/signup",
    tag = "auth",
    summary = "Create an account and its first session",
    params(TransportHeader),
    request_body = SignupRequest,
    responses(
        (status = 201, description = "The account and a first session (`signup_response = distinct`, the default). Header mode: the tokens in the body; cookie mode: in `Set-Cookie`.",
            body = TokenResponse, headers(("Set-Cookie" = String, description = "cookie mode: the access and refresh cookies"))),
        (status = 202, description = "`signup_response = uniform`: the same answer whether or not the email was free, after the same work, and no tokens: log in next.", body = SignupAccepted),
        (status = 400, response = BadRequest),
        (status = 403, response = CsrfRejected),
        (status = 409, description = "`email_taken`: the email is registered (`signup_response = distinct` only).", body = Problem, content_type = "application/problem+json"),
        (status = 415, response = UnsupportedMediaType),
        (status = 429, response = RateLimited),
    )
)]
pub async fn signup(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    ApiJson(body): ApiJson<SignupRequest>,
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
                    Json(SignupAccepted {
                        status: "accepted",
                        detail: "if this email had no account, it has one now: log in",
                    }),
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
#[utoipa::path(
    post,
    path = "/v1/login",
    tag = "auth",
    summary = "Log in: open a new session",
    params(TransportHeader),
    request_body = CredentialsRequest,
    responses(
        (status = 200, description = "A new session. Header mode: the tokens in the body; cookie mode: in `Set-Cookie`.",
            body = TokenResponse, headers(("Set-Cookie" = String, description = "cookie mode: the access and refresh cookies"))),
        (status = 400, response = BadRequest),
        (status = 401, description = "`invalid_credentials`: unknown email or wrong password (the same answer for both).", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`account_disabled`: the password is right but an operator disabled the account; or `csrf_rejected` (cookie mode).", body = Problem, content_type = "application/problem+json"),
        (status = 415, response = UnsupportedMediaType),
        (status = 429, response = RateLimited),
    )
)]
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
#[utoipa::path(
    post,
    path = "/v1/refresh",
    tag = "auth",
    summary = "Rotate the refresh token",
    description = "The presented refresh token stops working and a new pair is returned (no `user`). \
        Retrying the previous token within `refresh_reuse_grace` of its rotation returns the same new \
        pair; later, it is theft: the session is revoked (`refresh_token_reused`). In cookie mode the \
        refresh token comes from the refresh cookie and the body is ignored.",
    params(TransportHeader),
    request_body(content = RefreshRequest, description = "Header mode only (cookie mode reads the refresh cookie).", content_type = "application/json"),
    responses(
        (status = 200, description = "The rotated tokens, in the body (header mode) or in `Set-Cookie` (cookie mode).",
            body = TokenResponse, headers(("Set-Cookie" = String, description = "cookie mode: the new cookies, or both cleared after a 401"))),
        (status = 400, response = BadRequest),
        (status = 401, description = "`invalid_token` (malformed or unknown token, no refresh cookie), `token_expired`, `session_revoked` or `refresh_token_reused`.",
            body = Problem, content_type = "application/problem+json"),
        (status = 403, response = CsrfRejected),
        (status = 415, response = UnsupportedMediaType),
        (status = 429, response = RateLimited),
    )
)]
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
