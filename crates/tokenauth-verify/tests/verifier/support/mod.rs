//! A tiny JWKS server that counts its hits, and token minting/forging.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokenauth_jwt::{Algorithm, Jwk, Jwks, SigningKey, Zeroizing};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const AUD: &str = "https://api.example";

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A fresh key of `alg` and its persisted material (for raw forging).
pub fn new_key(alg: Algorithm, kid: &str) -> (SigningKey, Zeroizing<Vec<u8>>) {
    SigningKey::generate(alg, kid.to_owned()).unwrap()
}

/// Claims as the auth server writes them, valid from `now` for 300 s.
pub fn claims(iss: &str, now: i64) -> Value {
    json!({"iss": iss, "sub": "user-1", "aud": AUD, "exp": now + 300, "iat": now, "nbf": now,
           "jti": uuid::Uuid::new_v4().to_string(), "sid": "sid-1", "roles": ["reader"]})
}

/// A genuine access token of `key`.
pub fn mint(key: &SigningKey, claims: &Value) -> String {
    key.sign("at+jwt", claims).unwrap()
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact JWS of exactly this header and payload JSON, signed with raw
/// aws-lc-rs from `material` under `alg` (whatever the header says).
pub fn forge(header: &str, payload: &str, alg: Algorithm, material: &[u8]) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let signature = raw_sign(alg, material, input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

fn raw_sign(alg: Algorithm, material: &[u8], input: &[u8]) -> Vec<u8> {
    let rng = SystemRandom::new();
    match alg {
        Algorithm::ES256 => {
            let alg = &sig::ECDSA_P256_SHA256_FIXED_SIGNING;
            let pair = EcdsaKeyPair::from_pkcs8(alg, material).unwrap();
            pair.sign(&rng, input).unwrap().as_ref().to_vec()
        }
        Algorithm::EdDSA => {
            let pair = Ed25519KeyPair::from_pkcs8(material).unwrap();
            pair.sign(input).as_ref().to_vec()
        }
        Algorithm::RS256 => {
            let pair = RsaKeyPair::from_pkcs8(material).unwrap();
            let mut out = vec![0; pair.public_modulus_len()];
            pair.sign(&sig::RSA_PKCS1_SHA256, &rng, input, &mut out)
                .unwrap();
            out
        }
        Algorithm::HS256 => {
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, material);
            aws_lc_rs::hmac::sign(&key, input).as_ref().to_vec()
        }
    }
}

struct Shared {
    jwks: Mutex<Jwks>,
    max_age: Mutex<Option<u64>>,
    jwks_hits: AtomicUsize,
    issuer: Mutex<String>,
    base: String,
}

/// A JWKS + discovery server on a random local port. Every response asks
/// the client to close the connection, so each fetch is a new request and a
/// stopped server is really gone.
pub struct JwksServer {
    pub base: String,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl JwksServer {
    /// Serves the public JWKs of `keys` with `Cache-Control: public,
    /// max-age=N` when `max_age` is `Some(N)`, none otherwise.
    pub async fn start(keys: &[&SigningKey], max_age: Option<u64>) -> JwksServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            jwks: Mutex::new(jwks_of(keys)),
            max_age: Mutex::new(max_age),
            jwks_hits: AtomicUsize::new(0),
            issuer: Mutex::new(base.clone()),
            base: base.clone(),
        });
        let app = Router::new()
            .route("/.well-known/jwks.json", get(jwks))
            .route("/.well-known/openid-configuration", get(discovery))
            .with_state(Arc::clone(&shared));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        JwksServer {
            base,
            shared,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// The issuer the discovery document names (the base URL by default).
    pub fn issuer(&self) -> String {
        self.shared.issuer.lock().unwrap().clone()
    }

    pub fn set_discovery_issuer(&self, issuer: &str) {
        *self.shared.issuer.lock().unwrap() = issuer.to_owned();
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.base)
    }

    /// Publishes exactly `keys` from now on.
    pub fn set_keys(&self, keys: &[&SigningKey]) {
        *self.shared.jwks.lock().unwrap() = jwks_of(keys);
    }

    /// Publishes this JWKS verbatim.
    pub fn set_jwks(&self, jwks: Jwks) {
        *self.shared.jwks.lock().unwrap() = jwks;
    }

    /// JWKS requests served so far.
    pub fn hits(&self) -> usize {
        self.shared.jwks_hits.load(Ordering::SeqCst)
    }

    /// Stops accepting and waits until the server is gone.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .expect("server stops")
                .unwrap();
        }
    }
}

fn jwks_of(keys: &[&SigningKey]) -> Jwks {
    Jwks {
        keys: keys.iter().filter_map(|k| k.public_jwk()).collect(),
    }
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    shared.jwks_hits.fetch_add(1, Ordering::SeqCst);
    let body = serde_json::to_vec(&*shared.jwks.lock().unwrap()).unwrap();
    let max_age = *shared.max_age.lock().unwrap();
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    headers.insert(header::CONNECTION, "close".parse().unwrap());
    if let Some(max_age) = max_age {
        let value = format!("public, max-age={max_age}");
        headers.insert(header::CACHE_CONTROL, value.parse().unwrap());
    }
    response
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    let issuer = shared.issuer.lock().unwrap().clone();
    let mut response = axum::Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{}/.well-known/jwks.json", shared.base),
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, "close".parse().unwrap());
    response
}

/// A public JWK of a fresh key (for building hostile JWKS documents).
pub fn public_jwk(alg: Algorithm, kid: &str) -> Jwk {
    new_key(alg, kid).0.public_jwk().unwrap()
}
