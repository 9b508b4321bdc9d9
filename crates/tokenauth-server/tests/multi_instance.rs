//! Two real `tokenauth` processes on different ports sharing one PostgreSQL database (a fresh
//! schema of `TOKENAUTH_TEST_DATABASE_URL`): sessions move freely between them, rotation stays
//! atomic across them, and key rotation is coordinated. Skipped, with a message, without that
//! variable; CI sets it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::process::{Server, send};
use common::{access_token, kid_of, kids, refresh_token};
use serde_json::json;
use tokenauth_store::postgres::test_schema::TestSchema;

/// Two instances on one fresh schema, with the `extra` flags.
async fn pair(test: &str, extra: &[&str]) -> Option<(TestSchema, Server, Server)> {
    let schema = TestSchema::create(test).await?;
    // Both start at once on the empty schema: migrations and the first key race, and must
    // each happen exactly once.
    let url = schema.url();
    let (a, b) = tokio::join!(Server::start_on(&url, extra), Server::start_on(&url, extra));
    Some((schema, a, b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_move_freely_between_instances() {
    let Some((_schema, a, b)) = pair("sessions_move_freely_between_instances", &[]).await else {
        return;
    };
    let signup = a.signup("ann@example.com").await;

    // Created on A, refreshed on B; B's token works on A and the other way round.
    let (status, refreshed) = b.refresh(refresh_token(&signup)).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(
        a.get("/v1/me", Some(&access_token(&refreshed))).await.0,
        200
    );
    assert_eq!(b.get("/v1/me", Some(&access_token(&signup))).await.0, 200);

    // Logout on B kills the refresh token on A.
    let logout = b
        .client
        .post(b.url("/v1/logout"))
        .bearer_auth(access_token(&refreshed));
    assert_eq!(send(logout).await.0, 204);
    let (status, body) = a.refresh(refresh_token(&refreshed)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("session_revoked"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_stays_atomic_across_instances() {
    let Some((_schema, a, b)) = pair(
        "rotation_stays_atomic_across_instances",
        &["--refresh-reuse-grace", "2s"],
    )
    .await
    else {
        return;
    };
    let signup = a.signup("bo@example.com").await;
    let r0 = refresh_token(&signup);

    // 50 concurrent refreshes of one token, spread over both instances.
    let racers: Vec<_> = (0..50)
        .map(|i| {
            let instance = if i % 2 == 0 { &a } else { &b };
            let request = instance
                .client
                .post(instance.url("/v1/refresh"))
                .json(&json!({"refresh_token": r0}));
            tokio::spawn(send(request))
        })
        .collect();
    let mut successors = HashSet::new();
    for racer in racers {
        let (status, body) = racer.await.unwrap();
        assert_eq!(status, 200, "no racer may fail or see a 5xx: {body}");
        successors.insert(refresh_token(&body));
    }
    assert_eq!(successors.len(), 1, "one live token, whoever answered");
    let r1 = successors.into_iter().next().unwrap();

    // After the grace window, reuse of r0 on either instance revokes the family everywhere.
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    let (status, body) = b.refresh(&r0).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("refresh_token_reused"))
    );
    let (status, body) = a.refresh(&r1).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("session_revoked"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_is_coordinated_and_new_keys_verify_everywhere_at_once() {
    let Some(schema) = TestSchema::create("key_rotation_is_coordinated").await else {
        return;
    };
    // A rotates every 2 s, each key published the least lead there is (60 s: verifiers
    // rate-limit refetches for unknown kids to one per 30 s), however short its 250 ms max-age;
    // B keeps the default schedule: B learns A's keys by reloading on an unknown kid, or from
    // its key-change check (every second), whichever comes first.
    let fast = [
        "--key-rotation-interval",
        "2s",
        "--jwks-max-age",
        "250ms",
        "--access-token-ttl",
        "1m",
    ];
    let a = Server::start_on(&schema.url(), &fast).await;
    let b = Server::start_on(&schema.url(), &["--access-token-ttl", "1m"]).await;
    let signup = a.signup("cy@example.com").await;
    let first_kid = kid_of(&access_token(&signup));

    // Wait until A signs with a new key.
    let deadline = Instant::now() + Duration::from_secs(120);
    let token = loop {
        let (status, login) = a.login("cy@example.com").await;
        assert_eq!(status, 200);
        let token = access_token(&login);
        if kid_of(&token) != first_kid {
            break token;
        }
        assert!(Instant::now() < deadline, "A never rotated");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // B has not maintained since it started, yet verifies A's brand-new key at once.
    assert_eq!(b.get("/v1/me", Some(&token)).await.0, 200);
    assert_eq!(b.get("/v1/verify", Some(&token)).await.0, 200);
    // Both now publish the same keys.
    let jwks_a = a.get_json("/.well-known/jwks.json").await;
    let jwks_b = b.get_json("/.well-known/jwks.json").await;
    assert!(
        kids(&jwks_b).contains(&kid_of(&token)),
        "B publishes the key it reloaded"
    );
    assert!(kids(&jwks_a).contains(&kid_of(&token)));
    // The old token still verifies on both.
    assert_eq!(b.get("/v1/me", Some(&access_token(&signup))).await.0, 200);

    // Two instances on the fast schedule never double-rotate: at every moment the store holds
    // at most one active and one next key (its unique index), and rotations keep the pace of
    // one schedule, not two.
    drop(b);
    let b = Server::start_on(&schema.url(), &fast).await;
    let started = Instant::now();
    let mut seen = HashSet::new();
    while started.elapsed() < Duration::from_secs(5) {
        for instance in [&a, &b] {
            let (_, login) = instance.login("cy@example.com").await;
            seen.insert(kid_of(&access_token(&login)));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A 2 s interval over 5 s allows 3 or 4 signing keys; double rotation would give more.
    assert!(seen.len() <= 4, "keys signed with in 5 s: {}", seen.len());
}
