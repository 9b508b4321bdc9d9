//! The in-process HTTP tests of `tokenauth-server`, linked as one test binary (`--test http`):
//! each module starts servers in this process (`common::TestServer`: the real router on a
//! random local port) and drives them over real HTTP, through a browser, nginx or raw sockets.
//!
//! The rule for where a test file goes is what it mainly drives: a server in this process, here;
//! the real `tokenauth` binary as a child process (`common::process::Server`, `tokenauth(...)`),
//! in `tests/cli`. A module here may still run the binary as a helper (`throttling` reads a test
//! server's database with `tokenauth audit`).
//!
//! The modules share one process, so no test here may depend on the process alone: the
//! `metrics` recorder is the process's and sums over every server in it (exact counts are
//! asserted by `tests/cli/binary_metrics.rs`, on a child process, and by `revocation_kinds`
//! through a recorder local to its own thread), and nothing here sets
//! environment variables or changes the current directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// First, so that its `each_backend!` macro is in scope in every module below.
#[macro_use]
#[path = "../common/mod.rs"]
mod common;
#[path = "../conformance/mod.rs"]
mod conformance;

mod accounts;
mod auth_flow;
mod bad_bodies;
mod bad_credentials;
mod bad_tokens;
mod browser;
mod browser_http;
mod enumeration;
mod forward_auth;
mod keys_and_algorithms;
mod limits;
mod nginx;
mod oauth2;
mod openapi;
mod passwords;
mod privacy;
mod revocation_feed;
mod revocation_kinds;
mod throttling;
