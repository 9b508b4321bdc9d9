//! The real `tokenauth` binary as an operator runs it: zero-config start, data directory
//! permissions, clean shutdown on SIGTERM and restart, bad configuration (exit 2, one line),
//! precedence of flag > env > file, the `keys` subcommands, and logs free of secrets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_tokenauth");
const PASSWORD: &str = "correct horse battery staple";

/// Every `TOKENAUTH_*` variable the binary reads, removed from children so the developer's
/// environment cannot leak into a test.
const TOKENAUTH_VARS: &[&str] = &[
    "TOKENAUTH_CONFIG",
    "TOKENAUTH_MASTER_KEY",
    "TOKENAUTH_LISTEN",
    "TOKENAUTH_DATABASE_URL",
    "TOKENAUTH_DATA_DIR",
    "TOKENAUTH_ISSUER",
    "TOKENAUTH_AUDIENCE",
    "TOKENAUTH_ACCESS_TOKEN_TTL",
    "TOKENAUTH_REFRESH_TOKEN_TTL",
    "TOKENAUTH_REFRESH_REUSE_GRACE",
    "TOKENAUTH_SIGNING_ALG",
    "TOKENAUTH_KEY_ROTATION_INTERVAL",
    "TOKENAUTH_CLOCK_LEEWAY",
    "TOKENAUTH_CORS_ALLOWED_ORIGINS",
    "TOKENAUTH_COOKIE_MODE",
    "TOKENAUTH_JWKS_MAX_AGE",
    "TOKENAUTH_PASSWORD_HASH_CONCURRENCY",
    "TOKENAUTH_PASSWORD_HASH_QUEUE",
    "TOKENAUTH_REQUEST_TIMEOUT",
    "TOKENAUTH_LOG_FORMAT",
    "TOKENAUTH_DATABASE_MAX_CONNECTIONS",
    "TOKENAUTH_DATABASE_TIMEOUT",
    "RUST_LOG",
];

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `tokenauth` command running in `dir` with a clean environment.
fn tokenauth(dir: &Path) -> Command {
    let mut command = Command::new(BIN);
    command.current_dir(dir).stdin(Stdio::null());
    for var in TOKENAUTH_VARS {
        command.env_remove(var);
    }
    command
}

/// Runs a short-lived command to completion (with a timeout), capturing its output.
fn run(mut command: Command) -> Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tokenauth");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!(
                "tokenauth did not finish: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running `tokenauth serve`, killed when dropped (also on panic). Its stderr goes to a file.
