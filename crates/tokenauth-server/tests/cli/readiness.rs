//! `/readyz` of the real `tokenauth` binary follows its PostgreSQL database: reached through a
//! TCP proxy this test controls, a cut connection or a stalled one makes it 503 within seconds
//! (and other requests needing the database get a clean 503 problem, never a 500), a restored
//! one makes it ready again; a schema older or newer than the build's is not ready either. A
//! frozen database is answered 503 within `database_timeout` by every request that needs it,
//! `/v1/me` included. The PostgreSQL tests are skipped without `TOKENAUTH_TEST_DATABASE_URL`
//! (CI sets it). `/readyz` also follows failing writes: a SQLite database on a small tmpfs
//! that fills up (skipped where tmpfs cannot be mounted, i.e. not as root).

use crate::common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::PASSWORD;
use common::process::Server;
use serde_json::{Value, json};
use tokenauth_store::postgres::test_schema::TestSchema;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Forwards both ways.
    Open,
    /// Closes every connection, and each new one at once: the database is down.
    Cut,
    /// Holds every byte, on old connections and new ones: the network is black-holed.
    Stalled,
}

/// A TCP proxy to `upstream` on a free local port.
struct TcpProxy {
    addr: SocketAddr,
    mode: watch::Sender<Mode>,
}

impl TcpProxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (mode, _) = watch::channel(Mode::Open);
        let modes = mode.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mode = modes.subscribe();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    if *mode.borrow() == Mode::Cut {
                        return; // dropping the socket closes it
                    }
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    // Either direction ending (or a cut) drops, and so closes, both sockets.
                    tokio::select! {
                        () = pipe(client_read, server_write, mode.clone()) => {}
                        () = pipe(server_read, client_write, mode) => {}
                    }
                });
            }
        });
        Self { addr, mode }
    }

    fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

