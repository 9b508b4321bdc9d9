//! Stateless verification of tokenauth access tokens for any Rust API.
//!
//! A [`Verifier`] checks RFC 9068 access tokens locally, in microseconds,
//! against the auth server's published JWKS: no call to the auth server per
//! request. It
//!
//! - fetches the JWKS over HTTP (rustls), keeps it for the `Cache-Control:
//!   max-age` the server sends, and refreshes it in the background before it
//!   goes stale; while the server is unreachable it keeps the cached keys and
//!   retries with backoff;
//! - on an unknown `kid`, refetches at most once per
//!   `min_refetch_interval` (concurrent misses share one request), so a
//!   flood of forged `kid`s cannot flood the auth server;
//! - reads the keys lock-free on the verify path;
//! - optionally remembers verified tokens (see
//!   [`VerifierBuilder::token_cache`] for the trade-off);
//! - optionally subscribes to the auth server's revocation feed
//!   ([`VerifierBuilder::revocation_feed`]) and refuses tokens of revoked
//!   sessions within about a second, still without a call per request;
//! - also works with one HS256 shared secret ([`Verifier::hs256`]).
//!
//! With the default `axum` feature, [`axum`] adds the [`Claims`] extractor,
//! [`VerifyLayer`] and [`require_role`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), tokenauth_verify::VerifierError> {
//! use tokenauth_verify::Verifier;
//! let verifier = Verifier::builder("https://auth.example.com", "https://api.example.com")
//!     .discover()
//!     .build()
//!     .await?;
//! let claims = verifier.verify("eyJhbGciOiJFUzI1NiIs...").await?;
//! println!("user {} in session {}", claims.sub, claims.sid);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

#[cfg(feature = "axum")]
pub mod axum;
mod builder;
mod clock;
mod error;
mod jwks;
mod revocations;
mod trusted_keys;
mod verifier;

#[cfg(feature = "axum")]
pub use crate::axum::{AuthRejection, Claims, VerifyLayer, require_role};
pub use builder::VerifierBuilder;
pub use clock::{Clock, SystemClock};
pub use error::{FetchError, VerifierError};
pub use revocations::RevokedSessions;
pub use revocations::feed::FeedStatus;
pub use tokenauth_jwt::{AccessTokenClaims, Audience, KeySet, VerifyingKey};
pub use verifier::Verifier;
