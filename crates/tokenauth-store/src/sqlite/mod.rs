//! The embedded SQLite backend.
//!
//! SQLite allows one writer at a time, so all writes go to one dedicated thread that owns the
//! only read-write connection: no lock contention, no `SQLITE_BUSY`, and every multi-statement
//! operation (a refresh-token rotation above all) is one transaction on that thread, atomic by
//! construction. Reads go to a small pool of read-only connections on their own threads, which
//! WAL mode lets run alongside the writer. rusqlite is used rather than sqlx: it measured about
//! twice as fast per transaction here, and sqlx degraded badly under write contention.
//!
//! The hot writes (refresh-token rotations, new sessions) are group-committed: those queued
//! together share one transaction, each in its own savepoint, answered after the commit
//! (`batch`). WAL checkpoints run on a thread and connection of their own, never on the
//! writer's commit path (`checkpoint`).

mod audit;
mod batch;
mod checkpoint;
mod clients;
mod durability;
mod keys;
mod migrations;
mod revocations;
mod rotation;
mod rows;
mod sessions;
mod throttle;
mod token_status;
mod transfer;
mod users;
mod workers;

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokenauth_core::Timestamp;
use tokenauth_core::store::{Lifecycle, PoolStatus, StoreError};

use workers::Workers;

pub use durability::{DEFAULT_BUSY_TIMEOUT, SqliteSettings, Synchronous, UnknownSynchronous};
pub use migrations::LATEST as LATEST_SCHEMA_VERSION;

/// A tokenauth database in one SQLite file (WAL mode).
pub struct SqliteStore {
    workers: Workers,
}

