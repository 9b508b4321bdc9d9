//! Real answers of every endpoint, errors included, checked against the document the server
//! serves (with `tests/conformance`), and that checker's own strictness.

use crate::{common, conformance};

use common::{Options, PASSWORD, TestServer};
use conformance::{Document, Received};
use reqwest::Method;
use serde_json::{Value, json};
use tokenauth_core::client::ClientPermissions;

use super::{concrete, fetch_document};

/// Sends a request and checks its answer against the document.
struct Checker<'a> {
    server: &'a TestServer,
    document: Document,
}

impl Checker<'_> {
    async fn check(
        &self,
        method: &str,
        path: &str,
        request: reqwest::RequestBuilder,
        expect: u16,
    ) -> Received {
        let received = Received::from(request.send().await.unwrap()).await;
        assert_eq!(
            received.status,
            expect,
            "{method} {path}: {}",
            String::from_utf8_lossy(&received.body)
        );
        self.document.assert_conforms(method, path, &received);
        received
    }

    fn request(&self, method: &str, path: &str) -> reqwest::RequestBuilder {
        let verb = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        self.server.client.request(verb, self.server.url(path))
    }

    fn json(&self, method: &str, path: &str, body: Value) -> reqwest::RequestBuilder {
        self.request(method, path).json(&body)
    }
}

