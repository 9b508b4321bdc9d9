//! The nginx `auth_request` configuration of docs/forward-auth.md, run against a real nginx
//! (Debian's package; `.ci/run` installs it). Without nginx the test says so and passes.

use crate::common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use common::process::free_port;
use common::{PASSWORD, TestServer};
use serde_json::Value;

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nginx_binary() -> Option<String> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|path| Path::new(path).exists())
        .map(str::to_owned)
}

/// An upstream API that echoes the identity nginx passed on.
async fn start_upstream() -> u16 {
    let app = Router::new().route(
        "/{*path}",
        get(|headers: HeaderMap| async move {
            let get = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned()
            };
            axum::Json(serde_json::json!({
                "user": get("x-auth-user"),
                "session": get("x-auth-session"),
                "roles": get("x-auth-roles"),
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

/// The configuration of docs/forward-auth.md for an nginx listening on `port`, keeping its
/// files in `dir`, asking the auth server on `auth_port` and proxying to `upstream`.
fn nginx_conf(dir: &Path, auth_port: &str, upstream: u16, port: u16) -> String {
    format!(
        r#"
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
    upstream tokenauth {{ server 127.0.0.1:{auth_port}; }}
    upstream api {{ server 127.0.0.1:{upstream}; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            auth_request /_tokenauth;
            auth_request_set $auth_user    $upstream_http_x_auth_user;
            auth_request_set $auth_session $upstream_http_x_auth_session;
            auth_request_set $auth_roles   $upstream_http_x_auth_roles;
            proxy_set_header X-Auth-User    $auth_user;
            proxy_set_header X-Auth-Session $auth_session;
            proxy_set_header X-Auth-Roles   $auth_roles;
            proxy_pass http://api;
        }}
        location = /_tokenauth {{
            internal;
            proxy_pass http://tokenauth/v1/verify;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Authorization $http_authorization;
            proxy_set_header X-Original-Method $request_method;
        }}
        location /v1/ {{ proxy_pass http://tokenauth; }}
    }}
}}
"#,
        dir = dir.display()
    )
}

/// nginx as configured by [`nginx_conf`], in front of `server` and `upstream`, once it
/// answers; stopped when dropped.
struct Proxy {
    base: String,
    client: reqwest::Client,
    /// Declared before `prefix`, so that nginx is stopped before its directory goes.
    _nginx: KillOnDrop,
    prefix: tempfile::TempDir,
}

impl Proxy {
    /// Starts `nginx` in front of `server` and `upstream` and waits (up to 5 s) until it
    /// answers.
    async fn start(nginx: &str, server: &TestServer, upstream: u16) -> Self {
        let auth_port = server.base.rsplit(':').next().unwrap();
        let port = free_port();
        let prefix = tempfile::tempdir().unwrap();
        let conf = prefix.path().join("nginx.conf");
        std::fs::write(&conf, nginx_conf(prefix.path(), auth_port, upstream, port)).unwrap();
        let nginx = KillOnDrop(
            Command::new(nginx)
                .arg("-p")
                .arg(prefix.path())
                .arg("-c")
                .arg(&conf)
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("nginx starts"),
        );
        let proxy = Self {
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            _nginx: nginx,
            prefix,
        };
        let mut ready = false;
        for _ in 0..100 {
            if proxy.get("/v1/nothing").send().await.is_ok() {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            ready,
            "nginx did not come up; see {}/error.log",
            proxy.prefix.path().display()
        );
        proxy
    }

    /// A `GET path` through nginx.
    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(format!("{}{path}", self.base))
    }

    /// A `POST path` through nginx.
    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.post(format!("{}{path}", self.base))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_auth_request_protects_an_upstream() {
    let Some(nginx) = nginx_binary() else {
        eprintln!(
            "SKIPPED nginx_auth_request_protects_an_upstream: nginx is not installed (apt-get install nginx)"
        );
        return;
    };
    let server = TestServer::start().await;
    let upstream = start_upstream().await;
    let proxy = Proxy::start(&nginx, &server, upstream).await;

    // Sign up through nginx, then call the protected upstream.
    let signup: Value = proxy
        .post("/v1/signup")
        .json(&serde_json::json!({"email": "nginx@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signup["access_token"].as_str().unwrap();
    only_a_valid_bearer_token_reaches_the_upstream(&proxy, &signup, token).await;
    a_cross_site_post_by_cookie_is_refused_at_the_proxy(&proxy).await;

    // After logout the same token is refused at the proxy.
    let logout = proxy.post("/v1/logout").bearer_auth(token).send().await;
    assert_eq!(logout.unwrap().status(), 204);
    let after = proxy.get("/notes").bearer_auth(token).send().await;
    assert_eq!(after.unwrap().status(), 401);
}

/// `/notes` through nginx answers 401 without a token, with a forged one and with a smuggled
/// identity header; with `token` (of the answer `signup`) the upstream gets its user and
/// session.
async fn only_a_valid_bearer_token_reaches_the_upstream(
    proxy: &Proxy,
    signup: &Value,
    token: &str,
) {
    let denied = proxy.get("/notes").send().await.unwrap();
    assert_eq!(denied.status(), 401, "no token");
    let forged = proxy
        .get("/notes")
        .bearer_auth("x.y.z")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401, "bad token");
    // A client cannot smuggle its own identity headers past nginx.
    let smuggled = proxy
        .get("/notes")
        .header("x-auth-user", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(smuggled.status(), 401);

    let allowed = proxy.get("/notes").bearer_auth(token).send().await.unwrap();
    assert_eq!(allowed.status(), 200);
    let echoed: Value = allowed.json().await.unwrap();
    assert_eq!(echoed["user"], signup["user"]["id"]);
    assert_eq!(echoed["session"], signup["session_id"]);
}

/// A cross-site POST authenticated by the access cookie is refused at the proxy although
/// nginx asks with GET (issue 15 item 4); a cross-site GET (a link) passes.
async fn a_cross_site_post_by_cookie_is_refused_at_the_proxy(proxy: &Proxy) {
    let cookie_signup = proxy
        .post("/v1/signup")
        .header("x-token-transport", "cookie")
        .json(&serde_json::json!({"email": "nginx-cookie@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(cookie_signup.status(), 201);
    let access_cookie = cookie_signup
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("tokenauth_access="))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    let cross_site = |request: reqwest::RequestBuilder| {
        request
            .header("cookie", access_cookie.clone())
            .header("origin", "https://evil.example")
            .header("sec-fetch-site", "cross-site")
    };
    let form_post = cross_site(proxy.post("/notes"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("x=1")
        .send()
        .await
        .unwrap();
    assert_eq!(form_post.status(), 403, "cross-site POST by cookie");
    let link = cross_site(proxy.get("/notes")).send().await.unwrap();
    assert_eq!(link.status(), 200, "cross-site GET by cookie");
}
