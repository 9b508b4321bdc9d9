//! The example API next to a real tokenauth server: 401 without a token, 403 without the role,
//! 200 with it; notes are per user.

use crate::common;
use common::TestServer;
use reqwest::RequestBuilder;
use serde_json::{Value, json};
use tokenauth_core::user::Email;
use tokenauth_core::{Clock, SystemClock};
use tokenauth_verify::Verifier;

const PASSWORD: &str = "correct horse battery staple";

/// The notes API, started next to `auth` and verifying its tokens, and a client for it.
struct Notes {
    base: String,
    client: reqwest::Client,
}

impl Notes {
    /// Starts the API on a free local port, verifying the tokens `auth` issues.
    async fn start(auth: &TestServer) -> Self {
        let verifier = Verifier::builder(auth.base.clone(), auth.base.clone())
            .discover()
            .build()
            .await
            .expect("verifier");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, notes_api::app(verifier)).await });
        Self {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
        }
    }

    /// A request for `method path`, with `token` as the bearer token if given.
    fn request(&self, method: reqwest::Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let request = self.client.request(method, format!("{}{path}", self.base));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// The answer to `GET path`, with `token` as the bearer token if given.
    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        self.request(reqwest::Method::GET, path, token)
            .send()
            .await
            .unwrap()
    }

    /// The notes `token`'s user sees, as JSON.
    async fn notes_of(&self, token: &str) -> Value {
        self.get("/notes", Some(token)).await.json().await.unwrap()
    }
}

async fn token(auth: &TestServer, email: &str) -> String {
    let body: Value = auth.login(email, PASSWORD).await.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// Signs up a reader and an admin (given the `admin` role); their access tokens.
async fn reader_and_admin(auth: &TestServer) -> (String, String) {
    auth.signup("reader@example.com", PASSWORD).await;
    auth.signup("admin@example.com", PASSWORD).await;
    let admin_email = Email::parse("admin@example.com").unwrap();
    assert!(
        auth.state
            .store
            .add_role(&admin_email, "admin", SystemClock.now())
            .await
            .unwrap()
    );
    let reader = token(auth, "reader@example.com").await;
    let admin = token(auth, "admin@example.com").await;
    (reader, admin)
}

#[tokio::test]
async fn public_logged_in_and_admin_routes() {
    let auth = TestServer::start().await;
    let notes = Notes::start(&auth).await;
    let (reader, admin) = reader_and_admin(&auth).await;

    assert_eq!(notes.get("/public", None).await.status(), 200);
    assert_logged_in_routes_need_a_valid_token(&notes).await;
    assert_notes_are_per_user(&notes, &reader, &admin).await;
    assert_stats_need_the_admin_role(&notes, &reader, &admin).await;
}

/// `/notes` answers 401 without a token (saying `invalid_token`) and with a forged one.
async fn assert_logged_in_routes_need_a_valid_token(notes: &Notes) {
    let anonymous = notes.get("/notes", None).await;
    assert_eq!(anonymous.status(), 401);
    assert!(
        anonymous.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    assert_eq!(notes.get("/notes", Some("a.b.c")).await.status(), 401);
}

/// The reader creates a note and sees it; the admin sees none of it.
async fn assert_notes_are_per_user(notes: &Notes, reader: &str, admin: &str) {
    let created = notes
        .request(reqwest::Method::POST, "/notes", Some(reader))
        .json(&json!({"text": "buy milk"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let mine = notes.notes_of(reader).await;
    assert_eq!(mine, json!([{"id": 1, "text": "buy milk"}]));
    let theirs = notes.notes_of(admin).await;
    assert_eq!(theirs, json!([]), "notes are per user");
}

/// `/admin/stats` answers 403 to the reader, 401 without a token, and the count of notes
/// (the one the reader created) to the admin.
async fn assert_stats_need_the_admin_role(notes: &Notes, reader: &str, admin: &str) {
    assert_eq!(notes.get("/admin/stats", Some(reader)).await.status(), 403);
    assert_eq!(notes.get("/admin/stats", None).await.status(), 401);
    let stats = notes.get("/admin/stats", Some(admin)).await;
    assert_eq!(stats.status(), 200);
    let stats: Value = stats.json().await.unwrap();
    assert_eq!(stats["notes"], 1);
}
