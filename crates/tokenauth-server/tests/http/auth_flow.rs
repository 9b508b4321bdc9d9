//! Sign-up, login, /v1/me, refresh rotation with its grace window and theft detection, logout
//! and restarts — through real HTTP against the real router; sessions over their life in
//! [`sessions`].

use crate::common;

mod sessions;

use std::collections::HashSet;
use std::time::Duration;

use common::{
    Backend, Options, PASSWORD, TestServer, access_token, assert_problem, jwt_parts, refresh_token,
};
use serde_json::{Value, json};

async fn signup_login_and_me(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let body = server.signup("  Alice@Example.com ", PASSWORD).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["refresh_token_expires_in"], 30 * 86_400);
    assert_eq!(body["user"]["email"], "alice@example.com");
    assert_eq!(refresh_token(&body).len(), 75);
    let (header, claims) = jwt_parts(&access_token(&body));
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    assert!(header["kid"].is_string());
    assert_eq!(claims["iss"], server.base);
    assert_eq!(claims["aud"], server.base);
    assert_eq!(claims["sub"], body["user"]["id"]);
    assert_eq!(claims["sid"], body["session_id"]);
    assert_eq!(claims["roles"], json!([]));
    for claim in ["exp", "iat", "nbf", "jti"] {
        assert!(!claims[claim].is_null(), "{claim}");
    }
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );

    let login = server.login("ALICE@example.com", PASSWORD).await;
    assert_eq!(login.status(), 200);
    assert_eq!(login.headers()["cache-control"], "no-store");
    let login: Value = login.json().await.unwrap();
    assert_ne!(
        login["session_id"], body["session_id"],
        "each login is a new session"
    );

    let me = server.get_bearer("/v1/me", &access_token(&login)).await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["user"]["email"], "alice@example.com");
    assert_eq!(me["claims"]["sid"], login["session_id"]);
}

