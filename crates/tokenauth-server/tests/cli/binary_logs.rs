//! The real `tokenauth` binary's logs, in text and JSON and at every level up to `trace`: free of
//! passwords (sign-up, login, wrong ones, old and new on a password change), tokens (in bodies,
//! in `Authorization: Bearer`, in cookies, in the query string), API client secrets (HTTP Basic
//! and form), password hashes and the master key. On SQLite always, and on PostgreSQL (whose
//! driver logs statement parameters at `debug`) when `TOKENAUTH_TEST_DATABASE_URL` is set.

use crate::common;

use std::fs;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use common::TEST_MASTER_KEY;
use common::process::{Server, json_of, run_expecting, send, tokenauth, workdir};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use tokenauth_store::postgres::test_schema::TestSchema;

const PASSWORD: &str = "hunter2-but-much-longer-Zq9!";
const WRONG_PASSWORD: &str = "wrong-password-Xk7#-not-logged";
const NEW_PASSWORD: &str = "a-brand-new-Passphrase-Vb4$";
/// Breaks the policy (too long, repeated): the 400 it draws must not echo it.
fn too_long_password() -> String {
    "Rt5%-too-long-".repeat(80)
}
const CLIENT_SECRET_WRONG: &str = "not-the-client-secret-Jm3%";

/// Everything secret the flow sent or received, to be looked for in the log.
#[derive(Default)]
struct Secrets(Vec<String>);

impl Secrets {
    fn add(&mut self, secret: &str) {
        assert!(secret.len() >= 8, "too short to look for: {secret:?}");
        self.0.push(secret.to_owned());
    }

    /// A token, and for a JWT its signature alone too (a log of part of it is a leak).
    fn add_token(&mut self, token: &str) {
        self.add(token);
        if token.matches('.').count() == 2 {
            self.add(token.rsplit('.').next().unwrap());
        }
    }

    fn add_tokens_of(&mut self, body: &Value) {
        for field in ["access_token", "refresh_token"] {
            self.add_token(body[field].as_str().unwrap());
        }
    }
}

/// A registered API client: `(client_id, client_secret)`.
fn add_client(dir: &Path, database: &[&str]) -> (String, String) {
    // Only `serve` and `migrate` create a database; `client add` refuses a missing one.
    run_expecting(tokenauth(dir).arg("migrate").args(database), 0);
    let added = json_of(&run_expecting(
        tokenauth(dir)
            .args(["client", "add", "log-test", "--json"])
            .args(["--permission", "introspect", "--permission", "revoke_any"])
            .args(database),
        0,
    ));
    (
        added["client_id"].as_str().unwrap().to_owned(),
        added["client_secret"].as_str().unwrap().to_owned(),
    )
}

