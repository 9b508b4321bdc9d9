//! The real `tokenauth` binary's configuration: a bad setting exits 2 with one line naming it,
//! a database password is never printed, and flags win over the environment, which wins over
//! the configuration file.

use crate::common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::process::{Server, free_port, run, stderr, tokenauth, workdir};

// ---------------------------------------------------------------------------------------------
// Bad configuration
// ---------------------------------------------------------------------------------------------

/// Runs `tokenauth serve` with a bad setting and checks: exit code 2, exactly one line on
/// stderr naming `setting`, and no server started. Unless `listen` is the setting under test it
/// is set to a free port, so that a wrongly accepted configuration cannot take a shared port.
fn assert_bad_config(dir: &Path, setting: &str, configure: impl FnOnce(&mut Command)) -> String {
    let mut command = tokenauth(dir);
    command.arg("serve");
    if setting != "listen" {
        command.args(["--listen", &format!("127.0.0.1:{}", free_port())]);
    }
    configure(&mut command);
    let output = run(&mut command);
    let stderr = stderr(&output);
    assert_eq!(
        output.status.code(),
        Some(2),
        "{setting}: status {}, stderr: {stderr}",
        output.status
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{setting}: exactly one line, got: {stderr:?}"
    );
    assert!(
        lines[0].contains(setting),
        "{setting}: the line names the setting: {stderr:?}"
    );
    assert!(output.stdout.is_empty(), "{setting}: nothing on stdout");
    lines[0].to_owned()
}

/// Writes `contents` to the file `name` in `files` and checks with [`assert_bad_config`] that
/// `--config` with it is refused naming `setting`.
fn assert_bad_file(dir: &Path, files: &Path, name: &str, contents: &str, setting: &str) {
    let file = files.join(name);
    fs::write(&file, contents).unwrap();
    assert_bad_config(dir, setting, |c| {
        c.arg("--config").arg(&file);
    });
}

#[test]
fn bad_configuration_exits_2_with_one_line_naming_the_setting() {
    let (temp, dir) = workdir();
    bad_configuration_files(&dir, temp.path());
    bad_values_in_flags_and_variables(&dir);
    bad_secrets_are_named_not_echoed(&dir);

    // Rejected configuration leaves nothing behind.
    let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().collect();
    assert!(
        leftovers.is_empty(),
        "a refused start creates nothing: {leftovers:?}"
    );
}

/// Configuration files (written in `files`) with an unknown key, values of the wrong type, a
/// TOML syntax error, and a missing file are refused naming the key (or `config`).
fn bad_configuration_files(dir: &Path, files: &Path) {
    let unknown = "listen = \"127.0.0.1:9\"\naccess_token_tll = \"5m\"\n";
    assert_bad_file(dir, files, "unknown.toml", unknown, "access_token_tll");
    let wrong_type = "access_token_ttl = 15\n";
    assert_bad_file(
        dir,
        files,
        "wrong-type.toml",
        wrong_type,
        "access_token_ttl",
    );
    let wrong_type = "clock_leeway = { seconds = 10 }\n";
    assert_bad_file(dir, files, "wrong-type-2.toml", wrong_type, "clock_leeway");
    let wrong_type = "signing_alg = [\"ES256\"]\n";
    assert_bad_file(dir, files, "wrong-type-3.toml", wrong_type, "signing_alg");
    let broken = "access_token_ttl = \"5m\n";
    assert_bad_file(dir, files, "broken.toml", broken, "config");
    assert_bad_config(dir, "config", |c| {
        c.arg("--config").arg(files.join("missing.toml"));
    });
}

/// Bad values given as flags or environment variables are refused naming the setting, and so
/// is a misspelt variable (issue 16), naming itself.
fn bad_values_in_flags_and_variables(dir: &Path) {
    let line = assert_bad_config(dir, "access_token_ttl", |c| {
        c.args(["--access-token-ttl", "15"]);
    });
    assert!(line.contains("15"), "{line}");
    assert_bad_config(dir, "signing_alg", |c| {
        c.env("TOKENAUTH_SIGNING_ALG", "none");
    });
    assert_bad_config(dir, "listen", |c| {
        c.args(["--listen", "nowhere"]);
    });
    assert_bad_config(dir, "listen", |c| {
        c.env("TOKENAUTH_LISTEN", "nowhere");
    });
    assert_bad_config(dir, "issuer", |c| {
        c.args(["--issuer", "ftp://example.com"]);
    });
    assert_bad_config(dir, "refresh_token_ttl", |c| {
        c.args(["--access-token-ttl", "2h", "--refresh-token-ttl", "1h"]);
    });
    assert_bad_config(dir, "cors_allowed_origins", |c| {
        c.args(["--cors-allowed-origins", "https://ok.example.com,*"]);
    });
    assert_bad_config(dir, "trusted_proxies", |c| {
        c.args(["--trusted-proxies", "10.0.0.0/8, proxy.internal"]);
    });
    assert_bad_config(dir, "rate_limit_login", |c| {
        c.env("TOKENAUTH_RATE_LIMIT_LOGIN", "lots");
    });
    assert_bad_config(dir, "login_max_failures", |c| {
        c.args(["--login-max-failures", "many"]);
    });
    // Issue 16: a misspelt variable is refused like a misspelt file key, naming itself.
    let line = assert_bad_config(dir, "TOKENAUTH_ACESS_TOKEN_TTL", |c| {
        c.env("TOKENAUTH_ACESS_TOKEN_TTL", "5m");
    });
    assert!(line.contains("environment"), "{line}");
}

