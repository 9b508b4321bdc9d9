//! Account hardening over real HTTP, on both backends: the common-password policy (sign-up and
//! password change, never login), `POST /v1/password` and what it revokes, disabled accounts,
//! and (in [`audit`]) the audit log a whole flow leaves behind.

use crate::common;

use std::time::Duration;

use common::{
    Backend, PASSWORD, TestServer, access_token, assert_invalid_field, assert_problem,
    refresh_token,
};
use serde_json::{Value, json};
use tokenauth_core::audit::{AuditEvent, AuditKind};
use tokenauth_core::session::NewSession;
use tokenauth_core::user::{Email, Password, User};
use tokenauth_core::{AuthError, SessionId, UserId};

mod audit;

/// The new password the tests change to.
const NEW_PASSWORD: &str = "a brand new passphrase, long enough";
/// The `User-Agent` the audit test sends.
const AGENT: &str = "accounts-test/1.0";

/// POSTs `body` to `path` with `token` as the bearer access token.
async fn post_bearer(
    server: &TestServer,
    path: &str,
    token: &str,
    body: Value,
) -> reqwest::Response {
    server
        .client
        .post(server.url(path))
        .bearer_auth(token)
        .header("user-agent", AGENT)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// `POST /v1/password` as the holder of `access`.
async fn change_password(
    server: &TestServer,
    access: &str,
    current: &str,
    new: &str,
) -> reqwest::Response {
    post_bearer(
        server,
        "/v1/password",
        access,
        json!({"current_password": current, "new_password": new}),
    )
    .await
}

/// Logs in; asserts 200; returns the body.
async fn login_ok(server: &TestServer, email: &str, password: &str) -> Value {
    let response = server.login(email, password).await;
    assert_eq!(response.status(), 200, "login of {email}");
    response.json().await.unwrap()
}

/// The status of `GET /v1/me` with `access`.
async fn me_status(server: &TestServer, access: &str) -> u16 {
    server.get_bearer("/v1/me", access).await.status().as_u16()
}

/// Creates an account directly in the store, as one made before the password policy existed
/// would be: with a password sign-up now refuses.
async fn legacy_account(server: &TestServer, email: &str, password: &str) {
    let hash = server
        .state
        .auth
        .hasher()
        .hash(Password::presented(password.to_owned()).unwrap())
        .await
        .unwrap();
    let now = server.state.auth.clock().now();
    let user = User {
        id: UserId::generate(),
        email: Email::parse(email).unwrap(),
        password_hash: hash,
        roles: Vec::new(),
        created_at: now,
        disabled_at: None,
    };
    let session = NewSession {
        id: SessionId::generate(),
        user_id: user.id,
        created_at: now,
        expires_at: now.plus(Duration::from_secs(3600)),
        absolute_expires_at: now.plus(Duration::from_secs(7200)),
        access_expires_at: now.plus(Duration::from_secs(900)),
        user_agent: None,
        ip: None,
    };
    server
        .state
        .store
        .insert_user_with_session(&user, &session)
        .await
        .unwrap();
}

async fn common_passwords_are_refused_at_signup_and_change_but_not_at_login(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    for common in [
        "password123",
        "Password123",
        "QWERTYUIOP",
        "ｐａｓｓｗｏｒｄ１２３",
    ] {
        let response = server
            .post_json(
                "/v1/signup",
                json!({"email": "ann@example.com", "password": common}),
            )
            .await;
        let problem = assert_invalid_field(response, "password").await;
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("is one of the most common passwords"),
            "{problem}"
        );
    }
    common::assert_no_user(&server, "ann@example.com", "password123").await;

    let ann = server.signup("ann@example.com", PASSWORD).await;
    let problem = assert_invalid_field(
        change_password(&server, &access_token(&ann), PASSWORD, "iloveyou1").await,
        "new_password",
    )
    .await;
    assert!(problem["detail"].as_str().unwrap().contains("most common"));
    // Nothing changed: the old password still logs in, the session still refreshes.
    login_ok(&server, "ann@example.com", PASSWORD).await;
    assert_eq!(server.refresh(&refresh_token(&ann)).await.status(), 200);

    // An account made before the policy logs in with its common password, and may change it
    // to a good one, not to another common one.
    legacy_account(&server, "old@example.com", "password123").await;
    let old = login_ok(&server, "old@example.com", "password123").await;
    assert_invalid_field(
        change_password(&server, &access_token(&old), "password123", "qwerty123").await,
        "new_password",
    )
    .await;
    let changed = change_password(&server, &access_token(&old), "password123", NEW_PASSWORD).await;
    assert_eq!(changed.status(), 204);
    login_ok(&server, "old@example.com", NEW_PASSWORD).await;
}

