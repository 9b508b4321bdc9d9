//! What a start needs before anything else: the data directory and the master key.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use tokenauth_core::store::Store;
use tokenauth_store::postgres::PoolSettings;
use tokenauth_store::sqlite::SqliteSettings;
use tokenauth_store::{DeadlineStore, PostgresStore, SqliteStore};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use tokenauth_core::master_key::{MASTER_KEY_LEN, MasterKey};
use zeroize::Zeroizing;

use crate::config::{Config, ConfigError, DatabaseUrl};

/// Name of the generated master key file inside the data directory.
pub const MASTER_KEY_FILE: &str = "master.key";
/// Environment variable that supplies the master key (base64 of 32 bytes) instead of the file.
pub const MASTER_KEY_ENV: &str = "TOKENAUTH_MASTER_KEY";

/// Creates the data directory (mode 0700) if it does not exist.
///
/// # Errors
/// A [`ConfigError`] for `data_dir` if it cannot be created.
pub fn ensure_data_dir(dir: &Path) -> Result<(), ConfigError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| ConfigError {
            setting: "data_dir",
            reason: format!("cannot create {}: {e}", dir.display()),
        })
}

/// Opens the configured database for an operator command, applying pending migrations, but
/// only if it exists and holds a tokenauth schema: a command pointed at a wrong data directory
/// or database must not create a new, empty one beside the real one. Only `serve`
/// ([`open_or_create_database`]) and `migrate` create databases.
///
/// # Errors
/// A [`ConfigError`] (exit 2) if there is no such database or it holds no tokenauth schema
/// (see [`require_existing_database`]); any failure to connect or migrate.
pub async fn open_database(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    require_existing_database(config).await?;
    open_or_create_database(config).await
}

/// Fails unless the configured database exists and holds a tokenauth schema (version 1 or
/// later); creates and writes nothing. Run it before anything else that could create files
/// (such as [`load_master_key`]).
///
/// # Errors
/// A [`ConfigError`] for `data_dir` (SQLite in a missing directory) or `database_url` (no
/// such SQLite file, or a database or schema without tokenauth's tables); a failure to reach
/// a PostgreSQL server.
pub async fn require_existing_database(config: &Config) -> anyhow::Result<()> {
    let hint =
        "`tokenauth serve` or `tokenauth migrate` creates a new database; this command does not";
    let version = match &config.database {
        DatabaseUrl::Sqlite(path) => {
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
            if let Some(dir) = dir.filter(|dir| !dir.is_dir()) {
                return Err(ConfigError {
                    setting: "data_dir",
                    reason: format!("{} does not exist ({hint})", dir.display()),
                }
                .into());
            }
            if !path.is_file() {
                return Err(ConfigError {
                    setting: "database_url",
                    reason: format!("no database at {} ({hint})", path.display()),
                }
                .into());
            }
            let store = SqliteStore::open_unmigrated(path)
                .with_context(|| format!("opening database {}", config.database))?;
            let version = store.schema_version().await;
            store.close();
            version
        }
        DatabaseUrl::Postgres(url) => {
            let store = PostgresStore::connect_unmigrated(url.expose(), &pool_settings(config))
                .await
                .with_context(|| format!("connecting to {}", config.database))?;
            let version = store.schema_version().await;
            store.close();
            version
        }
    }
    .with_context(|| format!("reading the schema version of {}", config.database))?;
    if version < 1 {
        return Err(ConfigError {
            setting: "database_url",
            reason: format!("{} holds no tokenauth schema ({hint})", config.database),
        }
        .into());
    }
    Ok(())
}

fn pool_settings(config: &Config) -> PoolSettings {
    PoolSettings {
        max_connections: config.database_max_connections,
        acquire_timeout: config.database_timeout,
        schema: None,
        statement_timeout: Some(config.database_timeout),
    }
}

