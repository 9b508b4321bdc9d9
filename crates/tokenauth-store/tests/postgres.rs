//! The storage conformance suite (`conformance/`) run against [`PostgresStore`]: every test in a
//! fresh schema of the server named by `TOKENAUTH_TEST_DATABASE_URL`, dropped afterwards. Without
//! that variable each test says it was skipped.

#[macro_use]
mod conformance;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokenauth_core::store::{Lifecycle, Store};
use tokenauth_store::PostgresStore;
use tokenauth_store::postgres::LATEST_SCHEMA_VERSION;
use tokenauth_store::postgres::test_schema::TestSchema;

use conformance::Backend;

/// One schema, and the store opened on it last.
struct Postgres {
    schema: TestSchema,
    current: Mutex<Option<Arc<PostgresStore>>>,
}

impl Postgres {
    async fn new(test: &str) -> Option<Self> {
        Some(Self {
            schema: TestSchema::create(test).await?,
            current: Mutex::new(None),
        })
    }

    fn current(&self) -> Arc<PostgresStore> {
        self.current
            .lock()
            .expect("lock")
            .clone()
            .expect("a store is open")
    }
}

#[async_trait]
impl Backend for Postgres {
    async fn open(&self) -> Arc<dyn Store> {
        let store = Arc::new(self.schema.open().await);
        *self.current.lock().expect("lock") = Some(Arc::clone(&store));
        store
    }

    async fn close(&self) {
        Lifecycle::close(self.current().as_ref()).await;
    }

    async fn check(&self) {
        let store = self.current();
        assert_eq!(
            store.schema_version().await.expect("schema version"),
            LATEST_SCHEMA_VERSION
        );
    }
}

/// One `#[tokio::test]` per conformance function, as in `sqlite.rs`.
macro_rules! conformance {
    (store: $($module:ident::$test:ident),+ $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            let Some(backend) = Postgres::new(stringify!($test)).await else { return };
            let store = backend.open().await;
            conformance::$module::$test(store).await;
            backend.check().await;
        }
    )+};
    (backend: $($module:ident::$test:ident),+ $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            let Some(backend) = Postgres::new(stringify!($test)).await else { return };
            conformance::$module::$test(&backend).await;
        }
    )+};
    (pair: $($module:ident::$test:ident),+ $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            let Some(first) = Postgres::new(stringify!($test)).await else { return };
            let Some(second) = Postgres::new(stringify!($test)).await else { return };
            conformance::$module::$test(first.open().await, second.open().await).await;
        }
    )+};
}

every_conformance_test!(conformance);
