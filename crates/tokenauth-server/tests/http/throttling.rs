//! Abuse protection over HTTP: the per-account lock-out of credential checks (in the database,
//! shared by every instance; logins and the password re-checks of `POST /v1/password` and
//! `DELETE /v1/me` count together); the per-client-IP buckets (per instance) and whose
//! `X-Forwarded-For` is believed are in [`per_ip`].

use crate::common;

mod per_ip;

use std::time::Duration;

use common::process::{json_of, run_expecting, tokenauth};
use common::{Backend, Options, PASSWORD, TestServer, access_token, assert_problem};
use serde_json::{Value, json};
use tokenauth_core::password::HashCost;

const WRONG: &str = "not the password at all";

/// Asserts a 429 `rate_limited` problem whose `Retry-After` is `secs`; returns the body.
async fn assert_rate_limited(response: reqwest::Response, secs: u64) -> Value {
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(retry_after, Some(secs.to_string()), "Retry-After");
    assert_problem(response, 429, "rate_limited").await
}

/// `Retry-After` of a 429 `rate_limited` answer, in seconds.
async fn retry_after(response: reqwest::Response) -> u64 {
    let secs = response
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_problem(response, 429, "rate_limited").await;
    secs
}

/// A server on `backend` for the lock-out tests, which send logins faster than any one client
/// may: the per-IP login bucket is switched off so that only the lock-out answers.
async fn lockout_server(backend: &Backend) -> TestServer {
    TestServer::start_with(
        Options::on(backend).configure(move |c| c.throttling.rate_limit_login = None),
    )
    .await
}

/// `n` wrong-password logins for `email`, each refused 401.
async fn fail_logins(server: &TestServer, email: &str, n: usize) {
    for i in 0..n {
        let response = server.login(email, WRONG).await;
        assert_eq!(response.status(), 401, "failure {i} for {email}");
    }
}

async fn fifth_failure_locks_the_account_even_for_the_right_password(backend: Backend) {
    let server = lockout_server(&backend).await;
    server.signup("ada@example.com", PASSWORD).await;
    fail_logins(&server, "ada@example.com", 5).await;

    let problem = assert_rate_limited(server.login("ada@example.com", PASSWORD).await, 30).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("30 s"),
        "{problem}"
    );
    assert_rate_limited(server.login("ada@example.com", WRONG).await, 30).await;
    // Another spelling of the address is the same account.
    assert_rate_limited(server.login(" ADA@example.COM ", PASSWORD).await, 30).await;
    // Others are not affected.
    server.signup("bo@example.com", PASSWORD).await;
    assert_eq!(server.login("bo@example.com", PASSWORD).await.status(), 200);

    server.advance(Duration::from_secs(29));
    assert_rate_limited(server.login("ada@example.com", PASSWORD).await, 1).await;
    server.advance(Duration::from_secs(1));
    assert_eq!(
        server.login("ada@example.com", PASSWORD).await.status(),
        200,
        "the lock-out lifts after 30 s"
    );
}

async fn lockouts_double_and_a_success_starts_the_count_again(backend: Backend) {
    let server = lockout_server(&backend).await;
    let email = "cy@example.com";
    server.signup(email, PASSWORD).await;
    fail_logins(&server, email, 5).await;
    assert_rate_limited(server.login(email, PASSWORD).await, 30).await;
    // After each lock-out one more failure locks it again, twice as long, up to 15 minutes.
    let mut expected = 30;
    for _ in 0..6 {
        server.advance(Duration::from_secs(expected));
        fail_logins(&server, email, 1).await;
        expected = (expected * 2).min(900);
        assert_rate_limited(server.login(email, PASSWORD).await, expected).await;
    }
    assert_eq!(expected, 900, "the cap was reached");

    server.advance(Duration::from_secs(900));
    assert_eq!(server.login(email, PASSWORD).await.status(), 200);
    // The success forgot the count: four failures lock nothing, the fifth locks for 30 s.
    fail_logins(&server, email, 4).await;
    assert_eq!(server.login(email, PASSWORD).await.status(), 200);
    fail_logins(&server, email, 5).await;
    assert_rate_limited(server.login(email, PASSWORD).await, 30).await;
}

