//! Storage backends for tokenauth: implementations of the storage traits of `tokenauth-core`.
//!
//! - [`sqlite`]: the embedded default, one writer thread and a pool of reader threads over a
//!   WAL-mode database file.
//! - [`postgres`]: a pool of connections to a PostgreSQL database shared by instances.
//! - [`DeadlineStore`]: either, with a deadline on every call and a record of failing writes.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod deadline;
mod feed;
mod key_policy;
pub mod postgres;
pub mod sqlite;

pub use deadline::{DeadlineStore, WRITE_FAILURE_HOLD};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
