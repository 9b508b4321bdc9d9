//! The real tokenauth server in process: a random local port, a fresh SQLite
//! file, driven over real HTTP. A trimmed copy of the server's own test
//! harness, kept here so this crate's tests do not move with that one.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use serde_json::{Value, json};
use tokenauth_core::ManualClock;
use tokenauth_core::password::HashCost;
use tokenauth_server::config::{Config, Layer, RawValue};
use tokenauth_server::http::state::AppState;
use tokenauth_server::{Application, BuildOptions};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const PASSWORD: &str = "correct horse battery staple";

/// Argon2 parameters cheap enough for tests.
const TEST_HASH_COST: HashCost = HashCost {
    memory_kib: 256,
    iterations: 1,
    parallelism: 1,
};

/// A fixed master key (base64 of 32 bytes).
const TEST_MASTER_KEY: &str = "dG9rZW5hdXRoLXRlc3QtbWFzdGVyLWtleS0zMmJ5dGU=";

pub struct AuthServer {
    pub base: String,
    pub state: AppState,
    client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _temp: tempfile::TempDir,
}

impl AuthServer {
    pub async fn start() -> AuthServer {
        Self::start_with(&[]).await
    }

    /// A server with these settings (e.g. `("signing_alg", "EdDSA")`).
    pub async fn start_with(settings: &[(&'static str, &str)]) -> AuthServer {
        let temp = tempfile::tempdir().expect("tempdir");
        let data_dir = temp.path().join("data");
        let mut layer = Layer::new();
        layer.insert("listen", RawValue::Text("127.0.0.1:0".into()));
        layer.insert("data_dir", RawValue::Text(data_dir.display().to_string()));
        for (name, value) in settings {
            layer.insert(name, RawValue::Text((*value).to_owned()));
        }
        let config = Config::from_layer(layer).expect("test config");
        let app = Application::build(
            config,
            BuildOptions {
                clock: Arc::new(ManualClock::starting_now()),
                hash_cost: TEST_HASH_COST,
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
        AuthServer {
            base: format!("http://{addr}"),
            state,
            client: reqwest::Client::new(),
            shutdown: Some(shutdown),
            task: Some(task),
            _temp: temp,
        }
    }

    /// Stops the server gracefully and waits until it is gone.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("join").expect("clean shutdown");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn issuer(&self) -> String {
        self.state.auth.settings().issuer.clone()
    }

    pub fn audience(&self) -> String {
        self.state.auth.settings().audience.clone()
    }

    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    /// Signs up; returns the token response.
    pub async fn signup(&self, email: &str) -> Value {
        let body = json!({"email": email, "password": PASSWORD});
        let response = self.post("/v1/signup", body).await;
        assert_eq!(response.status(), 201, "signup of {email}");
        response.json().await.expect("json")
    }

    /// Logs in; returns a fresh access token.
    pub async fn access_token(&self, email: &str) -> String {
        let body = json!({"email": email, "password": PASSWORD});
        let response = self.post("/v1/login", body).await;
        assert_eq!(response.status(), 200, "login of {email}");
        let body: Value = response.json().await.expect("json");
        body["access_token"].as_str().expect("token").to_owned()
    }
}

/// A JWT's header and payload, decoded without verification.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.split('.');
    let mut next = || serde_json::from_slice(&engine.decode(parts.next().unwrap()).unwrap());
    (next().unwrap(), next().unwrap())
}
