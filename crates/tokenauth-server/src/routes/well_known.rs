//! Standard discovery documents: JWKS (RFC 7517) and OpenID Connect discovery metadata.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;

/// `GET /.well-known/jwks.json`: every public key that can verify a live token, cacheable for
/// the configured max-age (new keys are published two max-ages before they sign).
pub async fn jwks(State(state): State<AppState>) -> Response {
    let body = state.auth.keys().keyring().jwks_json();
    let mut response = body.to_vec().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(cache) =
        HeaderValue::from_str(&format!("public, max-age={}", state.jwks_max_age_secs))
    {
        headers.insert(header::CACHE_CONTROL, cache);
    }
    response
}

/// `GET /.well-known/openid-configuration`: the issuer, the JWKS location and the endpoints
/// that exist. This server issues access tokens through its own API, not through OAuth flows,
/// so no authorization or token endpoint is claimed.
pub async fn openid_configuration(State(state): State<AppState>) -> Response {
    let settings = state.auth.settings();
    let issuer = &settings.issuer;
    let algs: Vec<String> = vec![settings.signing_alg.to_string()];
    Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "response_types_supported": [],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": [],
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "roles"],
    }))
    .into_response()
}
