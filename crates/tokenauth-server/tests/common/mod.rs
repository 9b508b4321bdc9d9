//! A real server on a random local port with a fresh SQLite file, driven over real HTTP; the
//! real `tokenauth` binary as a child process is in [`process`].
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokenauth_core::ManualClock;
use tokenauth_core::password::HashCost;
use tokenauth_server::config::{Config, Layer, RawValue};
use tokenauth_server::http::client_ip::TrustedProxies;
use tokenauth_server::http::rate_limit::Rate;
use tokenauth_server::http::state::AppState;
use tokenauth_server::{Application, BuildOptions};
use tokenauth_store::postgres::test_schema::TestSchema;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub mod process;

/// The password tests sign up with, unless they test passwords.
pub const PASSWORD: &str = "correct horse battery staple";

/// Argon2 parameters cheap enough for tests; production uses OWASP's.
pub const TEST_HASH_COST: HashCost = HashCost {
    memory_kib: 256,
    iterations: 1,
    parallelism: 1,
};

/// A fixed master key for tests (base64 of 32 bytes), so a restart can reopen the data.
pub const TEST_MASTER_KEY: &str = "dG9rZW5hdXRoLXRlc3QtbWFzdGVyLWtleS0zMmJ5dGU=";

/// Where a test server keeps its data: a fresh SQLite file, or a fresh schema on the
/// PostgreSQL server named by `TOKENAUTH_TEST_DATABASE_URL` (dropped when the last user of it
/// is gone).
#[derive(Clone)]
pub enum Backend {
    Sqlite,
    Postgres(Arc<TestSchema>),
}

impl Backend {
    /// A PostgreSQL backend on a fresh schema, or `None` (said once on stderr) when
    /// `TOKENAUTH_TEST_DATABASE_URL` is not set.
    pub async fn postgres(test: &str) -> Option<Self> {
        TestSchema::create(test)
            .await
            .map(|schema| Backend::Postgres(Arc::new(schema)))
    }

    /// Another empty database of the same kind (a new SQLite file, a new schema).
    pub async fn fresh(&self, test: &str) -> Self {
        match self {
            Backend::Sqlite => Backend::Sqlite,
            Backend::Postgres(_) => Self::postgres(test)
                .await
                .expect("PostgreSQL is configured"),
        }
    }
}

/// Runs each named `async fn(Backend)` as two tests, `NAME::sqlite` and `NAME::postgres`.
#[allow(unused_macros)]
macro_rules! each_backend {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(crate::common::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(backend) = crate::common::Backend::postgres(stringify!($name)).await {
                    super::$name(backend).await;
                }
            }
        }
    )+};
}

/// What a stopped server leaves behind, to start another on the same data.
pub struct Stopped {
    pub temp: Option<tempfile::TempDir>,
    data_dir: PathBuf,
    clock: ManualClock,
    backend: Backend,
}

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub state: AppState,
    pub data_dir: PathBuf,
    pub backend: Backend,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _temp: Option<tempfile::TempDir>,
}

/// A change to the typed configuration, made before the server builds.
pub type Configure = Box<dyn FnOnce(&mut Config) + Send>;

pub struct Options {
    /// Changes to the typed configuration, in order; the rules between settings are checked
    /// after them.
    pub configure: Vec<Configure>,
    pub clock: Option<ManualClock>,
    pub hash_cost: HashCost,
    pub data_dir: Option<PathBuf>,
    pub backend: Backend,
    pub temp: Option<tempfile::TempDir>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            configure: Vec::new(),
            clock: None,
            hash_cost: TEST_HASH_COST,
            data_dir: None,
            backend: Backend::Sqlite,
            temp: None,
        }
    }
}

impl Options {
    /// Defaults, on `backend`.
    pub fn on(backend: &Backend) -> Self {
        Self {
            backend: backend.clone(),
            ..Self::default()
        }
    }

    /// Defaults, on the data, clock and backend a stopped server left.
    pub fn after(stopped: Stopped) -> Self {
        Self {
            data_dir: Some(stopped.data_dir),
            clock: Some(stopped.clock),
            backend: stopped.backend,
            temp: stopped.temp,
            ..Self::default()
        }
    }

    /// These options with `change` made to the typed configuration (after the defaults and
    /// the harness's own place: port, data directory, backend).
    pub fn configure(mut self, change: impl FnOnce(&mut Config) + Send + 'static) -> Self {
        self.configure.push(Box::new(change));
        self
    }
}

/// An audit write that failed is only logged by the server (it must not fail the request);
/// in tests it fails the test instead, so that no event is lost unnoticed.
impl Drop for TestServer {
    fn drop(&mut self) {
        let failures = self.state.auth.auditor().failures();
        if failures > 0 && !std::thread::panicking() {
            panic!("{failures} audit event(s) could not be written");
        }
    }
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_on(backend: &Backend) -> Self {
        Self::start_with(Options::on(backend)).await
    }

