//! Extractors: the JSON body with problem+json rejections, and the authenticated caller.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use tokenauth_core::service::AuthenticatedCaller;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON request body. Wrong content type → 415, oversized → 413, malformed or missing
/// fields → 400; all problem+json.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
                JsonRejection::JsonSyntaxError(e) => {
                    ApiError::InvalidRequest(format!("malformed JSON: {}", e.body_text()))
                }
                JsonRejection::JsonDataError(e) => {
                    ApiError::InvalidRequest(format!("unexpected JSON: {}", e.body_text()))
                }
                JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::PayloadTooLarge
                }
                other => ApiError::InvalidRequest(other.body_text()),
            }),
        }
    }
}

/// The caller, authenticated by a valid access token in `Authorization: Bearer`. Tokens are
/// never taken from the query string.
pub struct AuthUser(pub AuthenticatedCaller);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)?;
        Ok(Self(state.auth.authenticate(token)?))
    }
}

/// The token of the single `Authorization: Bearer <token>` header.
fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
    let value = values.next().ok_or(ApiError::MissingToken(
        "an Authorization: Bearer access token is required",
    ))?;
    if values.next().is_some() {
        return Err(ApiError::MissingToken(
            "exactly one Authorization header is allowed",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| ApiError::MissingToken("the Authorization header is not ASCII"))?;
    let (scheme, token) = value.split_once(' ').ok_or(ApiError::MissingToken(
        "the Authorization header must be \"Bearer <token>\"",
    ))?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::MissingToken(
            "the Authorization scheme must be Bearer",
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(ApiError::MissingToken("the bearer token is empty"));
    }
    Ok(token)
}
