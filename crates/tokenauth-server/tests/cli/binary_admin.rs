//! The real `tokenauth` binary's operator commands against the database of a running
//! `tokenauth serve`: `user add|list|show|set-password|add-role|remove-role|delete` and
//! `session list|revoke|revoke-all`. What they revoke, the running server refuses (it learns of
//! it from the revocation feed); what they change, the next tokens carry.

use crate::common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::process::{Server, error_line, json_of, run_expecting, stdout, tokenauth, workdir};
use common::{Backend, PASSWORD, jwt_parts};
use serde_json::{Value, json};

const NEW_PASSWORD: &str = "a fresh passphrase from the operator";

/// Runs `command` with `input` on its stdin; it must exit with `code`.
fn run_with_stdin(command: &mut Command, input: &str, code: i32) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tokenauth");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout {} stderr {}",
        stdout(&output),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Waits until the running server refuses `access` at `/v1/me` (it learns of a revocation
/// made by another process from the revocation feed, polled every 250 ms).
async fn until_refused(server: &Server, access: &str) {
    until_refused_at(server, "/v1/me", access).await;
}

/// Waits until the running server refuses `access` at `path`.
async fn until_refused_at(server: &Server, path: &str, access: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = server.get(path, Some(access)).await;
        if status == 401 {
            return;
        }
        assert!(Instant::now() < deadline, "the access token still works");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn login_body(email: &str, password: &str) -> Value {
    json!({"email": email, "password": password})
}

fn roles_of(access: &str) -> Value {
    jwt_parts(access).1["roles"].clone()
}

/// Runs `tokenauth args` in `dir`, which must succeed; its JSON output.
fn cli_json(dir: &Path, args: &[&str]) -> Value {
    json_of(&run_expecting(tokenauth(dir).args(args), 0))
}

/// Logs `email` in with `password` on `server`; the status and the answer.
async fn log_in(server: &Server, email: &str, password: &str) -> (u16, Value) {
    server
        .post("/v1/login", login_body(email, password), None)
        .await
}

#[tokio::test]
async fn user_commands_manage_accounts_while_the_server_runs() {
    let (_temp, dir) = workdir();
    let server = Server::start(&dir).await;
    let signed_up = server.signup("ann@example.com").await;

    let login = user_add_makes_an_account_that_logs_in(&server, &dir).await;
    user_add_refuses_bad_accounts(&dir);
    user_list_pages_and_show_has_the_sessions(&dir, &signed_up);
    let refreshed = role_changes_reach_the_next_token(&server, &dir, &login).await;
    set_password_ends_the_old_password_and_sessions(&server, &dir, &refreshed).await;

    // Every change is in the audit log.
    let audit = cli_json(&dir, &["audit", "--user", "ops@example.com", "--json"]);
    let kinds: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "user_created",
        "role_removed",
        "role_added",
        "password_reset",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
}

/// `user add` makes `ops@example.com` (email normalised) with the roles `admin` and `ops`,
/// which logs in to the running `server` with a token carrying them; the login's answer.
async fn user_add_makes_an_account_that_logs_in(server: &Server, dir: &Path) -> Value {
    let added = run_with_stdin(
        tokenauth(dir).args([
            "user",
            "add",
            "Ops@Example.com",
            "--password-stdin",
            "--role",
            "admin",
            "--role",
            "ops",
            "--json",
        ]),
        &format!("{PASSWORD}\n"),
        0,
    );
    let ops = json_of(&added);
    assert_eq!(ops["email"], "ops@example.com");
    assert_eq!(ops["roles"], json!(["admin", "ops"]));
    let (status, login) = log_in(server, "ops@example.com", PASSWORD).await;
    assert_eq!(status, 200, "{login}");
    assert_eq!(login["user"]["id"], ops["id"]);
    assert_eq!(
        roles_of(login["access_token"].as_str().unwrap()),
        json!(["admin", "ops"])
    );
    login
}

/// Refusals of `user add`: a taken email, no password on stdin, a common password, a bad role.
fn user_add_refuses_bad_accounts(dir: &Path) {
    let taken = run_with_stdin(
        tokenauth(dir).args(["user", "add", "ann@example.com", "--password-stdin"]),
        &format!("{PASSWORD}\n"),
        1,
    );
    assert!(error_line(&taken).contains("already has an account"));
    let no_stdin = run_expecting(tokenauth(dir).args(["user", "add", "x@example.com"]), 1);
    assert!(error_line(&no_stdin).contains("--password-stdin"));
    let common = run_with_stdin(
        tokenauth(dir).args(["user", "add", "x@example.com", "--password-stdin"]),
        "password\n",
        1,
    );
    assert!(error_line(&common).contains("common"));
    let bad_role = run_with_stdin(
        tokenauth(dir).args([
            "user",
            "add",
            "x@example.com",
            "--password-stdin",
            "--role",
            "no spaces",
        ]),
        &format!("{PASSWORD}\n"),
        1,
    );
    assert!(error_line(&bad_role).contains("role"));
}

/// `user list` pages through ann and ops in email order (as JSON and as a table without
/// password hashes); `user show` has ann's live session (`signed_up`'s) and no hash.
fn user_list_pages_and_show_has_the_sessions(dir: &Path, signed_up: &Value) {
    let listed = cli_json(dir, &["user", "list", "--json"]);
    let emails: Vec<&str> = listed["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["ann@example.com", "ops@example.com"]);
    assert!(listed["next_after"].is_null());
    let first_page = cli_json(dir, &["user", "list", "--limit", "1", "--json"]);
    assert_eq!(first_page["next_after"], "ann@example.com");
    let second_page = cli_json(
        dir,
        &["user", "list", "--after", "ann@example.com", "--json"],
    );
    assert_eq!(second_page["users"][0]["email"], "ops@example.com");
    let table = stdout(&run_expecting(tokenauth(dir).args(["user", "list"]), 0));
    assert!(
        table.starts_with("EMAIL") && table.contains("admin,ops"),
        "{table}"
    );
    assert!(!table.contains("argon2"));

    let shown = cli_json(dir, &["user", "show", "ann@example.com", "--json"]);
    assert_eq!(shown["user"]["id"], signed_up["user"]["id"]);
    assert_eq!(shown["sessions"][0]["id"], signed_up["session_id"]);
    assert_eq!(shown["sessions"][0]["state"], "live");
    assert!(!shown.to_string().contains("argon2"), "no password hash");
}

/// A role taken away (`ops`) is gone from the token the refresh of `login` brings; then
/// `auditor` is added. The refresh's answer.
async fn role_changes_reach_the_next_token(server: &Server, dir: &Path, login: &Value) -> Value {
    let removed = cli_json(
        dir,
        &["user", "remove-role", "ops@example.com", "ops", "--json"],
    );
    assert_eq!(removed["roles"], json!(["admin"]));
    let (status, refreshed) = server.refresh(&login["refresh_token"]).await;
    assert_eq!(status, 200);
    assert_eq!(
        roles_of(refreshed["access_token"].as_str().unwrap()),
        json!(["admin"])
    );
    run_expecting(
        tokenauth(dir).args(["user", "add-role", "ops@example.com", "auditor"]),
        0,
    );
    refreshed
}

/// `set-password`: the old password and every session (`refreshed`'s, refresh and access
/// token) stop working; the new password logs in, with the roles `admin` and `auditor`.
async fn set_password_ends_the_old_password_and_sessions(
    server: &Server,
    dir: &Path,
    refreshed: &Value,
) {
    let reset = run_with_stdin(
        tokenauth(dir).args([
            "user",
            "set-password",
            "ops@example.com",
            "--password-stdin",
        ]),
        &format!("{NEW_PASSWORD}\n"),
        0,
    );
    assert_eq!(
        stdout(&reset).trim(),
        "ops@example.com has a new password; 1 session revoked"
    );
    let (status, _) = log_in(server, "ops@example.com", PASSWORD).await;
    assert_eq!(status, 401);
    let (status, _) = server.refresh(&refreshed["refresh_token"]).await;
    assert_eq!(status, 401);
    until_refused(server, refreshed["access_token"].as_str().unwrap()).await;
    let (status, relogin) = log_in(server, "ops@example.com", NEW_PASSWORD).await;
    assert_eq!(status, 200, "{relogin}");
    assert_eq!(
        roles_of(relogin["access_token"].as_str().unwrap()),
        json!(["admin", "auditor"])
    );
}

#[tokio::test]
async fn session_commands_revoke_while_the_server_runs() {
    let (_temp, dir) = workdir();
    let server = Server::start(&dir).await;
    let first = server.signup("ann@example.com").await;
    let (status, second) = server.login("ann@example.com").await;
    assert_eq!(status, 200);

    let listed = json_of(&run_expecting(
        tokenauth(&dir).args(["session", "list", "--user", "ann@example.com", "--json"]),
        0,
    ));
    let ids: Vec<&str> = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|session| session["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            second["session_id"].as_str().unwrap(),
            first["session_id"].as_str().unwrap()
        ]
    );

    let id = first["session_id"].as_str().unwrap();
    let revoked = json_of(&run_expecting(
        tokenauth(&dir).args(["session", "revoke", id, "--json"]),
        0,
    ));
    assert_eq!(revoked["revoked"], true);
    assert_eq!(revoked["user_id"], first["user"]["id"]);
    let (status, _) = server.refresh(&first["refresh_token"]).await;
    assert_eq!(status, 401);
    until_refused(&server, first["access_token"].as_str().unwrap()).await;
    let (status, _) = server.get("/v1/me", second["access_token"].as_str()).await;
    assert_eq!(status, 200, "the other session lives on");

    let again = run_expecting(tokenauth(&dir).args(["session", "revoke", id]), 0);
    assert_eq!(
        stdout(&again).trim(),
        format!("session {id} had already ended (revoked); nothing changed")
    );
    let live = json_of(&run_expecting(
        tokenauth(&dir).args([
            "session",
            "list",
            "--user",
            "ann@example.com",
            "--live",
            "--json",
        ]),
        0,
    ));
    assert_eq!(live["sessions"].as_array().unwrap().len(), 1);
    let all = stdout(&run_expecting(
        tokenauth(&dir).args(["session", "list", "--user", "ann@example.com"]),
        0,
    ));
    assert!(all.contains("revoked") && all.contains("live"), "{all}");

    let everything = run_expecting(
        tokenauth(&dir).args(["session", "revoke-all", "--user", "ann@example.com"]),
        0,
    );
    assert_eq!(
        stdout(&everything).trim(),
        "ann@example.com is logged out everywhere; 1 session revoked"
    );
    until_refused(&server, second["access_token"].as_str().unwrap()).await;
    let (status, _) = server.login("ann@example.com").await;
    assert_eq!(status, 200, "the account itself still works");

    let bad = run_expecting(tokenauth(&dir).args(["session", "revoke", "not-a-uuid"]), 1);
    assert!(error_line(&bad).contains("not a session id"));
    let unknown = run_expecting(
        tokenauth(&dir).args(["session", "revoke", "01a22667-0000-7000-8000-000000000000"]),
        1,
    );
    assert!(error_line(&unknown).contains("no session"));
    let nobody = run_expecting(
        tokenauth(&dir).args(["session", "list", "--user", "nobody@example.com"]),
        1,
    );
    assert!(error_line(&nobody).contains("no user with email"));
}

/// `user delete` on the database of a running server (SQLite here, PostgreSQL below): every
/// token of the account dies, its password logs in nowhere, the audit log keeps only the
/// erasure.
async fn user_delete_erases(server: &Server, dir: &Path, database_args: &[&str]) {
    let body = server.signup("gone@example.com").await;
    let (status, other) = server.login("gone@example.com").await;
    assert_eq!(status, 200);
    let deleted = json_of(&run_expecting(
        tokenauth(dir)
            .args(database_args)
            .args(["user", "delete", "gone@example.com", "--json"]),
        0,
    ));
    assert_eq!(deleted["revoked_sessions"], 2);
    assert_eq!(deleted["user_id"], body["user"]["id"]);

    for tokens in [&body, &other] {
        let (status, _) = server.refresh(&tokens["refresh_token"]).await;
        assert_eq!(status, 401);
        let access = tokens["access_token"].as_str().unwrap();
        // /v1/me finds no user at once; the stateless /v1/verify waits for the feed.
        until_refused(server, access).await;
        until_refused_at(server, "/v1/verify", access).await;
    }
    let (status, problem) = server.login("gone@example.com").await;
    assert_eq!(
        (status, problem["error"].as_str()),
        (401, Some("invalid_credentials"))
    );
    let shown = run_expecting(
        tokenauth(dir)
            .args(database_args)
            .args(["user", "show", "gone@example.com"]),
        1,
    );
    assert!(error_line(&shown).contains("no user with email"));
    let twice = run_expecting(
        tokenauth(dir)
            .args(database_args)
            .args(["user", "delete", "gone@example.com"]),
        1,
    );
    assert!(error_line(&twice).contains("no user with email"));
    let audit = json_of(&run_expecting(
        tokenauth(dir).args(database_args).args(["audit", "--json"]),
        0,
    ));
    let about: Vec<&Value> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["user_id"] == body["user"]["id"])
        .collect();
    assert_eq!(about.len(), 1, "{about:?}");
    assert_eq!(about[0]["kind"], "user_deleted");
    assert_eq!(about[0]["detail"], "operator");
}

#[tokio::test]
async fn user_delete_erases_the_account_on_sqlite() {
    let (_temp, dir) = workdir();
    let server = Server::start(&dir).await;
    user_delete_erases(&server, &dir, &[]).await;
}

#[tokio::test]
async fn user_delete_erases_the_account_on_postgres() {
    let Some(Backend::Postgres(schema)) = Backend::postgres("binary_admin_delete").await else {
        return;
    };
    let url = schema.url();
    let server = Server::start_on(&url, &[]).await;
    let (_temp, dir) = workdir();
    let database = ["--database-url", url.as_str()];
    user_delete_erases(&server, &dir, &database).await;
}
