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

    /// `POST path` (a path without parameters) with the JSON `body`, checked.
    async fn post_json(&self, path: &str, body: Value, expect: u16) -> Received {
        self.check("post", path, self.json("post", path, body), expect)
            .await
    }

    /// `method path` (a path without parameters) with nothing added, checked.
    async fn plain(&self, method: &str, path: &str, expect: u16) -> Received {
        self.check(method, path, self.request(method, path), expect)
            .await
    }

    /// A request for `method path` with `access` as the bearer token.
    fn bearer(&self, method: &str, path: &str, access: &str) -> reqwest::RequestBuilder {
        self.request(method, path).bearer_auth(access)
    }
}

#[tokio::test]
async fn every_endpoint_answers_as_documented() {
    let server = TestServer::start().await;
    let c = Checker {
        server: &server,
        document: Document(fetch_document(&server).await),
    };
    let (login, refreshed) = sign_up_log_in_and_refresh(&c).await;
    // The account, with the refreshed session's token.
    let access = refreshed["access_token"].as_str().unwrap();
    the_account_and_its_sessions(&c, access, &login).await;
    password_export_and_erasure_errors(&c, access).await;
    let live_refresh = refreshed["refresh_token"].as_str().unwrap();
    api_clients(&c, access, live_refresh).await;
    logging_out(&c, access).await;
    discovery_health_and_the_ui(&c).await;
    // Last, as it ends the account: erasure.
    let erasable = json!({"email": "erase@example.com", "password": PASSWORD});
    let erasable = c.post_json("/v1/signup", erasable, 201).await.json();
    let erase = c
        .bearer(
            "delete",
            "/v1/me",
            erasable["access_token"].as_str().unwrap(),
        )
        .json(&json!({"password": PASSWORD}));
    c.check("delete", "/v1/me", erase, 204).await;
}

/// Sign-up, login (also in cookie mode), refresh, and their errors, as `doc@example.com`
/// with [`PASSWORD`]; the header-mode login's and the refresh's answers.
async fn sign_up_log_in_and_refresh(c: &Checker<'_>) -> (Value, Value) {
    let credentials = json!({"email": "doc@example.com", "password": PASSWORD});
    let signed_up = c.post_json("/v1/signup", credentials.clone(), 201).await;
    let signed_up = signed_up.json();
    c.post_json("/v1/signup", credentials.clone(), 409).await;
    let bad = json!({"email": "not-an-email", "password": PASSWORD});
    c.post_json("/v1/signup", bad, 400).await;
    let text = c.request("post", "/v1/signup").body("email=a");
    c.check("post", "/v1/signup", text, 415).await;
    let huge = json!({"email": "a@example.com", "password": "x".repeat(20_000)});
    c.post_json("/v1/signup", huge, 413).await;
    let login = c.post_json("/v1/login", credentials.clone(), 200).await;
    let login = login.json();
    let wrong = json!({"email": "doc@example.com", "password": "wrong password"});
    c.post_json("/v1/login", wrong, 401).await;
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
    let refreshed = c.post_json("/v1/refresh", refresh, 200).await.json();
    let garbage = json!({"refresh_token": "garbage"});
    c.post_json("/v1/refresh", garbage, 401).await;
    c.post_json("/v1/refresh", json!({}), 400).await;
    (login, refreshed)
}

/// With `access`: who am I (and without or with a forged token), the three sessions, revoking
/// an unknown one and `login`'s, and every forward-auth method with and without the token.
async fn the_account_and_its_sessions(c: &Checker<'_>, access: &str, login: &Value) {
    c.check("get", "/v1/me", c.bearer("get", "/v1/me", access), 200)
        .await;
    c.plain("get", "/v1/me", 401).await;
    let forged = c.bearer("get", "/v1/me", "a.b.c");
    c.check("get", "/v1/me", forged, 401).await;
    let sessions = c.bearer("get", "/v1/sessions", access);
    let sessions = c.check("get", "/v1/sessions", sessions, 200).await.json();
    assert_eq!(sessions["sessions"].as_array().unwrap().len(), 3);
    let unknown = c.bearer("delete", &concrete("/v1/sessions/{id}"), access);
    c.check("delete", "/v1/sessions/{id}", unknown, 404).await;
    let login_session = format!("/v1/sessions/{}", login["session_id"].as_str().unwrap());
    let login_session = c.bearer("delete", &login_session, access);
    c.check("delete", "/v1/sessions/{id}", login_session, 204)
        .await;
    for (method, path) in [
        ("get", "/v1/verify"),
        ("post", "/v1/verify"),
        ("head", "/v1/verify"),
        ("get", "/v1/verify/{path}"),
        ("delete", "/v1/verify/{path}"),
    ] {
        c.check(method, path, c.bearer(method, &concrete(path), access), 200)
            .await;
        c.check(method, path, c.request(method, &concrete(path)), 401)
            .await;
    }
}

