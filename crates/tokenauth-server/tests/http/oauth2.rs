//! RFC 7009 revocation and RFC 7662 introspection for registered API clients, with client
//! authentication by HTTP Basic or form fields — through real HTTP against the real router.

use crate::common;

use std::time::Duration;

use base64::Engine as _;
use common::{Backend, TestServer, assert_problem, jwt_parts};
use serde_json::Value;
use tokenauth_core::client::{ClientPermission, ClientPermissions};

const PASSWORD: &str = "correct horse battery staple";

/// A registered client's credentials.
struct Client {
    id: String,
    secret: String,
}

/// How a request authenticates its client.
enum Auth<'a> {
    None,
    Basic(&'a Client),
    Post(&'a Client),
    Header(String),
}

async fn register(server: &TestServer) -> Client {
    let (client, secret) = server
        .state
        .auth
        .clients()
        .register("billing", ClientPermissions::all())
        .await
        .unwrap();
    Client {
        id: client.client_id,
        secret: secret.expose().to_owned(),
    }
}

fn basic_header(id: &str, secret: &str) -> String {
    let engine = base64::engine::general_purpose::STANDARD;
    format!("Basic {}", engine.encode(format!("{id}:{secret}")))
}

/// `application/x-www-form-urlencoded` encoding of `pairs`.
fn form(pairs: &[(&str, &str)]) -> String {
    let escape = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    char::from(b).to_string()
                }
                other => format!("%{other:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

async fn call(
    server: &TestServer,
    endpoint: &str,
    auth: Auth<'_>,
    token: Option<&str>,
) -> reqwest::Response {
    let mut pairs: Vec<(&str, &str)> = token.map(|t| ("token", t)).into_iter().collect();
    let mut request = server.client.post(server.url(endpoint));
    match &auth {
        Auth::None => {}
        Auth::Basic(client) => {
            request = request.header("authorization", basic_header(&client.id, &client.secret));
        }
        Auth::Post(client) => {
            pairs.push(("client_id", &client.id));
            pairs.push(("client_secret", &client.secret));
        }
        Auth::Header(value) => request = request.header("authorization", value.as_str()),
    }
    request
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&pairs))
        .send()
        .await
        .expect("request")
}

async fn introspect(server: &TestServer, client: &Client, token: &str) -> Value {
    let response = call(
        server,
        "/oauth2/introspect",
        Auth::Basic(client),
        Some(token),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

/// Signs up a user; returns (access token, refresh token, body).
async fn tokens(server: &TestServer, email: &str) -> (String, String, Value) {
    let body = server.signup(email, PASSWORD).await;
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
        body,
    )
}

async fn assert_session_dead(server: &TestServer, access: &str, refresh: &str) {
    assert_problem(server.refresh(refresh).await, 401, "session_revoked").await;
    assert_problem(
        server.get_bearer("/v1/me", access).await,
        401,
        "session_revoked",
    )
    .await;
}

async fn assert_invalid_client(response: reqwest::Response) {
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Basic realm="tokenauth""#
    );
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client", "{body}");
}

