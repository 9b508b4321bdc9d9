//! Throwaway PostgreSQL schemas for tests (feature `test-support`): each test gets a fresh schema
//! in the database named by `TOKENAUTH_TEST_DATABASE_URL` — or, when it is not set, in a
//! throwaway cluster of this process's own ([`super::throwaway`]) if PostgreSQL's server
//! programs are installed — dropped again when the test ends, so tests run in parallel and
//! leave nothing behind.

use std::time::Duration;

use super::{PoolSettings, PostgresStore};

/// The environment variable naming the PostgreSQL server tests use.
pub const TEST_DATABASE_URL: &str = "TOKENAUTH_TEST_DATABASE_URL";

/// A schema that exists for as long as this value does.
pub struct TestSchema {
    url: String,
    name: String,
}

impl TestSchema {
    /// Creates a fresh schema on the server `TOKENAUTH_TEST_DATABASE_URL` names, else on this
    /// process's throwaway cluster; `None` (after saying so on stderr) when neither exists.
    /// Panics if the variable is set but the server unreachable: a configured PostgreSQL test
    /// must never be skipped silently.
    pub async fn create(test: &str) -> Option<Self> {
        let configured = std::env::var(TEST_DATABASE_URL).ok();
        // Started (once) on a blocking thread: it waits for initdb and the server's start.
        let url = match configured {
            Some(url) => url,
            None => {
                let throwaway = tokio::task::spawn_blocking(super::throwaway::url).await;
                let Some(url) = throwaway.ok().flatten() else {
                    say_skipped(test);
                    return None;
                };
                url
            }
        };
        let name = format!("tokenauth_test_{}", uuid::Uuid::new_v4().simple());
        let client = connect(&url).await;
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .unwrap_or_else(|e| panic!("creating schema {name}: {e}"));
        Some(Self { url, name })
    }

    /// The schema's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server URL with this schema as the search path, usable as `database_url`.
    pub fn url(&self) -> String {
        let separator = if self.url.contains('?') { '&' } else { '?' };
        format!(
            "{}{separator}options=-c%20search_path%3D{}",
            self.url, self.name
        )
    }

    /// Opens a store on this schema.
    pub async fn open(&self) -> PostgresStore {
        let settings = PoolSettings {
            schema: Some(self.name.clone()),
            acquire_timeout: Duration::from_secs(10),
            ..PoolSettings::default()
        };
        PostgresStore::connect(&self.url, &settings)
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.url))
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let url = self.url.clone();
        let name = self.name.clone();
        // Drop may run inside or outside a runtime: do the async work on a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async {
                    let client = connect(&url).await;
                    let _ = client
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                        .await;
                });
            }
        });
        let _ = dropped.join();
    }
}

/// Tells the person running the tests, once per test binary, that PostgreSQL tests were
/// skipped. Written to stderr directly: the test harness captures `eprintln!` of passing tests.
fn say_skipped(test: &str) {
    use std::io::Write as _;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: PostgreSQL tests (first: {test}) need {TEST_DATABASE_URL}, \
             e.g. postgres://postgres@127.0.0.1:5432/test, or PostgreSQL's server programs \
             (initdb, postgres, pg_isready) for a throwaway cluster"
        );
    });
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("{TEST_DATABASE_URL}={url} is set but unreachable: {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}
