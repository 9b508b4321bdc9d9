//! The tokenauth server: configuration, the HTTP face ([`http`]), the command line ([`cli`]),
//! and the [`Application`] that assembles a store, the domain services and the routes.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod app;
pub mod bootstrap;
pub mod cli;
pub mod config;
pub mod http;
pub mod telemetry;

pub use app::{Application, BuildOptions};
pub use config::{Config, ConfigError};
