//! Standard discovery documents: JWKS (RFC 7517) and OpenID Connect discovery metadata.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::openapi::schemas::Jwks;
use crate::http::state::AppState;

/// `GET /.well-known/jwks.json`: every public key that can verify a live token, cacheable for
/// the configured max-age (new keys are published two max-ages before they sign).
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "discovery",
    summary = "The public keys that verify access tokens (RFC 7517)",
    description = "A new key appears here at least two max-ages before it signs; a retired key stays \
        until every token it signed has expired. HS256 keys are never published.",
    responses(
        (status = 200, description = "The JWK Set.", body = Jwks,
            headers(("Cache-Control" = String, description = "`public, max-age=<jwks_max_age>`"))),
    )
)]
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

/// OpenID Connect discovery metadata, limited to what this server does.
#[derive(Serialize, ToSchema)]
#[schema(as = DiscoveryMetadata)]
pub struct DiscoveryBody {
    /// The `iss` of every token.
    issuer: String,
    /// Where the JWKS is.
    jwks_uri: String,
    /// Empty: no authorization endpoint.
    response_types_supported: [&'static str; 0],
    /// `["public"]`.
    subject_types_supported: [&'static str; 1],
    /// The signing algorithm in use.
    id_token_signing_alg_values_supported: Vec<String>,
    /// Empty: no token endpoint.
    token_endpoint_auth_methods_supported: [&'static str; 0],
    /// The RFC 7009 endpoint.
    revocation_endpoint: String,
    /// `client_secret_basic` and `client_secret_post`.
    revocation_endpoint_auth_methods_supported: [&'static str; 2],
    /// The RFC 7662 endpoint.
    introspection_endpoint: String,
    /// `client_secret_basic` and `client_secret_post`.
    introspection_endpoint_auth_methods_supported: [&'static str; 2],
    /// The claims access tokens carry.
    claims_supported: [&'static str; 9],
}

/// How API clients authenticate on the OAuth endpoints.
const CLIENT_AUTH_METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];

/// `GET /.well-known/openid-configuration`: the issuer, the JWKS location and the endpoints
/// that exist. This server issues access tokens through its own API, not through OAuth flows,
/// so no authorization or token endpoint is claimed.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "discovery",
    summary = "OpenID Connect discovery metadata",
    responses((status = 200, description = "The metadata.", body = DiscoveryBody)),
)]
pub async fn openid_configuration(State(state): State<AppState>) -> Response {
    let settings = state.auth.settings();
    let issuer = &settings.issuer;
    Json(DiscoveryBody {
        issuer: issuer.clone(),
        jwks_uri: format!("{issuer}/.well-known/jwks.json"),
        response_types_supported: [],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: vec![settings.signing_alg.to_string()],
        token_endpoint_auth_methods_supported: [],
        revocation_endpoint: format!("{issuer}/oauth2/revoke"),
        revocation_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
        introspection_endpoint: format!("{issuer}/oauth2/introspect"),
        introspection_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
        claims_supported: [
            "iss", "sub", "aud", "exp", "iat", "nbf", "jti", "sid", "roles",
        ],
    })
    .into_response()
}
