//! Tests of what only the PostgreSQL backend has to show: its migration from version 11.

mod migration;
