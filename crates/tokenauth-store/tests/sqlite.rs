//! The storage conformance suite (`conformance/`) run against [`SqliteStore`]: every test on a
//! fresh database file in its own temporary directory.

#[macro_use]
mod conformance;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tempfile::TempDir;
use tokenauth_core::store::Store;
use tokenauth_store::SqliteStore;

use conformance::Backend;

/// One database file in a temporary directory, and the store opened on it last.
struct Sqlite {
    dir: TempDir,
    current: Mutex<Option<Arc<SqliteStore>>>,
}

impl Sqlite {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
            current: Mutex::new(None),
        }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("x.db")
    }

    fn current(&self) -> Arc<SqliteStore> {
        self.current
            .lock()
            .expect("lock")
            .clone()
            .expect("a store is open")
    }
}

#[async_trait]
impl Backend for Sqlite {
    async fn open(&self) -> Arc<dyn Store> {
        let store = Arc::new(SqliteStore::open(&self.path()).expect("open SQLite store"));
        *self.current.lock().expect("lock") = Some(Arc::clone(&store));
        store
    }

    async fn close(&self) {
        let store = self.current();
        // `close` joins the database threads: keep it off the async workers.
        tokio::task::spawn_blocking(move || store.close())
            .await
            .expect("close");
    }

    async fn check(&self) {
        let store = self.current();
        store.integrity_check().await.expect("integrity check");
        let expected = tokenauth_core::store::Lifecycle::expected_schema_version(store.as_ref());
        assert_eq!(
            store.schema_version().await.expect("schema version"),
            expected
        );
    }
}

/// One `#[tokio::test]` per conformance function: `store` tests get a fresh store, `backend`
/// tests the fresh database's [`Backend`], `pair` tests a fresh store on each of two fresh
/// databases. The database is checked after every store test.
macro_rules! conformance {
    (store: $($module:ident::$test:ident),+ $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            let backend = Sqlite::new();
            let store = backend.open().await;
            conformance::$module::$test(store).await;
            backend.check().await;
        }
    )+};
    (backend: $($module:ident::$test:ident),+ $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            let backend = Sqlite::new();
            conformance::$module::$test(&backend).await;
        }
    )+};
    (pair: $($module:ident::$test:ident),+ $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            let (first, second) = (Sqlite::new(), Sqlite::new());
            conformance::$module::$test(first.open().await, second.open().await).await;
        }
    )+};
}

every_conformance_test!(conformance);

/// Invariant 7: only hashes of refresh tokens reach the disk. After sign-up and a few
/// rotations, no file of the database holds any token's plaintext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_token_hashes_reach_the_disk() {
    let backend = Sqlite::new();
    let store = backend.open().await;
    let alice = conformance::sign_up(&store, "alice@example.com", &[]).await;
    let mut plaintexts = vec![alice.token.expose().to_owned()];
    let mut live = alice.token;
    for step in 1..=5 {
        let (next, _) = conformance::rotate_ok(&store, &live, conformance::at(step)).await;
        plaintexts.push(next.expose().to_owned());
        live = next;
    }
    backend.close().await;
    drop(store);

    let mut files = 0;
    for entry in std::fs::read_dir(backend.dir.path()).expect("read dir") {
        let bytes = std::fs::read(entry.expect("dir entry").path()).expect("read file");
        files += 1;
        for plaintext in &plaintexts {
            assert!(
                !bytes
                    .windows(plaintext.len())
                    .any(|window| window == plaintext.as_bytes()),
                "a refresh token's plaintext was written to disk"
            );
        }
    }
    assert!(files >= 1);
}