/// With `access`: a password change to a too weak password, one with a wrong current password,
/// then one to "a brand new passphrase"; the export (and without the token); erasure with a
/// wrong password and without one.
async fn password_export_and_erasure_errors(c: &Checker<'_>, access: &str) {
    let change = |body: &Value| c.bearer("post", "/v1/password", access).json(body);
    let weak = json!({"current_password": PASSWORD, "new_password": "short"});
    c.check("post", "/v1/password", change(&weak), 400).await;
    let wrong =
        json!({"current_password": "not it at all", "new_password": "a brand new passphrase"});
    c.check("post", "/v1/password", change(&wrong), 401).await;
    let changed = json!({"current_password": PASSWORD, "new_password": "a brand new passphrase"});
    c.check("post", "/v1/password", change(&changed), 204).await;
    let export = c.bearer("get", "/v1/me/export", access);
    c.check("get", "/v1/me/export", export, 200).await;
    c.plain("get", "/v1/me/export", 401).await;
    let erase = |body: &Value| c.bearer("delete", "/v1/me", access).json(body);
    let wrong = json!({"password": "not the password at all"});
    c.check("delete", "/v1/me", erase(&wrong), 401).await;
    c.check("delete", "/v1/me", erase(&json!({})), 400).await;
}

/// API clients: introspection (of `access`, of `live_refresh` and of an unknown token),
/// revocation and the revocation feed, with their errors.
async fn api_clients(c: &Checker<'_>, access: &str, live_refresh: &str) {
    let (client, secret) = c
        .server
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
    for token in [access, live_refresh, "unknown"] {
        let introspect = form("/oauth2/introspect", token);
        c.check("post", "/oauth2/introspect", introspect, 200).await;
    }
    let no_token = form("/oauth2/introspect", "").body("");
    c.check("post", "/oauth2/introspect", no_token, 400).await;
    let anonymous = anonymous_form("/oauth2/introspect", "x");
    c.check("post", "/oauth2/introspect", anonymous, 401).await;
    let revoke = form("/oauth2/revoke", "unknown");
    c.check("post", "/oauth2/revoke", revoke, 200).await;
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
    for query in ["?after=nonsense", "?wait=soon", "?wait=-1"] {
        c.check("get", "/v1/revocations", feed(query), 400).await;
    }
    c.plain("get", "/v1/revocations", 401).await;
}

/// Logging out: the session of `access`, then again (refused), then everywhere from a login
/// with the changed password.
async fn logging_out(c: &Checker<'_>, access: &str) {
    let logout = || c.bearer("post", "/v1/logout", access);
    c.check("post", "/v1/logout", logout(), 204).await;
    c.check("post", "/v1/logout", logout(), 401).await;
    let changed = json!({"email": "doc@example.com", "password": "a brand new passphrase"});
    let other = c.post_json("/v1/login", changed, 200).await.json();
    let everywhere = c.bearer(
        "delete",
        "/v1/sessions",
        other["access_token"].as_str().unwrap(),
    );
    c.check("delete", "/v1/sessions", everywhere, 204).await;
}

/// Discovery, health, the UI, metrics, and an oversized header.
async fn discovery_health_and_the_ui(c: &Checker<'_>) {
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
        c.plain("get", path, 200).await;
    }
    let big = c
        .request("get", "/healthz")
        .header("x-padding", "p".repeat(20_000));
    c.check("get", "/healthz", big, 431).await;
    c.plain("get", "/metrics", 200).await;
}

#[tokio::test]
async fn uniform_sign_up_answers_as_documented() {
    let server =
        TestServer::start_with(Options::default().configure(move |c| {
            c.signup_response = tokenauth_server::config::SignupResponse::Uniform
        }))
        .await;
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