/// A master key too short or of the wrong length, and a database URL of an unknown kind, are
/// refused naming the setting; the short key is not echoed.
fn bad_secrets_are_named_not_echoed(dir: &Path) {
    let line = assert_bad_config(dir, "master_key", |c| {
        c.env("TOKENAUTH_MASTER_KEY", "short");
    });
    assert!(!line.contains("short"), "the key is not echoed: {line}");
    assert_bad_config(dir, "master_key", |c| {
        // Valid base64, wrong length (16 bytes).
        c.env("TOKENAUTH_MASTER_KEY", "AAAAAAAAAAAAAAAAAAAAAA==");
    });
    assert_bad_config(dir, "database_url", |c| {
        c.env("TOKENAUTH_DATABASE_URL", "mysql://localhost/db");
    });
}

#[test]
fn a_database_password_is_never_printed() {
    let (_temp, dir) = workdir();
    // Nothing listens there: the connection fails at once and the URL is reported.
    let port = free_port();
    for url in [
        format!("postgres://tokenauth:Pw-in-userinfo-42@127.0.0.1:{port}/auth"),
        format!("postgres://tokenauth@127.0.0.1:{port}/auth?password=Pw-in-query-42"),
        format!(
            "postgres://tokenauth@127.0.0.1:{port}/auth?sslmode=disable&password=Pw-in-query-42&application_name=x"
        ),
        format!("postgresql://tokenauth:Pw-with-at@sign-42@127.0.0.1:{port}/auth"),
        format!("postgres://tokenauth:Pw-with?question-42@127.0.0.1:{port}/auth"),
        format!("postgres://tokenauth:Pw-with/slash-42@127.0.0.1:{port}/auth?sslmode=disable"),
        format!("postgres://tokenauth:Pw-both-42@127.0.0.1:{port}/auth?password=Pw-both-42"),
    ] {
        let output = run(tokenauth(&dir)
            .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
            .env("TOKENAUTH_DATABASE_URL", &url)
            .env("RUST_LOG", "debug"));
        let stderr = stderr(&output);
        assert!(!output.status.success(), "{url}: {stderr}");
        assert!(
            stderr.contains("127.0.0.1"),
            "the database is named: {stderr}"
        );
        assert!(!stderr.contains("Pw-"), "the password is printed: {stderr}");
    }
}

// ---------------------------------------------------------------------------------------------
// Precedence
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn precedence_is_flag_then_env_then_file() {
    let (temp, dir) = workdir();
    let file = temp.path().join("tokenauth.toml");
    fs::write(&file, "access_token_ttl = \"1m\"\n").unwrap();

    let expires_in = |server: Server, email: &'static str| async move {
        let body = server.signup(email).await;
        body["expires_in"].as_u64().unwrap()
    };

    let server = Server::start_with(&dir, |c| {
        c.arg("--config")
            .arg(&file)
            .env("TOKENAUTH_ACCESS_TOKEN_TTL", "2m")
            .args(["--access-token-ttl", "3m"]);
    })
    .await;
    assert_eq!(expires_in(server, "flag@example.com").await, 180);

    let server = Server::start_with(&dir, |c| {
        c.arg("--config")
            .arg(&file)
            .env("TOKENAUTH_ACCESS_TOKEN_TTL", "2m");
    })
    .await;
    assert_eq!(expires_in(server, "env@example.com").await, 120);

    let server = Server::start_with(&dir, |c| {
        c.arg("--config").arg(&file);
    })
    .await;
    assert_eq!(expires_in(server, "file@example.com").await, 60);

    // The file named by TOKENAUTH_CONFIG instead of --config.
    let server = Server::start_with(&dir, |c| {
        c.env("TOKENAUTH_CONFIG", &file);
    })
    .await;
    assert_eq!(expires_in(server, "config-env@example.com").await, 60);

    let server = Server::start(&dir).await;
    assert_eq!(expires_in(server, "default@example.com").await, 900);
}
