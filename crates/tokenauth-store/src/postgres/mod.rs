//! The PostgreSQL backend, for running several tokenauth instances against one database.
//!
//! tokio-postgres with a deadpool pool (sqlx cannot be used: its optional SQLite driver pins a
//! `libsqlite3-sys` that Cargo refuses beside rusqlite's, even when the feature is off).
//!
//! Every operation is one transaction at READ COMMITTED. Refresh-token rotation is a single
//! conditional `UPDATE … WHERE current_hash = $presented`: PostgreSQL's row lock makes concurrent
//! rotations of one token queue behind each other, and the loser re-reads the row and matches
//! nothing, so no serialisation failure can occur.

mod audit;
mod clients;
mod keys;
mod listener;
mod migrations;
mod revocations;
mod rotation;
mod rows;
mod sessions;
#[cfg(feature = "test-support")]
pub mod test_schema;
mod throttle;
#[cfg(feature = "test-support")]
mod throwaway;
mod token_status;
mod transfer;
mod users;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokenauth_core::Timestamp;
use tokenauth_core::store::{Lifecycle, PoolStatus, StoreError};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

pub use migrations::LATEST as LATEST_SCHEMA_VERSION;

/// Connection pool settings.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Longest wait for a free connection (or a new one) before an operation fails.
    pub acquire_timeout: Duration,
    /// PostgreSQL schema to use (`search_path`); `None` for the server's default.
    pub schema: Option<String>,
    /// The server-side `statement_timeout` and `lock_timeout` of every pooled connection
    /// (migrations lift them); `None` leaves the server's defaults (for operator commands that
    /// copy whole tables).
    pub statement_timeout: Option<Duration>,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout: Duration::from_secs(5),
            schema: None,
            statement_timeout: None,
        }
    }
}

/// A tokenauth database on PostgreSQL.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    /// How to open a connection outside the pool (the revocation listener's).
    config: Arc<tokio_postgres::Config>,
    /// The revocation listener, started on first use.
    listener: Arc<OnceLock<listener::Listener>>,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://…`) and applies pending migrations (under an advisory
    /// lock, so instances starting together apply them once).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if the URL is malformed, or the server cannot be reached or
    /// migrated.
    pub async fn connect(url: &str, settings: &PoolSettings) -> Result<Self, StoreError> {
        let store = Self::connect_unmigrated(url, settings).await?;
        let mut client = store.client().await?;
        migrations::apply(&mut client).await?;
        Ok(store)
    }

    /// Connects to `url` and checks that the server answers, but applies no migration: the
    /// schema version may differ from the one this build expects (0 on an empty database). For
    /// operator commands that inspect a database or copy out of it.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if the URL is malformed or the server cannot be reached.
    pub async fn connect_unmigrated(
        url: &str,
        settings: &PoolSettings,
    ) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = url.parse().map_err(unavailable)?;
        let mut options: Vec<String> = config
            .get_options()
            .map(str::to_owned)
            .into_iter()
            .collect();
        if let Some(schema) = &settings.schema {
            options.push(format!("-c search_path={schema}"));
        }
        if let Some(timeout) = settings.statement_timeout {
            let millis = timeout.as_millis().max(1);
            options.push(format!("-c statement_timeout={millis}"));
            options.push(format!("-c lock_timeout={millis}"));
        }
        if !options.is_empty() {
            config.options(options.join(" "));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(settings.acquire_timeout);
        }
        dead_peer_detection(&mut config, settings.acquire_timeout);
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.max_connections.max(1))
            .wait_timeout(Some(settings.acquire_timeout))
            .create_timeout(Some(settings.acquire_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(unavailable)?;
        let store = Self {
            pool,
            config: Arc::new(config),
            listener: Arc::default(),
        };
        drop(store.client().await?);
        Ok(store)
    }

    /// The schema version the database is at.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] if the database cannot be read.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        migrations::current(&self.client().await?).await
    }

    /// Closes the pool and the revocation listener; later calls fail with
    /// [`StoreError::Unavailable`].
    pub fn close(&self) {
        if let Some(listener) = self.listener.get() {
            listener.stop();
        }
        self.pool.close();
    }

    /// The revocation listener, started on first call (on the current tokio runtime).
    fn listener(&self) -> &listener::Listener {
        self.listener
            .get_or_init(|| listener::Listener::start(tokio_postgres::Config::clone(&self.config)))
    }

    pub(crate) async fn client(&self) -> Result<Object, StoreError> {
        self.pool.get().await.map_err(unavailable)
    }
}

#[async_trait::async_trait]
impl Lifecycle for PostgresStore {
    async fn schema_version(&self) -> Result<i64, StoreError> {
        PostgresStore::schema_version(self).await
    }

    fn expected_schema_version(&self) -> i64 {
        LATEST_SCHEMA_VERSION
    }

    async fn close(&self) {
        PostgresStore::close(self);
    }

    fn pool_status(&self) -> Option<PoolStatus> {
        let status = self.pool.status();
        Some(PoolStatus {
            max_connections: status.max_size,
            connections: status.size,
            idle: status.available,
            waiting: status.waiting,
            queued_writes: None,
        })
    }

    async fn probe_write(&self, now: Timestamp) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                "INSERT INTO write_probe (id, written_at) VALUES (1, $1) \
                 ON CONFLICT (id) DO UPDATE SET written_at = excluded.written_at",
                &[&now.as_millis()],
            )
            .await
            .map(drop)
            .map_err(unavailable)
    }
}

/// TCP keepalives and a user timeout, unless the URL sets its own: a connection whose server
/// vanished (a host gone, a network that drops everything) fails within seconds instead of the
/// kernel's two hours, so the pool discards it. The client-side deadline of every call
/// (`DeadlineStore`) bounds the answer meanwhile; this frees the connection.
fn dead_peer_detection(config: &mut tokio_postgres::Config, timeout: Duration) {
    /// tokio-postgres's default idle time before the first keepalive probe.
    const DEFAULT_KEEPALIVES_IDLE: Duration = Duration::from_secs(2 * 60 * 60);
    let timeout = timeout.max(Duration::from_secs(1));
    config.keepalives(true);
    if config.get_keepalives_idle() == DEFAULT_KEEPALIVES_IDLE {
        config.keepalives_idle(timeout);
        config.keepalives_interval(Duration::from_secs(1));
        config.keepalives_retries(3);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(timeout * 2);
    }
}

/// A driver or pool failure as one line, causes included: tokio-postgres keeps the detail
/// ("connection refused", the server's own message) in the cause, not in its text.
fn unavailable(error: impl std::error::Error) -> StoreError {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let text = inner.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = inner.source();
    }
    StoreError::Unavailable(message)
}

/// Whether `error` is a unique-constraint violation.
fn is_unique_violation(error: &tokio_postgres::Error) -> bool {
    error.code() == Some(&SqlState::UNIQUE_VIOLATION)
}
