//! Extractors: the JSON body with problem+json rejections, and the authenticated caller.

use std::fmt;
use std::marker::PhantomData;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, Deserializer, MapAccess, Visitor};
use tokenauth_core::service::AuthenticatedCaller;

use crate::error::ApiError;
use crate::state::AppState;

/// A JSON request body. Wrong content type → 415, oversized → 413, malformed, not an object or
/// missing fields → 400; all problem+json.
pub struct ApiJson<T>(pub T);

/// `T` read only from a JSON object. Serde's derived structs also accept an array of their
/// fields in order (`["a@example.com", "password"]`), which the API does not.
struct ObjectOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(ObjectVisitor(PhantomData))
            .map(ObjectOnly)
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match axum::Json::<ObjectOnly<T>>::from_request(req, state).await {
            Ok(axum::Json(ObjectOnly(value))) => Ok(Self(value)),
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

/// The caller, authenticated by a valid access token in `Authorization: Bearer` or, when there
/// is no such header, in the access cookie (cookie mode; a state-changing request must then
/// pass the CSRF check). Tokens are never taken from the query string.
pub struct AuthUser(pub AuthenticatedCaller);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            let token = bearer_token(parts)?;
            return Ok(Self(state.auth.authenticate(token).await?));
        }
        let policy = &state.browser;
        let Some(token) = policy.cookie(&parts.headers, policy.access_cookie()) else {
            return Err(ApiError::MissingToken(
                "an Authorization: Bearer access token (or the access cookie) is required",
            ));
        };
        policy.check_csrf(&parts.method, &parts.headers)?;
        Ok(Self(state.auth.authenticate(token).await?))
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
