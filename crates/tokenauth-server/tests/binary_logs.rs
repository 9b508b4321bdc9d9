//! The real `tokenauth` binary's logs, in text and JSON and at every level: free of passwords,
//! tokens and the master key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::time::Duration;

use common::process::{Server, workdir};
use serde_json::{Value, json};

async fn exercise_and_collect_secrets(server: &Server) -> Vec<String> {
    let password = "hunter2-but-much-longer-Zq9!";
    let email = "logs@example.com";
    let credentials = json!({"email": email, "password": password});
    let (status, signup) = server.post("/v1/signup", credentials.clone(), None).await;
    assert_eq!(status, 201);
    let (status, login) = server.post("/v1/login", credentials, None).await;
    assert_eq!(status, 200);
    // A failed login with another password: that must not be logged either.
    let wrong = "wrong-password-Xk7#-not-logged";
    let (status, _) = server
        .post(
            "/v1/login",
            json!({"email": email, "password": wrong}),
            None,
        )
        .await;
    assert_eq!(status, 401);
    let (status, refreshed) = server.refresh(&login["refresh_token"]).await;
    assert_eq!(status, 200);
    let (status, _) = server
        .get("/v1/me", refreshed["access_token"].as_str())
        .await;
    assert_eq!(status, 200);
    // A token sent in the query string (a client mistake) is refused, and not logged.
    let query = format!(
        "/v1/me?access_token={}",
        signup["access_token"].as_str().unwrap()
    );
    let (status, _) = server.get(&query, None).await;
    assert_eq!(status, 401);
    // Reuse detection after the grace window is not tested here (10 s); a rejected refresh is.
    let (status, _) = server.refresh("A".repeat(43)).await;
    assert_eq!(status, 401);

    let mut secrets = vec![password.to_owned(), wrong.to_owned()];
    for body in [&signup, &login, &refreshed] {
        for field in ["access_token", "refresh_token"] {
            let token = body[field].as_str().unwrap();
            secrets.push(token.to_owned());
            // Also any of the JWT's segments (a log of the signature alone is a leak too).
            if field == "access_token" {
                secrets.push(token.rsplit('.').next().unwrap().to_owned());
            }
        }
    }
    secrets
}

async fn assert_logs_free_of_secrets(rust_log: Option<&str>) {
    let (_temp, dir) = workdir();
    let mut server = Server::start_with(&dir, |c| {
        if let Some(filter) = rust_log {
            c.env("RUST_LOG", filter);
        }
    })
    .await;
    let secrets = exercise_and_collect_secrets(&server).await;
    assert_eq!(server.terminate(Duration::from_secs(5)).code(), Some(0));
    let log = server.log_text();
    assert!(log.contains("listening"), "the log was captured: {log}");
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "RUST_LOG={rust_log:?}: the log contains a secret ({}…):\n{log}",
            &secret[..6]
        );
    }
    let master_key = fs::read_to_string(dir.join("tokenauth-data/master.key")).unwrap();
    assert!(!log.contains(master_key.trim()), "the master key is logged");
}

#[tokio::test]
async fn logs_never_contain_passwords_or_tokens() {
    assert_logs_free_of_secrets(None).await;
}

#[tokio::test]
async fn debug_and_trace_logs_never_contain_passwords_or_tokens() {
    assert_logs_free_of_secrets(Some("debug")).await;
    assert_logs_free_of_secrets(Some("trace")).await;
}

#[tokio::test]
async fn json_logs_never_contain_passwords_or_tokens() {
    let (_temp, dir) = workdir();
    let mut server = Server::start_with(&dir, |c| {
        c.env("TOKENAUTH_LOG_FORMAT", "json")
            .env("RUST_LOG", "debug");
    })
    .await;
    let secrets = exercise_and_collect_secrets(&server).await;
    assert_eq!(server.terminate(Duration::from_secs(5)).code(), Some(0));
    let log = server.log_text();
    for line in log.lines() {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "every log line is JSON: {line}"
        );
    }
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "secret in JSON log:\n{log}");
    }
}
