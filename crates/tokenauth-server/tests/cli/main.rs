//! The tests of the real `tokenauth` binary, linked as one test binary (`--test cli`): each
//! module runs it as a child process, either a command to completion (`common::process::run`,
//! `tokenauth(...)`) or `tokenauth serve` on a free port (`common::process::Server`), and
//! checks what it prints, exits with, serves and leaves on disk.
//!
//! The rule for where a test file goes is what it mainly drives: the real binary as a child
//! process, here; a server in the test process (`common::TestServer`), in `tests/http`.
//!
//! The modules share one test process, but what they measure is each child's own: its
//! `/metrics` (its own recorder), its threads (`/proc/<pid>`), its logs. Every child is started
//! without the developer's `TOKENAUTH_*` and `RUST_LOG` variables, in a working directory of its
//! own; nothing here sets environment variables or changes the test process's directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod binary_accounts;
mod binary_admin;
mod binary_cli;
mod binary_clients;
mod binary_config;
mod binary_connections;
mod binary_keys;
mod binary_logs;
mod binary_metrics;
mod binary_start;
mod crash_safety;
mod db_commands;
mod multi_instance;
mod readiness;
