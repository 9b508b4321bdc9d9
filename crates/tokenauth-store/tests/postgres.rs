//! The storage conformance suite (`conformance/`) run against [`PostgresStore`]: every test in a
//! fresh schema of the server named by `TOKENAUTH_TEST_DATABASE_URL`, dropped afterwards. Without
//! that variable each test says it was skipped.

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
}

conformance!(store:
    users::user_with_session_round_trip,
    users::minimal_user_round_trip,
    users::duplicate_email_conflicts_and_writes_nothing,
    users::set_password_hash_replaces_only_that_users_hash,
    users::add_role_is_idempotent,
    sessions::list_active_sessions_filters_and_orders,
    sessions::revoke_session_only_by_owner_and_once,
    sessions::revoke_session_ignores_expired,
    sessions::revoke_all_sessions_returns_ids_and_spares_others,
    sessions::sessions_revoked_since_reports_every_revocation,
    sessions::purge_removes_only_long_ended_sessions,
    rotation::live_token_rotates,
    rotation::previous_token_within_grace_is_replayed,
    rotation::previous_token_after_grace_is_reuse,
    rotation::older_token_is_reuse_even_within_grace,
    rotation::replay_with_another_successor_is_reuse,
    rotation::expired_session_is_expired,
    rotation::revoked_session_never_comes_back,
    rotation::unknown_token_is_unknown,
    rotation::rotation_reports_current_roles,
    concurrency::concurrent_refreshes_within_grace_converge,
    concurrency::concurrent_refreshes_without_grace_revoke,
    concurrency::concurrent_rotations_of_different_sessions,
    concurrency::long_chain_keeps_one_live_token,
    concurrency::first_token_of_long_chain_is_reuse,
    keys::keys_round_trip,
    keys::one_active_and_one_next_key,
    keys::promote_signing_key_moves_states,
    keys::promote_without_active_key,
    keys::delete_expired_signing_keys_only_removes_ended_retired_keys,
    persistence::lifecycle_reports_expected_schema_version,
);

conformance!(backend:
    persistence::data_survives_reopen,
    persistence::failed_calls_change_nothing,
    persistence::close_with_calls_in_flight,
    persistence::lifecycle_close_with_calls_in_flight,
);
