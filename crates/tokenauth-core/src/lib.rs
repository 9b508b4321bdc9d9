//! The tokenauth domain: users, sessions (refresh-token families), signing keys and access-token
//! claims, plus the services that act on them (sign-up, login, refresh, revoke, key rotation).
//!
//! This crate knows nothing of HTTP or SQL. Storage is reached through the traits in [`store`],
//! time through [`Clock`], so every backend and every test drives the same logic.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod audit;
pub mod client;
pub mod client_info;
pub mod clock;
pub mod common_passwords;
pub mod error;
pub mod ids;
pub mod keys;
pub mod master_key;
pub mod password;
pub mod refresh_token;
pub mod retention;
pub mod service;
pub mod session;
pub mod settings;
pub mod store;
mod store_error;
pub mod telemetry;
pub mod throttle;
pub mod user;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use error::AuthError;
pub use ids::{SessionId, UserId};
pub use settings::AuthSettings;
