//! `tokenauth migrate` and `tokenauth db check`, and how the database commands open a database
//! of either backend: as it is (to inspect it or copy out of it), or created and migrated.

use anyhow::Context as _;
use tokenauth_core::store::{Lifecycle, StoreError, Transfer};
use tokenauth_store::postgres::PoolSettings;
use tokenauth_store::{PostgresStore, SqliteStore};

use crate::bootstrap::{create_private_file, ensure_data_dir};
use crate::config::{Config, DatabaseUrl};

/// Why a database command failed; the binary exits with 1 for every one of them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbCommandError {
    /// The database cannot be reached or opened.
    #[error("database {database} is unreachable: {}", reason(error))]
    Unreachable {
        /// The database, password masked.
        database: String,
        /// What failed.
        error: StoreError,
    },
    /// The schema is older than this build's: `tokenauth migrate` brings it up to date.
    #[error(
        "database {database} is at schema version {version} but this build expects {expected}; run `tokenauth migrate` on it"
    )]
    SchemaBehind {
        /// The database, password masked.
        database: String,
        /// Its schema version.
        version: i64,
        /// The version this build expects.
        expected: i64,
    },
    /// The schema is newer than this build's: this build must not touch it.
    #[error(
        "database {database} is at schema version {version}, newer than this build ({expected}); upgrade tokenauth"
    )]
    SchemaAhead {
        /// The database, password masked.
        database: String,
        /// Its schema version.
        version: i64,
        /// The version this build expects.
        expected: i64,
    },
    /// A read or write failed once the database was open.
    #[error("database {database}: {}", reason(error))]
    Store {
        /// The database, password masked.
        database: String,
        /// What failed.
        error: StoreError,
    },
}

/// A store error's message without the generic prefix of its kind when the kind is implied
/// (the messages above already say the database is unreachable).
fn reason(error: &StoreError) -> String {
    match error {
        StoreError::Unavailable(message) => message.clone(),
        other => other.to_string(),
    }
}

/// A database of either backend, opened by an operator command.
pub(crate) enum Database {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Database {
    /// Opens `url` as it is: creates nothing and applies no migration.
    pub(crate) async fn open_as_is(url: &DatabaseUrl, config: &Config) -> Result<Self, StoreError> {
        match url {
            DatabaseUrl::Sqlite(path) => SqliteStore::open_unmigrated(path).map(Self::Sqlite),
            DatabaseUrl::Postgres(secret) => {
                PostgresStore::connect_unmigrated(secret.expose(), &pool_settings(config))
                    .await
                    .map(Self::Postgres)
            }
        }
    }

    /// Opens `url`, creating a SQLite file (mode 0600, its directory 0700) if needed, and
    /// applies pending migrations.
    pub(crate) async fn open_migrated(url: &DatabaseUrl, config: &Config) -> anyhow::Result<Self> {
        match url {
            DatabaseUrl::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    ensure_data_dir(parent)?;
                }
                create_private_file(path)?;
                Ok(Self::Sqlite(SqliteStore::open(path)?))
            }
            DatabaseUrl::Postgres(secret) => Ok(Self::Postgres(
                PostgresStore::connect(secret.expose(), &pool_settings(config)).await?,
            )),
        }
    }

    pub(crate) fn lifecycle(&self) -> &dyn Lifecycle {
        match self {
            Self::Sqlite(store) => store,
            Self::Postgres(store) => store,
        }
    }

    pub(crate) fn transfer(&self) -> &dyn Transfer {
        match self {
            Self::Sqlite(store) => store,
            Self::Postgres(store) => store,
        }
    }

    /// Opens `url` as it is and reads its schema version (the database is closed again), or
    /// says why it is unreachable. Returns the version and the one this build expects.
    pub(crate) async fn probe(
        url: &DatabaseUrl,
        config: &Config,
    ) -> Result<(i64, i64), DbCommandError> {
        let unreachable = |error| DbCommandError::Unreachable {
            database: url.to_string(),
            error,
        };
        let database = Self::open_as_is(url, config).await.map_err(unreachable)?;
        let version = database.lifecycle().schema_version().await;
        let expected = database.lifecycle().expected_schema_version();
        database.lifecycle().close().await;
        Ok((version.map_err(unreachable)?, expected))
    }
}

/// Compares a schema version with the one this build expects.
pub(crate) fn require_current(
    url: &DatabaseUrl,
    version: i64,
    expected: i64,
) -> Result<(), DbCommandError> {
    let database = url.to_string();
    match version.cmp(&expected) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Less => Err(DbCommandError::SchemaBehind {
            database,
            version,
            expected,
        }),
        std::cmp::Ordering::Greater => Err(DbCommandError::SchemaAhead {
            database,
            version,
            expected,
        }),
    }
}

fn pool_settings(config: &Config) -> PoolSettings {
    PoolSettings {
        max_connections: config.database_max_connections,
        acquire_timeout: config.database_timeout,
        schema: None,
        // Copies and checks read and write whole tables: no per-statement limit.
        statement_timeout: None,
    }
}

