//! Migration 12 on SQLite: a database at version 11, with sessions of the old format (more of
//! them than one batch of the table rebuild holds), opens at version 12 with every row as it
//! was, every history row kept (the rebuild runs no `ON DELETE CASCADE`), the foreign keys
//! sound, `current_hash` nullable under a partial unique index; and its tokens keep working.

use std::path::Path;

use rusqlite::Connection;
use rusqlite::types::Value;
use tokenauth_core::store::Lifecycle;
use tokenauth_store::SqliteStore;

use crate::conformance::legacy::old_tokens_keep_working;
use crate::conformance::{at, legacy_hash, legacy_token};

/// More than one batch of the rebuild (20,000 rows).
const SESSIONS: i64 = 45_000;

/// The migrations up to version 11, as an older build applied them.
const UP_TO_11: [&str; 11] = [
    include_str!("../../migrations/sqlite/0001_init.sql"),
    include_str!("../../migrations/sqlite/0002_session_expiry_index.sql"),
    include_str!("../../migrations/sqlite/0003_api_clients.sql"),
    include_str!("../../migrations/sqlite/0004_revocation_feed.sql"),
    include_str!("../../migrations/sqlite/0005_login_throttle.sql"),
    include_str!("../../migrations/sqlite/0006_audit_log.sql"),
    include_str!("../../migrations/sqlite/0007_client_permissions.sql"),
    include_str!("../../migrations/sqlite/0008_write_probe.sql"),
    include_str!("../../migrations/sqlite/0009_key_policy.sql"),
    include_str!("../../migrations/sqlite/0010_key_withdrawal_feed.sql"),
    include_str!("../../migrations/sqlite/0011_session_lifetimes.sql"),
];

/// A database at version 11: one user with [`SESSIONS`] sessions, each with its current and
/// previous hash and two history rows, every third one revoked; plus session `known`, whose
/// live legacy token is `live` (generation 3) and previous one `previous`.
fn old_database(path: &Path, known: &str, live: &str, previous: &str) {
    let conn = Connection::open(path).expect("open");
    for sql in UP_TO_11 {
        conn.execute_batch(sql).expect("old migration");
    }
    conn.pragma_update(None, "user_version", 11)
        .expect("version");
    conn.execute_batch(&format!(
        "INSERT INTO users (id, email, password_hash, created_at, updated_at) \
         VALUES ('00000000-0000-7000-8000-000000000001', 'old@example.com', 'x', 1, 1);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {SESSIONS})
         INSERT INTO sessions (id, user_id, current_hash, previous_hash, generation, rotated_at,
             created_at, last_used_at, expires_at, revoked_at, revoke_reason, user_agent, ip,
             absolute_expires_at, access_expires_at)
         SELECT printf('00000000-0000-7000-9000-%012d', i),
             '00000000-0000-7000-8000-000000000001', randomblob(32), randomblob(32), 1, i, 0, i,
             {far}, CASE WHEN i % 3 = 0 THEN i END, CASE WHEN i % 3 = 0 THEN 'logout' END,
             'agent ' || i, NULL, {far}, i + 900000 FROM n;
         INSERT INTO refresh_tokens (hash, session_id, generation)
             SELECT current_hash, id, 1 FROM sessions
             UNION ALL SELECT previous_hash, id, 0 FROM sessions;",
        far = at(10_000_000).as_millis(),
    ))
    .expect("old sessions");
    conn.execute(
        "INSERT INTO sessions (id, user_id, current_hash, previous_hash, generation, rotated_at, \
         created_at, last_used_at, expires_at, absolute_expires_at, access_expires_at) \
         VALUES (?1, '00000000-0000-7000-8000-000000000001', ?2, ?3, 3, ?4, 0, ?4, ?5, ?5, ?4)",
        rusqlite::params![
            known,
            legacy_hash(live).as_bytes().as_slice(),
            legacy_hash(previous).as_bytes().as_slice(),
            at(100).as_millis(),
            at(10_000_000).as_millis(),
        ],
    )
    .expect("known session");
    for (token, generation) in [(live, 3), (previous, 2)] {
        conn.execute(
            "INSERT INTO refresh_tokens (hash, session_id, generation) VALUES (?1, ?2, ?3)",
            rusqlite::params![legacy_hash(token).as_bytes().as_slice(), known, generation],
        )
        .expect("known history");
    }
}

