//! Cookie mode, CSRF and CORS over real HTTP: cookie flags and paths, refresh by cookie, a
//! cross-site form post refused, preflights for allowed and disallowed origins, credentials for
//! an allowed origin, and header mode untouched.

use crate::common;

use common::{Options, PASSWORD, TestServer, access_token, assert_problem};
use reqwest::RequestBuilder;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

const APP: &str = "https://app.example.com";
const EVIL: &str = "https://evil.example";

async fn server() -> TestServer {
    TestServer::start_with(
        Options::default().configure(move |c| c.cors_allowed_origins = vec![APP.to_owned()]),
    )
    .await
}

/// The `Set-Cookie` headers of a response, by cookie name.
fn set_cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all("set-cookie")
        .iter()
        .map(|v| {
            let text = v.to_str().unwrap().to_owned();
            let name = text.split('=').next().unwrap().to_owned();
            (name, text)
        })
        .collect()
}

fn cookie_value(set_cookie: &str) -> String {
    let first = set_cookie.split(';').next().unwrap();
    first.split_once('=').unwrap().1.to_owned()
}

/// Signs up in cookie mode; returns (access cookie value, refresh cookie value, body).
async fn cookie_signup(server: &TestServer, email: &str) -> (String, String, Value) {
    let response = server
        .client
        .post(server.url("/v1/signup"))
        .header("x-token-transport", "cookie")
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let cookies = set_cookies(response.headers());
    let body: Value = response.json().await.unwrap();
    let find = |name: &str| {
        cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, text)| cookie_value(text))
            .unwrap()
    };
    (find("tokenauth_access"), find("tokenauth_refresh"), body)
}

