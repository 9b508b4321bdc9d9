//! `tokenauth keys withdraw` on the real binary, the incident runbook "a signing key leaked":
//! after `keys rotate --now` and `keys withdraw OLD`, running servers refuse tokens signed by
//! the old key and no longer publish it; the active key cannot be withdrawn. On SQLite with one
//! server, and on PostgreSQL with two instances (skipped without `TOKENAUTH_TEST_DATABASE_URL`).
//!
//! And the key policy: the key commands follow the running server's signing algorithm and
//! publish lead (stored with the keys), never their own defaults; `keys list` only reads; a
//! command pointed at a database that does not exist creates none.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::process::{Server, error_line, json_of, run_expecting, stdout, tokenauth, workdir};
use common::{TEST_MASTER_KEY, access_token, jwt_parts, kid_of};
use serde_json::Value;
use tokenauth_store::postgres::test_schema::TestSchema;

const EMAIL: &str = "leak@example.com";

/// How a test runs the CLI against its servers' database.
struct Cli<'a> {
    dir: &'a Path,
    database_url: Option<String>,
}

impl Cli<'_> {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = tokenauth(self.dir);
        if let Some(url) = &self.database_url {
            command
                .env("TOKENAUTH_MASTER_KEY", TEST_MASTER_KEY)
                .args(["--database-url", url]);
        }
        command.args(args);
        command
    }

    /// Runs `args`, which must exit with `code`.
    fn run(&self, args: &[&str], code: i32) -> std::process::Output {
        run_expecting(&mut self.command(args), code)
    }

    /// Runs `args` with `--json`, which must succeed; returns what it printed.
    fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        json_of(&self.run(&args, 0))
    }

    fn state_of(&self, kid: &str) -> Option<String> {
        self.json(&["keys", "list"])
            .as_array()
            .unwrap()
            .iter()
            .find(|key| key["kid"] == kid)
            .map(|key| key["state"].as_str().unwrap().to_owned())
    }
}

/// Waits until `check` holds. Servers promise to follow key changes made elsewhere within one
/// check period (1 s); the deadline is far above that, so a loaded machine cannot fail the test,
/// yet below the 30 s maintenance period of the default settings, so it fails if only
/// maintenance (and not the key-change follower) picked the change up.
async fn eventually<F: std::future::Future<Output = bool>>(
    what: &str,
    server: &Server,
    mut check: impl FnMut() -> F,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "{what} never happened: {}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `server` answers `status` to `/v1/me` with `token`.
async fn wait_for_me(server: &Server, token: &str, status: u16) {
    eventually(&format!("/v1/me {status}"), server, || async {
        server.get("/v1/me", Some(token)).await.0 == status
    })
    .await;
}

/// Waits until `server` publishes `kid` (or, with `published` false, no longer does).
async fn wait_for_jwks(server: &Server, kid: &str, published: bool) {
    eventually(&format!("{kid} published: {published}"), server, || async {
        server.kids().await.iter().any(|k| k == kid) == published
    })
    .await;
}

/// The runbook on running `servers` (the first issued the token), with `cli` on their database.
async fn leaked_key_is_withdrawn(servers: &[&Server], cli: &Cli<'_>) {
    let issuer = servers[0];
    let signup = issuer.signup(EMAIL).await;
    let leaked_token = access_token(&signup);
    let leaked = kid_of(&leaked_token);
    for server in servers {
        wait_for_me(server, &leaked_token, 200).await;
    }

    // The active key cannot be withdrawn; the message says what to do instead.
    let refused = cli.run(&["keys", "withdraw", &leaked], 1);
    let line = error_line(&refused);
    assert!(
        line.contains("active signing key") && line.contains("keys rotate --now"),
        "{line}"
    );
    assert_eq!(cli.state_of(&leaked).as_deref(), Some("active"));
    assert_eq!(issuer.get("/v1/me", Some(&leaked_token)).await.0, 200);

    let new_kid = a_new_key_signs_at_once(servers, cli, &leaked_token).await;
    withdrawing_the_old_key_ends_its_tokens(servers, cli, &leaked_token, &new_kid).await;
    introspection_refuses(issuer, cli, &leaked_token).await;

    // Withdrawing twice, or a kid that never existed, changes nothing and says so.
    for kid in [leaked.as_str(), "no-such-kid"] {
        let output = cli.run(&["keys", "withdraw", kid], 1);
        assert!(
            error_line(&output).contains(&format!("no signing key {kid}")),
            "{}",
            error_line(&output)
        );
    }

    let next = a_next_key_can_be_withdrawn(servers, cli).await;
    // The audit log has both withdrawals, with their kids.
    let audit = cli.json(&["audit", "--since", "1h"]);
    let withdrawals: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["kind"] == "key_withdrawn")
        .map(|event| event["detail"].as_str().unwrap())
        .collect();
    assert_eq!(withdrawals, [next.as_str(), leaked.as_str()], "{audit}");
}

