//! The real `tokenauth` binary's administration commands: `keys list` and `keys rotate` on the
//! data directory, and `user add-role`, while or between `tokenauth serve` runs.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::process::{ISSUER, Server, run, stderr, stdout, tokenauth, workdir};
use common::{jwt_parts, kid_of, kids};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Keys subcommands
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn keys_list_and_rotate_work_on_the_data_dir() {
    let (_temp, dir) = workdir();
    // A fixed issuer, so tokens survive the restart on another port.
    let issuer = |c: &mut Command| {
        c.args(["--issuer", ISSUER]);
    };
    let mut server = Server::start_with(&dir, issuer).await;
    let body = server.signup("keys@example.com").await;
    let first_kid = kid_of(body["access_token"].as_str().unwrap());
    assert_eq!(server.terminate(Duration::from_secs(5)).code(), Some(0));
    drop(server);

    let list = |dir: &Path| -> Value {
        let output = run(tokenauth(dir).args(["keys", "list", "--json"]));
        assert!(output.status.success(), "keys list: {}", stderr(&output));
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("keys list --json prints JSON ({e}): {}", stdout(&output)))
    };
    let keys = list(&dir);
    let keys = keys.as_array().expect("a JSON array");
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(keys[0]["kid"], first_kid);
    assert_eq!(keys[0]["alg"], "ES256");
    assert_eq!(keys[0]["state"], "active");

    // A scheduled rotation publishes a next key that does not sign yet.
    let output = run(tokenauth(&dir).args(["keys", "rotate", "--json"]));
    assert!(output.status.success(), "keys rotate: {}", stderr(&output));
    let rotated: Value = serde_json::from_slice(&output.stdout).unwrap();
    let next_kid = rotated["kid"].as_str().unwrap().to_owned();
    assert_ne!(next_kid, first_kid);
    assert_eq!(rotated["immediate"], false);
    let keys = list(&dir);
    let state_of = |keys: &Value, kid: &str| {
        keys.as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .map(|k| k["state"].as_str().unwrap().to_owned())
    };
    assert_eq!(state_of(&keys, &first_kid).as_deref(), Some("active"));
    assert_eq!(state_of(&keys, &next_kid).as_deref(), Some("next"));

    // An immediate rotation makes a new key sign at once.
    let output = run(tokenauth(&dir).args(["keys", "rotate", "--now", "--json"]));
    assert!(
        output.status.success(),
        "keys rotate --now: {}",
        stderr(&output)
    );
    let rotated: Value = serde_json::from_slice(&output.stdout).unwrap();
    let now_kid = rotated["kid"].as_str().unwrap().to_owned();
    assert_eq!(rotated["immediate"], true);
    assert_ne!(now_kid, first_kid);
    let keys = list(&dir);
    assert_eq!(
        state_of(&keys, &now_kid).as_deref(),
        Some("active"),
        "{keys}"
    );
    assert_eq!(
        keys.as_array()
            .unwrap()
            .iter()
            .filter(|k| k["state"] == "active")
            .count(),
        1,
        "one active key: {keys}"
    );

    // The restarted server signs with the new key and still publishes the old one.
    let server = Server::start_with(&dir, issuer).await;
    let (status, login) = server.login("keys@example.com").await;
    assert_eq!(status, 200);
    assert_eq!(kid_of(login["access_token"].as_str().unwrap()), now_kid);
    let ready = server.get_json("/readyz").await;
    assert_eq!(ready["signing_kid"], now_kid);
    let published = kids(&server.get_json("/.well-known/jwks.json").await);
    assert!(published.contains(&now_kid), "{published:?}");
    assert!(
        published.contains(&first_kid),
        "the old key still verifies live tokens: {published:?}"
    );
    // The token signed before the rotation by the old key is still accepted.
    let (status, _) = server.get("/v1/me", body["access_token"].as_str()).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn user_add_role_grants_a_role_that_new_tokens_carry() {
    let (_temp, dir) = workdir();
    let server = Server::start(&dir).await;
    let body = server.signup("roles@example.com").await;
    assert_eq!(
        jwt_parts(body["access_token"].as_str().unwrap()).1["roles"],
        json!([])
    );

    // While the server runs: the CLI and the server share the SQLite file.
    let add =
        |email: &str, role: &str| run(tokenauth(&dir).args(["user", "add-role", email, role]));
    let granted = add("ROLES@example.com", "admin");
    assert!(granted.status.success(), "{}", stderr(&granted));
    assert!(stdout(&granted).contains("admin"));
    let again = add("roles@example.com", "admin");
    assert!(again.status.success(), "granting twice is harmless");

    let (_, login) = server.login("roles@example.com").await;
    assert_eq!(
        jwt_parts(login["access_token"].as_str().unwrap()).1["roles"],
        json!(["admin"])
    );
    let (_, refreshed) = server.refresh(&login["refresh_token"]).await;
    assert_eq!(
        jwt_parts(refreshed["access_token"].as_str().unwrap()).1["roles"],
        json!(["admin"])
    );

    let unknown = add("nobody@example.com", "admin");
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stderr(&unknown).contains("no user"));
    for bad in ["", "has space", "a,b", "x".repeat(65).as_str()] {
        let refused = add("roles@example.com", bad);
        assert!(!refused.status.success(), "role {bad:?} accepted");
    }
}

/// `config check` prints every effective setting with the database password masked, warns about
/// weak choices, and exits 2 with one line for an invalid configuration.
#[test]
fn config_check_shows_the_effective_configuration_and_warnings() {
    let (_temp, dir) = common::process::workdir();
    let output = common::process::run_expecting(
        common::process::tokenauth(&dir).args([
            "config",
            "check",
            "--json",
            "--database-url",
            "postgres://app:s3cret@db.example/auth",
            "--access-token-ttl",
            "2h",
            "--refresh-token-ttl",
            "1d",
        ]),
        0,
    );
    let report = common::process::json_of(&output);
    assert_eq!(report["valid"], true);
    assert_eq!(report["settings"]["access_token_ttl"], "2h");
    let url = report["settings"]["database_url"].as_str().unwrap();
    assert!(
        url.contains("db.example") && !url.contains("s3cret"),
        "{url}"
    );
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("access_token_ttl"), "{warnings}");
    assert!(!common::process::stdout(&output).contains("s3cret"));
    assert!(
        !dir.join("tokenauth-data").exists(),
        "config check creates nothing"
    );

    let bad = common::process::run_expecting(
        common::process::tokenauth(&dir).args(["config", "check", "--clock-leeway", "1h"]),
        2,
    );
    assert!(common::process::error_line(&bad).contains("clock_leeway"));
}