async fn wrong_password_and_unknown_email_look_the_same(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    server.signup("bob@example.com", PASSWORD).await;
    let wrong = assert_problem(
        server.login("bob@example.com", "not the password").await,
        401,
        "invalid_credentials",
    )
    .await;
    let unknown = assert_problem(
        server.login("nobody@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(wrong, unknown);
    // An address that cannot exist is an unknown user too, not a 400 that answers faster.
    let malformed = assert_problem(
        server.login("not-an-email", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(malformed, unknown);
}

async fn duplicate_signup_is_a_conflict_in_any_spelling(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    server.signup("carol@example.com", PASSWORD).await;
    let again = server
        .post_json(
            "/v1/signup",
            json!({"email": "CAROL@example.com ", "password": PASSWORD}),
        )
        .await;
    assert_problem(again, 409, "email_taken").await;
}

async fn refresh_rotates_and_the_old_token_dies_after_the_grace_window(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let first = server.signup("dave@example.com", PASSWORD).await;
    let r0 = refresh_token(&first);

    let rotated = server.refresh(&r0).await;
    assert_eq!(rotated.status(), 200);
    let rotated: Value = rotated.json().await.unwrap();
    let r1 = refresh_token(&rotated);
    assert_ne!(r0, r1);
    assert_eq!(rotated["session_id"], first["session_id"]);
    assert!(rotated.get("user").is_none());

    // Inside the grace window the previous token is a benign retry: the same successor.
    server.advance(Duration::from_secs(5));
    let retry: Value = server.refresh(&r0).await.json().await.unwrap();
    assert_eq!(refresh_token(&retry), r1, "idempotent replay");

    // The successor keeps working and rotates on.
    let next: Value = server.refresh(&r1).await.json().await.unwrap();
    let r2 = refresh_token(&next);

    // r0 is now two generations old: theft, even within the grace window.
    assert_problem(server.refresh(&r0).await, 401, "refresh_token_reused").await;
    // The whole family is revoked: the live token is dead too, and so are its access tokens.
    assert_problem(server.refresh(&r2).await, 401, "session_revoked").await;
    assert_problem(
        server.get_bearer("/v1/me", &access_token(&next)).await,
        401,
        "session_revoked",
    )
    .await;
}

async fn reuse_after_the_grace_window_revokes_the_session(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let first = server.signup("erin@example.com", PASSWORD).await;
    let r0 = refresh_token(&first);
    let r1 = refresh_token(&server.refresh(&r0).await.json::<Value>().await.unwrap());

    server.advance(Duration::from_secs(11));
    let reused = assert_problem(server.refresh(&r0).await, 401, "refresh_token_reused").await;
    assert!(reused["detail"].as_str().unwrap().contains("revoked"));
    assert_problem(server.refresh(&r1).await, 401, "session_revoked").await;
    // A revoked family never comes back, however often it is tried.
    assert_problem(server.refresh(&r0).await, 401, "session_revoked").await;
}

async fn fifty_concurrent_refreshes_of_one_token_end_with_one_live_token(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let first = server.signup("frank@example.com", PASSWORD).await;
    let r0 = refresh_token(&first);
    let requests = (0..50).map(|_| {
        let client = server.client.clone();
        let url = server.url("/v1/refresh");
        let token = r0.clone();
        tokio::spawn(async move {
            let response = client
                .post(url)
                .json(&json!({"refresh_token": token}))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        })
    });
    // Spawn them all before awaiting any, so they really race.
    let requests: Vec<_> = requests.collect();
    let mut successors = HashSet::new();
    for request in requests {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, 200, "{body}");
        successors.insert(refresh_token(&body));
    }
    assert_eq!(successors.len(), 1, "every racer holds the one live token");
    let live = successors.into_iter().next().unwrap();
    assert_eq!(
        server.refresh(&live).await.status(),
        200,
        "the family is alive"
    );
    let sessions: Value = server
        .get_bearer("/v1/sessions", &access_token(&first))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(sessions["sessions"][0]["id"], first["session_id"]);
}

async fn logout_kills_the_refresh_token_and_the_access_token(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let body = server.signup("gina@example.com", PASSWORD).await;
    let access = access_token(&body);
    let response = server
        .client
        .post(server.url("/v1/logout"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_problem(
        server.refresh(&refresh_token(&body)).await,
        401,
        "session_revoked",
    )
    .await;
    let me = server.get_bearer("/v1/me", &access).await;
    assert!(
        me.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    assert_problem(me, 401, "session_revoked").await;
}

async fn restart_keeps_users_sessions_and_keys(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let body = server.signup("kate@example.com", PASSWORD).await;
    let jwks_before = server.jwks().await;
    let stopped = server.stop().await;

    let server = TestServer::start_with(Options {
        ..Options::after(stopped)
    })
    .await;
    assert_eq!(server.jwks().await, jwks_before, "same keys after restart");
    assert_eq!(
        server.login("kate@example.com", PASSWORD).await.status(),
        200
    );
    let rotated = server.refresh(&refresh_token(&body)).await;
    assert_eq!(rotated.status(), 200, "the session survived");
    // The access token minted before the restart still verifies (issuer follows the port, so
    // compare the signature path through the keys: same kid in JWKS).
    let (header, _) = jwt_parts(&access_token(&body));
    assert_eq!(jwks_before["keys"][0]["kid"], header["kid"]);
}

each_backend!(
    signup_login_and_me,
    wrong_password_and_unknown_email_look_the_same,
    duplicate_signup_is_a_conflict_in_any_spelling,
    refresh_rotates_and_the_old_token_dies_after_the_grace_window,
    reuse_after_the_grace_window_revokes_the_session,
    fifty_concurrent_refreshes_of_one_token_end_with_one_live_token,
    logout_kills_the_refresh_token_and_the_access_token,
    restart_keeps_users_sessions_and_keys,
);
