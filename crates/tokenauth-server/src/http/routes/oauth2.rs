//! `POST /oauth2/revoke` (RFC 7009) and `POST /oauth2/introspect` (RFC 7662), for registered
//! API clients. Bodies are form-encoded; errors are RFC 6749 JSON; answers are never cached.

use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokenauth_core::client::ApiClient;
use tokenauth_core::service::Introspection;
use tokenauth_jwt::Audience;
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::client_auth::{OAuthError, client_credentials, no_store};
use super::credentials::Client;
use crate::http::openapi::responses::{OAuthInvalidClient, OAuthInvalidRequest, OAuthServerError};
use crate::http::openapi::schemas::TokenRequestForm;
use crate::http::state::AppState;

/// The form fields both endpoints read; `client_secret` is wiped on drop.
struct TokenForm {
    token: Option<Zeroizing<String>>,
    client_id: Option<String>,
    client_secret: Option<Zeroizing<String>>,
}

impl TokenForm {
    /// Reads the form. A repeated parameter is malformed (RFC 6749 §3.1); unknown ones,
    /// `token_type_hint` included, are ignored (the token's shape tells its type).
    fn parse(form: Result<Form<Vec<(String, String)>>, FormRejection>) -> Result<Self, OAuthError> {
        let Form(pairs) = form.map_err(|_| {
            OAuthError::InvalidRequest("the body must be application/x-www-form-urlencoded")
        })?;
        let mut parsed = TokenForm {
            token: None,
            client_id: None,
            client_secret: None,
        };
        for (name, value) in pairs {
            let duplicate = match name.as_str() {
                "token" => parsed.token.replace(Zeroizing::new(value)).is_some(),
                "client_id" => parsed.client_id.replace(value).is_some(),
                "client_secret" => parsed
                    .client_secret
                    .replace(Zeroizing::new(value))
                    .is_some(),
                _ => false,
            };
            if duplicate {
                return Err(OAuthError::InvalidRequest("a parameter is repeated"));
            }
        }
        Ok(parsed)
    }

    /// Authenticates the calling client, then returns it and the `token` field.
    async fn authenticate(
        self,
        state: &AppState,
        headers: &HeaderMap,
    ) -> Result<(ApiClient, Zeroizing<String>), OAuthError> {
        let credentials = client_credentials(
            headers,
            self.client_id.as_deref(),
            self.client_secret.as_deref().map(String::as_str),
        )?;
        let caller = state
            .auth
            .clients()
            .authenticate(&credentials.client_id, &credentials.secret)
            .await?;
        match self.token {
            Some(token) if !token.is_empty() => Ok((caller, token)),
            _ => Err(OAuthError::InvalidRequest(
                "the token parameter is required",
            )),
        }
    }
}

