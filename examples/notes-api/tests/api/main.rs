//! The example API's tests, one binary: its routes next to a real tokenauth server, and
//! revocations reaching it through the feed; over the server's own harness (`common`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
#[path = "../../../../crates/tokenauth-server/tests/common/mod.rs"]
mod common;

mod notes;
mod revocations;
