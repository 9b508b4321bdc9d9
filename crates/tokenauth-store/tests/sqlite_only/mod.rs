//! Tests of what only the SQLite backend has: a migration that rebuilds a table.

mod migration;
