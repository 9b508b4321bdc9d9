//! JWS (compact) signing and verification for RFC 9068 access tokens,
//! JWK/JWKS types and key generation for tokenauth.
//!
//! No I/O; functions take `now` from the caller. The one [`Clock`] trait and
//! [`Timestamp`] type of the workspace live here all the same (in [`clock`]),
//! with the one [`RevokedSessions`] set and the one token check,
//! [`check_access_token`], so that the auth server and the verifier crate
//! check access tokens with the same code. Crypto is aws-lc-rs only. The
//! compact JWS encoding is hand-written rather than delegated to
//! `jsonwebtoken`, which re-parses the private key on every encode (about
//! +316 µs per RS256 token); here keys are parsed once and kept parsed.
//!
//! Verification is strict: the algorithm is bound to the trusted key (the
//! header `alg` must merely agree), keys are found only by `kid` in a
//! caller-supplied [`KeySet`], `none`/unknown algorithms and `crit` are
//! rejected, base64url must be canonical without padding, and repeated
//! JSON members are rejected.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod algorithm;
mod b64;
mod check;
mod claims;
pub mod clock;
mod error;
mod jwk;
mod keyset;
mod revoked;
mod signing;
mod token_cache;
mod validation;
mod verifying;
mod verifying_key;

pub use algorithm::Algorithm;
pub use check::check_access_token;
pub use claims::{AccessTokenClaims, Audience};
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use error::{KeyError, ParseAlgorithmError, SignError, VerifyError};
pub use jwk::{Jwk, Jwks};
pub use keyset::KeySet;
pub use revoked::RevokedSessions;
pub use signing::SigningKey;
pub use token_cache::TokenCache;
pub use validation::{ACCESS_TOKEN_TYP, DEFAULT_MAX_TOKEN_LEN, Validation, verify_access_token};
pub use verifying::verify_signature;
pub use verifying_key::VerifyingKey;
pub use zeroize::Zeroizing;