/// Copies `from` to `to` while the mode is open; waits while it is stalled; returns when
/// either side closes or the mode is cut.
async fn pipe(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut mode: watch::Receiver<Mode>) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        let current = *mode.borrow_and_update();
        match current {
            Mode::Cut => return,
            Mode::Stalled => {
                if mode.changed().await.is_err() {
                    return;
                }
            }
            Mode::Open => {
                tokio::select! {
                    read = from.read(&mut buffer) => {
                        let n = match read {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        if to.write_all(&buffer[..n]).await.is_err() {
                            return;
                        }
                    }
                    changed = mode.changed() => {
                        if changed.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// The `host:port` of a `postgres://[user@]host:port/db…` URL.
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").unwrap().1;
    let rest = rest.split_once('@').map_or(rest, |(_, rest)| rest);
    rest.split(['/', '?']).next().unwrap()
}

/// `GET /readyz`: the status and the body.
async fn readyz(server: &Server) -> (u16, Value, String) {
    let response = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, response.json().await.unwrap(), content_type)
}

/// Polls `/readyz` until it answers `status`, for at most `within`; returns the last body.
async fn wait_for_readyz(server: &Server, status: u16, within: Duration) -> Value {
    let started = Instant::now();
    let deadline = started + within;
    loop {
        let (got, body, content_type) = readyz(server).await;
        if got == status {
            eprintln!("/readyz {status} after {:?}", started.elapsed());
            if status == 503 {
                assert_eq!(content_type, "application/problem+json", "{body}");
                assert_eq!(body["error"], "not_ready", "{body}");
            }
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz still {got} after {within:?}: {body}\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A request needing the database while it is gone: a clean 503 problem, never a 500.
async fn assert_clean_503(server: &Server, path: &str, body: Value) {
    let response = server
        .client
        .post(server.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503, "{path}");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "{path}"
    );
    assert!(response.headers().contains_key("retry-after"), "{path}");
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["error"], "unavailable", "{path}: {problem}");
    assert!(
        !problem["detail"].as_str().unwrap().contains("127.0.0.1"),
        "no internal detail: {problem}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_the_database_connection() {
    let Some(schema) = TestSchema::create("readyz_follows_the_database_connection").await else {
        return;
    };
    let url = schema.url();
    let upstream = authority(&url).to_owned();
    let proxy = TcpProxy::start(upstream.clone()).await;
    let proxied = url.replacen(&upstream, &proxy.addr.to_string(), 1);
    let server = Server::start_on(&proxied, &[]).await;
    let email = "ready@example.com";
    let signup = server.signup(email).await;
    let credentials = json!({"email": email, "password": PASSWORD});

    // The database goes away: unready within seconds, and a clean 503 for what needs it.
    proxy.set(Mode::Cut);
    let body = wait_for_readyz(&server, 503, Duration::from_secs(10)).await;
    assert_eq!(body["reason"], "database unreachable", "{body}");
    assert_clean_503(&server, "/v1/login", credentials.clone()).await;
    let refresh = json!({"refresh_token": signup["refresh_token"]});
    assert_clean_503(&server, "/v1/refresh", refresh).await;
    assert_eq!(server.get("/healthz", None).await.0, 200, "alive all along");

    // It comes back: ready again, and logins work.
    proxy.set(Mode::Open);
    wait_for_readyz(&server, 200, Duration::from_secs(15)).await;
    assert_eq!(server.login(email).await.0, 200);

    // The network black-holes (no error, no answer): readyz still answers, 503, in time.
    proxy.set(Mode::Stalled);
    let body = wait_for_readyz(&server, 503, Duration::from_secs(10)).await;
    assert_eq!(body["reason"], "database unreachable", "{body}");
    proxy.set(Mode::Open);
    wait_for_readyz(&server, 200, Duration::from_secs(15)).await;
    assert_eq!(server.login(email).await.0, 200);

    let log = server.log_text();
    assert!(!log.contains("panicked"), "{log}");
    if std::env::var_os("SHOW_LOG").is_some() {
        eprintln!("{log}");
    }
    server.stop();
}

/// A request needing the database, timed: it must be a clean 503 with `Retry-After` (never a
/// 500) within `within`.
async fn assert_prompt_503(request: reqwest::RequestBuilder, what: &str, within: Duration) {
    let started = Instant::now();
    let response = request.send().await.unwrap();
    let took = started.elapsed();
    eprintln!("{what}: {} after {took:?}", response.status());
    assert_eq!(response.status(), 503, "{what}");
    assert!(response.headers().contains_key("retry-after"), "{what}");
    assert!(
        took < within,
        "{what} took {took:?}, more than {within:?}, to answer"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_database_is_answered_503_within_database_timeout() {
    let Some(schema) =
        TestSchema::create("a_frozen_database_is_answered_503_within_database_timeout").await
    else {
        return;
    };
    let url = schema.url();
    let upstream = authority(&url).to_owned();
    let proxy = TcpProxy::start(upstream.clone()).await;
    let proxied = url.replacen(&upstream, &proxy.addr.to_string(), 1);
    // database_timeout 1 s, against the 30 s request_timeout: answers must come from the former.
    let server = Server::start_on(&proxied, &["--database-timeout", "1s"]).await;
    let email = "frozen@example.com";
    let signup = server.signup(email).await;
    let access = signup["access_token"].as_str().unwrap().to_owned();
    let refresh = signup["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(server.get("/v1/me", Some(&access)).await.0, 200);

    // The database freezes: connections stay open, nothing comes back.
    proxy.set(Mode::Stalled);
    let within = Duration::from_secs(4);
    let post = |path: &str, body: Value| server.client.post(server.url(path)).json(&body);
    assert_prompt_503(
        server.client.get(server.url("/v1/me")).bearer_auth(&access),
        "/v1/me",
        within,
    )
    .await;
    assert_prompt_503(
        post("/v1/refresh", json!({"refresh_token": refresh})),
        "/v1/refresh",
        within,
    )
    .await;
    assert_prompt_503(
        post("/v1/login", json!({"email": email, "password": PASSWORD})),
        "/v1/login",
        within,
    )
    .await;
    assert_prompt_503(
        post(
            "/v1/signup",
            json!({"email": "second@example.com", "password": PASSWORD}),
        ),
        "/v1/signup",
        within,
    )
    .await;
    // Token checks need no database.
    assert_eq!(server.get("/v1/verify", Some(&access)).await.0, 200);

    // The database thaws: everything works again.
    proxy.set(Mode::Open);
    wait_for_readyz(&server, 200, Duration::from_secs(20)).await;
    let (status, login) = server.login(email).await;
    assert_eq!(status, 200, "{login}");
    let fresh = login["access_token"].as_str().unwrap();
    assert_eq!(server.get("/v1/me", Some(fresh)).await.0, 200);
    let (status, refreshed) = server.refresh(&login["refresh_token"]).await;
    assert_eq!(status, 200, "{refreshed}");
    server.signup("third@example.com").await;

    let log = server.log_text();
    assert!(!log.contains("panicked"), "{log}");
    server.stop();
}

/// A tmpfs of `size` at a fresh directory, unmounted on drop; `None` where it cannot be
/// mounted (not root).
struct SmallDisk {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .is_ok_and(|output| output.status.success());
        mounted.then_some(Self { _dir: dir, path })
    }

    /// Writes a file until the disk is full.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write as _;
        let filler = self.path.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 4096];
        while file.write_all(&chunk).is_ok() {}
        let _ = file.sync_all();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_unready_while_writes_fail_on_a_full_disk() {
    let Some(disk) = SmallDisk::mount("8m") else {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    let database = format!("sqlite://{}", disk.path.join("tokenauth.db").display());
    let server = Server::start_on(&database, &[]).await;
    let email = "full@example.com";
    let signup = server.signup(email).await;
    wait_for_readyz(&server, 200, Duration::from_secs(5)).await;

    // The disk fills up: refreshes (each writes a row) soon fail, and readiness says so.
    let filler = disk.fill();
    let mut refresh = signup["refresh_token"].as_str().unwrap().to_owned();
    let started = Instant::now();
    let mut refreshed = 0;
    loop {
        let (status, answer) = server.refresh(&refresh).await;
        match status {
            200 => refresh = answer["refresh_token"].as_str().unwrap().to_owned(),
            503 => break,
            other => panic!("refresh on a full disk: {other} {answer}"),
        }
        refreshed += 1;
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{refreshed} refreshes and no write failed on a full disk"
        );
    }
    eprintln!("the first write failed after {refreshed} refreshes on the full disk");
    let body = wait_for_readyz(&server, 503, Duration::from_secs(5)).await;
    assert_eq!(body["reason"], "database writes failing", "{body}");
    let (status, body, _) = readyz(&server).await;
    assert_eq!(
        (status, &body["reason"]),
        (503, &json!("database writes failing")),
        "stays unready while writes fail"
    );
    assert_eq!(server.get("/healthz", None).await.0, 200, "alive all along");

    // Space comes back: ready again, without any request but the probes, and writes work.
    std::fs::remove_file(filler).unwrap();
    wait_for_readyz(&server, 200, Duration::from_secs(10)).await;
    let (status, answer) = server.refresh(&refresh).await;
    assert_eq!(status, 200, "{answer}");
    server.signup("after@example.com").await;

    let log = server.log_text();
    assert!(!log.contains("panicked"), "{log}");
    server.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_unready_while_the_schema_is_not_the_builds() {
    let Some(schema) =
        TestSchema::create("readyz_is_unready_while_the_schema_is_not_the_builds").await
    else {
        return;
    };
    let server = Server::start_on(&schema.url(), &[]).await;
    let (status, ready, _) = readyz(&server).await;
    assert_eq!(status, 200, "{ready}");
    let latest = ready["schema_version"].as_i64().unwrap();
    let (client, connection) = tokio_postgres::connect(&schema.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let set_latest = |to: i64| {
        format!(
            "UPDATE tokenauth_schema SET version = {to} WHERE version = (SELECT MAX(version) FROM tokenauth_schema)"
        )
    };

    // The last migration "not applied": another build's older schema.
    client.batch_execute(&set_latest(-latest)).await.unwrap();
    let body = wait_for_readyz(&server, 503, Duration::from_secs(10)).await;
    assert_eq!(body["reason"], "migrations pending", "{body}");
    assert_eq!(body["expected_schema_version"], latest, "{body}");
    assert_eq!(body["schema_version"], latest - 1, "{body}");
    client
        .batch_execute(&format!(
            "UPDATE tokenauth_schema SET version = {latest} WHERE version = {}",
            -latest
        ))
        .await
        .unwrap();
    wait_for_readyz(&server, 200, Duration::from_secs(10)).await;

    // A newer build migrated the database past this one.
    client.batch_execute(&set_latest(latest + 1)).await.unwrap();
    let body = wait_for_readyz(&server, 503, Duration::from_secs(10)).await;
    assert_eq!(
        body["reason"], "database schema is newer than this build",
        "{body}"
    );
    client.batch_execute(&set_latest(latest)).await.unwrap();
    wait_for_readyz(&server, 200, Duration::from_secs(10)).await;
    server.stop();
}
