//! Revocation propagation: how long after a logout an API's verifier,
//! subscribed to the revocation feed, refuses the session's access token.
//!
//! For each of N sessions (default 1000): send `POST /v1/logout`, then spin
//! on `verify_local` until it answers `SessionRevoked`; the time from
//! sending the logout is one sample. Against one in-process server on
//! SQLite, and — with `TOKENAUTH_TEST_DATABASE_URL` set — against two
//! instances on one PostgreSQL schema, logging out on A while the verifier
//! follows B (bounded by B's `revocation_poll_interval`, 250 ms by default).
//!
//! Run: `cargo bench -p tokenauth-verify --bench propagation`
//! (`-- --sessions 200` for a shorter run).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../tokenauth-server/tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Backend, Options, TestServer};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokenauth_verify::{Verifier, VerifierError};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sessions = session_count();
    // Its sessions come from `sessions` logins in a row from 127.0.0.1: far beyond the per-IP
    // login bucket (10/s), which this benchmark is not about.
    let unlimited = |options: Options| options.configure(|c| c.throttling.rate_limit_login = None);
    let single = TestServer::start_with(unlimited(Options::default())).await;
    run("SQLite, one instance", &single, &single, sessions).await;
    single.stop().await;

    match Backend::postgres("propagation_bench").await {
        Some(backend) => {
            let instance = || {
                unlimited(Options::on(&backend)).configure(|c| {
                    c.issuer = "http://auth.bench".to_owned();
                    c.audience = "http://api.bench".to_owned();
                })
            };
            let a = TestServer::start_with(instance()).await;
            let b = TestServer::start_with(instance()).await;
            run("PostgreSQL, logout on A, verifier on B", &a, &b, sessions).await;
            a.stop().await;
            b.stop().await;
        }
        None => println!("PostgreSQL: skipped (TOKENAUTH_TEST_DATABASE_URL is not set)"),
    }
}

fn session_count() -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == "--sessions")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000)
}

/// Logs out `sessions` sessions on `on`, one at a time, with a verifier
/// subscribed to `follow`'s feed; prints the latency distribution.
async fn run(label: &str, on: &TestServer, follow: &TestServer, sessions: usize) {
    let (client, secret) = on
        .state
        .auth
        .clients()
        .register("bench", tokenauth_core::client::ClientPermissions::all())
        .await
        .unwrap();
    let verifier = Verifier::builder(follow.issuer(), follow.audience())
        .jwks_url(follow.url("/.well-known/jwks.json"))
        .revocation_feed(client.client_id, secret.expose())
        .revocation_feed_url(follow.url("/v1/revocations"))
        .build()
        .await
        .unwrap();
    on.signup("bench@example.com", common::PASSWORD).await;
    let http = reqwest::Client::new();
    let mut tokens = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        tokens.push(on.access_token_of("bench@example.com").await);
    }
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let started = Instant::now();
    for (i, token) in tokens.iter().enumerate() {
        verifier.verify_local(token).unwrap();
        let sent = Instant::now();
        let response = http
            .post(on.url("/v1/logout"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
        loop {
            match verifier.verify_local(token) {
                Err(VerifierError::SessionRevoked) => break,
                Ok(_) => {}
                Err(other) => panic!("unexpected {other:?}"),
            }
            assert!(sent.elapsed() < Duration::from_secs(5), "not propagated");
            tokio::time::sleep(Duration::from_micros(100)).await;
        }
        let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
        histogram.record(micros.max(1)).unwrap();
        if (i + 1) % 100 == 0 {
            eprint!("\r{label}: {}/{sessions}", i + 1);
        }
    }
    eprintln!();
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{label}: {sessions} revocations in {:.1} s; logout sent -> API refuses: \
         p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        started.elapsed().as_secs_f64(),
        ms(0.50),
        ms(0.90),
        ms(0.99),
        histogram.max() as f64 / 1000.0,
    );
    let status = verifier.revocation_status().unwrap();
    let body: Value =
        json!({"revoked_sessions_held": status.revoked_sessions, "applied": status.applied});
    println!("{label}: verifier {body}");
}
