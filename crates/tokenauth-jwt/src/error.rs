//! Error types. No message ever contains a token, a claim value or key
//! material; reasons are static strings.

use thiserror::Error;

/// A string was not one of the exact JOSE names this crate supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("unsupported or unknown JWS algorithm name")]
pub struct ParseAlgorithmError;

/// A key could not be generated, parsed or accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key has no (or an empty) `kid`.
    #[error("key has no kid")]
    MissingKid,
    /// The JWK has no `alg`; we never guess the algorithm from the key type.
    #[error("key has no alg")]
    MissingAlgorithm,
    /// The `alg` or `kty`/`crv` is not one we support.
    #[error("unsupported key algorithm or type")]
    UnsupportedAlgorithm,
    /// A JWK with `kty` `oct`: symmetric secrets are never taken from a JWK.
    #[error("symmetric (oct) keys are never accepted from a JWK")]
    SymmetricJwk,
    /// The JWK's `use` is present and is not `sig`.
    #[error("key is not a signature key")]
    NotForSignatures,
    /// `alg` does not agree with `kty`/`crv`, or a required member is absent.
    #[error("key parameters are inconsistent: {0}")]
    Inconsistent(&'static str),
    /// The key material failed to decode or was rejected by the crypto library.
    #[error("invalid key material: {0}")]
    Invalid(&'static str),
    /// RSA modulus outside 2048..=8192 bits.
    #[error("RSA modulus must be 2048 to 8192 bits")]
    RsaKeySize,
    /// HMAC secret shorter than 32 bytes.
    #[error("HMAC secret must be at least 32 bytes")]
    WeakSecret,
    /// The same `kid` appeared twice in a key set; the first key was kept.
    #[error("duplicate kid in key set")]
    DuplicateKid,
    /// The random generator or key generation failed.
    #[error("key generation failed")]
    Generation,
}

/// Signing failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SignError {
    /// The claims could not be serialized to JSON.
    #[error("claims could not be serialized")]
    Claims(#[source] serde_json::Error),
    /// The crypto library failed to produce a signature.
    #[error("signature operation failed")]
    Crypto,
}

/// Why a token was rejected.
///
/// Variants are deliberately coarse: they tell a caller what class of
/// problem occurred (for logs and metrics) without echoing attacker input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The token is not a well-formed compact JWS / JSON document.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The token is longer than the configured maximum.
    #[error("token too large")]
    TooLarge,
    /// The header names `none` or an algorithm we do not support.
    #[error("unsupported algorithm")]
    UnsupportedAlgorithm,
    /// The header has no `kid`, or no trusted key has that `kid`.
    #[error("unknown signing key")]
    UnknownKey,
    /// The header `alg` differs from the algorithm bound to the key.
    #[error("algorithm does not match the key")]
    AlgorithmMismatch,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// The header `typ` is missing or not the expected type.
    #[error("wrong token type")]
    WrongType,
    /// The token has expired (beyond leeway).
    #[error("token expired")]
    Expired,
    /// The token is not valid yet (beyond leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// `iss` is not the expected issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `aud` does not contain the expected audience.
    #[error("wrong audience")]
    WrongAudience,
    /// A required claim is absent or empty.
    #[error("missing claim: {0}")]
    MissingClaim(&'static str),
    /// The token is valid, but its session (`sid`) is in the revoked set
    /// [`crate::check_access_token`] was given.
    #[error("session revoked")]
    SessionRevoked,
}