async fn failures_are_forgotten_after_fifteen_quiet_minutes(backend: Backend) {
    let server = lockout_server(&backend).await;
    server.signup("dee@example.com", PASSWORD).await;
    fail_logins(&server, "dee@example.com", 4).await;
    server.advance(Duration::from_secs(15 * 60));
    fail_logins(&server, "dee@example.com", 4).await;
    assert_eq!(
        server.login("dee@example.com", PASSWORD).await.status(),
        200,
        "the first four were forgotten"
    );
}

async fn unknown_emails_lock_out_exactly_like_known_ones(backend: Backend) {
    let server = lockout_server(&backend).await;
    server.signup("known@example.com", PASSWORD).await;
    let mut answers = Vec::new();
    for email in ["known@example.com", "ghost@example.com"] {
        fail_logins(&server, email, 5).await;
        let response = server.login(email, PASSWORD).await;
        let status = response.status();
        let retry = response.headers().get("retry-after").cloned();
        let body: Value = response.json().await.unwrap();
        answers.push((status, retry, body));
    }
    assert_eq!(answers[0].0, 429);
    assert_eq!(answers[0], answers[1], "nothing tells the two apart");
    // A malformed address is counted the same way too.
    fail_logins(&server, "not an address", 5).await;
    assert_rate_limited(server.login("not an address", PASSWORD).await, 30).await;
}

/// During a lock-out the lock is checked before any hashing: with the hasher's only slot busy
/// and no queue, a login that needed a hash would be answered 503; a locked-out one gets 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_out_login_computes_no_hash() {
    let options = Options {
        hash_cost: HashCost {
            memory_kib: 64 * 1024,
            iterations: 4,
            parallelism: 1,
        },
        ..Options::default()
    }
    .configure(move |c| {
        c.password_hash_concurrency = 1;
        c.password_hash_queue = 0;
    });
    let server = TestServer::start_with(options).await;
    fail_logins(&server, "eve@example.com", 5).await;

    let busy = {
        let (client, url) = (server.client.clone(), server.url("/v1/login"));
        tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"email": "slow@example.com", "password": WRONG}))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    while server.state.auth.hasher().queue_depth() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // The probe: a login that must hash is turned away while the slot is taken...
    assert_problem(
        server.login("someone@example.com", WRONG).await,
        503,
        "overloaded",
    )
    .await;
    // ...and the locked-out one is refused for the lock-out, not for the hasher.
    assert_rate_limited(server.login("eve@example.com", PASSWORD).await, 30).await;
    assert_eq!(
        server.state.auth.hasher().queue_depth(),
        1,
        "the slow login was still hashing: the probes were valid"
    );
    assert_eq!(busy.await.unwrap(), 401);
}

/// Two instances on one PostgreSQL database: failures on either count together, and a
/// lock-out made through one holds on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_lockout() {
    let Some(backend) = Backend::postgres("two_instances_share_the_lockout").await else {
        return;
    };
    let a = lockout_server(&backend).await;
    let b = TestServer::start_with(
        Options {
            clock: Some(a.clock.clone()),
            ..Options::on(&backend)
        }
        .configure(move |c| c.throttling.rate_limit_login = None),
    )
    .await;
    a.signup("fay@example.com", PASSWORD).await;
    fail_logins(&a, "fay@example.com", 3).await;
    fail_logins(&b, "fay@example.com", 2).await;
    assert_rate_limited(a.login("fay@example.com", PASSWORD).await, 30).await;
    assert_rate_limited(b.login("fay@example.com", PASSWORD).await, 30).await;

    // Failures made on A alone lock the account on B.
    a.signup("gus@example.com", PASSWORD).await;
    fail_logins(&a, "gus@example.com", 5).await;
    assert_rate_limited(b.login("gus@example.com", PASSWORD).await, 30).await;

    a.advance(Duration::from_secs(30));
    assert_eq!(b.login("gus@example.com", PASSWORD).await.status(), 200);
    assert_eq!(a.login("fay@example.com", PASSWORD).await.status(), 200);
}

/// Argon2 parameters heavy enough that concurrent checks overlap for a while, so a race between
/// reading the count and counting a failure would show.
const SLOW_HASH: HashCost = HashCost {
    memory_kib: 8 * 1024,
    iterations: 2,
    parallelism: 1,
};

/// The status, `Retry-After` and body of an answer, to compare answers whole.
async fn answer(response: reqwest::Response) -> (u16, Option<String>, Value) {
    let status = response.status().as_u16();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, response.json().await.unwrap_or(Value::Null))
}

