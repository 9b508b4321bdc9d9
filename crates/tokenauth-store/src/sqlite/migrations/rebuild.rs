//! A table rebuild, as <https://www.sqlite.org/lang_altertable.html> section 7 describes it,
//! for the schema changes SQLite cannot make in place (dropping a `NOT NULL`).
//!
//! The script has three sections, each after a `-- step: <name>` line: `create` makes the new
//! table under a temporary name; `copy` is one `INSERT … SELECT … RETURNING rowid` statement
//! that copies the rows after rowid `?1`, at most `?2` of them; `swap` drops the old table,
//! renames the new one and creates its indexes. Everything runs in one immediate transaction
//! with the version bump, so a failure (or a crash) leaves the old table and version in place,
//! and no other process writes in between; foreign keys are off meanwhile (the pragma is a
//! no-op inside a transaction, so it is set around it), so that dropping the old table runs no
//! `ON DELETE` action on the rows that reference it, and are checked before the commit.

use std::time::Instant;

use rusqlite::{Connection, TransactionBehavior, params};
use tokenauth_core::store::StoreError;

use super::super::unavailable;

/// Rows copied per batch; the progress is logged after each.
const BATCH_ROWS: i64 = 20_000;

/// A rebuild script, split into its steps.
struct Steps<'a> {
    create: &'a str,
    copy: &'a str,
    swap: &'a str,
}

impl<'a> Steps<'a> {
    /// Splits `script` at its `-- step:` lines; whatever precedes the first is commentary.
    fn parse(script: &'a str) -> Result<Self, StoreError> {
        let mut sections = script.split("\n-- step: ").skip(1);
        let mut next = |name: &str| -> Result<&'a str, StoreError> {
            sections
                .next()
                .and_then(|section| section.strip_prefix(name))
                .ok_or_else(|| {
                    StoreError::Unavailable(format!(
                        "a table rebuild script lacks its `{name}` step"
                    ))
                })
        };
        Ok(Self {
            create: next("create")?,
            copy: next("copy")?,
            swap: next("swap")?,
        })
    }
}

/// Rebuilds `table` with `script` and sets the schema version to `version`, in one
/// transaction, logging the progress of the copy.
///
/// # Errors
/// [`StoreError::Unavailable`] if a step fails, [`StoreError::Corrupt`] if the foreign-key
/// check finds a dangling reference; nothing is changed then.
pub(super) fn run(
    conn: &mut Connection,
    table: &str,
    script: &str,
    version: i64,
) -> Result<(), StoreError> {
    let steps = Steps::parse(script)?;
    conn.pragma_update(None, "foreign_keys", "OFF")
        .map_err(unavailable)?;
    let rebuilt = rebuild(conn, table, &steps, version);
    let restored = conn
        .pragma_update(None, "foreign_keys", "ON")
        .map_err(unavailable);
    rebuilt.and(restored)
}

fn rebuild(
    conn: &mut Connection,
    table: &str,
    steps: &Steps<'_>,
    version: i64,
) -> Result<(), StoreError> {
    let started = Instant::now();
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(unavailable)?;
    // The name comes from the migration list, never from input.
    let total: i64 = tx
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
            row.get(0)
        })
        .map_err(unavailable)?;
    tracing::info!(
        version,
        table,
        total,
        "SQLite migration: rebuilding a table"
    );
    tx.execute_batch(steps.create).map_err(unavailable)?;
    let copied = copy_rows(&tx, table, steps.copy, version, total)?;
    if copied != total {
        return Err(StoreError::Unavailable(format!(
            "rebuilding {table} copied {copied} of {total} rows"
        )));
    }
    tx.execute_batch(steps.swap).map_err(unavailable)?;
    let dangling = tx
        .prepare("PRAGMA foreign_key_check")
        .and_then(|mut stmt| stmt.exists([]))
        .map_err(unavailable)?;
    if dangling {
        return Err(StoreError::Corrupt(format!(
            "the foreign-key check failed after rebuilding {table}"
        )));
    }
    tx.pragma_update(None, "user_version", version)
        .map_err(unavailable)?;
    tx.commit().map_err(unavailable)?;
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        version,
        table,
        total,
        seconds,
        "SQLite migration: table rebuilt"
    );
    Ok(())
}

/// Runs the copy step batch after batch until it copies nothing; returns how many rows it
/// copied.
fn copy_rows(
    tx: &Connection,
    table: &str,
    copy: &str,
    version: i64,
    total: i64,
) -> Result<i64, StoreError> {
    let mut stmt = tx
        .prepare(copy.trim().trim_end_matches(';'))
        .map_err(unavailable)?;
    let (mut after, mut copied) = (i64::MIN, 0_i64);
    loop {
        let mut rows = stmt
            .query(params![after, BATCH_ROWS])
            .map_err(unavailable)?;
        let mut batch = 0_i64;
        while let Some(row) = rows.next().map_err(unavailable)? {
            let rowid: i64 = row.get(0).map_err(unavailable)?;
            after = after.max(rowid);
            batch += 1;
        }
        if batch == 0 {
            return Ok(copied);
        }
        copied += batch;
        tracing::info!(
            version,
            table,
            copied,
            total,
            "SQLite migration: rows copied"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_rebuild_scripts_have_every_step() {
        for migration in super::super::MIGRATIONS {
            if let super::super::Migration::Rebuild { script, .. } = migration {
                let steps = Steps::parse(script).expect("steps");
                assert!(steps.create.contains("CREATE TABLE"));
                assert!(steps.copy.contains("RETURNING rowid"));
                assert!(steps.swap.contains("DROP TABLE"));
            }
        }
    }

    #[test]
    fn a_script_without_its_steps_is_refused() {
        assert!(Steps::parse("CREATE TABLE x (y);").is_err());
        assert!(Steps::parse("\n-- step: create\nCREATE TABLE x (y);\n-- step: swap\n").is_err());
    }
}