async fn revoking_a_refresh_token_ends_its_session(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let client = register(&server).await;
    let (access, refresh, _) = tokens(&server, "alice@example.com").await;
    let (other_access, other_refresh, _) = tokens(&server, "bob@example.com").await;

    let response = call(
        &server,
        "/oauth2/revoke",
        Auth::Basic(&client),
        Some(&refresh),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_session_dead(&server, &access, &refresh).await;
    // Revoking again is still 200; other sessions are untouched.
    let again = call(
        &server,
        "/oauth2/revoke",
        Auth::Post(&client),
        Some(&refresh),
    )
    .await;
    assert_eq!(again.status(), 200);
    assert_eq!(
        server.get_bearer("/v1/me", &other_access).await.status(),
        200
    );
    assert_eq!(server.refresh(&other_refresh).await.status(), 200);
}

async fn revoking_an_access_token_ends_its_session(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let client = register(&server).await;
    let (access, refresh, _) = tokens(&server, "alice@example.com").await;
    let response = call(
        &server,
        "/oauth2/revoke",
        Auth::Post(&client),
        Some(&access),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_session_dead(&server, &access, &refresh).await;

    // An expired access token still identifies its session for revocation.
    let (access, refresh, _) = tokens(&server, "bob@example.com").await;
    server.advance(Duration::from_secs(16 * 60));
    assert_problem(
        server.get_bearer("/v1/me", &access).await,
        401,
        "token_expired",
    )
    .await;
    let response = call(
        &server,
        "/oauth2/revoke",
        Auth::Basic(&client),
        Some(&access),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_problem(server.refresh(&refresh).await, 401, "session_revoked").await;
}

async fn unknown_tokens_are_200_and_a_missing_token_is_400(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let client = register(&server).await;
    let (access, refresh, _) = tokens(&server, "alice@example.com").await;
    let unknown_refresh = "A".repeat(43);
    let forged = format!("{}x", access);
    for token in [
        "garbage",
        unknown_refresh.as_str(),
        forged.as_str(),
        "a.b.c",
    ] {
        let response = call(&server, "/oauth2/revoke", Auth::Basic(&client), Some(token)).await;
        assert_eq!(response.status(), 200, "{token}");
    }
    assert_eq!(server.refresh(&refresh).await.status(), 200);

    for endpoint in ["/oauth2/revoke", "/oauth2/introspect"] {
        let response = call(&server, endpoint, Auth::Basic(&client), None).await;
        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{body}");
    }
}

async fn bad_client_authentication_is_401_invalid_client(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let client = register(&server).await;
    let (access, refresh, _) = tokens(&server, "alice@example.com").await;
    let wrong = Client {
        id: client.id.clone(),
        secret: format!("{}x", client.secret),
    };
    let unknown = Client {
        id: "tac_nobody".to_owned(),
        secret: client.secret.clone(),
    };
    let engine = base64::engine::general_purpose::STANDARD;
    for endpoint in ["/oauth2/revoke", "/oauth2/introspect"] {
        let attempts = [
            Auth::None,
            Auth::Basic(&wrong),
            Auth::Post(&wrong),
            Auth::Basic(&unknown),
            Auth::Header("Basic not-base64!".to_owned()),
            Auth::Header(format!("Basic {}", engine.encode(&client.id))),
            Auth::Header(format!("Bearer {access}")),
        ];
        for auth in attempts {
            assert_invalid_client(call(&server, endpoint, auth, Some(&refresh)).await).await;
        }
    }
    // Nothing was revoked by the failed attempts.
    assert_eq!(server.get_bearer("/v1/me", &access).await.status(), 200);
    assert_eq!(server.refresh(&refresh).await.status(), 200);
}

async fn introspection_reports_active_tokens(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let client = register(&server).await;
    let (access, refresh, body) = tokens(&server, "alice@example.com").await;
    let (_, claims) = jwt_parts(&access);

    let active = introspect(&server, &client, &access).await;
    assert_eq!(active["active"], true, "{active}");
    assert_eq!(active["token_type"], "access_token");
    for claim in [
        "sub", "sid", "aud", "iss", "exp", "iat", "nbf", "jti", "roles",
    ] {
        assert_eq!(active[claim], claims[claim], "{claim}");
    }
    assert_eq!(active["sid"], body["session_id"]);
    for absent in ["scope", "client_id", "username"] {
        assert!(active.get(absent).is_none(), "{absent}");
    }

    let live = introspect(&server, &client, &refresh).await;
    assert_eq!(live["active"], true, "{live}");
    assert_eq!(live["token_type"], "refresh_token");
    assert_eq!(live["sub"], claims["sub"]);
    assert_eq!(live["sid"], claims["sid"]);
    let expected_exp = claims["iat"].as_i64().unwrap() + 30 * 86_400;
    assert!(
        (live["exp"].as_i64().unwrap() - expected_exp).abs() <= 1,
        "{live}"
    );

    // Introspection consumed nothing: the refresh token still rotates, then is inactive.
    let rotated = server.refresh(&refresh).await;
    assert_eq!(rotated.status(), 200);
    let rotated: Value = rotated.json().await.unwrap();
    assert_eq!(
        introspect(&server, &client, &refresh).await,
        serde_json::json!({"active": false})
    );
    let next = rotated["refresh_token"].as_str().unwrap();
    assert_eq!(introspect(&server, &client, next).await["active"], true);
}

async fn introspection_reports_inactive_tokens(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let client = register(&server).await;
    let inactive = serde_json::json!({"active": false});
    for garbage in ["garbage", "a.b.c", &"A".repeat(43)] {
        assert_eq!(
            introspect(&server, &client, garbage).await,
            inactive,
            "{garbage}"
        );
    }

    // Revoked: logout ends the session of both tokens.
    let (access, refresh, _) = tokens(&server, "alice@example.com").await;
    let logout = server
        .client
        .post(server.url("/v1/logout"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert!(logout.status().is_success());
    assert_eq!(introspect(&server, &client, &access).await, inactive);
    assert_eq!(introspect(&server, &client, &refresh).await, inactive);

    // Expired.
    let (access, _, _) = tokens(&server, "bob@example.com").await;
    assert_eq!(introspect(&server, &client, &access).await["active"], true);
    server.advance(Duration::from_secs(16 * 60));
    assert_eq!(introspect(&server, &client, &access).await, inactive);
}

/// RFC 7009 §2.1: a client may revoke only tokens issued to it, and a user's sessions are issued
/// to no client. Without `revoke_any` a revocation is a silent 200 that revokes nothing; without
/// `introspect` every token is `{"active": false}`; each permission grants only its endpoint.
async fn clients_act_on_others_tokens_only_with_the_permission(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let register_with = |name: &'static str, permissions: ClientPermissions| {
        let server = &server;
        async move {
            let (client, secret) = server
                .state
                .auth
                .clients()
                .register(name, permissions)
                .await
                .unwrap();
            Client {
                id: client.client_id,
                secret: secret.expose().to_owned(),
            }
        }
    };
    let bare = register_with("bare", ClientPermissions::NONE).await;
    let introspector = register_with(
        "introspector",
        [ClientPermission::Introspect].into_iter().collect(),
    )
    .await;
    let revoker = register_with(
        "revoker",
        [ClientPermission::RevokeAny].into_iter().collect(),
    )
    .await;
    let (access, refresh, _) = tokens(&server, "alice@example.com").await;
    let inactive = serde_json::json!({"active": false});

    for client in [&bare, &revoker] {
        assert_eq!(introspect(&server, client, &access).await, inactive);
        assert_eq!(introspect(&server, client, &refresh).await, inactive);
    }
    for client in [&bare, &introspector] {
        for token in [&refresh, &access] {
            let response = call(&server, "/oauth2/revoke", Auth::Basic(client), Some(token)).await;
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["cache-control"], "no-store");
        }
    }
    // Nothing was revoked: the session's tokens still work, and the refresh token rotates.
    assert_eq!(server.get_bearer("/v1/me", &access).await.status(), 200);
    assert_eq!(
        introspect(&server, &introspector, &access).await["active"],
        true
    );
    let response = server.refresh(&refresh).await;
    assert_eq!(response.status(), 200);
    let rotated: Value = response.json().await.unwrap();
    let refresh = rotated["refresh_token"].as_str().unwrap().to_owned();
    let access = rotated["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        introspect(&server, &introspector, &refresh).await["active"],
        true
    );

    // With the permission it works.
    let response = call(
        &server,
        "/oauth2/revoke",
        Auth::Basic(&revoker),
        Some(&refresh),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_session_dead(&server, &access, &refresh).await;
    assert_eq!(introspect(&server, &introspector, &refresh).await, inactive);
}

async fn discovery_lists_the_oauth_endpoints(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let doc: Value = server
        .client
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["revocation_endpoint"],
        format!("{}/oauth2/revoke", server.base)
    );
    assert_eq!(
        doc["introspection_endpoint"],
        format!("{}/oauth2/introspect", server.base)
    );
    let methods = serde_json::json!(["client_secret_basic", "client_secret_post"]);
    assert_eq!(doc["revocation_endpoint_auth_methods_supported"], methods);
    assert_eq!(
        doc["introspection_endpoint_auth_methods_supported"],
        methods
    );
}

each_backend!(
    revoking_a_refresh_token_ends_its_session,
    revoking_an_access_token_ends_its_session,
    unknown_tokens_are_200_and_a_missing_token_is_400,
    bad_client_authentication_is_401_invalid_client,
    introspection_reports_active_tokens,
    introspection_reports_inactive_tokens,
    clients_act_on_others_tokens_only_with_the_permission,
    discovery_lists_the_oauth_endpoints,
);
