//! Two real `tokenauth` processes on different ports sharing one PostgreSQL database (a fresh
//! schema of `TOKENAUTH_TEST_DATABASE_URL`): sessions move freely between them, rotation stays
//! atomic across them, key rotation is coordinated, and the lock-out of credential checks holds
//! across them however the guesses are spread. Skipped, with a message, without that
//! variable; CI sets it.

use crate::common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::process::{Server, json_of, run_expecting, send, tokenauth, workdir};
use common::{PASSWORD, access_token, kid_of, kids, refresh_token};
use serde_json::{Value, json};
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

/// Sends every request at once; returns the statuses in order.
async fn all_at_once(requests: Vec<reqwest::RequestBuilder>) -> Vec<u16> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|request| tokio::spawn(async move { request.send().await.unwrap().status().as_u16() }))
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    statuses
}

/// Asserts that exactly 5 of `statuses` (the default `login_max_failures`) are 401 and every
/// other one 429.
fn assert_checked_five(statuses: &[u16]) {
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(
        checked + refused,
        statuses.len(),
        "only 401 and 429: {statuses:?}"
    );
    assert_eq!(checked, 5, "exactly the limit was checked: {statuses:?}");
}

/// The status and machine error code of an answer.
async fn code(request: reqwest::RequestBuilder) -> (u16, Value) {
    let (status, body) = send(request).await;
    (status, body["error"].clone())
}

/// 59 wrong guesses at once, from 59 addresses (named by the trusted proxy), spread over two
/// instances: exactly 5 are checked, the rest refused; then the right password is refused on
/// both exactly like a wrong one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_guesses_across_instances_are_checked_at_most_the_limit() {
    let trusted = ["--trusted-proxies", "127.0.0.1"];
    let Some((_schema, a, b)) = pair("concurrent_guesses_across_instances", &trusted).await else {
        return;
    };
    a.signup("dee@example.com").await;
    let login = |instance: &Server, address: String, password: &str| {
        instance
            .client
            .post(instance.url("/v1/login"))
            .header("x-forwarded-for", address)
            .json(&json!({"email": "dee@example.com", "password": password}))
    };
    let guesses = (1..=59)
        .map(|i| {
            let instance = if i % 2 == 0 { &a } else { &b };
            login(instance, format!("203.0.113.{i}"), &format!("guess {i}"))
        })
        .collect();
    assert_checked_five(&all_at_once(guesses).await);
    for instance in [&a, &b] {
        let right = code(login(instance, "198.51.100.1".into(), PASSWORD)).await;
        let wrong = code(login(instance, "198.51.100.2".into(), "guess 60")).await;
        assert_eq!(right, (429, json!("rate_limited")));
        assert_eq!(
            right, wrong,
            "the right password is refused like a wrong one"
        );
    }
}

/// The `(kind, detail)` of every audit event of `email` on `database_url`, as the real
/// `tokenauth audit --user EMAIL --json` prints them.
fn audit_of(database_url: &str, email: &str) -> Vec<(String, Value)> {
    let (_temp, dir) = workdir();
    let output = run_expecting(
        tokenauth(&dir).args([
            "audit",
            "--user",
            email,
            "--json",
            "--database-url",
            database_url,
        ]),
        0,
    );
    json_of(&output)["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap().to_owned(), e["detail"].clone()))
        .collect()
}

/// One stolen access token, 30 wrong guesses at once of the current password of
/// `POST /v1/password`, and of the password of `DELETE /v1/me`, spread over two instances:
/// exactly 5 are checked for each account, the rest refused, the right password too (and the
/// account's logins); `tokenauth audit` shows the 5 failures and the lock-out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_rechecks_across_instances_share_one_lockout_and_are_audited() {
    let no_bucket = ["--rate-limit-login", "off"];
    let Some((schema, a, b)) = pair("password_rechecks_across_instances", &no_bucket).await else {
        return;
    };
    let change = |instance: &Server, access: &str, current: &str| {
        instance
            .client
            .post(instance.url("/v1/password"))
            .bearer_auth(access)
            .json(
                &json!({"current_password": current, "new_password": "a new and long passphrase"}),
            )
    };
    let delete = |instance: &Server, access: &str, password: &str| {
        instance
            .client
            .delete(instance.url("/v1/me"))
            .bearer_auth(access)
            .json(&json!({"password": password}))
    };
    let eve = access_token(&a.signup("eve@example.com").await);
    let fay = access_token(&b.signup("fay@example.com").await);
    let spread = |i: usize| if i.is_multiple_of(2) { &a } else { &b };
    let guesses = (0..30)
        .map(|i| change(spread(i), &eve, &format!("guess {i}")))
        .collect();
    assert_checked_five(&all_at_once(guesses).await);
    let guesses = (0..30)
        .map(|i| delete(spread(i), &fay, &format!("guess {i}")))
        .collect();
    assert_checked_five(&all_at_once(guesses).await);

    for instance in [&a, &b] {
        let refused = (429, json!("rate_limited"));
        assert_eq!(code(change(instance, &eve, PASSWORD)).await, refused);
        assert_eq!(code(delete(instance, &fay, PASSWORD)).await, refused);
        for email in ["eve@example.com", "fay@example.com"] {
            assert_eq!(instance.login(email).await.0, 429, "{email} locked out");
        }
    }

    for (email, detail) in [
        ("eve@example.com", "password_change"),
        ("fay@example.com", "account_deletion"),
    ] {
        let events = audit_of(&schema.url(), email);
        let count = |kind: &str, detail: Value| {
            events
                .iter()
                .filter(|(k, d)| k == kind && *d == detail)
                .count()
        };
        assert_eq!(
            count("password_check_failed", json!(detail)),
            5,
            "{events:?}"
        );
        assert_eq!(count("locked_out", json!("5")), 1, "{events:?}");
        assert_eq!(
            events.len(),
            7,
            "signup, 5 failures, the lock-out: {events:?}"
        );
    }
}
