//! The example API subscribed to the revocation feed, next to a real tokenauth server: a logout
//! is refused by the API within a second while the API makes no call to the auth server per
//! request (a counting proxy in between shows it); the same across two instances on PostgreSQL;
//! a restart of the auth server and a cut connection lose no revocation; the revoked set drains
//! as tokens expire.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use common::{Backend, Options, PASSWORD, TestServer, access_token};
use serde_json::Value;
use tokenauth_core::Clock as _;
use tokenauth_core::client::ClientPermissions;
use tokenauth_verify::{FetchError, Verifier, VerifierError};

const ISSUER: &str = "http://auth.test";
const AUDIENCE: &str = "http://notes.test";

/// A reverse proxy in front of the auth server that counts every request by path, and can be
/// cut (answering 502) to play a network failure or pointed at a restarted server.
#[derive(Clone)]
struct CountingProxy {
    base: String,
    shared: Arc<ProxyState>,
}

struct ProxyState {
    target: Mutex<String>,
    cut: AtomicBool,
    counts: Mutex<HashMap<String, usize>>,
    client: reqwest::Client,
}

impl CountingProxy {
    async fn start(target: &str) -> Self {
        let shared = Arc::new(ProxyState {
            target: Mutex::new(target.to_owned()),
            cut: AtomicBool::new(false),
            counts: Mutex::default(),
            client: reqwest::Client::new(),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            base: format!("http://{addr}"),
            shared,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn count(&self, path: &str) -> usize {
        self.shared
            .counts
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    fn total(&self) -> usize {
        self.shared.counts.lock().unwrap().values().sum()
    }

    fn cut(&self, cut: bool) {
        self.shared.cut.store(cut, Ordering::SeqCst);
    }

    fn retarget(&self, target: &str) {
        *self.shared.target.lock().unwrap() = target.to_owned();
    }
}

async fn forward(State(proxy): State<Arc<ProxyState>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    *proxy
        .counts
        .lock()
        .unwrap()
        .entry(path.clone())
        .or_default() += 1;
    if proxy.cut.load(Ordering::SeqCst) {
        return StatusCode::BAD_GATEWAY.into_response();
    }
    let target = proxy.target.lock().unwrap().clone();
    let query = request
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let mut outgoing = proxy.client.get(format!("{target}{path}{query}"));
    if let Some(auth) = request.headers().get("authorization") {
        outgoing = outgoing.header("authorization", auth.clone());
    }
    match outgoing.send().await {
        Ok(response) => {
            let status = response.status();
            let mut headers = HeaderMap::new();
            for name in ["content-type", "cache-control"] {
                if let Some(value) = response.headers().get(name) {
                    headers.insert(name, value.clone());
                }
            }
            let body: Bytes = response.bytes().await.unwrap_or_default();
            (status, headers, body).into_response()
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}

/// The auth server's settings: a fixed issuer and audience, so a restarted server (on another
/// port) issues tokens the same verifier accepts.
fn auth_options(backend: &Backend) -> Options {
    Options::on(backend).configure(move |c| {
        c.issuer = ISSUER.to_owned();
        c.audience = AUDIENCE.to_owned();
    })
}

async fn register(auth: &TestServer) -> (String, String) {
    let (client, secret) = auth
        .state
        .auth
        .clients()
        .register("notes-api", ClientPermissions::all())
        .await
        .unwrap();
    (client.client_id, secret.expose().to_owned())
}

/// A verifier that reaches the auth server only through `proxy`, subscribed to the feed.
/// `wait` is how long the server may hold an empty long-poll.
async fn subscribed_verifier(
    proxy: &CountingProxy,
    client: &(String, String),
    wait: Duration,
) -> Verifier {
    Verifier::builder(ISSUER, AUDIENCE)
        .jwks_url(proxy.url("/.well-known/jwks.json"))
        .revocation_feed(&client.0, &client.1)
        .revocation_feed_url(proxy.url("/v1/revocations"))
        .revocation_feed_wait(wait)
        .build()
        .await
        .expect("verifier")
}

async fn start_notes(verifier: Verifier) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, notes_api::app(verifier)).await });
    format!("http://{addr}")
}

async fn login(auth: &TestServer, email: &str) -> Value {
    let response = auth.login(email, PASSWORD).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn logout(auth: &TestServer, body: &Value) {
    let response = auth
        .client
        .post(auth.url("/v1/logout"))
        .bearer_auth(access_token(body))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

async fn notes_status(notes: &str, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{notes}/notes"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls the API every 10 ms until it refuses `token` as revoked; returns how long that took.
async fn time_until_refused(notes: &str, token: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let (status, body) = notes_status(notes, token).await;
        if status == 401 {
            assert_eq!(body["error"], "session_revoked", "{body}");
            return started.elapsed();
        }
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < limit,
            "the API still accepts the token after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn a_logout_reaches_the_api_within_a_second(backend: Backend) {
    let auth = TestServer::start_with(auth_options(&backend)).await;
    let proxy = CountingProxy::start(&auth.base).await;
    let client = register(&auth).await;
    let verifier = subscribed_verifier(&proxy, &client, Duration::from_secs(25)).await;
    let notes = start_notes(verifier.clone()).await;
    auth.signup("ann@example.com", PASSWORD).await;
    let phone = login(&auth, "ann@example.com").await;
    let laptop = login(&auth, "ann@example.com").await;

    // 200 requests to the API: not one reaches the auth server.
    let jwks_before = proxy.count("/.well-known/jwks.json");
    let feed_before = proxy.count("/v1/revocations");
    for _ in 0..100 {
        assert_eq!(notes_status(&notes, &access_token(&phone)).await.0, 200);
        assert_eq!(notes_status(&notes, &access_token(&laptop)).await.0, 200);
    }
    assert_eq!(proxy.count("/.well-known/jwks.json"), jwks_before);
    assert!(
        proxy.count("/v1/revocations") <= feed_before + 1,
        "only the long-poll in flight, not a call per request"
    );

    let requests_before_logout = proxy.total();
    logout(&auth, &phone).await;
    let took = time_until_refused(&notes, &access_token(&phone), Duration::from_secs(1)).await;
    println!("logout refused by the API after {took:?}");
    // The other session is untouched.
    assert_eq!(notes_status(&notes, &access_token(&laptop)).await.0, 200);
    // The feed delivered it: one long-poll answer and the next poll, nothing per request.
    assert!(
        proxy.total() - requests_before_logout <= 3,
        "{}",
        proxy.total()
    );
    let status = verifier.revocation_status().unwrap();
    assert_eq!(status.revoked_sessions, 1);
    assert!(status.connected);
    // (The lag itself is measured against the server's clock, which this test holds still.)
    assert!(status.last_lag.is_some());
}

each_backend!(a_logout_reaches_the_api_within_a_second);

/// Two auth instances on one PostgreSQL database; the API subscribes to B; the user logs out on A.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_another_instance_reaches_the_api() {
    let Some(backend) = Backend::postgres("a_logout_on_another_instance_reaches_the_api").await
    else {
        return;
    };
    let a = TestServer::start_with(auth_options(&backend)).await;
    let b = TestServer::start_with(auth_options(&backend)).await;
    let proxy_b = CountingProxy::start(&b.base).await;
    let client = register(&a).await;
    let verifier = subscribed_verifier(&proxy_b, &client, Duration::from_secs(25)).await;
    let notes = start_notes(verifier).await;
    let ann = a.signup("ann@example.com", PASSWORD).await;
    assert_eq!(notes_status(&notes, &access_token(&ann)).await.0, 200);

    logout(&a, &ann).await;
    let took = time_until_refused(&notes, &access_token(&ann), Duration::from_secs(1)).await;
    println!("logout on A refused by the API (subscribed to B) after {took:?}");
}

/// The feed connection is cut, revocations happen, the auth server restarts (another process
/// would be on another port: the proxy follows it), more revocations happen before the verifier
/// is back: once it reconnects, every one of them is in force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_after_a_cut_and_a_restart_loses_nothing() {
    let auth = TestServer::start_with(auth_options(&Backend::Sqlite)).await;
    let proxy = CountingProxy::start(&auth.base).await;
    let client = register(&auth).await;
    let verifier = subscribed_verifier(&proxy, &client, Duration::from_secs(1)).await;
    auth.signup("ann@example.com", PASSWORD).await;
    let sessions: Vec<Value> = {
        let mut all = Vec::new();
        for _ in 0..4 {
            all.push(login(&auth, "ann@example.com").await);
        }
        all
    };
    let token = |i: usize| access_token(&sessions[i]);
    let refused = |verifier: &Verifier, i: usize| {
        matches!(
            verifier.verify_local(&token(i)),
            Err(VerifierError::SessionRevoked)
        )
    };

    // Cut: the verifier loses the feed; a logout now cannot reach it yet.
    proxy.cut(true);
    wait_until(Duration::from_secs(30), || {
        !verifier.revocation_status().unwrap().connected
    })
    .await;
    logout(&auth, &sessions[0]).await;
    assert!(!refused(&verifier, 0), "the cut is real");

    // Restart the auth server (new port; same data); revoke one more before the verifier is back.
    let stopped = auth.stop().await;
    let auth = TestServer::start_with(Options::after(stopped).configure(move |c| {
        c.issuer = ISSUER.to_owned();
        c.audience = AUDIENCE.to_owned();
    }))
    .await;
    proxy.retarget(&auth.base);
    logout(&auth, &sessions[1]).await;
    proxy.cut(false);

    wait_until(Duration::from_secs(10), || {
        refused(&verifier, 0) && refused(&verifier, 1)
    })
    .await;
    assert!(!refused(&verifier, 2) && !refused(&verifier, 3));
    assert_eq!(
        verifier.revocation_status().unwrap().snapshots,
        1,
        "resumed, no snapshot"
    );

    // And it keeps following the restarted server.
    logout(&auth, &sessions[2]).await;
    wait_until(Duration::from_secs(1), || refused(&verifier, 2)).await;
    assert!(verifier.verify_local(&token(3)).is_ok());
}

/// Revoked sessions are held only while their tokens could still be accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_revoked_set_drains_as_tokens_expire() {
    let auth = TestServer::start_with(auth_options(&Backend::Sqlite).configure(move |c| {
        c.access_token_ttl = Duration::from_secs(30);
        c.clock_leeway = Duration::from_secs(0);
    }))
    .await;
    let client = register(&auth).await;
    let proxy = CountingProxy::start(&auth.base).await;
    // The verifier's clock starts at the server's (manual) clock and is moved by the test.
    let now = Arc::new(AtomicI64::new(auth.clock.now().as_secs()));
    let clock = Arc::clone(&now);
    let verifier = Verifier::builder(ISSUER, AUDIENCE)
        .jwks_url(proxy.url("/.well-known/jwks.json"))
        .leeway(Duration::ZERO)
        .clock(move || clock.load(Ordering::SeqCst))
        .revocation_feed(&client.0, &client.1)
        .revocation_feed_url(proxy.url("/v1/revocations"))
        .revocation_feed_wait(Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    auth.signup("ann@example.com", PASSWORD).await;
    for _ in 0..5 {
        let session = login(&auth, "ann@example.com").await;
        logout(&auth, &session).await;
    }
    wait_until(Duration::from_secs(2), || {
        verifier.revocation_status().unwrap().revoked_sessions == 5
    })
    .await;

    // Just before the tokens could expire, they are all still held...
    now.fetch_add(29, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(verifier.revocation_status().unwrap().revoked_sessions, 5);
    // ...and after, none are.
    now.fetch_add(5, Ordering::SeqCst);
    wait_until(Duration::from_secs(3), || {
        verifier.revocation_status().unwrap().revoked_sessions == 0
    })
    .await;
    assert!(verifier.revoked_sessions().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verifier_with_wrong_client_credentials_does_not_start() {
    let auth = TestServer::start_with(auth_options(&Backend::Sqlite)).await;
    let (id, _) = register(&auth).await;
    let built = Verifier::builder(ISSUER, AUDIENCE)
        .jwks_url(auth.url("/.well-known/jwks.json"))
        .revocation_feed(id, "not-the-secret")
        .revocation_feed_url(auth.url("/v1/revocations"))
        .build()
        .await;
    assert!(
        matches!(
            built,
            Err(VerifierError::RevocationsUnavailable(FetchError::Status(
                401
            )))
        ),
        "{built:?}"
    );
}

async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