struct Server {
    child: Option<Child>,
    port: u16,
    base: String,
    log: PathBuf,
    client: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Server {
    /// Starts `tokenauth serve --listen 127.0.0.1:<free port>` in `dir` and waits for /healthz.
    async fn start(dir: &Path) -> Self {
        Self::start_with(dir, |_| {}).await
    }

    async fn start_with(dir: &Path, configure: impl FnOnce(&mut Command)) -> Self {
        let port = free_port();
        let log = dir
            .parent()
            .unwrap()
            .join(format!("{}-{port}.log", dir.file_name().unwrap().display()));
        let stderr = fs::File::create(&log).unwrap();
        let mut command = tokenauth(dir);
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(stderr);
        configure(&mut command);
        let child = command.spawn().expect("spawn tokenauth serve");
        let mut server = Self {
            child: Some(child),
            port,
            base: format!("http://127.0.0.1:{port}"),
            log,
            client: reqwest::Client::new(),
        };
        server.wait_healthy().await;
        server
    }

    async fn wait_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("tokenauth exited early with {status}: {}", self.log_text());
            }
            if let Ok(response) = self.client.get(self.url("/healthz")).send().await
                && response.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "tokenauth not healthy within 10 s: {}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn signup(&self, email: &str) -> Value {
        let response = self
            .post("/v1/signup", json!({"email": email, "password": PASSWORD}))
            .await;
        assert_eq!(response.status(), 201, "signup {email}");
        response.json().await.unwrap()
    }

    /// Sends SIGTERM and waits (up to `within`) for the exit status.
    fn terminate(&mut self, within: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("tokenauth did not exit within {within:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A fresh working directory: `<tempdir>/work`, empty, with room for logs next to it.
fn workdir() -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("work");
    fs::create_dir(&dir).unwrap();
    (temp, dir)
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn jwt_kid(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let header: Value = serde_json::from_slice(&header).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// (a) zero-config start
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
    let token = body["access_token"].as_str().unwrap();
    let payload = token.split('.').nth(1).unwrap();
    use base64::Engine as _;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
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
// (b) SIGTERM and restart
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn sigterm_exits_cleanly_and_a_restart_keeps_everything() {
    let (_temp, dir) = workdir();
    let mut server = Server::start(&dir).await;
    let body = server.signup("restart@example.com").await;
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let kid = jwt_kid(body["access_token"].as_str().unwrap());
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
    let login = server
        .post(
            "/v1/login",
            json!({"email": "restart@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(login.status(), 200, "login after restart");
    let login: Value = login.json().await.unwrap();
    assert_eq!(jwt_kid(login["access_token"].as_str().unwrap()), kid);
    let refreshed = server
        .post("/v1/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_eq!(refreshed.status(), 200, "old refresh token after restart");
    let jwks_after = server.get_json("/.well-known/jwks.json").await;
    assert_eq!(kids(&jwks_after), kids(&jwks_before));
    assert!(kids(&jwks_after).contains(&kid));
}

#[tokio::test]
async fn sigint_also_exits_cleanly() {
    let (_temp, dir) = workdir();
    let mut server = Server::start(&dir).await;
    let mut child = server.child.take().unwrap();
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no exit within 5 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}

// ---------------------------------------------------------------------------------------------
// (c) bad configuration
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
    let output = run(command);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
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

#[test]
fn bad_configuration_exits_2_with_one_line_naming_the_setting() {
    let (temp, dir) = workdir();

    let line = assert_bad_config(&dir, "access_token_ttl", |c| {
        c.args(["--access-token-ttl", "15"]);
    });
    assert!(line.contains("15"), "{line}");

    assert_bad_config(&dir, "signing_alg", |c| {
        c.env("TOKENAUTH_SIGNING_ALG", "none");
    });

    let unknown = temp.path().join("unknown.toml");
    fs::write(
        &unknown,
        "listen = \"127.0.0.1:9\"\naccess_token_tll = \"5m\"\n",
    )
    .unwrap();
    assert_bad_config(&dir, "access_token_tll", |c| {
        c.arg("--config").arg(&unknown);
    });

    let wrong_type = temp.path().join("wrong-type.toml");
    fs::write(&wrong_type, "access_token_ttl = 15\n").unwrap();
    assert_bad_config(&dir, "access_token_ttl", |c| {
        c.arg("--config").arg(&wrong_type);
    });
    let wrong_type = temp.path().join("wrong-type-2.toml");
    fs::write(&wrong_type, "clock_leeway = { seconds = 10 }\n").unwrap();
    assert_bad_config(&dir, "clock_leeway", |c| {
        c.arg("--config").arg(&wrong_type);
    });
    let wrong_type = temp.path().join("wrong-type-3.toml");
    fs::write(&wrong_type, "signing_alg = [\"ES256\"]\n").unwrap();
    assert_bad_config(&dir, "signing_alg", |c| {
        c.arg("--config").arg(&wrong_type);
    });

    let broken = temp.path().join("broken.toml");
    fs::write(&broken, "access_token_ttl = \"5m\n").unwrap();
    assert_bad_config(&dir, "config", |c| {
        c.arg("--config").arg(&broken);
    });
    assert_bad_config(&dir, "config", |c| {
        c.arg("--config").arg(temp.path().join("missing.toml"));
    });

    assert_bad_config(&dir, "listen", |c| {
        c.args(["--listen", "nowhere"]);
    });
    assert_bad_config(&dir, "listen", |c| {
        c.env("TOKENAUTH_LISTEN", "nowhere");
    });

    let line = assert_bad_config(&dir, "master_key", |c| {
        c.env("TOKENAUTH_MASTER_KEY", "short");
    });
    assert!(!line.contains("short"), "the key is not echoed: {line}");
    assert_bad_config(&dir, "master_key", |c| {
        // Valid base64, wrong length (16 bytes).
        c.env("TOKENAUTH_MASTER_KEY", "AAAAAAAAAAAAAAAAAAAAAA==");
    });

    assert_bad_config(&dir, "issuer", |c| {
        c.args(["--issuer", "ftp://example.com"]);
    });
    assert_bad_config(&dir, "database_url", |c| {
        c.env("TOKENAUTH_DATABASE_URL", "mysql://localhost/db");
    });
    assert_bad_config(&dir, "refresh_token_ttl", |c| {
        c.args(["--access-token-ttl", "2h", "--refresh-token-ttl", "1h"]);
    });
    assert_bad_config(&dir, "cors_allowed_origins", |c| {
        c.args(["--cors-allowed-origins", "https://ok.example.com,*"]);
    });

    // Rejected configuration leaves nothing behind.
    let leftovers: Vec<_> = fs::read_dir(&dir).unwrap().collect();
    assert!(
        leftovers.is_empty(),
        "a refused start creates nothing: {leftovers:?}"
    );
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
        let mut command = tokenauth(&dir);
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())])
            .env("TOKENAUTH_DATABASE_URL", &url)
            .env("RUST_LOG", "debug");
        let output = run(command);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{url}: {stderr}");
        assert!(
            stderr.contains("127.0.0.1"),
            "the database is named: {stderr}"
        );
        assert!(!stderr.contains("Pw-"), "the password is printed: {stderr}");
    }
}

#[test]
fn a_port_in_use_fails_with_a_clear_message() {
    let (_temp, dir) = workdir();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut command = tokenauth(&dir);
    command.args(["serve", "--listen", &format!("127.0.0.1:{port}")]);
    let output = run(command);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains(&port.to_string()), "{stderr}");
    drop(taken);
}

// ---------------------------------------------------------------------------------------------
// (d) precedence
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

// ---------------------------------------------------------------------------------------------
// (e) keys subcommands
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn keys_list_and_rotate_work_on_the_data_dir() {
    let (_temp, dir) = workdir();
    // A fixed issuer, so tokens survive the restart on another port.
    let issuer = |c: &mut Command| {
        c.args(["--issuer", "https://auth.example.test"]);
    };
    let mut server = Server::start_with(&dir, issuer).await;
    let body = server.signup("keys@example.com").await;
    let first_kid = jwt_kid(body["access_token"].as_str().unwrap());
    assert_eq!(server.terminate(Duration::from_secs(5)).code(), Some(0));
    drop(server);

    let list = |dir: &Path| -> Value {
        let mut command = tokenauth(dir);
        command.args(["keys", "list", "--json"]);
        let output = run(command);
        assert!(
            output.status.success(),
            "keys list: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "keys list --json prints JSON ({e}): {}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
    };
    let keys = list(&dir);
    let keys = keys.as_array().expect("a JSON array");
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(keys[0]["kid"], first_kid);
    assert_eq!(keys[0]["alg"], "ES256");
    assert_eq!(keys[0]["state"], "active");

    // A scheduled rotation publishes a next key that does not sign yet.
    let mut command = tokenauth(&dir);
    command.args(["keys", "rotate", "--json"]);
    let output = run(command);
    assert!(
        output.status.success(),
        "keys rotate: {}",
        String::from_utf8_lossy(&output.stderr)
    );
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
    let mut command = tokenauth(&dir);
    command.args(["keys", "rotate", "--now", "--json"]);
    let output = run(command);
    assert!(
        output.status.success(),
        "keys rotate --now: {}",
        String::from_utf8_lossy(&output.stderr)
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
    let login = server
        .post(
            "/v1/login",
            json!({"email": "keys@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(login.status(), 200);
    let login: Value = login.json().await.unwrap();
    assert_eq!(jwt_kid(login["access_token"].as_str().unwrap()), now_kid);
    let ready = server.get_json("/readyz").await;
    assert_eq!(ready["signing_kid"], now_kid);
    let published = kids(&server.get_json("/.well-known/jwks.json").await);
    assert!(published.contains(&now_kid), "{published:?}");
    assert!(
        published.contains(&first_kid),
        "the old key still verifies live tokens: {published:?}"
    );
    // The token signed before the rotation by the old key is still accepted.
    let me = server
        .client
        .get(server.url("/v1/me"))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
}

// ---------------------------------------------------------------------------------------------
// (f) secrets never reach the logs
// ---------------------------------------------------------------------------------------------

async fn exercise_and_collect_secrets(server: &Server) -> Vec<String> {
    let password = "hunter2-but-much-longer-Zq9!";
    let email = "logs@example.com";
    let signup = server
        .post("/v1/signup", json!({"email": email, "password": password}))
        .await;
    assert_eq!(signup.status(), 201);
    let signup: Value = signup.json().await.unwrap();
    let login = server
        .post("/v1/login", json!({"email": email, "password": password}))
        .await;
    assert_eq!(login.status(), 200);
    let login: Value = login.json().await.unwrap();
    // A failed login with another password: that must not be logged either.
    let wrong = "wrong-password-Xk7#-not-logged";
    let failed = server
        .post("/v1/login", json!({"email": email, "password": wrong}))
        .await;
    assert_eq!(failed.status(), 401);
    let refreshed = server
        .post(
            "/v1/refresh",
            json!({"refresh_token": login["refresh_token"]}),
        )
        .await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();
    let me = server
        .client
        .get(server.url("/v1/me"))
        .bearer_auth(refreshed["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    // A token sent in the query string (a client mistake) is refused, and not logged.
    let query = server
        .get(&format!(
            "/v1/me?access_token={}",
            signup["access_token"].as_str().unwrap()
        ))
        .await;
    assert_eq!(query.status(), 401);
    // Reuse detection after the grace window is not tested here (10 s); a rejected refresh is.
    let bad = server
        .post("/v1/refresh", json!({"refresh_token": "A".repeat(43)}))
        .await;
    assert_eq!(bad.status(), 401);

    let mut secrets = vec![password.to_owned(), wrong.to_owned()];
    for body in [&signup, &login, &refreshed] {
        for field in ["access_token", "refresh_token"] {
            let token = body[field].as_str().unwrap();
            secrets.push(token.to_owned());
            // Also any of the JWT's segments (a log of the signature alone is a leak too).
            if field == "access_token" {
                secrets.push(token.rsplit('.').next().unwrap().to_owned());
            }
        }
    }
    secrets
}

async fn assert_logs_free_of_secrets(rust_log: Option<&str>) {
    let (_temp, dir) = workdir();
    let mut server = Server::start_with(&dir, |c| {
        if let Some(filter) = rust_log {
            c.env("RUST_LOG", filter);
        }
    })
    .await;
    let secrets = exercise_and_collect_secrets(&server).await;
    assert_eq!(server.terminate(Duration::from_secs(5)).code(), Some(0));
    let log = server.log_text();
    assert!(log.contains("listening"), "the log was captured: {log}");
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "RUST_LOG={rust_log:?}: the log contains a secret ({}…):\n{log}",
            &secret[..6]
        );
    }
    let master_key = fs::read_to_string(dir.join("tokenauth-data/master.key")).unwrap();
    assert!(!log.contains(master_key.trim()), "the master key is logged");
}

#[tokio::test]
async fn logs_never_contain_passwords_or_tokens() {
    assert_logs_free_of_secrets(None).await;
}

#[tokio::test]
async fn debug_and_trace_logs_never_contain_passwords_or_tokens() {
    assert_logs_free_of_secrets(Some("debug")).await;
    assert_logs_free_of_secrets(Some("trace")).await;
}

#[tokio::test]
async fn json_logs_never_contain_passwords_or_tokens() {
    let (_temp, dir) = workdir();
    let mut server = Server::start_with(&dir, |c| {
        c.env("TOKENAUTH_LOG_FORMAT", "json")
            .env("RUST_LOG", "debug");
    })
    .await;
    let secrets = exercise_and_collect_secrets(&server).await;
    assert_eq!(server.terminate(Duration::from_secs(5)).code(), Some(0));
    let log = server.log_text();
    for line in log.lines() {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "every log line is JSON: {line}"
        );
    }
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "secret in JSON log:\n{log}");
    }
}

fn jwt_claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&payload).unwrap()
}

#[tokio::test]
async fn user_add_role_grants_a_role_that_new_tokens_carry() {
    let (_temp, dir) = workdir();
    let server = Server::start(&dir).await;
    let body = server.signup("roles@example.com").await;
    assert_eq!(
        jwt_claims(body["access_token"].as_str().unwrap())["roles"],
        json!([])
    );

    // While the server runs: the CLI and the server share the SQLite file.
    let add = |email: &str, role: &str| {
        let mut command = tokenauth(&dir);
        command.args(["user", "add-role", email, role]);
        run(command)
    };
    let granted = add("ROLES@example.com", "admin");
    assert!(
        granted.status.success(),
        "{}",
        String::from_utf8_lossy(&granted.stderr)
    );
    assert!(String::from_utf8_lossy(&granted.stdout).contains("admin"));
    let again = add("roles@example.com", "admin");
    assert!(again.status.success(), "granting twice is harmless");

    let login = server
        .post(
            "/v1/login",
            json!({"email": "roles@example.com", "password": PASSWORD}),
        )
        .await;
    let login: Value = login.json().await.unwrap();
    assert_eq!(
        jwt_claims(login["access_token"].as_str().unwrap())["roles"],
        json!(["admin"])
    );
    let refreshed = server
        .post(
            "/v1/refresh",
            json!({"refresh_token": login["refresh_token"]}),
        )
        .await;
    let refreshed: Value = refreshed.json().await.unwrap();
    assert_eq!(
        jwt_claims(refreshed["access_token"].as_str().unwrap())["roles"],
        json!(["admin"])
    );

    let unknown = add("nobody@example.com", "admin");
    assert_eq!(unknown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no user"));
    for bad in ["", "has space", "a,b", "x".repeat(65).as_str()] {
        let refused = add("roles@example.com", bad);
        assert!(!refused.status.success(), "role {bad:?} accepted");
    }
}
