//! The real `tokenauth` binary's account commands: `user disable` and `user enable` against
//! the database of a running `tokenauth serve`, and `audit` reading what both left behind.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::PASSWORD;
use common::process::{
    Server, USER_AGENT, error_line, json_of, run, run_expecting, stderr, stdout, tokenauth, workdir,
};
use serde_json::{Value, json};

const EMAIL: &str = "cli@example.com";

#[tokio::test]
async fn user_disable_and_enable_work_while_the_server_runs() {
    let (_temp, dir) = workdir();
    let server = Server::start(&dir).await;
    let body = server.signup(EMAIL).await;
    let access = body["access_token"].as_str().unwrap().to_owned();

    let disabled = run_expecting(
        tokenauth(&dir).args(["user", "disable", "CLI@example.com", "--json"]),
        0,
    );
    let report = json_of(&disabled);
    assert_eq!(report["email"], EMAIL);
    assert_eq!(report["disabled"], true);
    assert_eq!(report["revoked_sessions"], 1);
    assert_eq!(report["user_id"], body["user"]["id"]);

    let (status, problem) = server.login(EMAIL).await;
    assert_eq!(
        (status, problem["error"].as_str()),
        (403, Some("account_disabled"))
    );
    let wrong = json!({"email": EMAIL, "password": "not the password"});
    let (status, problem) = server.post("/v1/login", wrong, None).await;
    assert_eq!(
        (status, problem["error"].as_str()),
        (401, Some("invalid_credentials"))
    );
    let (status, _) = server.refresh(&body["refresh_token"]).await;
    assert_eq!(status, 401);
    // The server learns of the CLI's revocation from the feed (poll interval 250 ms).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, _) = server.get("/v1/me", Some(&access)).await;
        if status == 401 {
            break;
        }
        assert!(Instant::now() < deadline, "the access token still works");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Human output, and disabling twice is harmless.
    let again = run_expecting(tokenauth(&dir).args(["user", "disable", EMAIL]), 0);
    assert_eq!(
        stdout(&again).trim(),
        "cli@example.com is disabled; 0 sessions revoked"
    );

    let enabled = run_expecting(tokenauth(&dir).args(["user", "enable", EMAIL]), 0);
    assert_eq!(stdout(&enabled).trim(), "cli@example.com is enabled");
    let (status, login) = server.login(EMAIL).await;
    assert_eq!(status, 200, "{login}");

    for (args, message) in [
        (
            vec!["user", "disable", "nobody@example.com"],
            "no user with email",
        ),
        (
            vec!["user", "enable", "nobody@example.com"],
            "no user with email",
        ),
        (vec!["user", "disable", "not an email"], "email"),
    ] {
        let output = run_expecting(tokenauth(&dir).args(&args), 1);
        assert!(error_line(&output).contains(message), "{}", stderr(&output));
    }
}

/// `tokenauth audit --user EMAIL --since 1h --json` with `args` added, which must succeed;
/// the report.
fn audit_of_the_user(dir: &Path, args: &[&str]) -> Value {
    let output = run_expecting(
        tokenauth(dir)
            .args(["audit", "--user", EMAIL, "--since", "1h", "--json"])
            .args(args),
        0,
    );
    json_of(&output)
}

#[tokio::test]
async fn audit_prints_a_users_events_newest_first() {
    let (_temp, dir) = workdir();
    let server = Server::start(&dir).await;
    let body = server.signup(EMAIL).await;
    let wrong = json!({"email": EMAIL, "password": "not the password"});
    let (status, _) = server.post("/v1/login", wrong, None).await;
    assert_eq!(status, 401);
    let (status, _) = server.login(EMAIL).await;
    assert_eq!(status, 200);
    run_expecting(tokenauth(&dir).args(["user", "disable", EMAIL]), 0);

    the_json_report_lists_the_events_without_secrets(&dir, &body);
    assert_eq!(
        audit_of_the_user(&dir, &["--limit", "2"])["events"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    the_table_and_everyones_events(&dir);
    audit_refuses_an_unknown_user_and_bad_flags(&dir);
}

/// The user's JSON report (the user signed up with `body`, a failed and a good login, then
/// disabled) has the user and their six events newest first, the sign-up's with its session,
/// address and agent, the CLI's revocations without a request; no password or token.
fn the_json_report_lists_the_events_without_secrets(dir: &Path, body: &Value) {
    let report = audit_of_the_user(dir, &[]);
    assert_eq!(report["user"]["email"], EMAIL);
    assert_eq!(report["user"]["id"], body["user"]["id"]);
    assert!(report["user"]["disabled_at"].is_string());
    let events = report["events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "session_revoked",
            "session_revoked",
            "user_disabled",
            "login_succeeded",
            "login_failed",
            "signup"
        ]
    );
    let signup = &events[5];
    assert_eq!(signup["session_id"], body["session_id"]);
    assert_eq!(signup["ip"], "127.0.0.1");
    assert_eq!(signup["user_agent"], USER_AGENT);
    assert!(signup["at"].as_str().unwrap().ends_with('Z'));
    assert!(
        events[..2]
            .iter()
            .all(|e| e["detail"] == "disabled" && e["ip"].is_null()),
        "the CLI's revocations carry no request: {events:?}"
    );
    let printed = serde_json::to_string(&report).unwrap();
    for secret in [
        PASSWORD,
        "not the password",
        body["access_token"].as_str().unwrap(),
        body["refresh_token"].as_str().unwrap(),
    ] {
        assert!(!printed.contains(secret), "{secret} printed");
    }
}

/// The table of the user's six events, and every event (no --user) including those about
/// nobody.
fn the_table_and_everyones_events(dir: &Path) {
    let table = run_expecting(
        tokenauth(dir).args(["audit", "--user", EMAIL, "--since", "1h"]),
        0,
    );
    let text = stdout(&table);
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("AT"), "{text}");
    assert_eq!(lines.count(), 6, "{text}");
    assert!(
        text.contains("login_failed") && text.contains(USER_AGENT),
        "{text}"
    );
    let everyone = run_expecting(tokenauth(dir).args(["audit", "--json"]), 0);
    assert_eq!(json_of(&everyone)["user"], Value::Null);
    assert_eq!(json_of(&everyone)["events"].as_array().unwrap().len(), 6);
}

/// An unknown user exits 1 saying so; a bad `--since` or `--limit` exits 2.
fn audit_refuses_an_unknown_user_and_bad_flags(dir: &Path) {
    let unknown = run_expecting(
        tokenauth(dir).args(["audit", "--user", "nobody@example.com"]),
        1,
    );
    assert!(error_line(&unknown).contains("no user with email"));
    for bad in [
        ["--since", "1 day"],
        ["--since", "yesterday"],
        ["--limit", "0"],
    ] {
        let output = run(tokenauth(dir).args(["audit", "--user", EMAIL]).args(bad));
        assert_eq!(
            output.status.code(),
            Some(2),
            "{bad:?}: {}",
            stderr(&output)
        );
    }
}