/// Every session in rowid order, every column (with the rowid).
const SESSIONS_ROWS: &str = "SELECT rowid, * FROM sessions ORDER BY rowid";
/// Every history row (a table without rowid) in key order.
const HISTORY_ROWS: &str = "SELECT * FROM refresh_tokens ORDER BY hash";

/// Every row `sql` selects, every column.
fn rows(conn: &Connection, sql: &str) -> Vec<Vec<Value>> {
    let mut stmt = conn.prepare(sql).expect("select");
    let columns = stmt.column_count();
    stmt.query_map([], |row| (0..columns).map(|i| row.get(i)).collect())
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// The schema's text for `name`.
fn schema_sql(conn: &Connection, name: &str) -> String {
    conn.query_row(
        "SELECT sql FROM sqlite_schema WHERE name = ?1",
        [name],
        |row| row.get(0),
    )
    .expect("schema entry")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_12_keeps_every_session_and_its_tokens_working() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("old.db");
    let known = "00000000-0000-7000-a000-000000000001";
    let (live, previous) = (legacy_token(), legacy_token());
    old_database(&path, known, &live, &previous);
    let (sessions_before, history_before) = {
        let conn = Connection::open(&path).expect("open");
        (rows(&conn, SESSIONS_ROWS), rows(&conn, HISTORY_ROWS))
    };

    let store = SqliteStore::open(&path).expect("upgrade");
    assert_eq!(store.schema_version().await.expect("version"), 12);
    assert_eq!(store.expected_schema_version(), 12);
    store.integrity_check().await.expect("integrity");
    let known_id = known.parse().expect("uuid");
    old_tokens_keep_working(&store, known_id, &live, &previous).await;
    tokio::task::spawn_blocking(move || store.close())
        .await
        .expect("close");

    let conn = Connection::open(&path).expect("open");
    let after = rows(&conn, SESSIONS_ROWS);
    assert_eq!(after.len(), sessions_before.len());
    // Every session but the one used above is exactly as it was, rowid included.
    let untouched = |rows: &[Vec<Value>]| -> Vec<Vec<Value>> {
        rows.iter()
            .filter(|row| row[1] != Value::Text(known.to_owned()))
            .cloned()
            .collect()
    };
    assert_eq!(untouched(&after), untouched(&sessions_before));
    assert_eq!(rows(&conn, HISTORY_ROWS), history_before);
    assert_rebuilt(&conn);
}

/// The rebuilt schema: foreign keys sound, `current_hash` nullable under a partial unique
/// index, every other index back, no temporary table left.
fn assert_rebuilt(conn: &Connection) {
    let dangling = conn
        .prepare("PRAGMA foreign_key_check")
        .and_then(|mut stmt| stmt.exists([]))
        .expect("foreign key check");
    assert!(!dangling);
    assert!(schema_sql(conn, "sessions").contains("current_hash        BLOB,"));
    assert!(schema_sql(conn, "sessions_current_hash").contains("WHERE current_hash IS NOT NULL"));
    for index in [
        "sessions_user",
        "sessions_revoked_at",
        "sessions_expires_at",
        "sessions_revoked_access_expiry",
    ] {
        assert!(!schema_sql(conn, index).is_empty(), "{index}");
    }
    let leftover: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'sessions_new'",
            [],
            |row| row.get(0),
        )
        .expect("schema");
    assert_eq!(leftover, 0);
}

/// A rebuild that fails (here its first step, on a table in its way) leaves the database at
/// version 11, every row as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_migration_12_changes_nothing() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("old.db");
    old_database(
        &path,
        "00000000-0000-7000-a000-000000000001",
        &legacy_token(),
        &legacy_token(),
    );
    let before = {
        let conn = Connection::open(&path).expect("open");
        // A table in the way of the rebuild's new one makes its first step fail.
        conn.execute_batch("CREATE TABLE sessions_new (x INTEGER)")
            .expect("obstacle");
        rows(&conn, SESSIONS_ROWS)
    };
    assert!(SqliteStore::open(&path).is_err(), "the migration must fail");
    let conn = Connection::open(&path).expect("open");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("version");
    assert_eq!(version, 11);
    assert_eq!(rows(&conn, SESSIONS_ROWS), before);
    let history: i64 = conn
        .query_row("SELECT count(*) FROM refresh_tokens", [], |row| row.get(0))
        .expect("count");
    assert_eq!(history, 2 * SESSIONS + 2);
}