/// `POST /oauth2/revoke`: revokes the session of a refresh or access token. 200 with an empty
/// body whether or not the token was known (RFC 7009 §2.2), and whether or not the client may
/// revoke it (only tokens issued to it, or any with the `revoke_any` permission: §2.1).
#[utoipa::path(
    post,
    path = "/oauth2/revoke",
    tag = "oauth2",
    summary = "Revoke a token's session (RFC 7009)",
    description = "A refresh token (live or already rotated) revokes its session; so does an access \
        token whose signature is valid, even if expired. A client revokes only tokens issued to it \
        unless it holds the `revoke_any` permission; any other token is answered 200 and left \
        alone (RFC 7009 §2.1). The client authenticates with HTTP Basic or with `client_id` and \
        `client_secret` in the form, not both.",
    request_body(content = TokenRequestForm, content_type = "application/x-www-form-urlencoded"),
    security(("client_basic" = []), ()),
    responses(
        (status = 200, description = "Done, or nothing to do (unknown, invalid or already revoked token); empty body.",
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, response = OAuthInvalidRequest),
        (status = 401, response = OAuthInvalidClient),
        (status = 500, response = OAuthServerError),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, OAuthError> {
    let (caller, token) = TokenForm::parse(form)?
        .authenticate(&state, &headers)
        .await?;
    state.auth.revoke_token(&token, &caller, client).await?;
    Ok(no_store(StatusCode::OK.into_response()))
}

/// RFC 7662 introspection response: `{"active": false}`, or `active: true` with the token's
/// type and claims.
#[derive(Serialize, ToSchema)]
#[schema(as = Introspection)]
pub struct IntrospectionBody {
    /// Whether the token is usable now (valid, not expired, session not revoked). When `false`
    /// nothing else is said.
    active: bool,
    /// `access_token` or `refresh_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    token_type: Option<IntrospectedType>,
    /// The user id.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    sub: Option<String>,
    /// The session id.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    sid: Option<String>,
    /// Access tokens only: the audience, one string or an array.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = crate::http::openapi::schemas::Audience, required = false)]
    aud: Option<Audience>,
    /// The issuer.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    iss: Option<String>,
    /// Expiry, Unix seconds (for a refresh token: the refresh token's expiry).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    exp: Option<i64>,
    /// Access tokens only: issued at, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    iat: Option<i64>,
    /// Access tokens only: not before, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    nbf: Option<i64>,
    /// Access tokens only: the token id.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    jti: Option<String>,
    /// The roles: the token's (access token) or the user's current ones (refresh token).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    roles: Option<Vec<String>>,
}

/// The kind of an active introspected token.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum IntrospectedType {
    /// A JWT access token.
    AccessToken,
    /// A session's live refresh token.
    RefreshToken,
}

impl IntrospectionBody {
    fn inactive() -> Self {
        Self {
            active: false,
            token_type: None,
            sub: None,
            sid: None,
            aud: None,
            iss: None,
            exp: None,
            iat: None,
            nbf: None,
            jti: None,
            roles: None,
        }
    }
}

/// `POST /oauth2/introspect`: `{"active": false}` or `{"active": true, …claims}`.
#[utoipa::path(
    post,
    path = "/oauth2/introspect",
    tag = "oauth2",
    summary = "Introspect a token (RFC 7662)",
    description = "Nothing is consumed: an introspected refresh token still rotates afterwards. A \
        client introspects only tokens issued to it unless it holds the `introspect` permission; \
        any other token is `{\"active\": false}`. The client authenticates with HTTP Basic or with `client_id` and `client_secret` in the form, \
        not both.",
    request_body(content = TokenRequestForm, content_type = "application/x-www-form-urlencoded"),
    security(("client_basic" = []), ()),
    responses(
        (status = 200, description = "The token's state.", body = IntrospectionBody,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, response = OAuthInvalidRequest),
        (status = 401, response = OAuthInvalidClient),
        (status = 500, response = OAuthServerError),
    )
)]
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, OAuthError> {
    let (caller, token) = TokenForm::parse(form)?
        .authenticate(&state, &headers)
        .await?;
    let body = match state.auth.introspect_token(&token, &caller).await? {
        Introspection::Inactive => IntrospectionBody::inactive(),
        Introspection::AccessToken(claims) => IntrospectionBody {
            active: true,
            token_type: Some(IntrospectedType::AccessToken),
            sub: Some(claims.sub),
            sid: Some(claims.sid),
            aud: Some(claims.aud),
            iss: Some(claims.iss),
            exp: Some(claims.exp),
            iat: Some(claims.iat),
            nbf: Some(claims.nbf),
            jti: Some(claims.jti),
            roles: Some(claims.roles),
        },
        Introspection::RefreshToken {
            user_id,
            session_id,
            expires_at,
            roles,
        } => IntrospectionBody {
            active: true,
            token_type: Some(IntrospectedType::RefreshToken),
            sub: Some(user_id.to_string()),
            sid: Some(session_id.to_string()),
            iss: Some(state.auth.settings().issuer.clone()),
            exp: Some(expires_at.as_secs()),
            roles: Some(roles),
            ..IntrospectionBody::inactive()
        },
    };
    Ok(no_store(Json(body).into_response()))
}
