//! Tests of what only the SQLite backend has: a database file to copy, a migration that
//! rebuilds a table.

mod copied_database;
mod migration;