/// The schema version this build expects of `url`'s backend, known without reaching it.
fn expected_version(url: &DatabaseUrl) -> i64 {
    match url {
        DatabaseUrl::Sqlite(_) => tokenauth_store::sqlite::LATEST_SCHEMA_VERSION,
        DatabaseUrl::Postgres(_) => tokenauth_store::postgres::LATEST_SCHEMA_VERSION,
    }
}

/// `tokenauth migrate`: applies pending migrations to the configured database (creating a
/// SQLite file on first use) and prints the schema version before and after.
///
/// # Errors
/// Any failure to create, reach or migrate the database, including a schema newer than this
/// build.
pub async fn migrate(config: &Config, json: bool) -> anyhow::Result<()> {
    let url = &config.database;
    let before = match url {
        DatabaseUrl::Sqlite(path) if !path.exists() => 0,
        _ => Database::probe(url, config).await?.0,
    };
    let database = Database::open_migrated(url, config)
        .await
        .with_context(|| format!("migrating database {url}"))?;
    let store = database.lifecycle();
    let after = store.schema_version().await;
    let expected = store.expected_schema_version();
    store.close().await;
    let after = after.map_err(|error| DbCommandError::Store {
        database: url.to_string(),
        error,
    })?;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "database": url.to_string(), "before": before, "after": after,
                "expected_schema_version": expected,
            })
        );
    } else if before == after {
        println!("database {url}: already at schema version {after}, nothing to do");
    } else {
        println!("database {url}: migrated from schema version {before} to {after}");
    }
    Ok(())
}

/// `tokenauth db backup PATH`: a consistent copy of the configured SQLite database in a new
/// file, taken with SQLite's online backup API while servers keep running, then checked with
/// SQLite's integrity check. Progress goes to stderr, the summary to stdout.
///
/// # Errors
/// A PostgreSQL database (use pg_dump), an existing `PATH`, or a failed copy or check.
pub async fn backup(config: &Config, path: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let DatabaseUrl::Sqlite(source) = &config.database else {
        anyhow::bail!(
            "db backup copies SQLite databases; for PostgreSQL use pg_dump (or a base backup)"
        );
    };
    let url = &config.database;
    let store = SqliteStore::open(source).map_err(|error| DbCommandError::Unreachable {
        database: url.to_string(),
        error,
    })?;
    let started = std::time::Instant::now();
    let mut last_shown = std::time::Instant::now();
    let copied = store
        .backup_to(path, move |remaining, total| {
            // A progress line on stderr at most every half second (stdout stays for the
            // summary).
            if !json && (last_shown.elapsed().as_millis() >= 500 || remaining == 0) && total > 0 {
                let done = total.saturating_sub(remaining);
                eprintln!("backup: {done}/{total} pages ({}%)", done * 100 / total);
                last_shown = std::time::Instant::now();
            }
        })
        .await;
    let verified = match copied {
        Ok(()) => {
            let copy = SqliteStore::open(path).map_err(|error| DbCommandError::Store {
                database: path.display().to_string(),
                error,
            })?;
            let checked = copy.integrity_check().await;
            tokio::task::spawn_blocking(move || copy.close()).await.ok();
            checked
        }
        Err(error) => Err(error),
    };
    tokio::task::spawn_blocking(move || store.close())
        .await
        .ok();
    verified.map_err(|error| DbCommandError::Store {
        database: url.to_string(),
        error,
    })?;
    let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let seconds = started.elapsed().as_secs_f64();
    if json {
        println!(
            "{}",
            serde_json::json!({"database": url.to_string(), "backup": path.display().to_string(),
                               "bytes": bytes, "seconds": seconds, "integrity": "ok"})
        );
    } else {
        println!(
            "backed up {url} to {} ({bytes} bytes in {seconds:.2} s; integrity check ok)",
            path.display()
        );
    }
    Ok(())
}

/// `tokenauth db check`: whether the configured database answers and is at the schema version
/// this build expects. Changes nothing (a missing SQLite file is not created).
///
/// # Errors
/// [`DbCommandError::Unreachable`], [`DbCommandError::SchemaBehind`] or
/// [`DbCommandError::SchemaAhead`]; with `json` the report is printed first either way.
pub async fn check(config: &Config, json: bool) -> anyhow::Result<()> {
    let url = &config.database;
    let probed = Database::probe(url, config).await;
    let (version, expected) = match &probed {
        Ok((version, expected)) => (Some(*version), *expected),
        Err(_) => (None, expected_version(url)),
    };
    let result = probed.and_then(|(version, expected)| require_current(url, version, expected));
    if json {
        let status = match &result {
            Ok(()) => "current",
            Err(DbCommandError::SchemaBehind { .. }) => "behind",
            Err(DbCommandError::SchemaAhead { .. }) => "ahead",
            Err(_) => "unreachable",
        };
        println!(
            "{}",
            serde_json::json!({
                "database": url.to_string(), "status": status, "schema_version": version,
                "expected_schema_version": expected,
                "error": result.as_ref().err().map(ToString::to_string),
            })
        );
    } else if result.is_ok() {
        println!("database {url}: reachable, schema version {expected} (what this build expects)");
    }
    Ok(result?)
}
