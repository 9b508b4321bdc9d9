//! `/v1/verify`, the forward-auth check reverse proxies call.

use crate::common;

use std::time::Duration;

use common::{Backend, PASSWORD, TestServer, assert_problem};
use serde_json::Value;
use tokenauth_core::user::Email;
use tokenauth_core::{Clock, SystemClock};

async fn a_good_token_passes_with_identity_headers(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let body = server.signup("proxy@example.com", PASSWORD).await;
    let email = Email::parse("proxy@example.com").unwrap();
    for role in ["admin", "billing"] {
        assert!(
            server
                .state
                .store
                .add_role(&email, role, SystemClock.now())
                .await
                .unwrap()
        );
    }
    let login: Value = server
        .login("proxy@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap();

    let response = server.get_bearer("/v1/verify", token).await;
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["x-auth-user"], body["user"]["id"].as_str().unwrap());
    assert_eq!(
        headers["x-auth-session"],
        login["session_id"].as_str().unwrap()
    );
    assert_eq!(headers["x-auth-roles"], "admin,billing");

    // Envoy forwards the original method and appends the original path.
    let envoy = server
        .client
        .post(server.url("/v1/verify/api/notes/42?x=1"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(envoy.status(), 200);
    assert_eq!(envoy.headers()["x-auth-roles"], "admin,billing");

    // A token minted before the roles were granted carries none.
    let old = server
        .get_bearer("/v1/verify", body["access_token"].as_str().unwrap())
        .await;
    assert_eq!(old.headers()["x-auth-roles"], "");
}

/// `token` with its payload's first two characters changed (its signature no longer matches).
fn tampered(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let swap = if parts[1].starts_with("ab") {
        "cd"
    } else {
        "ab"
    };
    parts[1].replace_range(0..2, swap);
    parts.join(".")
}

/// `/v1/verify` with the `authorization` header `header` (none if `None`) answers 401 with a
/// Bearer `invalid_token` challenge and no identity header; `name` names the case.
async fn assert_refused_with_a_bearer_challenge(
    server: &TestServer,
    name: &str,
    header: Option<String>,
) {
    let mut request = server.client.get(server.url("/v1/verify"));
    if let Some(header) = header {
        request = request.header("authorization", header);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 401, "{name}");
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with("Bearer") && challenge.contains(r#"error="invalid_token""#),
        "{name}: {challenge}"
    );
    assert!(response.headers().get("x-auth-user").is_none(), "{name}");
}

async fn every_bad_token_is_401_with_a_bearer_challenge(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let body = server.signup("bad@example.com", PASSWORD).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    let tampered = tampered(&token);
    let other = TestServer::start().await;
    let foreign = other.signup("bad@example.com", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let cases: Vec<(&str, Option<String>)> = vec![
        ("no header", None),
        ("garbage", Some("Bearer not-a-token".into())),
        ("wrong scheme", Some(format!("Basic {token}"))),
        ("refresh token as bearer", Some(format!("Bearer {refresh}"))),
        ("tampered payload", Some(format!("Bearer {tampered}"))),
        ("another server's token", Some(format!("Bearer {foreign}"))),
    ];
    for (name, header) in cases {
        assert_refused_with_a_bearer_challenge(&server, name, header).await;
    }

    // Never from the query string.
    let query = server
        .client
        .get(server.url(&format!("/v1/verify?access_token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), 401);

    // Expired, and logged out.
    server.advance(Duration::from_secs(15 * 60 + 11));
    assert_problem(
        server.get_bearer("/v1/verify", &token).await,
        401,
        "token_expired",
    )
    .await;
    let fresh: Value = server
        .login("bad@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let fresh = fresh["access_token"].as_str().unwrap();
    let logout = server
        .client
        .post(server.url("/v1/logout"))
        .bearer_auth(fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    assert_problem(
        server.get_bearer("/v1/verify", fresh).await,
        401,
        "session_revoked",
    )
    .await;
}

each_backend!(
    a_good_token_passes_with_identity_headers,
    every_bad_token_is_401_with_a_bearer_challenge,
);
