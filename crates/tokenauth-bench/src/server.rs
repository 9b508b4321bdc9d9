//! The server under load: started in-process (a temporary SQLite file or a fresh PostgreSQL
//! schema, preloaded if asked, listening on 127.0.0.1 on a free port) or one already running at
//! `--target`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use tokenauth_core::SystemClock;
use tokenauth_core::password::HashCost;
use tokenauth_server::bootstrap::load_master_key;
use tokenauth_server::config::{Config, Layer, RawValue};
use tokenauth_server::{Application, BuildOptions};
use tokenauth_store::postgres::PoolSettings;
use tokenauth_store::{PostgresStore, SqliteStore};
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::options::{Backend, Options, UsageError};
use crate::pg_schema::BenchSchema;
use crate::preload::{Preloaded, preload};
use crate::progress::note;

/// The fixed master key of in-process servers (base64 of 32 bytes): nothing here is secret.
const MASTER_KEY: &str = "dG9rZW5hdXRoLWJlbmNoLWZpeGVkLW1hc3Rlci1rZXk=";

/// A server to load, and what it takes to stop it.
pub struct Server {
    base: String,
    running: Option<Running>,
}

/// Ends the in-process server's `run_until`.
type Shutdown = oneshot::Sender<()>;
/// The in-process server's task; its result is the server's.
type Task = JoinHandle<anyhow::Result<()>>;

/// An in-process server and the data it owns.
struct Running {
    shutdown: Shutdown,
    task: Task,
    _data: tempfile::TempDir,
    schema: Option<BenchSchema>,
}

/// Where the in-process server keeps its data.
enum Storage {
    Sqlite(std::path::PathBuf),
    Postgres(BenchSchema),
}

impl Server {
    /// The server at `--target`; nothing to start or stop.
    pub fn external(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            running: None,
        }
    }

    /// Starts a server on `runtime` (its own threads, as a real `tokenauth serve` has) on fresh
    /// storage, after preloading `options.preload` sessions into it. Returns it with the
    /// preload's handed-out refresh tokens.
    ///
    /// # Errors
    /// If the storage cannot be prepared or preloaded, or the server does not start.
    pub async fn start(options: &Options, runtime: &Handle) -> anyhow::Result<(Self, Preloaded)> {
        let data = tempfile::tempdir().context("creating a temporary data directory")?;
        let data_dir = data.path().join("data");
        std::fs::create_dir_all(&data_dir)
            .with_context(|| format!("creating {}", data_dir.display()))?;
        let storage = match options.backend {
            Backend::Sqlite => Storage::Sqlite(data_dir.join("tokenauth.db")),
            Backend::Postgres => {
                Storage::Postgres(BenchSchema::create(&options.postgres_url()?).await?)
            }
        };
        // The configuration first: a bad `--alg` must stop the run before a long preload.
        let config = server_config(&data_dir, &storage, options)?;
        let preloaded = fill(&storage, &data_dir, options).await?;
        let (address, shutdown, task) = spawn(runtime, config).await?;
        let schema = match storage {
            Storage::Postgres(schema) => Some(schema),
            Storage::Sqlite(_) => None,
        };
        let server = Self {
            base: format!("http://{address}"),
            running: Some(Running {
                shutdown,
                task,
                _data: data,
                schema,
            }),
        };
        Ok((server, preloaded))
    }

    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Stops an in-process server gracefully, then drops its data (the PostgreSQL schema too).
    ///
    /// # Errors
    /// If the server failed while serving or the schema cannot be dropped.
    pub async fn stop(self) -> anyhow::Result<()> {
        let Some(running) = self.running else {
            return Ok(());
        };
        let _ = running.shutdown.send(());
        let served = running.task.await.context("the server task");
        if let Some(schema) = running.schema {
            schema.drop_now().await?;
        }
        served?
    }
}

