//! The real `tokenauth` binary's database commands: `migrate` and `db check` on both backends,
//! and `db copy` moving a used SQLite deployment to PostgreSQL (and to another SQLite file),
//! after which users log in, refresh tokens keep working, reuse is still detected, revocations
//! hold and the same keys verify old tokens. The PostgreSQL parts say they were skipped when
//! `TOKENAUTH_TEST_DATABASE_URL` is unset.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "db_commands/harness.rs"]
mod harness;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use harness::{
    PASSWORD, Server, USER_AGENT, error_line, json_of, run_expecting, sqlite_url, stderr, stdout,
    workdir,
};
use serde_json::json;
use tokenauth_store::postgres::test_schema::TestSchema;

/// Runs a used SQLite deployment, copies it to `target` with `db copy`, serves the copy and
/// checks that every user, session, token and key made the trip.
async fn deployment_survives_a_copy_to(dir: &Path, target: &str) {
    let source = sqlite_url(dir, "data/tokenauth.db");
    let server = Server::start(dir, &source).await;
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
    let kids_before = server.kids().await;
    server.stop();

    let output = run_expecting(
        dir,
        &["db", "copy", "--from", &source, "--to", target, "--json"],
        0,
    );
    let summary = json_of(&output);
    assert_eq!(summary["verified"], true, "{summary}");
    let rows = &summary["rows"];
    assert_eq!(rows["users"], 3, "{summary}");
    assert_eq!(rows["sessions"], 3, "{summary}");
    assert_eq!(
        rows["refresh_tokens"],
        3 + 2 + 1,
        "every token ever issued: {summary}"
    );
    assert_eq!(rows["signing_keys"], kids_before.len(), "{summary}");
    let progress = stderr(&output);
    for table in ["users", "sessions", "refresh_tokens", "signing_keys"] {
        assert!(
            progress.contains(table),
            "progress shows {table}: {progress}"
        );
    }

    // A second copy into the now populated target is refused, and writes nothing.
    let again = run_expecting(dir, &["db", "copy", "--from", &source, "--to", target], 1);
    assert!(
        error_line(&again).contains("not empty"),
        "{}",
        stderr(&again)
    );

    let server = Server::start(dir, target).await;
    assert_eq!(
        server.kids().await,
        kids_before,
        "the same keys are published"
    );
    // Access tokens minted before the copy verify on the new backend.
    let (status, me) = server.get("/v1/me", a2["access_token"].as_str()).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["user"]["email"], "alice@example.com");
    let (status, login) = server
        .post(
            "/v1/login",
            json!({"email": "alice@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{login}");
    // The latest refresh token keeps working.
    let (status, a3) = server.refresh(&a2["refresh_token"]).await;
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
    let (status, reused) = server.refresh(&bob["refresh_token"]).await;
    assert_eq!(
        (status, &reused["error"]),
        (401, &json!("refresh_token_reused"))
    );
    let (status, revoked) = server.refresh(&b1["refresh_token"]).await;
    assert_eq!(
        (status, &revoked["error"]),
        (401, &json!("session_revoked"))
    );
    // A logout before the copy still holds, for the refresh and the access token.
    let (status, body) = server.refresh(&carol["refresh_token"]).await;
    assert_eq!((status, &body["error"]), (401, &json!("session_revoked")));
    let (status, body) = server.get("/v1/me", Some(carol_access)).await;
    assert_eq!(status, 401, "{body}");
    server.stop();
}

#[tokio::test]
async fn db_copy_moves_a_sqlite_deployment_to_postgres() {
    let Some(schema) = TestSchema::create("db_copy_moves_a_sqlite_deployment_to_postgres").await
    else {
        return;
    };
    let temp = workdir();
    deployment_survives_a_copy_to(temp.path(), &schema.url()).await;
}

#[tokio::test]
async fn db_copy_moves_a_sqlite_deployment_to_another_sqlite_file() {
    let temp = workdir();
    let target = sqlite_url(temp.path(), "moved/tokenauth.db");
    deployment_survives_a_copy_to(temp.path(), &target).await;
    let moved = temp.path().join("moved");
    assert_eq!(
        fs::metadata(&moved).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let file = moved.join("tokenauth.db");
    assert_eq!(
        fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn db_copy_refuses_bad_arguments() {
    let temp = workdir();
    let dir = temp.path();
    let a = sqlite_url(dir, "a.db");
    let output = run_expecting(dir, &["db", "copy", "--from", "mysql://x/y", "--to", &a], 2);
    assert!(error_line(&output).contains("--from"));
    let output = run_expecting(dir, &["db", "copy", "--from", &a, "--to", &a], 2);
    assert!(error_line(&output).contains("--to"));
    // A missing source is an error, not an empty database created on the way.
    let b = sqlite_url(dir, "b.db");
    let output = run_expecting(dir, &["db", "copy", "--from", &a, "--to", &b], 1);
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
        run_expecting(dir, &args, code)
    };
    let report = json_of(&check(true, 1));
    assert_eq!(report["status"], fresh_status, "{report}");
    let expected = report["expected_schema_version"].as_i64().unwrap();
    assert!(expected >= 1);
    error_line(&check(false, 1));

    let migrated = json_of(&run_expecting(
        dir,
        &[&["migrate", "--json"][..], &db[..]].concat(),
        0,
    ));
    assert_eq!(migrated["before"], 0, "{migrated}");
    assert_eq!(migrated["after"], expected, "{migrated}");
    let again = run_expecting(dir, &[&["migrate"][..], &db[..]].concat(), 0);
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
    let temp = workdir();
    let url = sqlite_url(temp.path(), "data/tokenauth.db");
    // `db check` creates nothing: the database is reported missing before and after.
    let output = run_expecting(temp.path(), &["db", "check", "--database-url", &url], 1);
    assert!(error_line(&output).contains("does not exist"));
    assert!(
        !temp.path().join("data").exists(),
        "db check created nothing"
    );
    check_migrate_check(temp.path(), &url, "unreachable");
    let file = temp.path().join("data/tokenauth.db");
    assert_eq!(
        fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[tokio::test]
async fn migrate_and_db_check_on_postgres() {
    let Some(schema) = TestSchema::create("migrate_and_db_check_on_postgres").await else {
        return;
    };
    let temp = workdir();
    let dir = temp.path().to_owned();
    let url = schema.url();
    tokio::task::spawn_blocking(move || check_migrate_check(&dir, &url, "behind"))
        .await
        .unwrap();
}

#[test]
fn db_check_exits_1_when_postgres_is_unreachable() {
    let temp = workdir();
    let url = "postgres://postgres@127.0.0.1:1/test";
    let output = run_expecting(temp.path(), &["db", "check", "--database-url", url], 1);
    let line = error_line(&output);
    assert!(
        line.contains("unreachable") && line.contains("127.0.0.1:1"),
        "{line}"
    );
    assert_eq!(stderr(&output).lines().count(), 1, "{}", stderr(&output));
    let output = run_expecting(
        temp.path(),
        &["db", "check", "--json", "--database-url", url],
        1,
    );
    assert_eq!(json_of(&output)["status"], "unreachable");
}
