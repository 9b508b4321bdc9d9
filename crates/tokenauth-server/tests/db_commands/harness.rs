//! Running the real `tokenauth` binary for `db_commands.rs`: short commands with their output,
//! and `tokenauth serve` processes on free ports, killed when dropped.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_tokenauth");
pub const PASSWORD: &str = "correct horse battery staple";
/// One master key for every instance: the copied signing keys stay sealed under it.
const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const ISSUER: &str = "https://auth.example.test";
pub const USER_AGENT: &str = "db-copy-test/1.0";

/// A `tokenauth` command in `dir`, with no `TOKENAUTH_*` variable from the developer's shell.
fn tokenauth(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.current_dir(dir).stdin(Stdio::null()).args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("TOKENAUTH_") || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command.env("TOKENAUTH_MASTER_KEY", MASTER_KEY);
    command
}

/// Runs a short-lived command to completion (30 s at most).
fn run(dir: &Path, args: &[&str]) -> Output {
    let mut child = tokenauth(dir, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tokenauth");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs a command that must exit with `code`; returns its output.
pub fn run_expecting(dir: &Path, args: &[&str], code: i32) -> Output {
    let output = run(dir, args);
    assert_eq!(
        output.status.code(),
        Some(code),
        "tokenauth {args:?}: stdout {} stderr {}",
        stdout(&output),
        stderr(&output)
    );
    output
}

/// The JSON a command printed on stdout.
pub fn json_of(output: &Output) -> Value {
    serde_json::from_str(&stdout(output))
        .unwrap_or_else(|e| panic!("stdout is JSON ({e}): {}", stdout(output)))
}

/// The error line a failed command ends with.
pub fn error_line(output: &Output) -> String {
    let text = stderr(output);
    let line = text.lines().last().unwrap_or_default().to_owned();
    assert!(line.starts_with("tokenauth: "), "one error line: {text}");
    line
}

/// A running `tokenauth serve`, killed when dropped; its log goes to a file.
pub struct Server {
    child: Option<Child>,
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
    /// Starts `tokenauth serve` on a free port with the shared issuer, no reuse grace, and
    /// `database_url`, and waits until it is healthy.
    pub async fn start(dir: &Path, database_url: &str) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join(format!("serve-{port}.log"));
        let listen = format!("127.0.0.1:{port}");
        let child = tokenauth(dir, &["serve", "--listen", &listen, "--issuer", ISSUER])
            .args([
                "--refresh-reuse-grace",
                "0s",
                "--database-url",
                database_url,
            ])
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn tokenauth serve");
        let mut server = Self {
            child: Some(child),
            base: format!("http://{listen}"),
            log,
            client: reqwest::Client::builder()
                .user_agent(USER_AGENT)
                .build()
                .unwrap(),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = server.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("tokenauth exited with {status}: {}", server.log_text());
            }
            if let Ok(response) = server.client.get(server.url("/healthz")).send().await
                && response.status() == 200
            {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "not healthy: {}",
                server.log_text()
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

    /// Stops the server with SIGTERM and checks it exits cleanly.
    pub fn stop(mut self) {
        let mut child = self.child.take().unwrap();
        let pid = child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{status}: {}", self.log_text());
    }

    /// POSTs JSON; returns the status and the body (`null` when there is none).
    pub async fn post(&self, path: &str, body: Value, bearer: Option<&str>) -> (u16, Value) {
        let mut request = self.client.post(self.url(path)).json(&body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> (u16, Value) {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn signup(&self, email: &str) -> Value {
        let (status, body) = self
            .post(
                "/v1/signup",
                json!({"email": email, "password": PASSWORD}),
                None,
            )
            .await;
        assert_eq!(status, 201, "signup {email}: {body}");
        body
    }

    /// Refreshes `token`; returns the status and the body.
    pub async fn refresh(&self, token: &Value) -> (u16, Value) {
        self.post("/v1/refresh", json!({"refresh_token": token}), None)
            .await
    }

    pub async fn kids(&self) -> Vec<String> {
        let (status, jwks) = self.get("/.well-known/jwks.json", None).await;
        assert_eq!(status, 200);
        let mut kids: Vec<String> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        kids.sort();
        kids
    }
}

pub fn workdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

pub fn sqlite_url(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}
