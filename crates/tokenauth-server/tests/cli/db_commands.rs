//! The real `tokenauth` binary's database commands: `migrate` and `db check` on both backends,
//! and `db copy` moving a used SQLite deployment to PostgreSQL (and to another SQLite file),
//! after which users log in, refresh tokens keep working, reuse is still detected, revocations
//! hold and the same keys verify old tokens. The PostgreSQL parts say they were skipped when
//! `TOKENAUTH_TEST_DATABASE_URL` is unset.

use crate::common;

use std::path::Path;

use common::process::{
    Server, USER_AGENT, error_line, json_of, mode, run_expecting, stderr, stdout, tokenauth,
    workdir,
};
use serde_json::{Value, json};
use tokenauth_store::postgres::test_schema::TestSchema;

/// No reuse grace: a rotated token is reuse at once.
const NO_GRACE: &[&str] = &["--refresh-reuse-grace", "0s"];

fn sqlite_url(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

/// Runs a used SQLite deployment, copies it to `target` with `db copy`, serves the copy and
/// checks that every user, session, token and key made the trip.
async fn deployment_survives_a_copy_to(dir: &Path, target: &str) {
    let source = sqlite_url(dir, "data/tokenauth.db");
    let used = use_a_deployment(&source).await;
    copy_once(dir, &source, target, used.kids.len());
    the_copy_serves_as_the_source_did(target, &used).await;
}

/// What [`use_a_deployment`] left: the answers whose tokens the copy must still know.
struct Used {
    /// Alice's latest refresh (her sign-up's token rotated twice).
    alice: Value,
    /// Bob's sign-up, whose refresh token was rotated.
    bob: Value,
    /// Bob's rotation.
    bob_rotated: Value,
    /// Carol's sign-up, logged out.
    carol: Value,
    /// The published key ids.
    kids: Vec<String>,
}

/// Serves `source` (no reuse grace) and uses it: Alice signs up and refreshes twice, Bob signs
/// up and refreshes once, Carol signs up and logs out.
async fn use_a_deployment(source: &str) -> Used {
    let server = Server::start_on(source, NO_GRACE).await;
    let alice = server.signup("alice@example.com").await;
    let (_, a1) = server.refresh(&alice["refresh_token"]).await;
    let (status, a2) = server.refresh(&a1["refresh_token"]).await;
    assert_eq!(status, 200, "{a2}");
    let bob = server.signup("bob@example.com").await;
    let (status, b1) = server.refresh(&bob["refresh_token"]).await;
    assert_eq!(status, 200, "{b1}");
    let carol = server.signup("carol@example.com").await;
    let carol_access = carol["access_token"].as_str().unwrap();
    let (status, _) = server
        .post("/v1/logout", json!({}), Some(carol_access))
        .await;
    assert_eq!(status, 204);
    let kids = server.kids().await;
    server.stop();
    Used {
        alice: a2,
        bob,
        bob_rotated: b1,
        carol,
        kids,
    }
}

/// `db copy` from `source` to `target` copies and verifies every row (of the deployment
/// [`use_a_deployment`] made, with `keys` signing keys), showing progress per table; a second
/// copy into the now populated target is refused, and writes nothing.
fn copy_once(dir: &Path, source: &str, target: &str, keys: usize) {
    let output = run_expecting(
        tokenauth(dir).args(["db", "copy", "--from", source, "--to", target, "--json"]),
        0,
    );
    let summary = json_of(&output);
    assert_eq!(summary["verified"], true, "{summary}");
    let rows = &summary["rows"];
    assert_eq!(rows["users"], 3, "{summary}");
    assert_eq!(rows["sessions"], 3, "{summary}");
    assert_eq!(
        rows["refresh_tokens"], 0,
        "sessions of token format v2 keep no token history: {summary}"
    );
    assert_eq!(rows["signing_keys"], keys, "{summary}");
    let progress = stderr(&output);
    for table in ["users", "sessions", "refresh_tokens", "signing_keys"] {
        assert!(
            progress.contains(table),
            "progress shows {table}: {progress}"
        );
    }

    let again = run_expecting(
        tokenauth(dir).args(["db", "copy", "--from", source, "--to", target]),
        1,
    );
    assert!(
        error_line(&again).contains("not empty"),
        "{}",
        stderr(&again)
    );
}

/// Served from `target`, the copy publishes the same keys, verifies access tokens minted
/// before the copy, logs in, rotates the latest refresh token, lists sessions with their user
/// agent and address, detects the reuse of a token rotated before the copy, and holds a
/// logout made before it.
async fn the_copy_serves_as_the_source_did(target: &str, used: &Used) {
    let server = Server::start_on(target, NO_GRACE).await;
    assert_eq!(
        server.kids().await,
        used.kids,
        "the same keys are published"
    );
    // Access tokens minted before the copy verify on the new backend.
    let (status, me) = server
        .get("/v1/me", used.alice["access_token"].as_str())
        .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["user"]["email"], "alice@example.com");
    let (status, login) = server.login("alice@example.com").await;
    assert_eq!(status, 200, "{login}");
    // The latest refresh token keeps working.
    let (status, a3) = server.refresh(&used.alice["refresh_token"]).await;
    assert_eq!(status, 200, "{a3}");
    // Sessions kept their user agent and address.
    let (status, sessions) = server
        .get("/v1/sessions", a3["access_token"].as_str())
        .await;
    assert_eq!(status, 200);
    let sessions = sessions["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "signup and login sessions: {sessions:?}");
    assert!(
        sessions.iter().all(|s| s["user_agent"] == USER_AGENT),
        "{sessions:?}"
    );
    assert!(
        sessions.iter().all(|s| s["ip"] == "127.0.0.1"),
        "{sessions:?}"
    );
    // A token rotated before the copy is still recognised as reuse, and revokes the family.
    let (status, reused) = server.refresh(&used.bob["refresh_token"]).await;
    assert_eq!(
        (status, &reused["error"]),
        (401, &json!("refresh_token_reused"))
    );
    let (status, revoked) = server.refresh(&used.bob_rotated["refresh_token"]).await;
    assert_eq!(
        (status, &revoked["error"]),
        (401, &json!("session_revoked"))
    );
    // A logout before the copy still holds, for the refresh and the access token.
    let (status, body) = server.refresh(&used.carol["refresh_token"]).await;
    assert_eq!((status, &body["error"]), (401, &json!("session_revoked")));
    let (status, body) = server
        .get("/v1/me", used.carol["access_token"].as_str())
        .await;
    assert_eq!(status, 401, "{body}");
    server.stop();
}

#[tokio::test]
async fn db_copy_moves_a_sqlite_deployment_to_postgres() {
    let Some(schema) = TestSchema::create("db_copy_moves_a_sqlite_deployment_to_postgres").await
    else {
        return;
    };
    let (_temp, dir) = workdir();
    deployment_survives_a_copy_to(&dir, &schema.url()).await;
}

#[tokio::test]
async fn db_copy_moves_a_sqlite_deployment_to_another_sqlite_file() {
    let (_temp, dir) = workdir();
    let target = sqlite_url(&dir, "moved/tokenauth.db");
    deployment_survives_a_copy_to(&dir, &target).await;
    let moved = dir.join("moved");
    assert_eq!(mode(&moved), 0o700);
    assert_eq!(mode(&moved.join("tokenauth.db")), 0o600);
}

#[test]
fn db_copy_refuses_bad_arguments() {
    let (_temp, dir) = workdir();
    let copy = |from: &str, to: &str, code| {
        run_expecting(
            tokenauth(&dir).args(["db", "copy", "--from", from, "--to", to]),
            code,
        )
    };
    let a = sqlite_url(&dir, "a.db");
    let output = copy("mysql://x/y", &a, 2);
    assert!(error_line(&output).contains("--from"));
    let output = copy(&a, &a, 2);
    assert!(error_line(&output).contains("--to"));
    // A missing source is an error, not an empty database created on the way.
    let b = sqlite_url(&dir, "b.db");
    let output = copy(&a, &b, 1);
    assert!(
        error_line(&output).contains("does not exist"),
        "{}",
        stderr(&output)
    );
    assert!(!dir.join("a.db").exists() && !dir.join("b.db").exists());
}

/// `db check` on a database this build has not migrated yet, then `migrate`, then `db check`.
fn check_migrate_check(dir: &Path, database_url: &str, fresh_status: &str) {
    let db = ["--database-url", database_url];
    let check = |json: bool, code| {
        let mut args = vec!["db", "check"];
        args.extend(db);
        if json {
            args.push("--json");
        }
        run_expecting(tokenauth(dir).args(&args), code)
    };
    let report = json_of(&check(true, 1));
    assert_eq!(report["status"], fresh_status, "{report}");
    let expected = report["expected_schema_version"].as_i64().unwrap();
    assert!(expected >= 1);
    error_line(&check(false, 1));

    let migrated = json_of(&run_expecting(
        tokenauth(dir).args(["migrate", "--json"]).args(db),
        0,
    ));
    assert_eq!(migrated["before"], 0, "{migrated}");
    assert_eq!(migrated["after"], expected, "{migrated}");
    let again = run_expecting(tokenauth(dir).arg("migrate").args(db), 0);
    assert!(
        stdout(&again).contains("already at schema version"),
        "{}",
        stdout(&again)
    );

    let report = json_of(&check(true, 0));
    assert_eq!(report["status"], "current", "{report}");
    assert_eq!(report["schema_version"], expected, "{report}");
    assert!(stdout(&check(false, 0)).contains("reachable"));
}

#[test]
fn migrate_and_db_check_on_sqlite() {
    let (_temp, dir) = workdir();
    let url = sqlite_url(&dir, "data/tokenauth.db");
    // `db check` creates nothing: the database is reported missing before and after.
    let output = run_expecting(
        tokenauth(&dir).args(["db", "check", "--database-url", &url]),
        1,
    );
    assert!(error_line(&output).contains("does not exist"));
    assert!(!dir.join("data").exists(), "db check created nothing");
    check_migrate_check(&dir, &url, "unreachable");
    assert_eq!(mode(&dir.join("data/tokenauth.db")), 0o600);
}

#[tokio::test]
async fn migrate_and_db_check_on_postgres() {
    let Some(schema) = TestSchema::create("migrate_and_db_check_on_postgres").await else {
        return;
    };
    let (_temp, dir) = workdir();
    let url = schema.url();
    tokio::task::spawn_blocking(move || check_migrate_check(&dir, &url, "behind"))
        .await
        .unwrap();
}

#[test]
fn db_check_exits_1_when_postgres_is_unreachable() {
    let (_temp, dir) = workdir();
    let url = "postgres://postgres@127.0.0.1:1/test";
    let output = run_expecting(
        tokenauth(&dir).args(["db", "check", "--database-url", url]),
        1,
    );
    let line = error_line(&output);
    assert!(
        line.contains("unreachable") && line.contains("127.0.0.1:1"),
        "{line}"
    );
    assert_eq!(stderr(&output).lines().count(), 1, "{}", stderr(&output));
    let output = run_expecting(
        tokenauth(&dir).args(["db", "check", "--json", "--database-url", url]),
        1,
    );
    assert_eq!(json_of(&output)["status"], "unreachable");
}

/// `db backup` copies a database that a running server keeps writing to; a server started on
/// the copy has every user and refresh token, and the copy passes SQLite's integrity check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_backup_copies_a_live_database() {
    let (_temp, dir) = workdir();
    let source = sqlite_url(&dir, "data/tokenauth.db");
    let unthrottled = ["--rate-limit-login", "off", "--rate-limit-signup", "off"];
    let server = Server::start_on(&source, &unthrottled).await;
    let mut refresh_tokens = Vec::new();
    for i in 0..20 {
        let body = server.signup(&format!("user{i}@example.com")).await;
        refresh_tokens.push(body["refresh_token"].as_str().unwrap().to_owned());
    }
    // Writes keep coming while the backup runs.
    let client = server.client.clone();
    let url = server.url("/v1/signup");
    let writer = tokio::spawn(async move {
        for i in 0..20 {
            let body =
                json!({"email": format!("late{i}@example.com"), "password": common::PASSWORD});
            let _ = client.post(&url).json(&body).send().await;
        }
    });
    let backup = dir.join("backup.db");
    let output = run_expecting(
        tokenauth(&dir)
            .env("TOKENAUTH_MASTER_KEY", common::TEST_MASTER_KEY)
            .args(["db", "backup", "--json", "--database-url", &source])
            .arg(&backup),
        0,
    );
    writer.await.unwrap();
    let summary = json_of(&output);
    assert_eq!(summary["integrity"], "ok", "{summary}");
    assert!(summary["bytes"].as_u64().unwrap() > 0);
    assert_eq!(mode(&backup) & 0o777 & !0o600, 0, "not readable by others");

    // Never overwrites.
    let again = run_expecting(
        tokenauth(&dir)
            .args(["db", "backup", "--database-url", &source])
            .arg(&backup),
        1,
    );
    assert!(error_line(&again).contains("exists"), "{}", stderr(&again));
    drop(server);

    // A server on the copy knows everyone who signed up before the backup.
    let restored = Server::start_on(&format!("sqlite://{}", backup.display()), &unthrottled).await;
    for (i, token) in refresh_tokens.iter().enumerate() {
        let (status, body) = restored.login(&format!("user{i}@example.com")).await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = restored.refresh(token).await;
        assert_eq!(status, 200, "{body}");
    }
    let _ = stdout(&output);
}

#[test]
fn db_backup_refuses_postgres() {
    let (_temp, dir) = workdir();
    let output = run_expecting(
        tokenauth(&dir).args([
            "db",
            "backup",
            "--database-url",
            "postgres://nobody@127.0.0.1:1/none",
            "x.db",
        ]),
        1,
    );
    assert!(
        error_line(&output).contains("pg_dump"),
        "{}",
        stderr(&output)
    );
}
