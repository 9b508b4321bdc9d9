//! Schema migrations for PostgreSQL, embedded in the binary, numbered in step with SQLite's.
//!
//! Hand-written for the same reason the driver is tokio-postgres (see the module above): a small
//! runner with a version table, each migration in its own transaction, all under an advisory
//! lock so that instances starting at once apply each migration exactly once.

use deadpool_postgres::Object;
use tokenauth_core::store::StoreError;

use super::unavailable;

const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_init.sql"),
    include_str!("../../migrations/postgres/0002_session_expiry_index.sql"),
    include_str!("../../migrations/postgres/0003_api_clients.sql"),
    include_str!("../../migrations/postgres/0004_revocation_feed.sql"),
    include_str!("../../migrations/postgres/0005_login_throttle.sql"),
    include_str!("../../migrations/postgres/0006_audit_log.sql"),
    include_str!("../../migrations/postgres/0007_client_permissions.sql"),
    include_str!("../../migrations/postgres/0008_write_probe.sql"),
    include_str!("../../migrations/postgres/0009_key_policy.sql"),
    include_str!("../../migrations/postgres/0010_key_withdrawal_feed.sql"),
    include_str!("../../migrations/postgres/0011_session_lifetimes.sql"),
    include_str!("../../migrations/postgres/0012_session_generations.sql"),
];

/// The schema version this build expects.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

/// Arbitrary constant naming tokenauth's migration lock ("tokenaut" in ASCII).
const LOCK_KEY: i64 = 0x746f_6b65_6e61_7574;

/// Applies every migration newer than the database's version.
pub(super) async fn apply(client: &mut Object) -> Result<(), StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS tokenauth_schema (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await
        .or_else(ignore_concurrent_create)?;
    // Waiting for another instance's migrations, and a migration itself, may take longer than
    // the pool's statement timeout: lifted here, restored after.
    client
        .batch_execute("SET statement_timeout = 0; SET lock_timeout = 0")
        .await
        .map_err(unavailable)?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&LOCK_KEY])
        .await
        .map_err(unavailable)?;
    let result = apply_locked(client).await;
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&LOCK_KEY])
        .await;
    let restored = client
        .batch_execute("RESET statement_timeout; RESET lock_timeout")
        .await;
    result?;
    unlocked.map_err(unavailable)?;
    restored.map_err(unavailable)?;
    Ok(())
}

async fn apply_locked(client: &mut Object) -> Result<(), StoreError> {
    let current = current(client).await?;
    if current > LATEST {
        return Err(StoreError::Unavailable(format!(
            "database schema version {current} is newer than this build ({LATEST}); upgrade tokenauth"
        )));
    }
    for (index, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .skip(usize::try_from(current).unwrap_or(0))
    {
        let version = i64::try_from(index + 1).unwrap_or(i64::MAX);
        let started = std::time::Instant::now();
        // What a migration has to go through, said before it starts (one statement cannot
        // report its own progress): most touch the sessions. Counted outside the migration's
        // transaction, which a failed statement (no table yet) would abort.
        let sessions: i64 = client
            .query_opt("SELECT count(*) FROM sessions", &[])
            .await
            .ok()
            .flatten()
            .and_then(|row| row.try_get(0).ok())
            .unwrap_or(0);
        tracing::info!(version, sessions, "applying PostgreSQL migration");
        let tx = client.transaction().await.map_err(unavailable)?;
        tx.batch_execute(sql).await.map_err(unavailable)?;
        tx.execute(
            "INSERT INTO tokenauth_schema (version) VALUES ($1)",
            &[&version],
        )
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(version, seconds, "applied PostgreSQL migration");
    }
    Ok(())
}

/// The newest applied migration, 0 on an empty database (even one without the version table,
/// which only a store opened without migrating can meet).
pub(super) async fn current(client: &Object) -> Result<i64, StoreError> {
    let row = match client
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM tokenauth_schema",
            &[],
        )
        .await
    {
        Ok(row) => row,
        Err(error) if error.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => {
            return Ok(0);
        }
        Err(error) => return Err(unavailable(error)),
    };
    row.try_get(0).map_err(unavailable)
}

/// Two instances racing `CREATE TABLE IF NOT EXISTS` can collide on the catalog; the loser's
/// error means the table now exists.
fn ignore_concurrent_create(error: tokio_postgres::Error) -> Result<(), StoreError> {
    use tokio_postgres::error::SqlState;
    match error.code() {
        Some(code) if *code == SqlState::UNIQUE_VIOLATION || *code == SqlState::DUPLICATE_TABLE => {
            Ok(())
        }
        _ => Err(unavailable(error)),
    }
}
