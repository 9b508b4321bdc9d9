//! The HTTP face: the listener and its connections, the routes with their middleware, the
//! browser policy, client addresses and rate limits, request extraction, and the one mapping
//! of domain errors to HTTP answers.

pub mod browser;
pub mod client_ip;
pub mod connection;
pub mod error;
pub mod extract;
pub mod listener;
pub mod openapi;
pub mod rate_limit;
pub mod routes;
pub mod server;
pub mod state;
