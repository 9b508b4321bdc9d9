//! The verifier crate's integration tests, one binary: the attacks it refuses, its axum layer,
//! refreshing its keys, the token cache (over [`support`]'s in-test key server), and the real
//! tokenauth server in process (over the server's own harness, `common`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
#[path = "../../../tokenauth-server/tests/common/mod.rs"]
mod common;
mod support;

mod attacks;
mod axum_integration;
mod refresh;
mod server;
mod token_cache;