#[tokio::test]
async fn every_endpoint_answers_as_documented() {
    let server = TestServer::start().await;
    let c = Checker {
        server: &server,
        document: Document(fetch_document(&server).await),
    };
    let credentials = json!({"email": "doc@example.com", "password": PASSWORD});

    // Sign-up, login, refresh, and their errors.
    let signed_up = c
        .check(
            "post",
            "/v1/signup",
            c.json("post", "/v1/signup", credentials.clone()),
            201,
        )
        .await
        .json();
    c.check(
        "post",
        "/v1/signup",
        c.json("post", "/v1/signup", credentials.clone()),
        409,
    )
    .await;
    let bad = json!({"email": "not-an-email", "password": PASSWORD});
    c.check("post", "/v1/signup", c.json("post", "/v1/signup", bad), 400)
        .await;
    let text = c.request("post", "/v1/signup").body("email=a");
    c.check("post", "/v1/signup", text, 415).await;
    let huge = json!({"email": "a@example.com", "password": "x".repeat(20_000)});
    c.check(
        "post",
        "/v1/signup",
        c.json("post", "/v1/signup", huge),
        413,
    )
    .await;
    let login = c
        .check(
            "post",
            "/v1/login",
            c.json("post", "/v1/login", credentials.clone()),
            200,
        )
        .await
        .json();
    let wrong = json!({"email": "doc@example.com", "password": "wrong password"});
    c.check("post", "/v1/login", c.json("post", "/v1/login", wrong), 401)
        .await;
    let cookie_login = c
        .json("post", "/v1/login", credentials.clone())
        .header("x-token-transport", "cookie");
    let cookie_body = c.check("post", "/v1/login", cookie_login, 200).await.json();
    assert_eq!(cookie_body["token_type"], "cookie");
    let bad_transport = c
        .json("post", "/v1/login", credentials.clone())
        .header("x-token-transport", "smoke-signals");
    c.check("post", "/v1/login", bad_transport, 400).await;
    let refresh = json!({"refresh_token": signed_up["refresh_token"]});
    let refreshed = c
        .check(
            "post",
            "/v1/refresh",
            c.json("post", "/v1/refresh", refresh.clone()),
            200,
        )
        .await
        .json();
    let garbage = json!({"refresh_token": "garbage"});
    c.check(
        "post",
        "/v1/refresh",
        c.json("post", "/v1/refresh", garbage),
        401,
    )
    .await;
    c.check(
        "post",
        "/v1/refresh",
        c.json("post", "/v1/refresh", json!({})),
        400,
    )
    .await;

    // The account, with the refreshed session's token.
    let access = refreshed["access_token"].as_str().unwrap().to_owned();
    let bearer = |method: &str, path: &str| c.request(method, path).bearer_auth(&access);
    c.check("get", "/v1/me", bearer("get", "/v1/me"), 200).await;
    c.check("get", "/v1/me", c.request("get", "/v1/me"), 401)
        .await;
    let forged = c.request("get", "/v1/me").bearer_auth("a.b.c");
    c.check("get", "/v1/me", forged, 401).await;
    let sessions = c
        .check("get", "/v1/sessions", bearer("get", "/v1/sessions"), 200)
        .await
        .json();
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 3);
    let unknown = concrete("/v1/sessions/{id}");
    c.check(
        "delete",
        "/v1/sessions/{id}",
        bearer("delete", &unknown),
        404,
    )
    .await;
    let login_session = format!("/v1/sessions/{}", login["session_id"].as_str().unwrap());
    c.check(
        "delete",
        "/v1/sessions/{id}",
        bearer("delete", &login_session),
        204,
    )
    .await;
    for (method, path) in [
        ("get", "/v1/verify"),
        ("post", "/v1/verify"),
        ("head", "/v1/verify"),
        ("get", "/v1/verify/{path}"),
        ("delete", "/v1/verify/{path}"),
    ] {
        c.check(method, path, bearer(method, &concrete(path)), 200)
            .await;
        c.check(method, path, c.request(method, &concrete(path)), 401)
            .await;
    }
    let weak = json!({"current_password": PASSWORD, "new_password": "short"});
    c.check(
        "post",
        "/v1/password",
        bearer("post", "/v1/password").json(&weak),
        400,
    )
    .await;
    let wrong =
        json!({"current_password": "not it at all", "new_password": "a brand new passphrase"});
    c.check(
        "post",
        "/v1/password",
        bearer("post", "/v1/password").json(&wrong),
        401,
    )
    .await;
    let change = json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"});
    c.check(
        "post",
        "/v1/password",
        bearer("post", "/v1/password").json(&change),
        204,
    )
    .await;
    c.check("get", "/v1/me/export", bearer("get", "/v1/me/export"), 200)
        .await;
    c.check(
        "get",
        "/v1/me/export",
        c.request("get", "/v1/me/export"),
        401,
    )
    .await;
    let wrong = json!({"password": "not the password at all"});
    c.check(
        "delete",
        "/v1/me",
        bearer("delete", "/v1/me").json(&wrong),
        401,
    )
    .await;
    c.check(
        "delete",
        "/v1/me",
        bearer("delete", "/v1/me").json(&json!({})),
        400,
    )
    .await;

    // API clients: introspection, revocation and the revocation feed.
    let (client, secret) = server
        .state
        .auth
        .clients()
        .register("docs", ClientPermissions::all())
        .await
        .unwrap();
    let (id, secret) = (client.client_id, secret.expose().to_owned());
    let anonymous_form = |path: &str, token: &str| {
        c.request("post", path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
    };
    let form = |path: &str, token: &str| anonymous_form(path, token).basic_auth(&id, Some(&secret));
    let live_refresh = refreshed["refresh_token"].as_str().unwrap();
    for token in [access.as_str(), live_refresh, "unknown"] {
        c.check(
            "post",
            "/oauth2/introspect",
            form("/oauth2/introspect", token),
            200,
        )
        .await;
    }
    let no_token = form("/oauth2/introspect", "").body("");
    c.check("post", "/oauth2/introspect", no_token, 400).await;
    let anonymous = anonymous_form("/oauth2/introspect", "x");
    c.check("post", "/oauth2/introspect", anonymous, 401).await;
    c.check(
        "post",
        "/oauth2/revoke",
        form("/oauth2/revoke", "unknown"),
        200,
    )
    .await;
    let anonymous = anonymous_form("/oauth2/revoke", "x").header("authorization", "Basic");
    c.check("post", "/oauth2/revoke", anonymous, 401).await;
    let feed = |query: &str| {
        c.request("get", &format!("/v1/revocations{query}"))
            .basic_auth(&id, Some(&secret))
    };
    let page = c
        .check("get", "/v1/revocations", feed(""), 200)
        .await
        .json();
    assert!(!page["revocations"].as_array().unwrap().is_empty());
    c.check("get", "/v1/revocations", feed("?after=nonsense"), 400)
        .await;
    c.check("get", "/v1/revocations", feed("?wait=soon"), 400)
        .await;
    c.check("get", "/v1/revocations", feed("?wait=-1"), 400)
        .await;
    c.check(
        "get",
        "/v1/revocations",
        c.request("get", "/v1/revocations"),
        401,
    )
    .await;

    // Logging out, one session and all of them.
    c.check("post", "/v1/logout", bearer("post", "/v1/logout"), 204)
        .await;
    c.check("post", "/v1/logout", bearer("post", "/v1/logout"), 401)
        .await;
    let other = c
        .check(
            "post",
            "/v1/login",
            c.json(
                "post",
                "/v1/login",
                json!({
            "email": "doc@example.com", "password": "a brand new passphrase"}),
            ),
            200,
        )
        .await
        .json();
    let everywhere = c
        .request("delete", "/v1/sessions")
        .bearer_auth(other["access_token"].as_str().unwrap());
    c.check("delete", "/v1/sessions", everywhere, 204).await;

    // Discovery, health, the UI, and an oversized header.
    for path in [
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
        "/openapi.json",
        "/healthz",
        "/readyz",
        "/",
        "/ui/app.js",
        "/ui/tokenauth-client.js",
        "/ui/app.css",
    ] {
        c.check("get", path, c.request("get", path), 200).await;
    }
    let big = c
        .request("get", "/healthz")
        .header("x-padding", "p".repeat(20_000));
    c.check("get", "/healthz", big, 431).await;
    c.check("get", "/metrics", c.request("get", "/metrics"), 200)
        .await;

    // Last, as it ends the account: erasure.
    let erasable = c
        .check(
            "post",
            "/v1/signup",
            c.json(
                "post",
                "/v1/signup",
                json!({"email": "erase@example.com", "password": PASSWORD}),
            ),
            201,
        )
        .await
        .json();
    let erase = c
        .request("delete", "/v1/me")
        .bearer_auth(erasable["access_token"].as_str().unwrap())
        .json(&json!({"password": PASSWORD}));
    c.check("delete", "/v1/me", erase, 204).await;
}