/// 59 wrong guesses at once from 59 addresses (named by a trusted proxy, so no address bucket
/// is involved): at most `login_max_failures` (5) are checked, every other one is refused 429
/// unhashed; then the right password gets exactly the answer a wrong one gets. On the old
/// read-then-count path most of the 59 were checked, and the right password's 429 among 401s
/// told it apart.
async fn concurrent_guesses_are_checked_at_most_the_limit_then_refused_alike(backend: Backend) {
    let server = TestServer::start_with(Options {
        hash_cost: SLOW_HASH,
        ..Options::on(&backend).configure(move |c| {
            c.throttling.trusted_proxies = common::trusted_proxies(&["127.0.0.1"])
        })
    })
    .await;
    server.signup("ada@example.com", PASSWORD).await;
    let guesses: Vec<_> = (1..=59)
        .map(|i| {
            let request = server
                .client
                .post(server.url("/v1/login"))
                .header("x-forwarded-for", format!("203.0.113.{i}"))
                .json(&json!({"email": "ada@example.com", "password": format!("guess {i}")}));
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.unwrap());
    }
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + refused, 59, "only 401 and 429: {statuses:?}");
    assert_eq!(checked, 5, "exactly the limit was checked: {statuses:?}");

    let from = |address: &str, password: &str| {
        server
            .client
            .post(server.url("/v1/login"))
            .header("x-forwarded-for", address.to_owned())
            .json(&json!({"email": "ada@example.com", "password": password}))
            .send()
    };
    let right = answer(from("198.51.100.1", PASSWORD).await.unwrap()).await;
    let wrong = answer(from("198.51.100.2", WRONG).await.unwrap()).await;
    assert_eq!(right.0, 429, "{right:?}");
    assert_eq!(
        right, wrong,
        "the right password is refused exactly like a wrong one"
    );
}

/// `POST /v1/password` as the holder of `access`, with `current` as the current password.
async fn change_password(server: &TestServer, access: &str, current: &str) -> reqwest::Response {
    server
        .client
        .post(server.url("/v1/password"))
        .bearer_auth(access)
        .json(&json!({"current_password": current, "new_password": "a new and long passphrase"}))
        .send()
        .await
        .unwrap()
}

/// `DELETE /v1/me` as the holder of `access`, with `password`.
async fn delete_me(server: &TestServer, access: &str, password: &str) -> reqwest::Response {
    server
        .client
        .delete(server.url("/v1/me"))
        .bearer_auth(access)
        .json(&json!({"password": password}))
        .send()
        .await
        .unwrap()
}

/// The `(kind, detail)` of each audit event of `email`, oldest first, as the real
/// `tokenauth audit --user EMAIL --json` prints them from the server's database.
fn audit_of(server: &TestServer, email: &str) -> Vec<(String, Option<String>)> {
    let dir = server.data_dir.parent().unwrap();
    let mut command = tokenauth(dir);
    command.args(["audit", "--user", email, "--json", "--limit", "1000"]);
    match &server.backend {
        Backend::Sqlite => command.arg("--data-dir").arg(&server.data_dir),
        Backend::Postgres(schema) => command.args(["--database-url", &schema.url()]),
    };
    let report = json_of(&run_expecting(&mut command, 0));
    let mut events: Vec<_> = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let detail = e["detail"].as_str().map(str::to_owned);
            (e["kind"].as_str().unwrap().to_owned(), detail)
        })
        .collect();
    events.reverse();
    events
}

/// How many of `events` are of `kind` with `detail`.
fn count(events: &[(String, Option<String>)], kind: &str, detail: Option<&str>) -> usize {
    events
        .iter()
        .filter(|(k, d)| k == kind && d.as_deref() == detail)
        .count()
}

