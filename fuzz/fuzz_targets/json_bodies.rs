//! The server's JSON request bodies, through `extract::parse_json_object` (the parsing the
//! `ApiJson` extractor runs once content type and size have passed): it must never panic, must
//! accept only a JSON object, and must answer everything else 400 problem+json.
//!
//! The whole input is the body; it is read as every request type (`SignupRequest`,
//! `CredentialsRequest` of login, `RefreshRequest`) and as an object of any shape.
#![no_main]

use std::collections::BTreeMap;

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use libfuzzer_sys::fuzz_target;
use serde::de::{DeserializeOwned, IgnoredAny};
use tokenauth_server::error::ApiError;
use tokenauth_server::extract::parse_json_object;
use tokenauth_server::routes::credentials::{CredentialsRequest, RefreshRequest, SignupRequest};

/// Whether `body` is one JSON object by serde_json's own reading of a map (its syntax, nesting
/// limit, trailing-characters rule, UTF-8 keys), the object-only rule's specification. Values
/// are skipped as the request structs skip unknown fields: serde_json does not check that
/// skipped strings are UTF-8 or skipped numbers in range (a plain `Value` parse would).
fn is_json_object(body: &[u8]) -> bool {
    body.trim_ascii_start().first() == Some(&b'{')
        && serde_json::from_slice::<BTreeMap<String, IgnoredAny>>(body).is_ok()
}

/// Parses `body` as `T` and checks the outcome; returns whether it was accepted.
fn check<T: DeserializeOwned>(body: &[u8]) -> bool {
    match parse_json_object::<T>(body) {
        Ok(_) => {
            assert!(is_json_object(body), "only a JSON object is accepted");
            true
        }
        Err(error) => {
            assert!(matches!(error, ApiError::InvalidRequest(_)), "{error:?}");
            assert!(
                !error.to_string().is_empty(),
                "the detail says what is wrong"
            );
            let response = error.into_response();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            assert_eq!(
                response
                    .headers()
                    .get(header::CONTENT_TYPE)
                    .map(|v| v.as_bytes()),
                Some(&b"application/problem+json"[..])
            );
            false
        }
    }
}

fuzz_target!(|body: &[u8]| {
    check::<SignupRequest>(body);
    check::<CredentialsRequest>(body);
    check::<RefreshRequest>(body);
    // With no fields required, every object is accepted and nothing else.
    assert_eq!(
        check::<IgnoredAny>(body),
        is_json_object(body),
        "the object-only rule disagrees with serde_json"
    );
});
