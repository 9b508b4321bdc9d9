//! The real `tokenauth` binary as an operator starts it: zero-config start with a private data
//! directory, clean shutdown on SIGTERM and SIGINT, a restart that keeps everything, and a clear
//! message when the port is taken.

use crate::common;

use std::fs;
use std::net::TcpListener;
use std::time::Duration;

use common::process::{Server, mode, run, stderr, tokenauth, workdir};
use common::{jwt_parts, kid_of, kids};

// ---------------------------------------------------------------------------------------------
// Zero-config start
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn serve_without_config_creates_a_private_data_dir() {
    let (_temp, dir) = workdir();
    let server = Server::start(&dir).await;

    let data = dir.join("tokenauth-data");
    assert!(data.is_dir(), "./tokenauth-data created");
    assert_eq!(mode(&data), 0o700, "data dir mode");
    let db = data.join("tokenauth.db");
    assert!(db.is_file(), "database file created");
    assert_eq!(mode(&db), 0o600, "database mode");
    let key = data.join("master.key");
    assert!(key.is_file(), "master key created");
    assert_eq!(mode(&key), 0o600, "master key mode");
    // Every file SQLite made next to it (WAL, shm) is private too.
    for entry in fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path) & 0o077, 0, "{} is private", path.display());
    }

    let health = server.get_json("/healthz").await;
    assert_eq!(health["status"], "ok");
    let ready = server.get_json("/readyz").await;
    assert_eq!(ready["status"], "ready");
    let discovery = server.get_json("/.well-known/openid-configuration").await;
    assert_eq!(discovery["issuer"], server.base);
    assert_eq!(
        discovery["jwks_uri"],
        format!("{}/.well-known/jwks.json", server.base)
    );
    let jwks = server.get_json("/.well-known/jwks.json").await;
    assert_eq!(kids(&jwks).len(), 1);

    // Tokens carry the derived issuer and audience.
    let body = server.signup("zero@example.com").await;
    let (_, claims) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(claims["iss"], server.base);
    assert_eq!(claims["aud"], server.base);
    assert_eq!(
        server.port,
        server
            .base
            .rsplit(':')
            .next()
            .unwrap()
            .parse::<u16>()
            .unwrap()
    );
}

// ---------------------------------------------------------------------------------------------
// SIGTERM and restart
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn sigterm_exits_cleanly_and_a_restart_keeps_everything() {
    let (_temp, dir) = workdir();
    let mut server = Server::start(&dir).await;
    let body = server.signup("restart@example.com").await;
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let kid = kid_of(body["access_token"].as_str().unwrap());
    let jwks_before = server.get_json("/.well-known/jwks.json").await;

    let status = server.terminate(Duration::from_secs(5));
    assert_eq!(
        status.code(),
        Some(0),
        "exit status {status}: {}",
        server.log_text()
    );
    assert!(
        server.log_text().contains("stopped"),
        "shutdown is logged: {}",
        server.log_text()
    );
    drop(server);

    let server = Server::start(&dir).await;
    let (status, login) = server.login("restart@example.com").await;
    assert_eq!(status, 200, "login after restart");
    assert_eq!(kid_of(login["access_token"].as_str().unwrap()), kid);
    let (status, _) = server.refresh(&refresh).await;
    assert_eq!(status, 200, "old refresh token after restart");
    let jwks_after = server.get_json("/.well-known/jwks.json").await;
    assert_eq!(kids(&jwks_after), kids(&jwks_before));
    assert!(kids(&jwks_after).contains(&kid));
}

#[tokio::test]
async fn sigint_also_exits_cleanly() {
    let (_temp, dir) = workdir();
    let mut server = Server::start(&dir).await;
    let status = server.signal("INT", Duration::from_secs(5));
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_port_in_use_fails_with_a_clear_message() {
    let (_temp, dir) = workdir();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let output = run(tokenauth(&dir).args(["serve", "--listen", &format!("127.0.0.1:{port}")]));
    let stderr = stderr(&output);
    assert!(!output.status.success());
    assert!(stderr.contains(&port.to_string()), "{stderr}");
    drop(taken);
}
