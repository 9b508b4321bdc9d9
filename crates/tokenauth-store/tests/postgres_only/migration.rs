//! Migration 12 on PostgreSQL: a schema at version 11 with sessions of the old format opens at
//! version 12 with every row as it was, `current_hash` nullable under a partial unique index,
//! and its tokens working (skipped without a PostgreSQL server, as the other tests are).

use tokenauth_core::store::Lifecycle;
use tokenauth_store::postgres::test_schema::TestSchema;
use tokio_postgres::NoTls;

use crate::conformance::legacy::old_tokens_keep_working;
use crate::conformance::{at, legacy_hash, legacy_token};

/// The migrations up to version 11, as an older build applied them.
const UP_TO_11: [&str; 11] = [
    include_str!("../../migrations/postgres/0001_init.sql"),
    include_str!("../../migrations/postgres/0002_session_expiry_index.sql"),
    include_str!("../../migrations/postgres/0003_api_clients.sql"),
    include_str!("../../migrations/postgres/0004_revocation_feed.sql"),
    include_str!("../../migrations/postgres/0005_login_throttle.sql"),
    include_str!("../../migrations/postgres/0006_audit_log.sql"),
    include_str!("../../migrations/postgres/0007_client_permissions.sql"),
    include_str!("../../migrations/postgres/0008_write_probe.sql"),
    include_str!("../../migrations/postgres/0009_key_policy.sql"),
    include_str!("../../migrations/postgres/0010_key_withdrawal_feed.sql"),
    include_str!("../../migrations/postgres/0011_session_lifetimes.sql"),
];

const USER: &str = "00000000-0000-7000-8000-000000000001";
const KNOWN: &str = "00000000-0000-7000-a000-000000000001";

/// Brings `client`'s schema to version 11 with 1,000 old sessions (hashes and history) and the
/// session [`KNOWN`] at generation 3, whose live legacy token is `live`, previous `previous`.
async fn old_schema(client: &tokio_postgres::Client, live: &str, previous: &str) {
    client
        .batch_execute(
            "CREATE TABLE tokenauth_schema (version BIGINT PRIMARY KEY, \
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await
        .expect("version table");
    for (index, sql) in UP_TO_11.iter().enumerate() {
        client.batch_execute(sql).await.expect("old migration");
        let version = i64::try_from(index + 1).expect("small");
        client
            .execute(
                "INSERT INTO tokenauth_schema (version) VALUES ($1)",
                &[&version],
            )
            .await
            .expect("version");
    }
    let far = at(10_000_000).as_millis();
    client
        .batch_execute(&format!(
            "INSERT INTO users (id, email, password_hash, created_at, updated_at) \
             VALUES ('{USER}', 'old@example.com', 'x', 1, 1);
             INSERT INTO sessions (id, user_id, current_hash, previous_hash, generation,
                 rotated_at, created_at, last_used_at, expires_at, absolute_expires_at,
                 access_expires_at)
             SELECT gen_random_uuid(), '{USER}', sha256(('c' || i)::bytea),
                 sha256(('p' || i)::bytea), 1, i, 0, i, {far}, {far}, i
             FROM generate_series(1, 1000) AS i;
             INSERT INTO refresh_tokens (hash, session_id, generation)
                 SELECT current_hash, id, 1 FROM sessions
                 UNION ALL SELECT previous_hash, id, 0 FROM sessions;"
        ))
        .await
        .expect("old sessions");
    let (live, previous) = (legacy_hash(live), legacy_hash(previous));
    let known: uuid::Uuid = KNOWN.parse().expect("uuid");
    let user: uuid::Uuid = USER.parse().expect("uuid");
    client
        .execute(
            "INSERT INTO sessions (id, user_id, current_hash, previous_hash, generation, \
             rotated_at, created_at, last_used_at, expires_at, absolute_expires_at, \
             access_expires_at) VALUES ($1, $2, $3, $4, 3, $5, 0, $5, $6, $6, $5)",
            &[
                &known,
                &user,
                &live.as_bytes().as_slice(),
                &previous.as_bytes().as_slice(),
                &at(100).as_millis(),
                &far,
            ],
        )
        .await
        .expect("known session");
    for (hash, generation) in [(live, 3_i64), (previous, 2)] {
        client
            .execute(
                "INSERT INTO refresh_tokens (hash, session_id, generation) VALUES ($1, $2, $3)",
                &[&hash.as_bytes().as_slice(), &known, &generation],
            )
            .await
            .expect("known history");
    }
}

/// Every session row, in id order, as text.
async fn sessions(client: &tokio_postgres::Client) -> Vec<String> {
    client
        .query("SELECT s::text FROM sessions s ORDER BY id", &[])
        .await
        .expect("sessions")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_12_keeps_every_session_and_its_tokens_working() {
    let Some(schema) = TestSchema::create("migration_12_on_postgres").await else {
        return;
    };
    let (client, connection) = tokio_postgres::connect(&schema.url(), NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let (live, previous) = (legacy_token(), legacy_token());
    old_schema(&client, &live, &previous).await;
    let before = sessions(&client).await;
    let history_before: i64 = client
        .query_one("SELECT count(*) FROM refresh_tokens", &[])
        .await
        .expect("count")
        .get(0);

    let store = schema.open().await;
    assert_eq!(store.schema_version().await.expect("version"), 12);
    assert_eq!(
        sessions(&client).await,
        before,
        "the migration changed no row"
    );
    let nullable: String = client
        .query_one(
            "SELECT is_nullable FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = 'sessions' \
             AND column_name = 'current_hash'",
            &[],
        )
        .await
        .expect("column")
        .get(0);
    assert_eq!(nullable, "YES");
    let index: String = client
        .query_one(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() \
             AND indexname = 'sessions_current_hash'",
            &[],
        )
        .await
        .expect("index")
        .get(0);
    assert!(index.contains("UNIQUE") && index.contains("WHERE (current_hash IS NOT NULL)"));

    let known = KNOWN.parse().expect("uuid");
    old_tokens_keep_working(&store, known, &live, &previous).await;
    let history_after: i64 = client
        .query_one("SELECT count(*) FROM refresh_tokens", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(
        history_after, history_before,
        "no history row added or lost"
    );
    Lifecycle::close(&store).await;
}
