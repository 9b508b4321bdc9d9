//! Schemas of values the server reads or writes without a type of its own in this crate: the
//! JWT claims and JWKs (types of `tokenauth-jwt`, which stays free of OpenAPI), the OAuth form
//! (parsed by hand to refuse repeated parameters) and the `X-Token-Transport` header.
//!
//! Each mirrors its wire format field by field; `tests/http/openapi.rs` checks the mirrors against
//! serialized values of the real types, so they cannot drift apart unnoticed.

use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

/// The verified claims of an access token (RFC 9068 plus `sid` and `roles`); times are Unix
/// seconds.
#[derive(Serialize, ToSchema)]
pub struct AccessTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: the user id.
    pub sub: String,
    /// Audience: one string, or an array of strings.
    pub aud: Audience,
    /// Expiry (exclusive).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before (inclusive).
    pub nbf: i64,
    /// Unique token id (128-bit random).
    pub jti: String,
    /// Session id.
    pub sid: String,
    /// Roles granted to the user when the token was issued; may be empty.
    pub roles: Vec<String>,
}

/// The `aud` claim: a single string or an array of strings.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

/// A public JSON Web Key (RFC 7517) that verifies access tokens.
#[derive(Serialize, ToSchema)]
pub struct Jwk {
    /// Key type: `EC` (ES256), `OKP` (EdDSA) or `RSA` (RS256).
    pub kty: String,
    /// Key id, as in the `kid` header of the tokens it signed.
    pub kid: String,
    /// The one algorithm this key verifies: `ES256`, `EdDSA` or `RS256`.
    pub alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub key_use: String,
    /// Curve: `P-256` (EC) or `Ed25519` (OKP).
    #[schema(required = false)]
    pub crv: String,
    /// EC x coordinate or Ed25519 public key, base64url.
    #[schema(required = false)]
    pub x: String,
    /// EC y coordinate, base64url.
    #[schema(required = false)]
    pub y: String,
    /// RSA modulus, base64url.
    #[schema(required = false)]
    pub n: String,
    /// RSA public exponent, base64url.
    #[schema(required = false)]
    pub e: String,
}

/// A JWK Set (RFC 7517 §5): every public key that can verify a live token.
#[derive(Serialize, ToSchema)]
pub struct Jwks {
    /// The keys; HS256 keys are never published.
    pub keys: Vec<Jwk>,
}

/// The form of `POST /oauth2/revoke` and `POST /oauth2/introspect`. A repeated parameter is
/// refused; unknown ones are ignored.
#[derive(Serialize, ToSchema)]
pub struct TokenRequestForm {
    /// The token: a refresh token or an access token.
    #[schema(min_length = 1)]
    pub token: String,
    /// Ignored: the token's shape tells its type.
    #[schema(required = false)]
    pub token_type_hint: String,
    /// `client_secret_post` authentication: the client id (instead of HTTP Basic).
    #[schema(required = false)]
    pub client_id: String,
    /// `client_secret_post` authentication: the client secret (instead of HTTP Basic).
    #[schema(required = false)]
    pub client_secret: String,
}

/// The only value of `X-Token-Transport`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenTransport {
    /// Cookie mode: tokens in HttpOnly cookies, not in bodies.
    Cookie,
}

/// The header that chooses cookie mode for a browser app (see docs/browser.md).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct TransportHeader {
    /// `cookie` for cookie mode (tokens travel in HttpOnly cookies, and a state-changing request
    /// must come from the server's own origin or an allowed one); absent for header mode. Any
    /// other value, or `cookie` on a server with `cookie_mode = off`, is 400.
    #[param(rename = "X-Token-Transport", required = false, inline)]
    pub x_token_transport: TokenTransport,
}
