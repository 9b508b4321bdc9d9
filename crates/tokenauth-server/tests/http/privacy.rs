//! The data rights over real HTTP, on both backends: `GET /v1/me/export` returns everything
//! stored about the caller (and nothing of anyone else, never the password hash);
//! `DELETE /v1/me` erases the account after checking the password, and afterwards none of its
//! tokens works and its password logs in nowhere.

use crate::common;

use common::{
    Backend, PASSWORD, TestServer, access_token, assert_invalid_field, assert_problem,
    refresh_token,
};
use serde_json::{Value, json};

const AGENT: &str = "privacy-test/1.0";

async fn export(server: &TestServer, access: &str) -> reqwest::Response {
    server.get_bearer("/v1/me/export", access).await
}

async fn delete_me(server: &TestServer, access: &str, body: Value) -> reqwest::Response {
    server
        .client
        .delete(server.url("/v1/me"))
        .bearer_auth(access)
        .header("user-agent", AGENT)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn login_ok(server: &TestServer, email: &str) -> Value {
    let response = server.login(email, PASSWORD).await;
    assert_eq!(response.status(), 200, "login of {email}");
    response.json().await.unwrap()
}

/// The export holds the profile, every session (live and revoked, with the reason) and the
/// audit events of the account, and no password hash; another user's data is not in it.
async fn export_holds_everything_about_the_caller(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let signup = server.signup("ada@example.com", PASSWORD).await;
    let other = server.signup("bob@example.com", PASSWORD).await;
    let second = login_ok(&server, "ada@example.com").await;
    let wrong = server
        .login("ada@example.com", "not the password at all")
        .await;
    assert_eq!(wrong.status(), 401);
    let logout = server
        .client
        .post(server.url("/v1/logout"))
        .bearer_auth(access_token(&signup))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);

    let response = export(&server, &access_token(&second)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let text = response.text().await.unwrap();
    assert!(!text.contains("argon2"), "no password hash in an export");
    assert!(!text.contains("bob@example.com"));
    assert!(!text.contains(other["user"]["id"].as_str().unwrap()));
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["user"]["email"], "ada@example.com");
    assert_eq!(body["user"]["id"], signup["user"]["id"]);
    assert!(body["user"]["created_at"].is_string());
    assert!(body["user"]["disabled_at"].is_null());

    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert_eq!(sessions[0]["id"], second["session_id"], "newest first");
    assert!(sessions[0]["revoked_at"].is_null());
    assert_eq!(sessions[1]["id"], signup["session_id"]);
    assert_eq!(sessions[1]["revoke_reason"], "logout");
    assert!(sessions[1]["revoked_at"].is_string());

    let kinds: Vec<&str> = body["audit_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "signup",
        "login_succeeded",
        "login_failed",
        "session_revoked",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    assert_eq!(body["audit_events_truncated"], false);

    let anonymous = server
        .client
        .get(server.url("/v1/me/export"))
        .send()
        .await
        .unwrap();
    assert_problem(anonymous, 401, "invalid_token").await;
}

/// A wrong or missing password erases nothing; the right one erases the account: its refresh
/// tokens, access tokens and password stop working, the email can sign up anew, and what is
/// left in the audit log is one `user_deleted` event with the id alone.
async fn delete_erases_the_account(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let signup = server.signup("ada@example.com", PASSWORD).await;
    let other_device = login_ok(&server, "ada@example.com").await;
    let bob = server.signup("bob@example.com", PASSWORD).await;
    let access = access_token(&signup);
    let user_id = signup["user"]["id"].as_str().unwrap().to_owned();

    let wrong = delete_me(
        &server,
        &access,
        json!({"password": "not my password, sorry"}),
    )
    .await;
    assert_problem(wrong, 401, "invalid_credentials").await;
    assert_invalid_field(delete_me(&server, &access, json!({})).await, "password").await;
    let bare = server
        .client
        .delete(server.url("/v1/me"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert!(bare.status().is_client_error(), "{}", bare.status());
    assert_eq!(export(&server, &access).await.status(), 200, "still there");

    let deleted = delete_me(&server, &access, json!({"password": PASSWORD})).await;
    assert_eq!(deleted.status(), 204);

    // Every token of the account is dead: both sessions' refresh tokens, both access tokens.
    for body in [&signup, &other_device] {
        let refreshed = server.refresh(&refresh_token(body)).await;
        assert_eq!(refreshed.status(), 401, "refresh after erasure");
        let me = server.get_bearer("/v1/me", &access_token(body)).await;
        assert_problem(me, 401, "session_revoked").await;
        let verify = server.get_bearer("/v1/verify", &access_token(body)).await;
        assert_eq!(verify.status(), 401, "forward auth after erasure");
    }
    assert_eq!(export(&server, &access).await.status(), 401);
    let again = delete_me(&server, &access, json!({"password": PASSWORD})).await;
    assert_eq!(again.status(), 401);
    let login = server.login("ada@example.com", PASSWORD).await;
    assert_problem(login, 401, "invalid_credentials").await;

    // Bob is untouched.
    assert_eq!(
        server
            .get_bearer("/v1/me", &access_token(&bob))
            .await
            .status(),
        200
    );

    // Only the erasure record remains of Ada in the audit log.
    let left = server
        .state
        .store
        .audit_events_since(tokenauth_core::Timestamp::from_millis(0), 1000)
        .await
        .unwrap();
    let ada: Vec<_> = left
        .iter()
        .filter(|event| event.user_id.map(|id| id.to_string()) == Some(user_id.clone()))
        .collect();
    assert_eq!(ada.len(), 1, "{ada:?}");
    assert_eq!(ada[0].kind.as_str(), "user_deleted");
    assert_eq!(ada[0].detail.as_deref(), Some("self"));
    assert!(ada[0].ip.is_none() && ada[0].user_agent.is_none());

    // The email is free for a new account, which is a different user.
    let fresh = server.signup("ada@example.com", PASSWORD).await;
    assert_ne!(fresh["user"]["id"], signup["user"]["id"]);
}

each_backend!(
    export_holds_everything_about_the_caller,
    delete_erases_the_account
);