/// Step 1: after `keys rotate --now` a new key signs at once, on every running server; the
/// key of `leaked_token` is retired but still published, so its tokens (also forged ones)
/// still verify. The new key's id.
async fn a_new_key_signs_at_once(servers: &[&Server], cli: &Cli<'_>, leaked_token: &str) -> String {
    let leaked = kid_of(leaked_token);
    let rotated = cli.json(&["keys", "rotate", "--now"]);
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    assert_eq!(cli.state_of(&leaked).as_deref(), Some("retired"));
    for server in servers {
        eventually("the new key signs", server, || async {
            let (status, login) = server.login(EMAIL).await;
            assert_eq!(status, 200, "{login}");
            kid_of(&access_token(&login)) == new_kid
        })
        .await;
        assert_eq!(server.get("/v1/me", Some(leaked_token)).await.0, 200);
    }
    new_kid
}

/// Step 2: `keys withdraw` removes the key of `leaked_token` from the database; every server
/// then refuses its tokens (at `/v1/me` and `/v1/verify`) and publishes `new_kid` but not it,
/// and new logins get tokens of the new key, which work everywhere.
async fn withdrawing_the_old_key_ends_its_tokens(
    servers: &[&Server],
    cli: &Cli<'_>,
    leaked_token: &str,
    new_kid: &str,
) {
    let leaked = kid_of(leaked_token);
    let withdrawn = cli.json(&["keys", "withdraw", &leaked]);
    assert_eq!(withdrawn["kid"], leaked.as_str());
    assert_eq!(withdrawn["withdrawn"], true);
    assert_eq!(withdrawn["previous_state"], "retired");
    assert_eq!(cli.state_of(&leaked), None, "gone from the database");

    for server in servers {
        wait_for_me(server, leaked_token, 401).await;
        let kids = server.kids().await;
        assert!(
            !kids.contains(&leaked),
            "{leaked} still published: {kids:?}"
        );
        assert!(kids.iter().any(|kid| kid == new_kid), "{kids:?}");
        let (_, problem) = server.get("/v1/me", Some(leaked_token)).await;
        assert_eq!(problem["error"], "invalid_token", "{problem}");
        assert_eq!(server.get("/v1/verify", Some(leaked_token)).await.0, 401);
        // New logins get tokens of the new key, which work everywhere.
        let (status, login) = server.login(EMAIL).await;
        assert_eq!(status, 200, "{login}");
        let token = access_token(&login);
        assert_eq!(kid_of(&token), new_kid);
        for other in servers {
            assert_eq!(other.get("/v1/me", Some(&token)).await.0, 200);
        }
    }
}