/// Opens the configured database, applying pending migrations. For SQLite this creates the
/// data directory and the file (mode 0600) on first use. For `tokenauth serve`. Every call on
/// the returned store answers within `database_timeout` ([`DeadlineStore`]); PostgreSQL
/// connections also get it as their `statement_timeout` and `lock_timeout`, SQLite connections
/// as their busy timeout.
///
/// # Errors
/// A [`ConfigError`] if the directory cannot be created; any failure to connect or migrate.
pub async fn open_or_create_database(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    ensure_data_dir(&config.data_dir)?;
    let store: Arc<dyn Store> = match &config.database {
        DatabaseUrl::Sqlite(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                ensure_data_dir(parent)?;
            }
            create_private_file(path)?;
            let settings = SqliteSettings {
                synchronous: config.sqlite_synchronous,
                busy_timeout: config.database_timeout,
            };
            let store = SqliteStore::open_with(path, &settings)
                .with_context(|| format!("opening database {}", config.database))?;
            Arc::new(store)
        }
        DatabaseUrl::Postgres(url) => {
            let store = PostgresStore::connect(url.expose(), &pool_settings(config))
                .await
                .with_context(|| format!("connecting to {}", config.database))?;
            Arc::new(store)
        }
    };
    Ok(Arc::new(DeadlineStore::new(store, config.database_timeout)))
}

/// Creates `path` with mode 0600 if it does not exist yet; SQLite gives its WAL and
/// shared-memory files the same mode.
///
/// # Errors
/// When the file cannot be created.
pub fn create_private_file(path: &Path) -> anyhow::Result<()> {
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error).with_context(|| format!("cannot create {}", path.display())),
    }
}

/// The master key: from `TOKENAUTH_MASTER_KEY` when set, else from `master.key` in the data
/// directory (created, mode 0700, if missing), generated (mode 0600) on first start. Load it
/// before opening the database, so that a bad key stops the start before anything is written.
///
/// # Errors
/// A [`ConfigError`] for `master_key` when the value is not base64 of 32 bytes or the file
/// cannot be read or created, or for `data_dir` when the directory cannot be created.
pub fn load_master_key(
    data_dir: &Path,
    from_env: Option<String>,
) -> Result<MasterKey, ConfigError> {
    let invalid = |reason: String| ConfigError {
        setting: "master_key",
        reason,
    };
    let encoded = match from_env {
        Some(value) => Zeroizing::new(value),
        None => {
            ensure_data_dir(data_dir)?;
            read_or_create_key_file(&data_dir.join(MASTER_KEY_FILE)).map_err(invalid)?
        }
    };
    let bytes = Zeroizing::new(
        STANDARD
            .decode(encoded.trim())
            .or_else(|_| URL_SAFE_NO_PAD.decode(encoded.trim()))
            .map_err(|_| {
                invalid("is not base64 (generate one with: openssl rand -base64 32)".into())
            })?,
    );
    let key: &[u8; MASTER_KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
        invalid(format!(
            "must decode to {MASTER_KEY_LEN} bytes, not {}",
            bytes.len()
        ))
    })?;
    MasterKey::from_bytes(key).map_err(|e| invalid(e.to_string()))
}

fn read_or_create_key_file(path: &Path) -> Result<Zeroizing<String>, String> {
    match fs::read_to_string(path) {
        Ok(text) => {
            let mode = fs::metadata(path)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or(0);
            if mode & 0o077 != 0 {
                tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "master key file is readable by others; chmod 600 it");
            }
            Ok(Zeroizing::new(text))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let mut key = Zeroizing::new([0u8; MASTER_KEY_LEN]);
            aws_lc_rs::rand::fill(key.as_mut()).map_err(|_| "random source failed".to_owned())?;
            let encoded = Zeroizing::new(STANDARD.encode(key.as_ref()));
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            file.write_all(encoded.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a new master key");
            Ok(encoded)
        }
        Err(error) => Err(format!("cannot read {}: {error}", path.display())),
    }
}
