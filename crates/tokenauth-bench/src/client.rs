//! One load client's HTTP connection to the server: the five calls the scenarios make, each
//! timed from send to the last body byte.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use reqwest::{Client, Url};
use serde::Deserialize;
use serde_json::json;

/// The tokens a signup, login or refresh hands out.
#[derive(Debug, Clone, Deserialize)]
pub struct Tokens {
    /// The access token (JWT).
    pub access_token: String,
    /// The refresh token (opaque).
    pub refresh_token: String,
}

/// Why a request did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The server answered with this non-2xx status.
    Status(u16),
    /// No answer: connect, send or receive failed.
    Transport,
    /// A 2xx whose body was not the expected JSON.
    BadBody,
}

impl Failure {
    /// The label errors are counted under: the status code, `transport` or `bad_body`.
    pub fn label(self) -> String {
        match self {
            Failure::Status(status) => status.to_string(),
            Failure::Transport => "transport".to_owned(),
            Failure::BadBody => "bad_body".to_owned(),
        }
    }
}

/// One timed request and what came of it.
#[derive(Debug)]
pub struct Exchange<T> {
    /// When the request was sent.
    pub started: Instant,
    /// Time to the last byte of the response body.
    pub latency: Duration,
    /// The parsed answer, or why there is none.
    pub outcome: Result<T, Failure>,
}

/// A keep-alive HTTP/1.1 connection to one server, with its endpoints parsed once.
pub struct Api {
    http: Client,
    signup: Url,
    login: Url,
    refresh: Url,
    verify: Url,
    me: Url,
    healthz: Url,
}

impl Api {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:8080`). Each `Api` opens its
    /// own connection, so N of them load the server like N keep-alive clients.
    ///
    /// # Errors
    /// If `base` is not an http(s) URL or the client cannot be built.
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let base = Url::parse(base).with_context(|| format!("target {base:?} is not a URL"))?;
        if !matches!(base.scheme(), "http" | "https") {
            anyhow::bail!("target {base} is not an http URL");
        }
        let endpoint = |path: &str| {
            base.join(path)
                .with_context(|| format!("joining {path} to {base}"))
        };
        let http = Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(60))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            http,
            signup: endpoint("/v1/signup")?,
            login: endpoint("/v1/login")?,
            refresh: endpoint("/v1/refresh")?,
            verify: endpoint("/v1/verify")?,
            me: endpoint("/v1/me")?,
            healthz: endpoint("/healthz")?,
        })
    }

    /// `POST /v1/signup` of a new user.
    pub async fn signup(&self, email: &str, password: &str) -> Exchange<Tokens> {
        let body = json!({"email": email, "password": password});
        self.tokens(self.http.post(self.signup.clone()).json(&body))
            .await
    }

    /// `POST /v1/login`.
    pub async fn login(&self, email: &str, password: &str) -> Exchange<Tokens> {
        let body = json!({"email": email, "password": password});
        self.tokens(self.http.post(self.login.clone()).json(&body))
            .await
    }

    /// `POST /v1/refresh`: rotates `refresh_token`.
    pub async fn refresh(&self, refresh_token: &str) -> Exchange<Tokens> {
        let body = json!({"refresh_token": refresh_token});
        self.tokens(self.http.post(self.refresh.clone()).json(&body))
            .await
    }

    /// `GET /v1/verify` with a Bearer token.
    pub async fn verify(&self, access_token: &str) -> Exchange<()> {
        self.no_body(self.http.get(self.verify.clone()).bearer_auth(access_token))
            .await
    }

    /// `GET /v1/me` with a Bearer token.
    pub async fn me(&self, access_token: &str) -> Exchange<()> {
        self.no_body(self.http.get(self.me.clone()).bearer_auth(access_token))
            .await
    }

    /// `GET path` on the server, expecting 200; the body as text. For setup, not measured.
    ///
    /// # Errors
    /// When the server does not answer 200 with a text body.
    pub async fn get_text(&self, path: &str) -> anyhow::Result<String> {
        let url = self
            .healthz
            .join(path)
            .with_context(|| format!("joining {path}"))?;
        let response = self
            .http
            .get(url.clone())
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        anyhow::ensure!(
            response.status().is_success(),
            "{url} answered {}",
            response.status()
        );
        response
            .text()
            .await
            .with_context(|| format!("reading {url}"))
    }

    /// `GET /healthz`: whether a server answers there at all.
    ///
    /// # Errors
    /// When no server answers 200.
    pub async fn check_health(&self) -> anyhow::Result<()> {
        let response = self
            .http
            .get(self.healthz.clone())
            .send()
            .await
            .with_context(|| format!("no server answers at {}", self.healthz))?;
        anyhow::ensure!(
            response.status().is_success(),
            "{} answered {}",
            self.healthz,
            response.status()
        );
        Ok(())
    }

    async fn tokens(&self, request: reqwest::RequestBuilder) -> Exchange<Tokens> {
        self.exchange(request, |body| {
            serde_json::from_slice::<Tokens>(body).map_err(|_| Failure::BadBody)
        })
        .await
    }

    async fn no_body(&self, request: reqwest::RequestBuilder) -> Exchange<()> {
        self.exchange(request, |_| Ok(())).await
    }

    async fn exchange<T>(
        &self,
        request: reqwest::RequestBuilder,
        parse: impl FnOnce(&[u8]) -> Result<T, Failure>,
    ) -> Exchange<T> {
        let started = Instant::now();
        let received = match request.send().await {
            Ok(response) => {
                let status = response.status();
                response.bytes().await.map(|body| (status, body))
            }
            Err(error) => Err(error),
        };
        let latency = started.elapsed();
        let outcome = match received {
            Ok((status, body)) if status.is_success() => parse(&body),
            Ok((status, _)) => Err(Failure::Status(status.as_u16())),
            Err(_) => Err(Failure::Transport),
        };
        Exchange {
            started,
            latency,
            outcome,
        }
    }
}