/// Introspection by a client `cli` adds refuses the withdrawn key's `leaked_token` too.
async fn introspection_refuses(issuer: &Server, cli: &Cli<'_>, leaked_token: &str) {
    let client = cli.json(&["client", "add", "incident", "--permission", "introspect"]);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str().unwrap()
    ));
    let introspected: Value = issuer
        .client
        .post(issuer.url("/oauth2/introspect"))
        .header("authorization", format!("Basic {basic}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={leaked_token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], false, "{introspected}");
}

/// A published `next` key (from `keys rotate`) can be withdrawn too, with human output: every
/// server publishes it, then no longer does. Its id.
async fn a_next_key_can_be_withdrawn(servers: &[&Server], cli: &Cli<'_>) -> String {
    let next = cli.json(&["keys", "rotate"])["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(cli.state_of(&next).as_deref(), Some("next"));
    for server in servers {
        wait_for_jwks(server, &next, true).await;
    }
    let output = cli.run(&["keys", "withdraw", &next], 0);
    let text = stdout(&output);
    assert!(
        text.contains(&format!("key {next} (next) is withdrawn")),
        "{text}"
    );
    for server in servers {
        wait_for_jwks(server, &next, false).await;
    }
    next
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawn_key_is_refused_by_the_running_server_on_sqlite() {
    let (_temp, dir) = workdir();
    let server = Server::start(&dir).await;
    let cli = Cli {
        dir: &dir,
        database_url: None,
    };
    leaked_key_is_withdrawn(&[&server], &cli).await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn withdrawn_key_is_refused_by_every_instance_on_postgres() {
    let Some(schema) = TestSchema::create("withdrawn_key_is_refused_by_every_instance").await
    else {
        return;
    };
    let url = schema.url();
    let (a, b) = tokio::join!(Server::start_on(&url, &[]), Server::start_on(&url, &[]));
    let (_temp, dir) = workdir();
    let cli = Cli {
        dir: &dir,
        database_url: Some(url.clone()),
    };
    leaked_key_is_withdrawn(&[&a, &b], &cli).await;
}

/// The keys `keys list --json` shows, as (kid, alg, state).
fn key_rows(cli: &Cli<'_>) -> Vec<(String, String, String)> {
    cli.json(&["keys", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|key| {
            let field = |name: &str| key[name].as_str().unwrap().to_owned();
            (field("kid"), field("alg"), field("state"))
        })
        .collect()
}

/// The `alg` in a JWT's header.
fn alg_of(token: &str) -> String {
    jwt_parts(token).0["alg"].as_str().unwrap().to_owned()
}

/// A server on HS256, and `keys list` run from a shell without any setting (whose default is
/// ES256): the listing inserts no key, and the server goes on signing HS256 with its one key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_list_from_a_plain_shell_changes_nothing() {
    let (_temp, dir) = workdir();
    let server = Server::start_with(&dir, |c| {
        c.args(["--signing-alg", "HS256"]);
    })
    .await;
    let signup = server.signup(EMAIL).await;
    let first = access_token(&signup);
    assert_eq!(alg_of(&first), "HS256");
    let cli = Cli {
        dir: &dir,
        database_url: None,
    };
    let before = key_rows(&cli);
    assert_eq!(before.len(), 1, "{before:?}");
    for _ in 0..3 {
        cli.run(&["keys", "list"], 0);
        assert_eq!(key_rows(&cli), before, "keys list changed the keys");
    }
    // Longer than the server's key-change check: it had every chance to pick a change up.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, login) = server.login(EMAIL).await;
    assert_eq!(status, 200, "{login}");
    let token = access_token(&login);
    assert_eq!(alg_of(&token), "HS256");
    assert_eq!(kid_of(&token), kid_of(&first));
    assert_eq!(key_rows(&cli), before);
    server.stop();
}

/// `keys rotate` follows the server's algorithm when the shell gives none, and refuses with
/// exit 2, naming both values, when the shell's explicit `--signing-alg` contradicts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_follows_the_servers_algorithm_or_refuses() {
    let (_temp, dir) = workdir();
    let server = Server::start_with(&dir, |c| {
        c.args(["--signing-alg", "RS256"]);
    })
    .await;
    server.signup(EMAIL).await;
    let cli = Cli {
        dir: &dir,
        database_url: None,
    };
    let before = key_rows(&cli);
    for contradicting in [
        &["--signing-alg", "ES256", "keys", "rotate", "--now"][..],
        &["--signing-alg", "HS256", "keys", "rotate"][..],
    ] {
        let refused = cli.run(contradicting, 2);
        let line = error_line(&refused);
        assert!(
            line.contains("signing_alg") && line.contains("RS256") && line.contains("here"),
            "{line}"
        );
        assert_eq!(key_rows(&cli), before, "a refusal changes nothing");
    }
    let mut env_shell = cli.command(&["keys", "rotate", "--now"]);
    env_shell.env("TOKENAUTH_SIGNING_ALG", "EdDSA");
    run_expecting(&mut env_shell, 2);

    // From a plain shell the rotation follows the server: an RS256 key signs at once.
    let rotated = cli.json(&["keys", "rotate", "--now"]);
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    assert_eq!(rotated["alg"], "RS256");
    let rows = key_rows(&cli);
    assert!(
        rows.iter().all(|(_, alg, _)| alg == "RS256"),
        "only RS256 keys: {rows:?}"
    );
    eventually("the new key signs", &server, || async {
        let (status, login) = server.login(EMAIL).await;
        assert_eq!(status, 200, "{login}");
        let token = access_token(&login);
        assert_eq!(alg_of(&token), "RS256");
        kid_of(&token) == new_kid
    })
    .await;
    let discovery = server.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"][0], "RS256",
        "{discovery}"
    );
    server.stop();
}

/// On a server with `jwks_max_age = 1h`, `keys rotate` from a plain shell (default 5 min)
/// publishes the next key two hours before it signs: the server's lead, not the shell's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_gives_the_servers_publish_lead() {
    let (_temp, dir) = workdir();
    let server = Server::start_with(&dir, |c| {
        c.args(["--jwks-max-age", "1h"]);
    })
    .await;
    let cli = Cli {
        dir: &dir,
        database_url: None,
    };
    let rotated = cli.json(&["keys", "rotate"]);
    assert_eq!(rotated["publish_lead_secs"], 7200, "{rotated}");
    let kid = rotated["kid"].as_str().unwrap();
    let keys = cli.json(&["keys", "list"]);
    let next = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["kid"] == kid)
        .unwrap();
    assert_eq!(next["state"], "next");
    let time = |name: &str| -> jiff::Timestamp { next[name].as_str().unwrap().parse().unwrap() };
    let lead = time("activate_at").duration_since(time("created_at"));
    assert_eq!(lead.as_secs(), 7200, "{next}");
    // A shell that says another max-age is refused.
    let refused = cli.run(&["--jwks-max-age", "5m", "keys", "rotate"], 2);
    assert!(
        error_line(&refused).contains("jwks_max_age"),
        "{}",
        error_line(&refused)
    );
    server.stop();
}

