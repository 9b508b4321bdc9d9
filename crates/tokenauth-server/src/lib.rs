//! The tokenauth HTTP server: configuration, the axum application and its routes.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod account_commands;
pub mod app;
pub mod bootstrap;
pub mod browser;
pub mod cli;
pub mod client_commands;
pub mod client_ip;
pub mod config;
pub mod connection;
pub mod db_commands;
pub mod db_copy;
pub mod error;
pub mod extract;
pub mod key_commands;
pub mod listener;
pub mod openapi;
pub mod rate_limit;
pub mod routes;
pub mod server;
pub mod session_commands;
pub mod state;
pub mod telemetry;
pub mod user_commands;

pub use app::{Application, BuildOptions};
pub use config::{Config, ConfigError};
