//! The example API next to a real tokenauth server: 401 without a token, 403 without the role,
//! 200 with it; notes are per user.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../crates/tokenauth-server/tests/common/mod.rs"]
mod common;

use common::TestServer;
use serde_json::{Value, json};
use tokenauth_core::user::Email;
use tokenauth_core::{Clock, SystemClock};
use tokenauth_verify::Verifier;

const PASSWORD: &str = "correct horse battery staple";

async fn start_notes(auth: &TestServer) -> String {
    let verifier = Verifier::builder(auth.base.clone(), auth.base.clone())
        .discover()
        .build()
        .await
        .expect("verifier");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, notes_api::app(verifier)).await });
    format!("http://{addr}")
}

async fn token(auth: &TestServer, email: &str) -> String {
    let body: Value = auth.login(email, PASSWORD).await.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn public_logged_in_and_admin_routes() {
    let auth = TestServer::start().await;
    let notes = start_notes(&auth).await;
    let client = reqwest::Client::new();
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
    let reader = token(&auth, "reader@example.com").await;
    let admin = token(&auth, "admin@example.com").await;

    assert_eq!(
        client
            .get(format!("{notes}/public"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let anonymous = client.get(format!("{notes}/notes")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(
        anonymous.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let forged = client
        .get(format!("{notes}/notes"))
        .bearer_auth("a.b.c")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);

    let created = client
        .post(format!("{notes}/notes"))
        .bearer_auth(&reader)
        .json(&json!({"text": "buy milk"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let mine: Value = client
        .get(format!("{notes}/notes"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine, json!([{"id": 1, "text": "buy milk"}]));
    let theirs: Value = client
        .get(format!("{notes}/notes"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(theirs, json!([]), "notes are per user");

    let denied = client
        .get(format!("{notes}/admin/stats"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    let no_token = client
        .get(format!("{notes}/admin/stats"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);
    let stats = client
        .get(format!("{notes}/admin/stats"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(stats.status(), 200);
    let stats: Value = stats.json().await.unwrap();
    assert_eq!(stats["notes"], 1);
}
