//! Extractors: the JSON body with problem+json rejections, and the authenticated caller.

use std::fmt;
use std::marker::PhantomData;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, Deserializer, MapAccess, Visitor};
use tokenauth_core::service::AuthenticatedCaller;

use crate::http::error::ApiError;
use crate::http::state::AppState;

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
        if !json_content_type(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let body = Bytes::from_request(req, state).await.map_err(|rejection| {
            match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                _ => ApiError::InvalidRequest(rejection.body_text()),
            }
        })?;
        parse_json_object(&body).map(Self)
    }
}

/// Whether the request declares a JSON body: `application/json` or `application/*+json`,
/// parameters allowed (the rule of `axum::Json`).
fn json_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<mime::Mime>().ok())
        .is_some_and(|mime| {
            mime.type_() == "application"
                && (mime.subtype() == "json" || mime.suffix().is_some_and(|name| name == "json"))
        })
}

/// Reads a request body as [`ApiJson`] does once its content type and size have passed: the
/// body must be exactly one JSON object (serde's derived structs would also take an array of
/// their fields in order, which the API does not), nothing but whitespace may follow it, and
/// the object must have the shape of `T` (no missing, mistyped or repeated known fields).
/// Public so that fuzzers and tests exercise exactly the extractor's parsing.
///
/// # Errors
/// [`ApiError::InvalidRequest`] (400 problem+json) for anything else; never a panic.
pub fn parse_json_object<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    match axum::Json::<ObjectOnly<T>>::from_bytes(body) {
        Ok(axum::Json(ObjectOnly(value))) => Ok(value),
        Err(JsonRejection::JsonSyntaxError(e)) => Err(ApiError::InvalidRequest(format!(
            "malformed JSON: {}",
            e.body_text()
        ))),
        Err(JsonRejection::JsonDataError(e)) => Err(ApiError::InvalidRequest(format!(
            "unexpected JSON: {}",
            e.body_text()
        ))),
        Err(other) => Err(ApiError::InvalidRequest(other.body_text())),
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

/// The token of the single `Authorization: Bearer <token>` header (scheme case-insensitive,
/// token trimmed and never empty). Public so that fuzzers and tests reach it.
///
/// # Errors
/// [`ApiError::MissingToken`] (401) for no header, several, a non-ASCII one, another scheme or
/// an empty token.
pub fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::routes::credentials::RefreshRequest;

    fn accepts(body: &[u8]) -> bool {
        parse_json_object::<RefreshRequest>(body).is_ok()
    }

    #[test]
    fn json_bodies_must_be_one_object() {
        assert!(accepts(br#"{"refresh_token": "t"}"#));
        assert!(accepts(
            b" \n{\"refresh_token\": \"t\", \"unknown\": [1, {}]}\t"
        ));
        for body in [
            &br#"["t"]"#[..],
            br#""t""#,
            b"null",
            b"",
            br#"{"refresh_token": "t"} {}"#,
            br#"{"refresh_token": "t", "refresh_token": "u"}"#,
            br#"{"refresh_token": 1}"#,
            br#"{}"#,
            b"\xef\xbb\xbf{\"refresh_token\": \"t\"}",
            b"{\"refresh_t\xefken\": \"t\"}",
        ] {
            let error = parse_json_object::<RefreshRequest>(body).err();
            assert!(
                matches!(error, Some(ApiError::InvalidRequest(ref detail)) if !detail.is_empty()),
                "{:?}: {error:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn json_content_types() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().expect("header value"));
            json_content_type(&headers)
        };
        assert!(with("application/json"));
        assert!(with("application/json; charset=utf-8"));
        assert!(with("application/problem+json"));
        assert!(!with("text/json"));
        assert!(!with("application/jsonx"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!with("json"));
        assert!(!json_content_type(&HeaderMap::new()));
    }
}
