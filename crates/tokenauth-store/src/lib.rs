//! Storage backends for tokenauth: implementations of the storage traits of `tokenauth-core`.
//!
//! - [`sqlite`]: the embedded default, one writer thread and a pool of reader threads over a
//!   WAL-mode database file.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod feed;
mod key_policy;
pub mod postgres;
pub mod sqlite;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