/// How many read-only connections serve reads.
const READERS: usize = 2;

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` with the default settings
    /// (`synchronous=FULL`), applies pending migrations and starts the writer and reader
    /// threads.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if the file cannot be opened or migrated.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, &SqliteSettings::default())
    }

    /// [`SqliteStore::open`] with `settings`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if the file cannot be opened or migrated.
    pub fn open_with(path: &Path, settings: &SqliteSettings) -> Result<Self, StoreError> {
        Self::start(path, OpenFlags::SQLITE_OPEN_CREATE, true, settings)
    }

    /// Opens the existing database at `path` as it is: creates no file and applies no
    /// migration, so its schema version may differ from the one this build expects. For
    /// operator commands that inspect a database or copy out of it.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if there is no file at `path` or it cannot be opened.
    pub fn open_unmigrated(path: &Path) -> Result<Self, StoreError> {
        if !path.is_file() {
            return Err(StoreError::Unavailable(format!(
                "{} does not exist",
                path.display()
            )));
        }
        Self::start(path, OpenFlags::empty(), false, &SqliteSettings::default())
    }

    fn start(
        path: &Path,
        create: OpenFlags,
        migrate: bool,
        settings: &SqliteSettings,
    ) -> Result<Self, StoreError> {
        let mut writer = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | create,
        )
        .map_err(unavailable)?;
        configure(&writer, settings.busy_timeout)?;
        settings.synchronous.apply(&writer)?;
        writer
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(unavailable)?;
        if migrate {
            migrations::apply(&mut writer)?;
        }
        // Checkpoints run on a connection of their own (see `checkpoint`).
        let checkpoints = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(unavailable)?;
        configure(&checkpoints, settings.busy_timeout)?;
        settings.synchronous.apply(&checkpoints)?;
        let mut readers = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let reader = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(unavailable)?;
            configure(&reader, settings.busy_timeout)?;
            readers.push(reader);
        }
        Ok(Self {
            workers: Workers::start(writer, readers, checkpoints)?,
        })
    }

    /// Finishes queued work, checkpoints the WAL and closes every connection. Later calls fail
    /// with [`StoreError::Unavailable`]. Idempotent.
    pub fn close(&self) {
        self.workers.stop();
    }

    /// The schema version the database is at.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if the database cannot be read.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        self.workers
            .read(|conn| {
                conn.pragma_query_value(None, "user_version", |row| row.get(0))
                    .map_err(unavailable)
            })
            .await
    }

    /// The `synchronous` mode the writer commits with, as SQLite reports it.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if the database cannot be asked, or reports a mode tokenauth
    /// never sets.
    pub async fn synchronous(&self) -> Result<Synchronous, StoreError> {
        self.workers
            .write(|conn| {
                let value: i64 = conn
                    .pragma_query_value(None, "synchronous", |row| row.get(0))
                    .map_err(unavailable)?;
                Synchronous::from_pragma_value(value).ok_or_else(|| {
                    StoreError::Unavailable(format!("unexpected synchronous mode {value}"))
                })
            })
            .await
    }

    /// Copies the live database into a new file at `target` with SQLite's online backup API,
    /// `PAGES_PER_STEP` pages at a time, so writers are held up only for one step at a time;
    /// `progress(remaining, total)` is called after each step. The copy is a consistent
    /// snapshot (including what is still in the WAL).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] if `target` exists (it is never overwritten);
    /// [`StoreError::Unavailable`] if the copy fails (a partial file is removed). The new file
    /// is readable by its owner only.
    pub async fn backup_to(
        &self,
        target: &Path,
        mut progress: impl FnMut(i32, i32) + Send + 'static,
    ) -> Result<(), StoreError> {
        /// Pages copied per step (4 KiB each): about 1 MiB.
        const PAGES_PER_STEP: i32 = 256;
        // Created here, atomically and readable by the owner only (it holds password hashes
        // and sealed keys); SQLite then fills the empty file.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(target) {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StoreError::Conflict("the backup file already exists"));
            }
            Err(error) => return Err(StoreError::Unavailable(error.to_string())),
        }
        let target = target.to_path_buf();
        self.workers
            .read(move |conn| {
                let copied = (|| {
                    let mut out = Connection::open(&target)?;
                    let backup = rusqlite::backup::Backup::new(conn, &mut out)?;
                    loop {
                        match backup.step(PAGES_PER_STEP)? {
                            rusqlite::backup::StepResult::Done => break,
                            rusqlite::backup::StepResult::More => {
                                let p = backup.progress();
                                progress(p.remaining, p.pagecount);
                            }
                            // The writer holds a lock for a moment: try the step again.
                            _ => std::thread::sleep(std::time::Duration::from_millis(5)),
                        }
                    }
                    progress(0, backup.progress().pagecount);
                    Ok(())
                })();
                if copied.is_err() {
                    let _ = std::fs::remove_file(&target);
                }
                copied.map_err(unavailable)
            })
            .await
    }

    /// Runs SQLite's integrity check; `Ok(())` when it answers `ok`.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] with SQLite's findings, or [`StoreError::Unavailable`].
    pub async fn integrity_check(&self) -> Result<(), StoreError> {
        self.workers
            .read(|conn| {
                let verdict: String = conn
                    .pragma_query_value(None, "integrity_check", |row| row.get(0))
                    .map_err(unavailable)?;
                if verdict == "ok" {
                    Ok(())
                } else {
                    Err(StoreError::Corrupt(verdict))
                }
            })
            .await
    }
}

#[async_trait::async_trait]
impl Lifecycle for SqliteStore {
    async fn schema_version(&self) -> Result<i64, StoreError> {
        SqliteStore::schema_version(self).await
    }

    fn expected_schema_version(&self) -> i64 {
        migrations::LATEST
    }

    async fn close(&self) {
        self.workers.stop_async().await;
    }

    fn pool_status(&self) -> Option<PoolStatus> {
        Some(self.workers.status())
    }

    async fn probe_write(&self, now: Timestamp) -> Result<(), StoreError> {
        self.workers
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO write_probe (id, written_at) VALUES (1, ?1) \
                     ON CONFLICT (id) DO UPDATE SET written_at = excluded.written_at",
                )
                .and_then(|mut stmt| stmt.execute([now.as_millis()]))
                .map(drop)
                .map_err(unavailable)
            })
            .await
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.workers.stop();
    }
}

/// Settings every connection gets. The committing connections (the writer, the
/// checkpointer) also get the configured `synchronous` mode ([`durability`]); read-only ones
/// commit nothing and keep SQLite's default. A lock held by another connection is waited for
/// at most `busy_timeout`.
fn configure(conn: &Connection, busy_timeout: Duration) -> Result<(), StoreError> {
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(unavailable)?;
    conn.busy_timeout(busy_timeout).map_err(unavailable)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Maps a SQLite failure to the store's error: constraint violations become `Conflict`.
fn unavailable(error: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

/// Whether `error` is a uniqueness or other constraint violation.
fn is_constraint_violation(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::SqliteFailure(failure, _)
            if failure.code == rusqlite::ErrorCode::ConstraintViolation
    )
}