/// `name=value` of every `Set-Cookie` of `response`.
fn set_cookies(response: &reqwest::Response) -> Vec<(String, String)> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|header| {
            let pair = header.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

async fn header_mode(server: &Server, secrets: &mut Secrets) {
    let email = "logs@example.com";
    let credentials = json!({"email": email, "password": PASSWORD});
    let (status, signup) = server.post("/v1/signup", credentials.clone(), None).await;
    assert_eq!(status, 201);
    secrets.add_tokens_of(&signup);
    let (status, login) = server.post("/v1/login", credentials, None).await;
    assert_eq!(status, 200);
    secrets.add_tokens_of(&login);
    let wrong = json!({"email": email, "password": WRONG_PASSWORD});
    assert_eq!(server.post("/v1/login", wrong, None).await.0, 401);
    let (status, refreshed) = server.refresh(&login["refresh_token"]).await;
    assert_eq!(status, 200);
    secrets.add_tokens_of(&refreshed);
    let access = refreshed["access_token"].as_str().unwrap();
    assert_eq!(server.get("/v1/me", Some(access)).await.0, 200);
    assert_eq!(server.get("/v1/verify", Some(access)).await.0, 200);
    // A token in the query string (a client mistake) is refused, and not logged.
    let query = format!(
        "/v1/me?access_token={}",
        signup["access_token"].as_str().unwrap()
    );
    assert_eq!(server.get(&query, None).await.0, 401);
    // The rotated token again: within the grace window, a replay.
    assert_eq!(server.refresh(&login["refresh_token"]).await.0, 200);
    assert_eq!(server.refresh("A".repeat(43)).await.0, 401);

    // A password change: a wrong current one, a new one against the policy, then the real one.
    let change = |current: &str, new: &str| {
        server
            .client
            .post(server.url("/v1/password"))
            .bearer_auth(access)
            .json(&json!({"current_password": current, "new_password": new}))
    };
    assert_eq!(send(change(WRONG_PASSWORD, NEW_PASSWORD)).await.0, 401);
    assert_eq!(send(change(PASSWORD, &too_long_password())).await.0, 400);
    assert_eq!(send(change(PASSWORD, NEW_PASSWORD)).await.0, 204);
    let renewed = json!({"email": email, "password": NEW_PASSWORD});
    let (status, login) = server.post("/v1/login", renewed, None).await;
    assert_eq!(status, 200);
    secrets.add_tokens_of(&login);
    for password in [PASSWORD, WRONG_PASSWORD, NEW_PASSWORD, &too_long_password()] {
        secrets.add(password);
    }
}

async fn cookie_mode(server: &Server, secrets: &mut Secrets) {
    let cookie_request = |path: &str| {
        server
            .client
            .post(server.url(path))
            .header("x-token-transport", "cookie")
    };
    let credentials = json!({"email": "cookies@example.com", "password": PASSWORD});
    let signup = cookie_request("/v1/signup")
        .json(&credentials)
        .send()
        .await
        .unwrap();
    assert_eq!(signup.status(), 201);
    let cookies = set_cookies(&signup);
    assert_eq!(cookies.len(), 2, "access and refresh cookies: {cookies:?}");
    let value_of = |cookies: &[(String, String)], name: &str| {
        cookies
            .iter()
            .find(|(n, _)| n.ends_with(name))
            .map(|(n, v)| format!("{n}={v}"))
            .unwrap()
    };
    let refresh_cookie = value_of(&cookies, "tokenauth_refresh");
    let refreshed = cookie_request("/v1/refresh")
        .header(COOKIE, &refresh_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);
    let renewed = set_cookies(&refreshed);
    let access_cookie = value_of(&renewed, "tokenauth_access");
    let me = server
        .client
        .get(server.url("/v1/me"))
        .header(COOKIE, &access_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    // The old refresh cookie again (a replay within the grace window), then a logout.
    let replayed = cookie_request("/v1/refresh")
        .header(COOKIE, &refresh_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), 200);
    let logout = cookie_request("/v1/logout")
        .header(COOKIE, &access_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    for (_, value) in cookies.iter().chain(&renewed) {
        secrets.add_token(value);
    }
}

async fn api_client(server: &Server, client: &(String, String), secrets: &mut Secrets) {
    let (id, secret) = client;
    let (status, tokens) = server
        .post(
            "/v1/signup",
            json!({"email": "oauth@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(status, 201, "{tokens}");
    secrets.add_tokens_of(&tokens);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let engine = base64::engine::general_purpose::STANDARD;
    let basic = |secret: &str| format!("Basic {}", engine.encode(format!("{id}:{secret}")));
    let form = |path: &str| {
        server
            .client
            .post(server.url(path))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
    };
    for (token, secret, status) in [
        (refresh, secret.as_str(), 200),
        (access, secret.as_str(), 200),
        (refresh, CLIENT_SECRET_WRONG, 401),
    ] {
        let introspect = form("/oauth2/introspect")
            .header(AUTHORIZATION, basic(secret))
            .body(format!("token={token}"));
        assert_eq!(send(introspect).await.0, status);
    }
    // The secret as form fields (client_secret_post), then a revocation.
    let introspect = form("/oauth2/introspect").body(format!(
        "client_id={id}&client_secret={secret}&token={refresh}"
    ));
    assert_eq!(send(introspect).await.0, 200);
    let revoke = form("/oauth2/revoke")
        .header(AUTHORIZATION, basic(secret))
        .body(format!("token={refresh}&token_type_hint=refresh_token"));
    assert_eq!(send(revoke).await.0, 200);
    secrets.add(secret);
    secrets.add(CLIENT_SECRET_WRONG);
    secrets.add(&basic(secret));
    secrets.add(&basic(CLIENT_SECRET_WRONG));
}

/// Runs every flow against a server with `RUST_LOG=rust_log` (none: the default) in `format`,
/// on SQLite or on `postgres`; then checks its whole log.
async fn assert_logs_free_of_secrets(rust_log: Option<&str>, format: &str, postgres: Option<&str>) {
    let (_temp, dir) = workdir();
    let database: Vec<&str> = postgres.map_or(vec![], |url| vec!["--database-url", url]);
    let client = add_client(&dir, &database);
    let mut server = Server::start_with(&dir, |c| {
        c.env("TOKENAUTH_LOG_FORMAT", format).args(&database);
        // On SQLite the server generates its master key file; instances on PostgreSQL share one.
        if postgres.is_some() {
            c.env("TOKENAUTH_MASTER_KEY", TEST_MASTER_KEY);
        }
        if let Some(filter) = rust_log {
            c.env("RUST_LOG", filter);
        }
    })
    .await;
    let mut secrets = Secrets::default();
    header_mode(&server, &mut secrets).await;
    cookie_mode(&server, &mut secrets).await;
    api_client(&server, &client, &mut secrets).await;
    assert_eq!(server.terminate(Duration::from_secs(5)).code(), Some(0));

    let log = server.log_text();
    let context = format!(
        "RUST_LOG={rust_log:?}, {format}, postgres: {}",
        postgres.is_some()
    );
    assert!(
        log.contains("listening"),
        "{context}: the log was captured: {log}"
    );
    if rust_log.is_some_and(|filter| filter.starts_with("trace")) {
        assert!(
            log.contains("DEBUG"),
            "{context}: the verbose levels are on:\n{log}"
        );
    }
    for secret in &secrets.0 {
        assert!(
            !log.contains(secret.as_str()),
            "{context}: the log contains a secret ({}…):\n{log}",
            &secret[..6]
        );
    }
    assert!(
        !log.contains("$argon2"),
        "{context}: a password hash is logged:\n{log}"
    );
    assert!(
        !log.contains(TEST_MASTER_KEY),
        "{context}: the master key is logged"
    );
    if let Ok(generated) = fs::read_to_string(dir.join("tokenauth-data/master.key")) {
        assert!(
            !log.contains(generated.trim()),
            "{context}: the master key is logged"
        );
    }
    if format == "json" {
        for line in log.lines() {
            assert!(
                serde_json::from_str::<Value>(line).is_ok(),
                "{context}: every log line is JSON: {line}"
            );
        }
    }
}

#[tokio::test]
async fn default_logs_never_contain_secrets() {
    assert_logs_free_of_secrets(None, "text", None).await;
}

#[tokio::test]
async fn trace_text_logs_never_contain_secrets() {
    assert_logs_free_of_secrets(Some("trace"), "text", None).await;
}

#[tokio::test]
async fn trace_json_logs_never_contain_secrets() {
    assert_logs_free_of_secrets(Some("trace"), "json", None).await;
}

#[tokio::test]
async fn trace_logs_on_postgres_never_contain_secrets() {
    let Some(schema) = TestSchema::create("trace_logs_on_postgres_never_contain_secrets").await
    else {
        return;
    };
    let url = schema.url();
    assert_logs_free_of_secrets(Some("trace"), "text", Some(&url)).await;
    // Even asked for by name, the driver's statement log stays off.
    let schema = TestSchema::create("trace_logs_on_postgres_never_contain_secrets")
        .await
        .unwrap();
    let url = schema.url();
    assert_logs_free_of_secrets(Some("trace,tokio_postgres=trace"), "json", Some(&url)).await;
}

/// The value of the counter `name` (no labels) in a Prometheus scrape.
fn counter_value(scrape: &str, name: &str) -> Option<f64> {
    scrape.lines().find_map(|line| {
        let (series, value) = line.split_once(' ')?;
        (series == name).then(|| value.trim().parse().ok())?
    })
}

/// Issue 15 item 18: with stderr on a full disk (here `/dev/full`, where every write fails
/// with ENOSPC) and every request logging (`RUST_LOG=debug`), requests are answered as usual:
/// the lost lines are counted in `tokenauth_log_lines_dropped_total`, and no log write aborts a
/// request.
#[tokio::test]
async fn a_failing_log_sink_fails_no_request() {
    let (_temp, dir) = workdir();
    let full = fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let mut server = Server::start_with(&dir, |c| {
        c.env("RUST_LOG", "debug")
            .stderr(full.try_clone().expect("a second handle on /dev/full"));
    })
    .await;
    for n in 0..3 {
        let email = format!("full-disk-{n}@example.com");
        let (status, body) = send(
            server
                .client
                .post(server.url("/v1/signup"))
                .json(&json!({"email": email, "password": PASSWORD})),
        )
        .await;
        assert_eq!(status, 201, "sign-up {n}: {body}");
        let (status, _) = send(
            server
                .client
                .post(server.url("/v1/login"))
                .json(&json!({"email": email, "password": WRONG_PASSWORD})),
        )
        .await;
        assert_eq!(status, 401, "a failed login");
    }
    let scrape = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let dropped = counter_value(&scrape, "tokenauth_log_lines_dropped_total")
        .unwrap_or_else(|| panic!("no tokenauth_log_lines_dropped_total in:\n{scrape}"));
    assert!(dropped >= 6.0, "lines lost were counted: {dropped}");
    assert_eq!(server.terminate(Duration::from_secs(10)).code(), Some(0));
}