/// Every command but `serve` and `migrate`, pointed at a data directory or database that does
/// not exist, exits 2 with one line saying so, and creates nothing.
#[tokio::test]
async fn commands_on_a_missing_database_exit_2_and_create_nothing() {
    let (_temp, dir) = workdir();
    let cli = Cli {
        dir: &dir,
        database_url: None,
    };
    for args in [
        &["user", "list"][..],
        &["keys", "list"][..],
        &["keys", "rotate", "--now"][..],
        &["keys", "withdraw", "some-kid"][..],
        &["session", "list", "--user", "a@example.com"][..],
        &["client", "list"][..],
        &["audit", "--since", "1h"][..],
        &["--data-dir", "elsewhere", "user", "list"][..],
    ] {
        let output = cli.run(args, 2);
        let line = error_line(&output);
        assert!(
            line.contains("does not exist") && line.contains("tokenauth migrate"),
            "{args:?}: {line}"
        );
        let created: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert!(created.is_empty(), "{args:?} created {created:?}");
    }
    // A data directory without a database is refused as well.
    std::fs::create_dir(dir.join("tokenauth-data")).unwrap();
    let line = error_line(&cli.run(&["user", "list"], 2));
    assert!(line.contains("no database"), "{line}");
    assert_eq!(
        std::fs::read_dir(dir.join("tokenauth-data"))
            .unwrap()
            .count(),
        0
    );

    // A PostgreSQL schema without tokenauth's tables is refused, and stays empty.
    let Some(schema) = TestSchema::create("commands_on_a_missing_database").await else {
        return;
    };
    let postgres = Cli {
        dir: &dir,
        database_url: Some(schema.url()),
    };
    for _ in 0..2 {
        let line = error_line(&postgres.run(&["user", "list"], 2));
        assert!(line.contains("no tokenauth schema"), "{line}");
    }
    // `migrate` still creates it, and then the command works.
    postgres.run(&["migrate"], 0);
    postgres.run(&["user", "list"], 0);
}
