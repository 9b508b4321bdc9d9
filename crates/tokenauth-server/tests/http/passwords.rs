//! Password hashing as the API shows it: stored as Argon2id PHC, upgraded when weaker than
//! configured, and a full hashing queue answered 503 instead of growing without bound.

use crate::common;

use common::{Backend, Options, PASSWORD, TestServer, assert_problem};
use serde_json::json;
use tokenauth_core::password::HashCost;
use tokenauth_core::user::Email;

async fn stored_hash(server: &TestServer, email: &str) -> String {
    let email = Email::parse(email).unwrap();
    server
        .state
        .store
        .find_user_by_email(&email)
        .await
        .unwrap()
        .unwrap()
        .password_hash
}

async fn passwords_are_stored_as_argon2id_and_upgraded_at_login_when_weaker(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    server.signup("upgrade@example.com", PASSWORD).await;
    let weak = stored_hash(&server, "upgrade@example.com").await;
    assert!(weak.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{weak}");
    assert!(!weak.contains(PASSWORD));
    let stopped = server.stop().await;

    let stronger = HashCost {
        memory_kib: 512,
        iterations: 2,
        parallelism: 1,
    };
    let server = TestServer::start_with(Options {
        hash_cost: stronger,
        ..Options::after(stopped)
    })
    .await;
    // A failed login changes nothing.
    assert_problem(
        server.login("upgrade@example.com", "wrong password").await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(stored_hash(&server, "upgrade@example.com").await, weak);
    // A successful one replaces the weak hash, and the new hash works.
    assert_eq!(
        server.login("upgrade@example.com", PASSWORD).await.status(),
        200
    );
    let upgraded = stored_hash(&server, "upgrade@example.com").await;
    assert!(
        upgraded.starts_with("$argon2id$v=19$m=512,t=2,p=1$"),
        "{upgraded}"
    );
    assert_eq!(
        server.login("upgrade@example.com", PASSWORD).await.status(),
        200
    );
}

async fn a_burst_of_logins_beyond_the_queue_gets_503_with_retry_after(backend: Backend) {
    // Sixteen logins at once from one address would meet the per-IP bucket, and sixteen
    // failures the lock-out, before the queue: this test is about the queue alone.
    let server = TestServer::start_with(Options {
        hash_cost: HashCost::OWASP,
        ..Options::on(&backend).configure(move |c| {
            c.password_hash_concurrency = 1;
            c.password_hash_queue = 1;
            c.throttling.rate_limit_login = None;
            c.throttling.login_max_failures = 0;
        })
    })
    .await;
    let attempts = (0..16).map(|_| {
        let client = server.client.clone();
        let url = server.url("/v1/login");
        tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"email": "nobody@example.com", "password": PASSWORD}))
                .send()
                .await
                .unwrap()
        })
    });
    // Spawn them all before awaiting any, so they really run at once.
    let attempts: Vec<_> = attempts.collect();
    let mut shed = 0;
    let mut refused = 0;
    for attempt in attempts {
        let response = attempt.await.unwrap();
        match response.status().as_u16() {
            503 => {
                assert_eq!(response.headers()["retry-after"], "1");
                assert_problem(response, 503, "overloaded").await;
                shed += 1;
            }
            401 => refused += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(shed > 0, "the queue must shed load");
    assert!(refused > 0, "queued requests are still served");
}

each_backend!(
    passwords_are_stored_as_argon2id_and_upgraded_at_login_when_weaker,
    a_burst_of_logins_beyond_the_queue_gets_503_with_retry_after,
);