    pub async fn start_with(options: Options) -> Self {
        let (temp, data_dir) = match options.data_dir {
            Some(dir) => (options.temp, dir),
            None => {
                let temp = tempfile::tempdir().expect("tempdir");
                let dir = temp.path().join("data");
                (Some(temp), dir)
            }
        };
        let mut layer = Layer::new();
        layer.insert("listen", RawValue::Text("127.0.0.1:0".into()));
        layer.insert("data_dir", RawValue::Text(data_dir.display().to_string()));
        if let Backend::Postgres(schema) = &options.backend {
            layer.insert("database_url", RawValue::Text(schema.url()));
        }
        let mut config = Config::from_layer(layer).expect("test config");
        for change in options.configure {
            change(&mut config);
        }
        config.check_rules().expect("test config");
        let clock = options.clock.unwrap_or_else(ManualClock::starting_now);
        let app = Application::build(
            config,
            BuildOptions {
                clock: Arc::new(clock.clone()),
                hash_cost: options.hash_cost,
                master_key: Some(TEST_MASTER_KEY.to_owned()),
            },
        )
        .await
        .expect("server builds");
        let addr = app.local_addr().expect("addr");
        let state = app.state().clone();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async move {
            let _ = stopped.await;
        }));
        Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            clock,
            state,
            data_dir,
            backend: options.backend,
            shutdown: Some(shutdown),
            task: Some(task),
            _temp: temp,
        }
    }

    /// Stops the server gracefully and waits until the database is closed. What it returns
    /// starts another server on the same data ([`Options::after`]).
    pub async fn stop(mut self) -> Stopped {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("join").expect("clean shutdown");
        }
        Stopped {
            temp: self._temp.take(),
            data_dir: self.data_dir.clone(),
            clock: self.clock.clone(),
            backend: self.backend.clone(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    pub async fn post_json(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn signup(&self, email: &str, password: &str) -> Value {
        let response = self
            .post_json("/v1/signup", json!({"email": email, "password": password}))
            .await;
        assert_eq!(response.status(), 201, "signup of {email}");
        response.json().await.expect("json")
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json("/v1/login", json!({"email": email, "password": password}))
            .await
    }

    /// A fresh access token of `email` (signed up with [`PASSWORD`]), from a login.
    pub async fn access_token_of(&self, email: &str) -> String {
        let response = self.login(email, PASSWORD).await;
        assert_eq!(response.status(), 200, "login of {email}");
        access_token(&response.json().await.expect("json"))
    }

    /// The issuer the server runs with (its tokens' `iss`).
    pub fn issuer(&self) -> String {
        self.state.auth.settings().issuer.clone()
    }

    /// The audience of its access tokens.
    pub fn audience(&self) -> String {
        self.state.auth.settings().audience.clone()
    }

    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.post_json("/v1/refresh", json!({"refresh_token": refresh_token}))
            .await
    }

    pub async fn get_bearer(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    pub async fn jwks(&self) -> Value {
        self.client
            .get(self.url("/.well-known/jwks.json"))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json")
    }

    /// Runs one pass of key maintenance now (the background task also does, on its period).
    pub async fn maintain_keys(&self) -> bool {
        self.state
            .auth
            .keys()
            .maintain()
            .await
            .expect("maintenance")
    }
}

/// Asserts a problem+json error with the given status and machine code; returns the body.
pub async fn assert_problem(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status(), status, "status for {code}");
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem body");
    assert_eq!(body["error"], code, "{body}");
    assert_eq!(body["status"], status);
    for field in ["type", "title", "detail"] {
        assert!(body[field].is_string(), "missing {field}: {body}");
    }
    body
}

/// Asserts a 400 `invalid_request` problem whose detail names `field`; returns the body.
pub async fn assert_invalid_field(response: reqwest::Response, field: &str) -> Value {
    let problem = assert_problem(response, 400, "invalid_request").await;
    assert!(
        problem["detail"].as_str().unwrap().contains(field),
        "{field}: {problem}"
    );
    problem
}

/// No account exists for `email`: a login with the password it would have had is refused.
pub async fn assert_no_user(server: &TestServer, email: &str, password: &str) {
    assert_problem(
        server.login(email, password).await,
        401,
        "invalid_credentials",
    )
    .await;
}

/// Decodes a JWT's header and payload without verifying (for inspection in tests).
/// A rate limit of `count` per `per` (a second or a minute), as `rate_limit_*` settings hold.
pub fn rate(count: u32, per: Duration) -> Option<Rate> {
    let count = NonZeroU32::new(count).expect("a rate above zero");
    Some(if per >= Duration::from_secs(60) {
        Rate::per_minute(count)
    } else {
        Rate::per_second(count)
    })
}

/// `trusted_proxies` holding these addresses or ranges.
pub fn trusted_proxies(items: &[&str]) -> TrustedProxies {
    TrustedProxies::parse(items).expect("proxy addresses")
}

pub fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.split('.');
    let header = engine.decode(parts.next().unwrap()).unwrap();
    let payload = engine.decode(parts.next().unwrap()).unwrap();
    (
        serde_json::from_slice(&header).unwrap(),
        serde_json::from_slice(&payload).unwrap(),
    )
}

/// The `kid` in a JWT's header (not verified).
pub fn kid_of(token: &str) -> String {
    jwt_parts(token).0["kid"].as_str().unwrap().to_owned()
}

/// The `kid` of every key in a JWKS document, in its order.
pub fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// The `access_token` of a signup, login or refresh response.
pub fn access_token(body: &Value) -> String {
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// The `refresh_token` of a signup, login or refresh response.
pub fn refresh_token(body: &Value) -> String {
    body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned()
}

pub fn data_path(dir: &Path) -> PathBuf {
    dir.join("tokenauth.db")
}
