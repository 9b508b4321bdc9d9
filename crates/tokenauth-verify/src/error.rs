//! [`VerifierError`] (why a token was rejected, or why a verifier could not
//! be built) and [`FetchError`] (why a JWKS or discovery fetch failed).
//!
//! No message ever contains a token, a claim value or key material.

use thiserror::Error;
use tokenauth_jwt::{KeyError, VerifyError};

/// Why a token was rejected, or why a [`crate::Verifier`] could not be built.
///
/// Token variants are what [`crate::Verifier::verify`] returns; the last
/// three ([`Unavailable`](Self::Unavailable),
/// [`InvalidConfig`](Self::InvalidConfig), [`InvalidKey`](Self::InvalidKey))
/// only come from building a verifier. [`KeysStale`](Self::KeysStale) is the
/// verifier failing closed, not a rejected token. [`VerifierError::code`] gives the
/// stable machine code an API should answer with.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum VerifierError {
    /// `exp` is in the past, beyond the leeway.
    #[error("the access token expired")]
    Expired,
    /// `nbf` is in the future, beyond the leeway.
    #[error("the access token is not valid yet")]
    NotYetValid,
    /// The signature does not verify with the key named by `kid`.
    #[error("the token signature is invalid")]
    BadSignature,
    /// `iss` is not the configured issuer.
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    /// `aud` does not contain the configured audience.
    #[error("the token is meant for another audience")]
    WrongAudience,
    /// The header `typ` is missing or not `at+jwt` (e.g. an ID token).
    #[error("the token is not an access token")]
    WrongType,
    /// No `kid`, or no published key has that `kid` (even after a refetch,
    /// when one was allowed).
    #[error("the token was signed by an unknown key")]
    UnknownKey,
    /// The header names `none` or an algorithm that is not supported.
    #[error("the token algorithm is not supported")]
    UnsupportedAlgorithm,
    /// The header `alg` differs from the algorithm bound to the key (e.g.
    /// HS256 with a published public key).
    #[error("the token algorithm does not match its key")]
    AlgorithmMismatch,
    /// A required claim (`sub`, `sid`, `jti`, ...) is absent or empty.
    #[error("the token lacks the {0} claim")]
    MissingClaim(&'static str),
    /// Not a well-formed compact JWS with JSON header and claims.
    #[error("the token is malformed: {0}")]
    Malformed(&'static str),
    /// Longer than the configured maximum; rejected before any parsing.
    #[error("the token is too large")]
    TooLarge,
    /// The token is valid, but its session (`sid`) has been revoked (logout,
    /// revoke-all, theft detection, an administrator).
    #[error("the token's session has been revoked")]
    SessionRevoked,
    /// No token can be checked: the JWKS could not be refreshed for longer
    /// than [`max_stale`](crate::VerifierBuilder::max_stale), so the keys may
    /// include one the auth server has withdrawn. Not a verdict on the token:
    /// answer 503, and the same token passes once a refresh succeeds.
    #[error("the signing keys are stale: the auth server has been unreachable for too long")]
    KeysStale,
    /// Building: the JWKS (or discovery document) could not be fetched or
    /// held no usable key.
    #[error("the signing keys could not be fetched")]
    Unavailable(#[source] FetchError),
    /// Building: the first snapshot of the revocation feed could not be
    /// fetched (unreachable, or the client credentials were refused).
    #[error("the revocation feed could not be read")]
    RevocationsUnavailable(#[source] FetchError),
    /// Building: a setting is out of range or a URL does not parse.
    #[error("invalid verifier configuration: {0}")]
    InvalidConfig(&'static str),
    /// Building: a static key (e.g. an HS256 secret) was rejected.
    #[error("invalid verification key")]
    InvalidKey(#[source] KeyError),
}

impl VerifierError {
    /// The stable machine code for an API response: `token_expired` for
    /// [`Expired`](Self::Expired), `session_revoked` for
    /// [`SessionRevoked`](Self::SessionRevoked), `invalid_token` for every
    /// other token failure; `jwks_unavailable`, `revocations_unavailable`
    /// and `invalid_config` for build errors.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            VerifierError::Expired => "token_expired",
            VerifierError::SessionRevoked => "session_revoked",
            VerifierError::KeysStale => "keys_stale",
            VerifierError::Unavailable(_) => "jwks_unavailable",
            VerifierError::RevocationsUnavailable(_) => "revocations_unavailable",
            VerifierError::InvalidConfig(_) | VerifierError::InvalidKey(_) => "invalid_config",
            _ => "invalid_token",
        }
    }

    /// A stable, finer-grained reason for logs and metrics (`bad_signature`,
    /// `unknown_key`, `wrong_audience`, ...). Not meant for clients: telling
    /// an attacker which check failed helps them.
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            VerifierError::Expired => "expired",
            VerifierError::NotYetValid => "not_yet_valid",
            VerifierError::BadSignature => "bad_signature",
            VerifierError::WrongIssuer => "wrong_issuer",
            VerifierError::WrongAudience => "wrong_audience",
            VerifierError::WrongType => "wrong_type",
            VerifierError::UnknownKey => "unknown_key",
            VerifierError::UnsupportedAlgorithm => "unsupported_algorithm",
            VerifierError::AlgorithmMismatch => "algorithm_mismatch",
            VerifierError::MissingClaim(_) => "missing_claim",
            VerifierError::Malformed(_) => "malformed",
            VerifierError::TooLarge => "too_large",
            VerifierError::SessionRevoked => "session_revoked",
            VerifierError::KeysStale => "keys_stale",
            VerifierError::Unavailable(_) => "jwks_unavailable",
            VerifierError::RevocationsUnavailable(_) => "revocations_unavailable",
            VerifierError::InvalidConfig(_) | VerifierError::InvalidKey(_) => "invalid_config",
        }
    }

    /// `true` for a rejected token (answer 401), `false` for build errors
    /// and [`KeysStale`](Self::KeysStale) (answer 503).
    #[must_use]
    pub fn is_token_error(&self) -> bool {
        !matches!(
            self,
            VerifierError::KeysStale
                | VerifierError::Unavailable(_)
                | VerifierError::RevocationsUnavailable(_)
                | VerifierError::InvalidConfig(_)
                | VerifierError::InvalidKey(_)
        )
    }
}

impl From<VerifyError> for VerifierError {
    fn from(err: VerifyError) -> Self {
        match err {
            VerifyError::Malformed(why) => VerifierError::Malformed(why),
            VerifyError::TooLarge => VerifierError::TooLarge,
            VerifyError::UnsupportedAlgorithm => VerifierError::UnsupportedAlgorithm,
            VerifyError::UnknownKey => VerifierError::UnknownKey,
            VerifyError::AlgorithmMismatch => VerifierError::AlgorithmMismatch,
            VerifyError::BadSignature => VerifierError::BadSignature,
            VerifyError::WrongType => VerifierError::WrongType,
            VerifyError::Expired => VerifierError::Expired,
            VerifyError::NotYetValid => VerifierError::NotYetValid,
            VerifyError::WrongIssuer => VerifierError::WrongIssuer,
            VerifyError::WrongAudience => VerifierError::WrongAudience,
            VerifyError::MissingClaim(claim) => VerifierError::MissingClaim(claim),
            VerifyError::SessionRevoked => VerifierError::SessionRevoked,
            // A rejection this crate does not know yet is still a rejection.
            _ => VerifierError::Malformed("rejected"),
        }
    }
}

/// Why fetching the JWKS or the discovery document failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FetchError {
    /// Connecting, sending or reading failed, or the timeout passed.
    #[error("HTTP request failed")]
    Http(#[source] reqwest::Error),
    /// The server answered with a non-success status.
    #[error("the server answered HTTP {0}")]
    Status(u16),
    /// The body is larger than the limit for this document.
    #[error("the response body is too large")]
    TooLarge,
    /// The body is not the expected JSON document.
    #[error("the response is not a valid {0} document")]
    Document(&'static str),
    /// The JWKS held no key this crate can use.
    #[error("the JWKS holds no usable signing key")]
    NoUsableKeys,
    /// The discovery document names another issuer than the configured one.
    #[error("the discovery document names another issuer")]
    IssuerMismatch,
    /// A URL (configured, or `jwks_uri` from discovery) is not an absolute
    /// `http` or `https` URL.
    #[error("invalid URL: {0}")]
    InvalidUrl(&'static str),
}

/// `err` and its sources, joined by ": ", for logs.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        assert_eq!(VerifierError::Expired.code(), "token_expired");
        assert_eq!(VerifierError::BadSignature.code(), "invalid_token");
        assert_eq!(VerifierError::MissingClaim("sid").code(), "invalid_token");
        let unavailable = VerifierError::Unavailable(FetchError::Status(503));
        assert_eq!(unavailable.code(), "jwks_unavailable");
        assert!(!unavailable.is_token_error());
        assert!(VerifierError::UnknownKey.is_token_error());
        assert_eq!(VerifierError::UnknownKey.reason(), "unknown_key");
        assert_eq!(VerifierError::KeysStale.code(), "keys_stale");
        assert!(!VerifierError::KeysStale.is_token_error());
    }

    #[test]
    fn every_jwt_error_maps_to_its_twin() {
        use VerifyError as V;
        let pairs = [
            (V::Expired, "expired"),
            (V::NotYetValid, "not_yet_valid"),
            (V::BadSignature, "bad_signature"),
            (V::WrongIssuer, "wrong_issuer"),
            (V::WrongAudience, "wrong_audience"),
            (V::WrongType, "wrong_type"),
            (V::UnknownKey, "unknown_key"),
            (V::UnsupportedAlgorithm, "unsupported_algorithm"),
            (V::AlgorithmMismatch, "algorithm_mismatch"),
            (V::MissingClaim("sub"), "missing_claim"),
            (V::Malformed("x"), "malformed"),
            (V::TooLarge, "too_large"),
        ];
        for (jwt, reason) in pairs {
            assert_eq!(VerifierError::from(jwt).reason(), reason);
        }
    }
}
