//! HTTP load harness for tokenauth (`tokenauth-bench`). Fixed-request load tools cannot follow
//! refresh rotation: here each client is a real client that keeps its own tokens, so `refresh`
//! measures chains of rotations, `mixed` the shape of real traffic.
//!
//! The binary is a thin shell over [`run`]; the smoke test drives the same function.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod bench;
pub mod ceiling;
pub mod client;
pub mod connection;
pub mod export;
pub mod flood;
pub mod footprint;
pub mod load;
pub mod options;
pub mod pg_schema;
pub mod preload;
pub mod progress;
pub mod recorder;
pub mod render;
pub mod report;
pub mod scenario;
pub mod server;

pub use bench::run;
pub use options::{Backend, Options, Scenario, UsageError};
pub use report::Report;