fn with_cookie(request: RequestBuilder, name: &str, value: &str) -> RequestBuilder {
    request.header("cookie", format!("{name}={value}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_mode_sets_http_only_cookies_and_no_tokens_in_the_body() {
    let server = server().await;
    let response = server
        .client
        .post(server.url("/v1/signup"))
        .header("x-token-transport", "cookie")
        .json(&json!({"email": "ann@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let cookies = set_cookies(response.headers());
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    let (_, access) = cookies
        .iter()
        .find(|(n, _)| n == "tokenauth_access")
        .unwrap();
    for flag in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=2592000",
    ] {
        assert!(
            access.split("; ").any(|a| a == flag),
            "{access} lacks {flag}"
        );
    }
    assert!(cookie_value(access).starts_with("eyJ"), "the access JWT");
    let (_, refresh) = cookies
        .iter()
        .find(|(n, _)| n == "tokenauth_refresh")
        .unwrap();
    for flag in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/v1/refresh"] {
        assert!(
            refresh.split("; ").any(|a| a == flag),
            "{refresh} lacks {flag}"
        );
    }
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "cookie");
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none());
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["user"]["email"], "ann@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_cookie_authenticates_and_the_refresh_cookie_rotates() {
    let server = server().await;
    let (access, refresh, signup) = cookie_signup(&server, "ann@example.com").await;
    let me = with_cookie(
        server.client.get(server.url("/v1/me")),
        "tokenauth_access",
        &access,
    );
    let me: Value = me.send().await.unwrap().json().await.unwrap();
    assert_eq!(me["claims"]["sid"], signup["session_id"]);
    let verify = with_cookie(
        server.client.get(server.url("/v1/verify")),
        "tokenauth_access",
        &access,
    );
    assert_eq!(verify.send().await.unwrap().status(), 200);

    // Refresh by cookie, no body at all.
    let response = with_cookie(
        server.client.post(server.url("/v1/refresh")),
        "tokenauth_refresh",
        &refresh,
    )
    .header("x-token-transport", "cookie")
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let rotated = set_cookies(response.headers());
    let new_refresh = rotated
        .iter()
        .find(|(n, _)| n == "tokenauth_refresh")
        .map(|(_, t)| cookie_value(t))
        .unwrap();
    assert_ne!(new_refresh, refresh);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "cookie");
    assert!(body.get("refresh_token").is_none());

    // No refresh cookie: 401, and the cookies are cleared.
    let response = server
        .client
        .post(server.url("/v1/refresh"))
        .header("x-token-transport", "cookie")
        .send()
        .await
        .unwrap();
    let cleared = set_cookies(response.headers());
    assert_eq!(cleared.len(), 2);
    assert!(cleared.iter().all(|(_, t)| t.contains("Max-Age=0")));
    assert_problem(response, 401, "invalid_token").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_requests_with_cookies_are_rejected() {
    let server = server().await;
    let (access, _, _) = cookie_signup(&server, "ann@example.com").await;
    let logout = || {
        with_cookie(
            server.client.post(server.url("/v1/logout")),
            "tokenauth_access",
            &access,
        )
    };
    // What a cross-site HTML form sends: the cookie, a form body, no custom header.
    let form_post = logout()
        .header("origin", EVIL)
        .header("sec-fetch-site", "cross-site")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("x=1");
    assert_problem(form_post.send().await.unwrap(), 403, "csrf_rejected").await;
    // The custom header from a disallowed origin (its preflight would have failed anyway).
    let evil_fetch = logout()
        .header("x-token-transport", "cookie")
        .header("origin", EVIL);
    assert_problem(evil_fetch.send().await.unwrap(), 403, "csrf_rejected").await;
    let revoke_all = with_cookie(
        server.client.delete(server.url("/v1/sessions")),
        "tokenauth_access",
        &access,
    );
    assert_problem(revoke_all.send().await.unwrap(), 403, "csrf_rejected").await;
    // Login CSRF: signing the victim into another account from a foreign page.
    let login = server
        .client
        .post(server.url("/v1/login"))
        .header("x-token-transport", "cookie")
        .header("origin", EVIL)
        .json(&json!({"email": "ann@example.com", "password": PASSWORD}));
    assert_problem(login.send().await.unwrap(), 403, "csrf_rejected").await;

    // Nothing happened: the session is alive.
    let me = with_cookie(
        server.client.get(server.url("/v1/me")),
        "tokenauth_access",
        &access,
    );
    assert_eq!(me.send().await.unwrap().status(), 200);

    // The same logout from our own page (or the allowed app) succeeds and clears the cookies.
    let own = logout()
        .header("x-token-transport", "cookie")
        .header("origin", server.base.clone());
    let response = own.send().await.unwrap();
    assert_eq!(response.status(), 204);
    let cleared = set_cookies(response.headers());
    assert!(cleared.len() == 2 && cleared.iter().all(|(_, t)| t.contains("Max-Age=0")));
    let me = with_cookie(
        server.client.get(server.url("/v1/me")),
        "tokenauth_access",
        &access,
    );
    assert_problem(me.send().await.unwrap(), 401, "session_revoked").await;
}

/// Issue 15 item 4: a forward-auth subrequest is judged by the method of the request it checks
/// (`X-Forwarded-Method` from Traefik, `X-Original-Method` from the documented nginx
/// configuration), so a cross-site POST authenticated by the access cookie is refused whatever
/// method the proxy itself uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forward_auth_judges_csrf_by_the_original_method() {
    let server = server().await;
    let (access, _, _) = cookie_signup(&server, "proxied@example.com").await;
    let verify = |method: reqwest::Method| {
        with_cookie(
            server.client.request(method, server.url("/v1/verify")),
            "tokenauth_access",
            &access,
        )
        .header("origin", EVIL)
        .header("sec-fetch-site", "cross-site")
    };
    // The direct POST was refused before; the proxied one must be too.
    let direct = verify(reqwest::Method::POST).send().await.unwrap();
    assert_problem(direct, 403, "csrf_rejected").await;
    for header in ["x-forwarded-method", "x-original-method"] {
        for original in ["POST", "DELETE", "PATCH"] {
            let proxied = verify(reqwest::Method::GET)
                .header(header, original)
                .send()
                .await
                .unwrap();
            assert_eq!(proxied.status(), 403, "{header}: {original}");
            assert_problem(proxied, 403, "csrf_rejected").await;
        }
        // A cross-site navigation (a safe original method) still passes.
        let navigation = verify(reqwest::Method::GET)
            .header(header, "GET")
            .send()
            .await
            .unwrap();
        assert_eq!(navigation.status(), 200, "{header}: GET");
    }
    // With the cookie-mode proof from an allowed origin, a proxied POST passes.
    let from_app = with_cookie(
        server.client.get(server.url("/v1/verify")),
        "tokenauth_access",
        &access,
    )
    .header("x-forwarded-method", "POST")
    .header("x-token-transport", "cookie")
    .header("origin", APP)
    .send()
    .await
    .unwrap();
    assert_eq!(from_app.status(), 200);
}

