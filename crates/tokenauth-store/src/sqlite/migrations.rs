//! Schema migrations, embedded in the binary and applied on open.
//!
//! Hand-written (a dozen lines) because `rusqlite_migration` pins an older rusqlite whose
//! `libsqlite3-sys` cannot link beside ours. The version lives in `PRAGMA user_version`; each
//! migration runs in its own transaction together with the version bump. Most are one SQL
//! script; a table rebuild runs its script's steps from code ([`rebuild`]).

mod rebuild;

use rusqlite::Connection;
use tokenauth_core::store::StoreError;

use super::unavailable;

/// One migration.
enum Migration {
    /// A script run as it is.
    Script(&'static str),
    /// A rebuild of `table` by a script of `-- step:` sections, run by [`rebuild::run`].
    Rebuild {
        /// The table rebuilt (for its row count and the progress log).
        table: &'static str,
        /// The steps.
        script: &'static str,
    },
}

/// The migrations in order; migration N (1-based) brings the schema to version N.
const MIGRATIONS: &[Migration] = &[
    Migration::Script(include_str!("../../migrations/sqlite/0001_init.sql")),
    Migration::Script(include_str!(
        "../../migrations/sqlite/0002_session_expiry_index.sql"
    )),
    Migration::Script(include_str!("../../migrations/sqlite/0003_api_clients.sql")),
    Migration::Script(include_str!(
        "../../migrations/sqlite/0004_revocation_feed.sql"
    )),
    Migration::Script(include_str!(
        "../../migrations/sqlite/0005_login_throttle.sql"
    )),
    Migration::Script(include_str!("../../migrations/sqlite/0006_audit_log.sql")),
    Migration::Script(include_str!(
        "../../migrations/sqlite/0007_client_permissions.sql"
    )),
    Migration::Script(include_str!("../../migrations/sqlite/0008_write_probe.sql")),
    Migration::Script(include_str!("../../migrations/sqlite/0009_key_policy.sql")),
    Migration::Script(include_str!(
        "../../migrations/sqlite/0010_key_withdrawal_feed.sql"
    )),
    Migration::Script(include_str!(
        "../../migrations/sqlite/0011_session_lifetimes.sql"
    )),
    Migration::Rebuild {
        table: "sessions",
        script: include_str!("../../migrations/sqlite/0012_session_generations.sql"),
    },
];

/// The schema version this build expects.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// Applies every migration newer than the database's version.
pub(super) fn apply(conn: &mut Connection) -> Result<(), StoreError> {
    let current: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(unavailable)?;
    if current > LATEST {
        return Err(StoreError::Unavailable(format!(
            "database schema version {current} is newer than this build ({LATEST}); upgrade tokenauth"
        )));
    }
    for (index, migration) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(current).unwrap_or(0))
    {
        let version = i64::try_from(index + 1).unwrap_or(i64::MAX);
        match migration {
            Migration::Script(sql) => {
                let tx = conn.transaction().map_err(unavailable)?;
                tx.execute_batch(sql).map_err(unavailable)?;
                tx.pragma_update(None, "user_version", version)
                    .map_err(unavailable)?;
                tx.commit().map_err(unavailable)?;
            }
            Migration::Rebuild { table, script } => rebuild::run(conn, table, script, version)?,
        }
        tracing::info!(version, "applied SQLite migration");
    }
    Ok(())
}