#[tokio::test]
async fn uniform_sign_up_answers_as_documented() {
    let server =
        TestServer::start_with(Options::default().with("signup_response", "uniform")).await;
    let c = Checker {
        server: &server,
        document: Document(fetch_document(&server).await),
    };
    let credentials = json!({"email": "same@example.com", "password": PASSWORD});
    for _ in 0..2 {
        let request = c.json("post", "/v1/signup", credentials.clone());
        c.check("post", "/v1/signup", request, 202).await;
    }
}

/// The checker the test above relies on refuses what the document does not say.
#[test]
fn the_conformance_checker_refuses_undocumented_shapes() {
    let document =
        Document(serde_json::to_value(tokenauth_server::http::openapi::document()).unwrap());
    let schema = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    assert!(
        document
            .check(&schema("Health"), &json!({"status": "ok"}), "$")
            .is_ok()
    );
    for (name, value) in [
        ("Health", json!({"status": "ok", "extra": 1})),
        ("Health", json!({})),
        ("Health", json!({"status": 1})),
        (
            "Revocation",
            json!({"sid": "s", "revoked_at_ms": 1.5, "alive_until_ms": 2}),
        ),
        // A cookie-mode body with the header-mode token type fits neither option.
        (
            "TokenResponse",
            json!({"token_type": "Bearer", "expires_in": 1, "refresh_token_expires_in": 1, "session_id": "s"}),
        ),
        (
            "Introspection",
            json!({"active": true, "token_type": "id_token"}),
        ),
    ] {
        assert!(
            document.check(&schema(name), &value, "$").is_err(),
            "{name} accepted {value}"
        );
    }
}