async fn password_change_revokes_every_other_session(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let current = server.signup("bea@example.com", PASSWORD).await;
    let second = login_ok(&server, "bea@example.com", PASSWORD).await;
    let third = login_ok(&server, "bea@example.com", PASSWORD).await;
    let other_user = server.signup("cal@example.com", PASSWORD).await;

    let response = change_password(&server, &access_token(&current), PASSWORD, NEW_PASSWORD).await;
    assert_eq!(response.status(), 204);
    assert!(response.bytes().await.unwrap().is_empty());

    for other in [&second, &third] {
        assert_problem(
            server.refresh(&refresh_token(other)).await,
            401,
            "session_revoked",
        )
        .await;
        assert_eq!(me_status(&server, &access_token(other)).await, 401);
    }
    // The calling session stays: its access token works and its refresh token rotates.
    assert_eq!(me_status(&server, &access_token(&current)).await, 200);
    let rotated: Value = server
        .refresh(&refresh_token(&current))
        .await
        .json()
        .await
        .unwrap();
    let sessions: Value = server
        .get_bearer("/v1/sessions", &access_token(&rotated))
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = sessions["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [current["session_id"].as_str().unwrap()]);
    // Another user's sessions are untouched.
    assert_eq!(me_status(&server, &access_token(&other_user)).await, 200);

    assert_problem(
        server.login("bea@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    login_ok(&server, "bea@example.com", NEW_PASSWORD).await;
}

async fn wrong_current_password_changes_nothing(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let first = server.signup("dee@example.com", PASSWORD).await;
    let second = login_ok(&server, "dee@example.com", PASSWORD).await;
    let access = access_token(&first);

    assert_problem(
        change_password(&server, &access, "not the password", NEW_PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    // Bad inputs: each refused, none changes anything.
    assert_invalid_field(
        change_password(&server, &access, PASSWORD, PASSWORD).await,
        "new_password",
    )
    .await;
    assert_invalid_field(
        change_password(&server, &access, PASSWORD, "short").await,
        "new_password",
    )
    .await;
    assert_invalid_field(
        change_password(&server, &access, PASSWORD, &"x".repeat(1025)).await,
        "new_password",
    )
    .await;
    assert_problem(
        post_bearer(
            &server,
            "/v1/password",
            &access,
            json!({"new_password": NEW_PASSWORD}),
        )
        .await,
        400,
        "invalid_request",
    )
    .await;
    assert_problem(
        post_bearer(&server, "/v1/password", &access, json!(["a", "b"])).await,
        400,
        "invalid_request",
    )
    .await;
    let unauthenticated = server
        .post_json(
            "/v1/password",
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        )
        .await;
    assert_problem(unauthenticated, 401, "invalid_token").await;
    assert_problem(
        change_password(&server, "not.a.token", PASSWORD, NEW_PASSWORD).await,
        401,
        "invalid_token",
    )
    .await;

    assert_eq!(me_status(&server, &access_token(&second)).await, 200);
    assert_eq!(server.refresh(&refresh_token(&second)).await.status(), 200);
    login_ok(&server, "dee@example.com", PASSWORD).await;
    assert_problem(
        server.login("dee@example.com", NEW_PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
}

async fn password_change_by_cookie_needs_the_csrf_header(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let response = server
        .client
        .post(server.url("/v1/signup"))
        .header("x-token-transport", "cookie")
        .json(&json!({"email": "hal@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let access = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("tokenauth_access="))
        .unwrap();
    let body = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});
    let send = |csrf_header: bool| {
        let request = server
            .client
            .post(server.url("/v1/password"))
            .header("cookie", &access)
            .json(&body);
        let request = if csrf_header {
            request.header("x-token-transport", "cookie")
        } else {
            request
        };
        request.send()
    };
    assert_problem(send(false).await.unwrap(), 403, "csrf_rejected").await;
    login_ok(&server, "hal@example.com", PASSWORD).await;
    assert_eq!(send(true).await.unwrap().status(), 204);
    login_ok(&server, "hal@example.com", NEW_PASSWORD).await;
}

async fn disabled_accounts_cannot_log_in_or_refresh_until_enabled(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let first = server.signup("eve@example.com", PASSWORD).await;
    let second = login_ok(&server, "eve@example.com", PASSWORD).await;
    let bystander = server.signup("fay@example.com", PASSWORD).await;

    let change = server
        .state
        .auth
        .accounts()
        .disable("EVE@example.com")
        .await
        .unwrap();
    assert_eq!(change.revoked_sessions.len(), 2);

    assert_problem(
        server.login("eve@example.com", PASSWORD).await,
        403,
        "account_disabled",
    )
    .await;
    assert_problem(
        server.login("eve@example.com", "not the password").await,
        401,
        "invalid_credentials",
    )
    .await;
    for session in [&first, &second] {
        assert_eq!(server.refresh(&refresh_token(session)).await.status(), 401);
        assert_eq!(me_status(&server, &access_token(session)).await, 401);
    }
    assert_eq!(me_status(&server, &access_token(&bystander)).await, 200);
    // Disabling twice is harmless; unknown and malformed emails are errors.
    assert!(
        server
            .state
            .auth
            .accounts()
            .disable("eve@example.com")
            .await
            .is_ok()
    );
    assert!(matches!(
        server
            .state
            .auth
            .accounts()
            .disable("nobody@example.com")
            .await,
        Err(AuthError::NotFound)
    ));
    assert!(matches!(
        server.state.auth.accounts().disable("not an email").await,
        Err(AuthError::InvalidInput { .. })
    ));

    server
        .state
        .auth
        .accounts()
        .enable("eve@example.com")
        .await
        .unwrap();
    let again = login_ok(&server, "eve@example.com", PASSWORD).await;
    assert_eq!(me_status(&server, &access_token(&again)).await, 200);
    assert_eq!(server.refresh(&refresh_token(&again)).await.status(), 200);
    // Sessions revoked by the disable stay revoked.
    assert_eq!(server.refresh(&refresh_token(&first)).await.status(), 401);
}

each_backend!(
    common_passwords_are_refused_at_signup_and_change_but_not_at_login,
    password_change_revokes_every_other_session,
    wrong_current_password_changes_nothing,
    password_change_by_cookie_needs_the_csrf_header,
    disabled_accounts_cannot_log_in_or_refresh_until_enabled,
);
