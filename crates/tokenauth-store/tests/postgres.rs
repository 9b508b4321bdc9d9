//! The storage conformance suite (`conformance/`) run against [`PostgresStore`]: every test in a
//! fresh schema of the server named by `TOKENAUTH_TEST_DATABASE_URL`, dropped afterwards. Without
//! that variable each test says it was skipped. Below it, tests of what only PostgreSQL can do
//! (a rotation losing its compare-and-swap to another connection).

#[macro_use]
mod conformance;
mod postgres_only;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokenauth_core::session::RotationOutcome;
use tokenauth_core::store::{Lifecycle, Store};
use tokenauth_store::PostgresStore;
use tokenauth_store::postgres::LATEST_SCHEMA_VERSION;
use tokenauth_store::postgres::test_schema::TestSchema;

use conformance::Backend;
use tokio_postgres::NoTls;

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
    (legacy: $($module:ident::$test:ident),+ $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            let Some(backend) = Postgres::new(stringify!($test)).await else { return };
            let store = backend.open().await;
            let transfer: Arc<dyn tokenauth_core::store::Transfer> = backend.current();
            conformance::$module::$test(store, transfer).await;
            backend.check().await;
        }
    )+};
}

every_conformance_test!(conformance);

/// PostgreSQL only: the rotation's read locks the session's row but not the user's, so a user
/// disabled while the rotation waits for that lock is not seen by the read (its snapshot is
/// older) but is by the swap, which then changes nothing. The rotation must read and decide
/// again, answering `Revoked` and consuming nothing: not fail, not rotate, not count as reuse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_whose_swap_loses_reads_and_decides_again() {
    let Some(backend) = Postgres::new("a_rotation_whose_swap_loses_reads_and_decides_again").await
    else {
        return;
    };
    let store = backend.open().await;
    let alice = conformance::sign_up(&store, "alice@example.com", &[]).await;
    let (blocker, connection) = tokio_postgres::connect(&backend.schema.url(), NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    blocker.batch_execute("BEGIN").await.expect("begin");
    blocker
        .execute(
            "SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE",
            &[&alice.session.id.as_uuid()],
        )
        .await
        .expect("lock the session");
    let blocker_pid: i32 = blocker
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .expect("pid")
        .get(0);

    let rotation = {
        let store = Arc::clone(&store);
        let request = conformance::request(&alice.token, conformance::at(100));
        tokio::spawn(async move { store.rotate_refresh_token(&request).await })
    };
    wait_until_blocked_by(&blocker, blocker_pid).await;
    blocker
        .execute(
            "UPDATE users SET disabled_at = $2 WHERE id = $1",
            &[&alice.user.id.as_uuid(), &conformance::at(99).as_millis()],
        )
        .await
        .expect("disable");
    blocker.batch_execute("COMMIT").await.expect("commit");

    let outcome = rotation.await.expect("rotation task").expect("rotate");
    assert_eq!(outcome, RotationOutcome::Revoked);
    let status = store
        .find_refresh_token(&conformance::presented(&alice.token))
        .await
        .expect("status")
        .expect("known");
    assert!(status.current, "the lost swap consumed nothing");
    assert!(status.revoked_at.is_none(), "and revoked nothing");
    assert!(
        store
            .revocations_after(0, 10)
            .await
            .expect("feed")
            .is_empty()
    );
}

/// Waits until some backend waits for a lock that `blocker_pid` holds.
async fn wait_until_blocked_by(client: &tokio_postgres::Client, blocker_pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                &[&blocker_pid],
            )
            .await
            .expect("pg_stat_activity")
            .get(0);
        if waiting > 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the rotation never waited for the lock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
