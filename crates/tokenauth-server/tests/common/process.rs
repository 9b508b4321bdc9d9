//! The real `tokenauth` binary as a child process: short commands run to completion with their
//! output, and `tokenauth serve` on a free port ([`Server`]), killed when dropped.
//!
//! Cargo builds the binary only for `tokenauth-server`'s own tests; where this module is
//! included from elsewhere (an example's tests) it compiles, and starting the binary panics.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{PASSWORD, TEST_MASTER_KEY, kids};

const BIN: Option<&str> = option_env!("CARGO_BIN_EXE_tokenauth");

/// The issuer of [`Server::start_on`]: fixed, so that tokens outlive a restart on another port.
pub const ISSUER: &str = "https://auth.example.test";

/// The `User-Agent` of every request a [`Server`]'s client sends.
pub const USER_AGENT: &str = "tokenauth-test/1.0";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A fresh working directory: `<tempdir>/work`, empty, with room for logs next to it.
pub fn workdir() -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("work");
    fs::create_dir(&dir).unwrap();
    (temp, dir)
}

/// The permission bits of a file or directory.
pub fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// A `tokenauth` command in `dir`, with no `TOKENAUTH_*` (nor `RUST_LOG`) variable from the
/// developer's environment, so that it cannot leak into a test.
pub fn tokenauth(dir: &Path) -> Command {
    let bin = BIN.expect("the tokenauth binary is built for tokenauth-server's tests only");
    let mut command = Command::new(bin);
    command.current_dir(dir).stdin(Stdio::null());
    for (name, _) in std::env::vars_os() {
        if name
            .to_str()
            .is_some_and(|name| name.starts_with("TOKENAUTH_") || name == "RUST_LOG")
        {
            command.env_remove(name);
        }
    }
    command
}

/// Runs a short-lived command to completion (30 s at most), capturing its output.
pub fn run(command: &mut Command) -> Output {
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
            panic!("tokenauth did not finish: {}", stderr(&output));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a command that must exit with `code`; returns its output.
pub fn run_expecting(command: &mut Command, code: i32) -> Output {
    let args: Vec<_> = command.get_args().map(|arg| arg.to_owned()).collect();
    let output = run(command);
    assert_eq!(
        output.status.code(),
        Some(code),
        "tokenauth {args:?}: stdout {} stderr {}",
        stdout(&output),
        stderr(&output)
    );
    output
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
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

/// Sends `request`; returns the status and the JSON body (`null` when there is none).
pub async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A running `tokenauth serve`, killed when dropped (also on panic). Its stderr goes to a log
/// file next to its working directory.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub base: String,
    pub client: reqwest::Client,
    log: PathBuf,
    /// The working directory of [`Server::start_on`], removed after the process is killed.
    _workdir: Option<tempfile::TempDir>,
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
    /// Starts `tokenauth serve --listen 127.0.0.1:<free port>` in `dir` and waits until it is
    /// ready.
    pub async fn start(dir: &Path) -> Self {
        Self::start_with(dir, |_| {}).await
    }

    /// [`Server::start`] with the arguments and variables that `configure` adds.
    pub async fn start_with(dir: &Path, configure: impl Fn(&mut Command)) -> Self {
        // The port is free when picked but may be taken (by any process's outgoing connection)
        // before the server binds it: then pick another.
        for _ in 0..3 {
            let port = free_port();
            let name = dir.file_name().unwrap().display();
            let log = dir.with_file_name(format!("{name}-{port}.log"));
            let mut command = tokenauth(dir);
            command
                .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
                .stdout(Stdio::null())
                .stderr(fs::File::create(&log).unwrap());
            configure(&mut command);
            let child = command.spawn().expect("spawn tokenauth serve");
            let mut server = Self {
                child: Some(child),
                port,
                base: format!("http://127.0.0.1:{port}"),
                client: reqwest::Client::builder()
                    .user_agent(USER_AGENT)
                    .build()
                    .unwrap(),
                log,
                _workdir: None,
            };
            match server.wait_ready().await {
                Ok(()) => return server,
                Err(log) if log.contains("cannot listen") => continue,
                Err(log) => panic!("tokenauth exited early: {log}"),
            }
        }
        panic!("no free port to start tokenauth on after 3 tries");
    }

    /// Starts a server in a working directory of its own, on `database_url`, with
    /// [`TEST_MASTER_KEY`], [`ISSUER`] and the `extra` arguments.
    pub async fn start_on(database_url: &str, extra: &[&str]) -> Self {
        let (temp, dir) = workdir();
        let mut server = Self::start_with(&dir, |c| {
            c.env("TOKENAUTH_MASTER_KEY", TEST_MASTER_KEY)
                .args(["--database-url", database_url, "--issuer", ISSUER])
                .args(extra);
        })
        .await;
        server._workdir = Some(temp);
        server
    }

    /// Waits until the server answers `/readyz`; the log text if it exits first.
    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                return Err(format!("{status}: {}", self.log_text()));
            }
            let ready = self.client.get(self.url("/readyz")).send().await;
            if ready.is_ok_and(|response| response.status() == 200) {
                return Ok(());
            }
            assert!(
                Instant::now() < deadline,
                "tokenauth not ready within 15 s: {}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The process id of the running server (for reading `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let request = self.client.request(method, self.url(path));
        match bearer {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// GETs `path` (with `bearer` as the access token); returns the status and the body.
    pub async fn get(&self, path: &str, bearer: Option<&str>) -> (u16, Value) {
        send(self.request(reqwest::Method::GET, path, bearer)).await
    }

    /// POSTs JSON to `path` (with `bearer` as the access token); returns the status and the
    /// body.
    pub async fn post(&self, path: &str, body: Value, bearer: Option<&str>) -> (u16, Value) {
        send(
            self.request(reqwest::Method::POST, path, bearer)
                .json(&body),
        )
        .await
    }

    /// GETs `path`, which must answer 200; returns the body.
    pub async fn get_json(&self, path: &str) -> Value {
        let (status, body) = self.get(path, None).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Signs `email` up with [`PASSWORD`]; returns the tokens.
    pub async fn signup(&self, email: &str) -> Value {
        let body = json!({"email": email, "password": PASSWORD});
        let (status, body) = self.post("/v1/signup", body, None).await;
        assert_eq!(status, 201, "signup {email}: {body}");
        body
    }

    /// Logs `email` in with [`PASSWORD`]; returns the status and the body.
    pub async fn login(&self, email: &str) -> (u16, Value) {
        let body = json!({"email": email, "password": PASSWORD});
        self.post("/v1/login", body, None).await
    }

    /// Refreshes `token` (a string, or the JSON value of one); returns the status and the body.
    pub async fn refresh(&self, token: impl serde::Serialize) -> (u16, Value) {
        self.post("/v1/refresh", json!({"refresh_token": token}), None)
            .await
    }

    /// The key ids the server publishes, sorted.
    pub async fn kids(&self) -> Vec<String> {
        let mut kids = kids(&self.get_json("/.well-known/jwks.json").await);
        kids.sort();
        kids
    }

    /// Sends `signal` (`TERM`, `INT`, ...) and waits (up to `within`) for the exit status.
    pub fn signal(&mut self, signal: &str, within: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("tokenauth did not exit within {within:?} of SIG{signal}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits (up to `within`) for the exit status.
    pub fn terminate(&mut self, within: Duration) -> ExitStatus {
        self.signal("TERM", within)
    }

    /// Stops the server with SIGTERM and checks that it exits cleanly.
    pub fn stop(mut self) {
        let status = self.terminate(Duration::from_secs(10));
        assert!(status.success(), "{status}: {}", self.log_text());
    }
}