/// The in-process server's settings: a free port on 127.0.0.1, the storage, the algorithm.
///
/// # Errors
/// A [`UsageError`] for a setting the server refuses (an unknown `--alg`).
fn server_config(data_dir: &Path, storage: &Storage, options: &Options) -> anyhow::Result<Config> {
    let mut layer = Layer::new();
    let text = |value: String| RawValue::Text(value);
    layer.insert("listen", text("127.0.0.1:0".into()));
    layer.insert("data_dir", text(data_dir.display().to_string()));
    layer.insert("database_url", text(storage.url()));
    layer.insert("signing_alg", text(options.alg.clone()));
    // Every load client connects from 127.0.0.1, which no real deployment sees: the per-IP
    // buckets of login and sign-up (10/s, 60/m) would measure the limiter, not the server.
    // Refresh keeps a bucket, so its figures include the limiter's cost, but one far above
    // the default (10000/s per address), which 16 clients on one address can now exceed.
    layer.insert("rate_limit_login", text("off".into()));
    layer.insert("rate_limit_signup", text("off".into()));
    layer.insert("rate_limit_refresh", text("1000000/s".into()));
    if let Some(threads) = options.hash_threads() {
        layer.insert("password_hash_concurrency", text(threads.to_string()));
    }
    if let Some(mode) = &options.sqlite_synchronous {
        layer.insert("sqlite_synchronous", text(mode.clone()));
    }
    if let Some(ttl) = options.access_token_ttl {
        layer.insert("access_token_ttl", text(format!("{}s", ttl.as_secs())));
    }
    Ok(Config::from_layer(layer).map_err(|error| UsageError(error.to_string()))?)
}

/// Builds and runs the server on `runtime`; returns once it listens.
async fn spawn(runtime: &Handle, config: Config) -> anyhow::Result<(SocketAddr, Shutdown, Task)> {
    let build = BuildOptions {
        clock: Arc::new(SystemClock),
        hash_cost: HashCost::OWASP,
        master_key: Some(MASTER_KEY.to_owned()),
    };
    let (bound, address) = oneshot::channel();
    let (shutdown, stop) = oneshot::channel::<()>();
    let task = runtime.spawn(async move {
        let app = Application::build(config, build).await?;
        let _ = bound.send(app.local_addr()?);
        app.run_until(async move {
            let _ = stop.await;
        })
        .await
    });
    match address.await {
        Ok(address) => Ok((address, shutdown, task)),
        // The task ended before it listened: its result says why.
        Err(_) => Err(task
            .await
            .context("the server task")?
            .err()
            .unwrap_or_else(|| anyhow::anyhow!("the server stopped before it listened"))),
    }
}

impl Storage {
    fn url(&self) -> String {
        match self {
            Storage::Sqlite(path) => format!("sqlite://{}", path.display()),
            Storage::Postgres(schema) => schema.url(),
        }
    }
}

/// Preloads the storage (before the server opens it), when asked to, with sessions whose
/// tokens the server's rotation secret (from [`MASTER_KEY`]) recognises.
async fn fill(storage: &Storage, data_dir: &Path, options: &Options) -> anyhow::Result<Preloaded> {
    if options.preload == 0 {
        return Ok(Preloaded::none());
    }
    let secret = load_master_key(data_dir, Some(MASTER_KEY.to_owned()))
        .context("the bench's master key")?
        .rotation_secret();
    let preloaded = match storage {
        Storage::Sqlite(path) => {
            let store = open_sqlite(path)?;
            let preloaded = preload(&store, &secret, options.preload, options.clients).await;
            store.close();
            preloaded?
        }
        Storage::Postgres(schema) => {
            let settings = PoolSettings {
                schema: Some(schema.name().to_owned()),
                ..PoolSettings::default()
            };
            let store = PostgresStore::connect(schema.server_url(), &settings)
                .await
                .context("connecting to PostgreSQL for the preload")?;
            let preloaded = preload(&store, &secret, options.preload, options.clients).await;
            store.close();
            preloaded?
        }
    };
    note(&format!(
        "preload: done in {:.1} s",
        preloaded.elapsed.as_secs_f64()
    ));
    Ok(preloaded)
}

fn open_sqlite(path: &Path) -> anyhow::Result<SqliteStore> {
    SqliteStore::open(path).with_context(|| format!("opening {} for the preload", path.display()))
}
