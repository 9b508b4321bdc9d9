//! axum integration (feature `axum`, on by default).
//!
//! - [`Claims`]: an extractor for handlers; needs `Verifier: FromRef<S>`.
//!   `Option<Claims>` is `None` only when no `Authorization` header is sent.
//! - [`VerifyLayer`]: a tower layer that rejects requests without a valid
//!   token and puts [`Claims`] into the request extensions (where the
//!   extractor and [`require_role`] find them).
//! - [`require_role`]: a layer answering 403 unless the verified token has a
//!   role; put it *inside* a [`VerifyLayer`] (e.g. `route_layer`), or use
//!   [`VerifyLayer::require_role`].
//!
//! The token is read from exactly one `Authorization: Bearer` header; never
//! from the query string or cookies. Failures are RFC 9457 problem+json
//! bodies `{type, title, status, detail, error}` like the auth server's:
//! 401 with `WWW-Authenticate: Bearer error="invalid_token"` for a missing
//! or bad token, 403 `insufficient_role` for a missing role.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use tokenauth_verify::{Claims, Verifier, VerifyLayer, require_role};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = Verifier::builder("https://auth.example.com", "https://api.example.com")
//!     .token_cache(10_000)
//!     .build()
//!     .await?;
//! let admin = Router::new()
//!     .route("/admin/stats", get(|| async { "secret stats" }))
//!     .route_layer(require_role("admin"));
//! let app = Router::new()
//!     .route("/notes", get(|claims: Claims| async move { format!("notes of {}", claims.sub) }))
//!     .merge(admin)
//!     .layer(VerifyLayer::new(verifier.clone()))
//!     .route("/health", get(|| async { "ok" })) // added after the layer: public
//!     .with_state(verifier);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```

mod bearer;
mod claims;
mod layer;
mod rejection;
mod role;

pub use claims::Claims;
pub use layer::{VerifyLayer, VerifyService};
pub use rejection::AuthRejection;
pub use role::{RequireRoleLayer, RequireRoleService, require_role};