/// Issue 15 item 12: an `Origin` naming the request's own host passes the CSRF check only with
/// the issuer's scheme: `https://host` is not the origin of an http server, nor `http://host`
/// of an https one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_same_host_origin_must_have_the_issuers_scheme() {
    let server = server().await;
    let (access, _, _) = cookie_signup(&server, "scheme@example.com").await;
    // The server reached under another name than its issuer's (127.0.0.1).
    let host = server.base.replace("http://127.0.0.1", "localhost");
    let revoke_all = |origin: String| {
        with_cookie(
            server.client.delete(server.url("/v1/sessions")),
            "tokenauth_access",
            &access,
        )
        .header("x-token-transport", "cookie")
        .header("host", host.clone())
        .header("origin", origin)
    };
    let wrong_scheme = revoke_all(format!("https://{host}")).send().await.unwrap();
    assert_problem(wrong_scheme, 403, "csrf_rejected").await;
    let me = with_cookie(
        server.client.get(server.url("/v1/me")),
        "tokenauth_access",
        &access,
    );
    assert_eq!(
        me.send().await.unwrap().status(),
        200,
        "nothing was revoked"
    );
    let right_scheme = revoke_all(format!("http://{host}")).send().await.unwrap();
    assert_eq!(right_scheme.status(), 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflights_answer_only_allowed_origins() {
    let server = server().await;
    let preflight = |origin: &str| {
        server
            .client
            .request(reqwest::Method::OPTIONS, server.url("/v1/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,x-token-transport,authorization",
            )
            .send()
    };
    let allowed = preflight(APP).await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let h = allowed.headers();
    assert_eq!(h["access-control-allow-origin"], APP);
    assert_eq!(h["access-control-allow-credentials"], "true");
    assert_eq!(h["access-control-max-age"], "600");
    let allow_headers = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_lowercase();
    for name in ["authorization", "content-type", "x-token-transport"] {
        assert!(allow_headers.contains(name), "{allow_headers} lacks {name}");
    }
    let vary = h
        .get_all("vary")
        .iter()
        .map(|v| v.to_str().unwrap().to_lowercase())
        .collect::<Vec<_>>()
        .join(",");
    assert!(vary.contains("origin"), "{vary}");

    let refused = preflight(EVIL).await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert!(
        refused
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );

    // The real request with credentials from the allowed origin: cookies set, CORS headers on.
    server.signup("ann@example.com", PASSWORD).await;
    let login = server
        .client
        .post(server.url("/v1/login"))
        .header("origin", APP)
        .header("x-token-transport", "cookie")
        .json(&json!({"email": "ann@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    assert_eq!(login.headers()["access-control-allow-origin"], APP);
    assert_eq!(login.headers()["access-control-allow-credentials"], "true");
    assert_eq!(set_cookies(login.headers()).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_mode_needs_no_csrf_header_and_sets_no_cookies() {
    let server = server().await;
    let body = server.signup("ann@example.com", PASSWORD).await;
    let response = server
        .client
        .post(server.url("/v1/logout"))
        .bearer_auth(access_token(&body))
        .header("origin", EVIL)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert!(response.headers().get("set-cookie").is_none());
    let login = server.login("ann@example.com", PASSWORD).await;
    assert!(login.headers().get("set-cookie").is_none());
    // An unknown transport is a client error.
    let odd = server
        .client
        .post(server.url("/v1/login"))
        .header("x-token-transport", "pigeon")
        .json(&json!({"email": "ann@example.com", "password": PASSWORD}));
    assert_problem(odd.send().await.unwrap(), 400, "invalid_request").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_mode_off_refuses_cookies() {
    let server = TestServer::start_with(
        Options::default()
            .configure(move |c| c.cookie_mode = tokenauth_server::config::CookieMode::Off),
    )
    .await;
    let signup = server
        .client
        .post(server.url("/v1/signup"))
        .header("x-token-transport", "cookie")
        .json(&json!({"email": "ann@example.com", "password": PASSWORD}));
    assert_problem(signup.send().await.unwrap(), 400, "invalid_request").await;
    let body = server.signup("ann@example.com", PASSWORD).await;
    let me = with_cookie(
        server.client.get(server.url("/v1/me")),
        "tokenauth_access",
        &access_token(&body),
    );
    assert_problem(me.send().await.unwrap(), 401, "invalid_token").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_issuer_gets_prefixed_cookie_names() {
    let server = TestServer::start_with(Options::default().configure(move |c| {
        c.issuer = "https://auth.example.com".to_owned();
        c.audience = "https://auth.example.com".to_owned();
    }))
    .await;
    let response = server
        .client
        .post(server.url("/v1/signup"))
        .header("x-token-transport", "cookie")
        .json(&json!({"email": "ann@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let names: Vec<String> = set_cookies(response.headers())
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        names,
        ["__Host-tokenauth_access", "__Secure-tokenauth_refresh"]
    );
}

/// `DELETE /v1/me` by cookie: a cross-site request is refused by the CSRF check and erases
/// nothing; the app's own request erases the account and deletes both cookies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_deletion_by_cookie_is_csrf_checked_and_clears_cookies() {
    let server = server().await;
    let (access, _, _) = cookie_signup(&server, "erase@example.com").await;
    let delete = |origin: &'static str| {
        with_cookie(
            server.client.delete(server.url("/v1/me")),
            "tokenauth_access",
            &access,
        )
        .header("origin", origin)
        .header("x-token-transport", "cookie")
        .json(&json!({"password": PASSWORD}))
    };
    assert_problem(delete(EVIL).send().await.unwrap(), 403, "csrf_rejected").await;
    let me = with_cookie(
        server.client.get(server.url("/v1/me")),
        "tokenauth_access",
        &access,
    );
    assert_eq!(me.send().await.unwrap().status(), 200, "nothing was erased");

    let response = delete(APP).send().await.unwrap();
    assert_eq!(response.status(), 204);
    let cleared = set_cookies(response.headers());
    assert_eq!(cleared.len(), 2, "{cleared:?}");
    assert!(cleared.iter().all(|(_, text)| text.contains("Max-Age=0")));
    let login = server.login("erase@example.com", PASSWORD).await;
    assert_problem(login, 401, "invalid_credentials").await;
}
