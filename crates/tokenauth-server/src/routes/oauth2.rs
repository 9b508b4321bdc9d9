//! `POST /oauth2/revoke` (RFC 7009) and `POST /oauth2/introspect` (RFC 7662), for registered
//! API clients. Bodies are form-encoded; errors are RFC 6749 JSON; answers are never cached.

use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokenauth_core::service::Introspection;
use zeroize::Zeroizing;

use super::client_auth::{OAuthError, client_credentials, no_store};
use super::credentials::Client;
use crate::state::AppState;

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

    /// Authenticates the calling client, then returns the `token` field.
    async fn authenticate(
        self,
        state: &AppState,
        headers: &HeaderMap,
    ) -> Result<Zeroizing<String>, OAuthError> {
        let credentials = client_credentials(
            headers,
            self.client_id.as_deref(),
            self.client_secret.as_deref().map(String::as_str),
        )?;
        state
            .auth
            .authenticate_client(&credentials.client_id, &credentials.secret)
            .await?;
        match self.token {
            Some(token) if !token.is_empty() => Ok(token),
            _ => Err(OAuthError::InvalidRequest(
                "the token parameter is required",
            )),
        }
    }
}

/// `POST /oauth2/revoke`: revokes the session of a refresh or access token. 200 with an empty
/// body whether or not the token was known (RFC 7009 §2.2).
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Client(client): Client,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, OAuthError> {
    let token = TokenForm::parse(form)?
        .authenticate(&state, &headers)
        .await?;
    state.auth.revoke_token(&token, client).await?;
    Ok(no_store(StatusCode::OK.into_response()))
}

/// `POST /oauth2/introspect`: `{"active": false}` or `{"active": true, …claims}`.
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, OAuthError> {
    let token = TokenForm::parse(form)?
        .authenticate(&state, &headers)
        .await?;
    let body = match state.auth.introspect_token(&token).await? {
        Introspection::Inactive => json!({"active": false}),
        Introspection::AccessToken(claims) => json!({
            "active": true,
            "token_type": "access_token",
            "sub": claims.sub,
            "sid": claims.sid,
            "aud": claims.aud,
            "iss": claims.iss,
            "exp": claims.exp,
            "iat": claims.iat,
            "nbf": claims.nbf,
            "jti": claims.jti,
            "roles": claims.roles,
        }),
        Introspection::RefreshToken {
            user_id,
            session_id,
            expires_at,
            roles,
        } => json!({
            "active": true,
            "token_type": "refresh_token",
            "sub": user_id.to_string(),
            "sid": session_id.to_string(),
            "iss": state.auth.settings().issuer,
            "exp": expires_at.as_secs(),
            "roles": roles,
        }),
    };
    Ok(no_store(Json::<Value>(body).into_response()))
}