/// A thief with an access token guesses the current password of `POST /v1/password`: the
/// guesses count with the account's logins, 5 are checked and the rest refused 429 (the right
/// password too, and logins of the account); each checked one is audited as
/// `password_check_failed`, the lock-out as `locked_out`. After the lock-out the owner's
/// right password changes it.
async fn password_change_guesses_lock_the_account_and_are_audited(backend: Backend) {
    let server = lockout_server(&backend).await;
    let email = "ada@example.com";
    let access = access_token(&server.signup(email, PASSWORD).await);
    let mut statuses = Vec::new();
    for i in 0..30 {
        let response = change_password(&server, &access, &format!("guess {i}")).await;
        statuses.push(response.status().as_u16());
    }
    assert_eq!(&statuses[..5], [401; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    let right = answer(change_password(&server, &access, PASSWORD).await).await;
    let wrong = answer(change_password(&server, &access, WRONG).await).await;
    assert_eq!(right, wrong, "refused alike");
    assert_eq!(right.0, 429);
    assert_eq!(right.2["error"], "rate_limited");
    assert_rate_limited(server.login(email, PASSWORD).await, 30).await;

    let events = audit_of(&server, email);
    assert_eq!(
        count(&events, "password_check_failed", Some("password_change")),
        5,
        "{events:?}"
    );
    assert_eq!(count(&events, "locked_out", Some("5")), 1, "{events:?}");
    assert_eq!(
        events.len(),
        7,
        "signup, 5 failures, the lock-out: {events:?}"
    );

    server.advance(Duration::from_secs(30));
    assert_eq!(
        change_password(&server, &access, PASSWORD).await.status(),
        204
    );
    assert_eq!(
        server
            .login(email, "a new and long passphrase")
            .await
            .status(),
        200
    );
}

/// The same for the password of `DELETE /v1/me`; and failed logins count towards the same
/// lock-out: 3 wrong logins leave 2 checks for the re-check.
async fn account_deletion_guesses_lock_the_account_and_are_audited(backend: Backend) {
    let server = lockout_server(&backend).await;
    let email = "bo@example.com";
    let access = access_token(&server.signup(email, PASSWORD).await);
    fail_logins(&server, email, 3).await;
    let mut statuses = Vec::new();
    for i in 0..30 {
        let response = delete_me(&server, &access, &format!("guess {i}")).await;
        statuses.push(response.status().as_u16());
    }
    assert_eq!(&statuses[..2], [401; 2], "{statuses:?}");
    assert!(statuses[2..].iter().all(|s| *s == 429), "{statuses:?}");
    let right = answer(delete_me(&server, &access, PASSWORD).await).await;
    let wrong = answer(delete_me(&server, &access, WRONG).await).await;
    assert_eq!(right, wrong, "refused alike");
    assert_eq!(right.0, 429);

    let events = audit_of(&server, email);
    assert_eq!(count(&events, "login_failed", None), 3, "{events:?}");
    assert_eq!(
        count(&events, "password_check_failed", Some("account_deletion")),
        2,
        "{events:?}"
    );
    assert_eq!(count(&events, "locked_out", Some("5")), 1, "{events:?}");

    server.advance(Duration::from_secs(30));
    assert_eq!(delete_me(&server, &access, PASSWORD).await.status(), 204);
}

/// A password re-check during a lock-out computes no hash: with the hasher's only slot busy and
/// no queue, a check that needed a hash would be answered 503; the locked-out one gets 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_out_password_check_computes_no_hash() {
    let options = Options {
        hash_cost: HashCost {
            memory_kib: 64 * 1024,
            iterations: 4,
            parallelism: 1,
        },
        ..Options::default()
    }
    .configure(move |c| {
        c.password_hash_concurrency = 1;
        c.password_hash_queue = 0;
        c.throttling.rate_limit_login = None;
    });
    let server = TestServer::start_with(options).await;
    let access = access_token(&server.signup("eve@example.com", PASSWORD).await);
    fail_logins(&server, "eve@example.com", 5).await;
    let busy = {
        let (client, url) = (server.client.clone(), server.url("/v1/login"));
        tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"email": "slow@example.com", "password": WRONG}))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    while server.state.auth.hasher().queue_depth() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_problem(
        server.login("someone@example.com", WRONG).await,
        503,
        "overloaded",
    )
    .await;
    assert_rate_limited(change_password(&server, &access, PASSWORD).await, 30).await;
    assert_rate_limited(delete_me(&server, &access, PASSWORD).await, 30).await;
    assert_eq!(
        server.state.auth.hasher().queue_depth(),
        1,
        "the slow login was still hashing: the probes were valid"
    );
    assert_eq!(busy.await.unwrap(), 401);
}

each_backend!(
    fifth_failure_locks_the_account_even_for_the_right_password,
    lockouts_double_and_a_success_starts_the_count_again,
    failures_are_forgotten_after_fifteen_quiet_minutes,
    unknown_emails_lock_out_exactly_like_known_ones,
    concurrent_guesses_are_checked_at_most_the_limit_then_refused_alike,
    password_change_guesses_lock_the_account_and_are_audited,
    account_deletion_guesses_lock_the_account_and_are_audited,
);
