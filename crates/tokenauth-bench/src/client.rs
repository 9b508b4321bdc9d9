//! One load client's HTTP connection to the server: the five calls the scenarios make, each
//! timed from send to the last body byte.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::connection::{Call, Connection, Target};

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

/// A keep-alive HTTP/1.1 connection to one server and the calls the scenarios make.
pub struct Api {
    connection: Connection,
}

impl Api {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:8080`). Each `Api` opens its
    /// own connection, so N of them load the server like N keep-alive clients.
    ///
    /// # Errors
    /// If `base` is not an `http://` URL.
    pub fn new(base: &str) -> anyhow::Result<Self> {
        Ok(Self {
            connection: Connection::new(Target::parse(base)?),
        })
    }

    /// `POST /v1/signup` of a new user.
    pub async fn signup(&self, email: &str, password: &str) -> Exchange<Tokens> {
        let body = json!({"email": email, "password": password});
        self.tokens(post("/v1/signup", &body)).await
    }

    /// `POST /v1/login`.
    pub async fn login(&self, email: &str, password: &str) -> Exchange<Tokens> {
        let body = json!({"email": email, "password": password});
        self.tokens(post("/v1/login", &body)).await
    }

    /// `POST /v1/refresh`: rotates `refresh_token`.
    pub async fn refresh(&self, refresh_token: &str) -> Exchange<Tokens> {
        let body = json!({"refresh_token": refresh_token});
        self.tokens(post("/v1/refresh", &body)).await
    }

    /// `GET /v1/verify` with a Bearer token.
    pub async fn verify(&self, access_token: &str) -> Exchange<()> {
        self.exchange(get("/v1/verify", Some(access_token)), |_| Ok(()))
            .await
    }

    /// `GET /v1/me` with a Bearer token.
    pub async fn me(&self, access_token: &str) -> Exchange<()> {
        self.exchange(get("/v1/me", Some(access_token)), |_| Ok(()))
            .await
    }

    /// `GET path` on the server, expecting 200; the body as text. For setup, not measured.
    ///
    /// # Errors
    /// When the server does not answer 200 with a UTF-8 body.
    pub async fn get_text(&self, path: &str) -> anyhow::Result<String> {
        let (status, body) = self.connection.send(get(path, None)).await?;
        anyhow::ensure!(status == StatusCode::OK, "{path} answered {status}");
        Ok(String::from_utf8(body.to_vec())?)
    }

    /// `GET /healthz`: whether a server answers there at all.
    ///
    /// # Errors
    /// When no server answers 200.
    pub async fn check_health(&self) -> anyhow::Result<()> {
        self.get_text("/healthz").await.map(|_| ())
    }

    async fn tokens(&self, call: Call<'_>) -> Exchange<Tokens> {
        self.exchange(call, |body| {
            serde_json::from_slice::<Tokens>(body).map_err(|_| Failure::BadBody)
        })
        .await
    }

    async fn exchange<T>(
        &self,
        call: Call<'_>,
        parse: impl FnOnce(&Bytes) -> Result<T, Failure>,
    ) -> Exchange<T> {
        let started = Instant::now();
        let received = self.connection.send(call).await;
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

fn post<'a>(path: &'a str, body: &serde_json::Value) -> Call<'a> {
    Call {
        method: Method::POST,
        path,
        bearer: None,
        // Serialising a `json!` value cannot fail.
        json: Some(serde_json::to_vec(body).unwrap_or_default()),
    }
}

fn get<'a>(path: &'a str, bearer: Option<&'a str>) -> Call<'a> {
    Call {
        method: Method::GET,
        path,
        bearer,
        json: None,
    }
}
