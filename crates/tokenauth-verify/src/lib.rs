//! Stateless verification of tokenauth access tokens for any Rust API.
//!
//! A [`Verifier`] checks RFC 9068 access tokens locally, in microseconds,
//! against the auth server's published JWKS: no call to the auth server per
//! request. It
//!
//! - fetches the JWKS over HTTP (rustls), keeps it for the `Cache-Control:
//!   max-age` the server sends, and refreshes it in the background before it
//!   goes stale; while the server is unreachable it keeps the cached keys and
//!   retries with backoff, for at most
//!   [`max_stale`](VerifierBuilder::max_stale) (default 24 h): past that it
//!   fails closed (see below);
//! - on an unknown `kid`, refetches at most once per
//!   `min_refetch_interval` (concurrent misses share one request), so a
//!   flood of forged `kid`s cannot flood the auth server;
//! - reads the keys lock-free on the verify path;
//! - optionally remembers verified tokens (see
//!   [`VerifierBuilder::token_cache`] for the trade-off);
//! - optionally subscribes to the auth server's revocation feed
//!   ([`VerifierBuilder::revocation_feed`]) and refuses tokens of revoked
//!   sessions within about a second, still without a call per request, and
//!   drops signing keys the server withdraws as soon as the feed says so;
//! - also works with one HS256 shared secret ([`Verifier::hs256`]).
//!
//! The check itself is the auth server's: [`Verifier::verify_local`] calls
//! [`tokenauth_jwt::check_access_token`], as the server does for the tokens
//! presented to its own endpoints, with the same [`RevokedSessions`] set and
//! [`Clock`].
//!
//! # Availability against trust: `max_stale`
//!
//! A verifier cut off from the auth server cannot hear that a signing key
//! was withdrawn (its private part leaked), so trusting its cached keys for
//! ever would let tokens forged with that key through for as long as the
//! outage lasts. It therefore trusts them for
//! [`max_stale`](VerifierBuilder::max_stale) after the last successful JWKS
//! refresh (24 h by default), and then refuses every token with
//! [`VerifierError::KeysStale`] (the axum integration answers 503 with
//! `Retry-After`) until a refresh succeeds. A shorter `max_stale` bounds how
//! long a withdrawn key can be trusted during an outage; a longer one keeps
//! the API answering through longer outages. `Duration::MAX` never fails
//! closed. A reachable server never lets the keys go stale: the verifier
//! refreshes at least every `max_stale / 2`.
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
mod error;
mod jwks;
mod revocations;
mod trusted_keys;
mod verifier;

#[cfg(feature = "axum")]
pub use crate::axum::{AuthRejection, Claims, VerifyLayer, require_role};
pub use builder::VerifierBuilder;
pub use error::{FetchError, VerifierError};
pub use revocations::feed::FeedStatus;
pub use tokenauth_jwt::{AccessTokenClaims, Audience, KeySet, VerifyingKey};
/// The clock and the revoked set are the auth server's own (`tokenauth-jwt`), so both check
/// tokens with the same code; any `Fn() -> i64` closure of Unix seconds is a [`Clock`].
pub use tokenauth_jwt::{Clock, RevokedSessions, SystemClock, Timestamp};
pub use verifier::Verifier;
