//! The storage conformance suite (`conformance/`) run against [`SqliteStore`]: every test on a
//! fresh database file in its own temporary directory.

#[macro_use]
mod conformance;
mod sqlite_only;

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
/// databases, `legacy` tests a fresh store and its `Transfer` side. The database is checked
/// after every store and legacy test.
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
    (legacy: $($module:ident::$test:ident),+ $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            let backend = Sqlite::new();
            let store = backend.open().await;
            let transfer: Arc<dyn tokenauth_core::store::Transfer> = backend.current();
            conformance::$module::$test(store, transfer).await;
            backend.check().await;
        }
    )+};
}

every_conformance_test!(conformance);

/// Invariant 7: nothing of a refresh token reaches the disk. After sign-up and a few
/// rotations, no file of the database holds any token's plaintext (see `copied_database.rs`
/// for what a copy of the file gives an attacker).
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

/// Group commit: writes queued together share one transaction, each in its own savepoint. A
/// write that fails (here a session whose id is already taken: a new session is one row since
/// token format v2, so it fails on its only statement) must leave nothing behind and must not
/// disturb the writes batched with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_write_in_a_batch_changes_nothing_and_spares_the_others() {
    use tokenauth_core::session::RotationOutcome;

    const ROTATIONS: usize = 40;
    const BROKEN: usize = 8;
    let backend = Sqlite::new();
    let store = backend.open().await;
    let alice = conformance::sign_up(&store, "alice@example.com", &[]).await;
    // A session made from Alice's first token has her session's id.
    let _ = conformance::rotate_ok(&store, &alice.token, conformance::at(1)).await;
    let mut others = Vec::with_capacity(ROTATIONS);
    for index in 0..ROTATIONS {
        let address = format!("user{index}@example.com");
        others.push(conformance::sign_up(&store, &address, &[]).await);
    }

    let start = Arc::new(tokio::sync::Barrier::new(ROTATIONS + BROKEN));
    let mut rotations = Vec::new();
    for account in &others {
        let (store, start) = (Arc::clone(&store), Arc::clone(&start));
        let request = conformance::request(&account.token, conformance::at(2));
        rotations.push(tokio::spawn(async move {
            start.wait().await;
            store.rotate_refresh_token(&request).await
        }));
    }
    let mut broken = Vec::new();
    for _ in 0..BROKEN {
        let (store, start) = (Arc::clone(&store), Arc::clone(&start));
        let session = conformance::new_session(alice.user.id, &alice.token, conformance::at(2));
        broken.push(tokio::spawn(async move {
            start.wait().await;
            store.insert_session(&session).await
        }));
    }
    for task in rotations {
        let outcome = task
            .await
            .expect("task")
            .expect("a rotation batched with failures");
        assert!(
            matches!(outcome, RotationOutcome::Rotated(_)),
            "{outcome:?}"
        );
    }
    for task in broken {
        assert!(
            task.await.expect("task").is_err(),
            "a conflicting session was accepted"
        );
    }
    let sessions = store
        .list_active_sessions(alice.user.id, conformance::at(3))
        .await
        .expect("list");
    assert_eq!(
        sessions.len(),
        1,
        "a failed insert left its session row behind"
    );
    assert_eq!(sessions[0].id, alice.session.id);
    for account in &others {
        let (_, owner) = conformance::rotate_ok(
            &store,
            &conformance::successor(&account.token),
            conformance::at(4),
        )
        .await;
        assert_eq!(owner.session_id, account.session.id);
    }
    backend.check().await;
}

/// Migration 7 gives clients registered before permissions existed every permission, so that
/// an upgrade breaks no resource server; clients registered after it get what they were given.
#[tokio::test(flavor = "multi_thread")]
async fn clients_from_before_permissions_keep_every_permission() {
    use tokenauth_core::client::ClientPermissions;
    use tokenauth_core::store::ClientStore as _;
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).expect("open");
        for sql in [
            include_str!("../migrations/sqlite/0001_init.sql"),
            include_str!("../migrations/sqlite/0002_session_expiry_index.sql"),
            include_str!("../migrations/sqlite/0003_api_clients.sql"),
            include_str!("../migrations/sqlite/0004_revocation_feed.sql"),
            include_str!("../migrations/sqlite/0005_login_throttle.sql"),
            include_str!("../migrations/sqlite/0006_audit_log.sql"),
        ] {
            conn.execute_batch(sql).expect("old migration");
        }
        conn.pragma_update(None, "user_version", 6)
            .expect("version");
        conn.execute(
            "INSERT INTO api_clients (client_id, name, secret_hash, created_at) \
             VALUES ('tac_old', 'old', zeroblob(32), 1)",
            [],
        )
        .expect("old client");
    }
    let store = SqliteStore::open(&path).expect("upgrade");
    let old = store.find_client("tac_old").await.expect("find");
    assert_eq!(old.map(|c| c.permissions), Some(ClientPermissions::all()));
    store.close();
}

/// Issue 15: an acknowledged write (a rotation, a logout, a theft revocation) must survive a
/// power loss, so the writer commits with `synchronous=FULL` (2) unless the operator opts into
/// NORMAL (1), which only survives a process crash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_commits_with_synchronous_full_unless_told_normal() {
    use tokenauth_store::sqlite::{SqliteSettings, Synchronous};

    let backend = Sqlite::new();
    let store = SqliteStore::open(&backend.path()).expect("open");
    let mode = store.synchronous().await.expect("synchronous");
    assert_eq!((mode, mode.pragma_value()), (Synchronous::Full, 2));
    tokio::task::spawn_blocking(move || store.close())
        .await
        .expect("close");

    let settings = SqliteSettings {
        synchronous: Synchronous::Normal,
        ..SqliteSettings::default()
    };
    let store = SqliteStore::open_with(&backend.path(), &settings).expect("reopen");
    let mode = store.synchronous().await.expect("synchronous");
    assert_eq!((mode, mode.pragma_value()), (Synchronous::Normal, 1));
    tokio::task::spawn_blocking(move || store.close())
        .await
        .expect("close");
}
