//! The per-client-IP buckets (per instance) of sign-up, login, refresh and the password
//! re-checks, and whose `X-Forwarded-For` is believed for them and for the sessions' addresses.

use crate::common;

use common::{Options, PASSWORD, TestServer, access_token, refresh_token};
use std::time::Duration;

use serde_json::{Value, json};

use super::{WRONG, change_password, delete_me, retry_after};

/// A server whose login, sign-up and refresh buckets hold 3 requests, refilling one every 20 s,
/// believing the `X-Forwarded-For` of `trusted_proxies`.
async fn server_with_small_buckets(trusted_proxies: &[&str]) -> TestServer {
    let trusted_proxies = common::trusted_proxies(trusted_proxies);
    let options = Options::default().configure(move |c| {
        c.throttling.rate_limit_login = common::rate(3, Duration::from_secs(60));
        c.throttling.rate_limit_signup = common::rate(3, Duration::from_secs(60));
        c.throttling.rate_limit_refresh = common::rate(3, Duration::from_secs(60));
        c.throttling.trusted_proxies = trusted_proxies;
    });
    TestServer::start_with(options).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_ip_buckets_refuse_floods_of_signup_login_and_refresh() {
    let server = server_with_small_buckets(&[]).await;
    let first = server.signup("flood0@example.com", PASSWORD).await;
    server.signup("flood1@example.com", PASSWORD).await;
    server.signup("flood2@example.com", PASSWORD).await;
    let wait = retry_after(
        server
            .post_json(
                "/v1/signup",
                json!({"email": "flood3@example.com", "password": PASSWORD}),
            )
            .await,
    )
    .await;
    assert!((19..=20).contains(&wait), "{wait}");

    // Each route has its own bucket: logins still go through, three of them.
    for _ in 0..3 {
        assert_eq!(
            server.login("flood0@example.com", PASSWORD).await.status(),
            200
        );
    }
    retry_after(server.login("flood0@example.com", PASSWORD).await).await;
    // A flood of malformed requests empties the bucket as well.
    let refresh = refresh_token(&first);
    assert_eq!(server.refresh(&refresh).await.status(), 200);
    assert_eq!(server.refresh("garbage").await.status(), 401);
    let response = server
        .client
        .post(server.url("/v1/refresh"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    retry_after(server.refresh("garbage").await).await;

    // Other routes have no bucket.
    let response = server.get_bearer("/v1/me", &access_token(&first)).await;
    assert_eq!(response.status(), 200);
}

/// Logs `email` in with `X-Forwarded-For: forwarded` (none when `None`); returns the answer.
async fn login_from(
    server: &TestServer,
    email: &str,
    forwarded: Option<&str>,
) -> reqwest::Response {
    let mut request = server
        .client
        .post(server.url("/v1/login"))
        .json(&json!({"email": email, "password": PASSWORD}));
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    request.send().await.unwrap()
}

/// The sessions of the caller whose tokens `body` holds.
async fn sessions(server: &TestServer, body: &Value) -> Vec<Value> {
    let sessions: Value = server
        .get_bearer("/v1/sessions", &access_token(body))
        .await
        .json()
        .await
        .unwrap();
    sessions["sessions"].as_array().unwrap().clone()
}

/// The `ip` of every session of the caller.
async fn session_ips(server: &TestServer, body: &Value) -> Vec<Value> {
    let all = sessions(server, body).await;
    all.iter().map(|s| s["ip"].clone()).collect()
}

/// The `ip` of the session `body` belongs to.
async fn own_session_ip(server: &TestServer, body: &Value) -> Value {
    let all = sessions(server, body).await;
    let own = all
        .iter()
        .find(|s| s["current"] == true)
        .expect("current session");
    own["ip"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
    let server = server_with_small_buckets(&[]).await;
    let body = server.signup("hal@example.com", PASSWORD).await;
    for forwarded in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        let response = login_from(&server, "hal@example.com", Some(forwarded)).await;
        assert_eq!(response.status(), 200);
    }
    // A fourth address claimed in the header does not get a bucket of its own.
    retry_after(login_from(&server, "hal@example.com", Some("203.0.113.4")).await).await;
    let ips = session_ips(&server, &body).await;
    assert_eq!(ips.len(), 4, "the sign-up and three logins");
    assert!(ips.iter().all(|ip| ip == "127.0.0.1"), "{ips:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_names_the_client_for_buckets_and_sessions() {
    let server = server_with_small_buckets(&["127.0.0.1", "10.0.0.0/8"]).await;
    let body = server.signup("ivy@example.com", PASSWORD).await;
    let ivy = "ivy@example.com";
    for _ in 0..3 {
        let response = login_from(&server, ivy, Some("203.0.113.7")).await;
        assert_eq!(response.status(), 200);
    }
    retry_after(login_from(&server, ivy, Some("203.0.113.7")).await).await;
    // Another client behind the proxy has its own bucket; what a client writes left of the
    // proxy's entry is not believed, and inner proxies (10/8) are skipped.
    let other = login_from(&server, ivy, Some("203.0.113.7, 198.51.100.8, 10.1.2.3")).await;
    assert_eq!(other.status(), 200);
    let newest: Value = other.json().await.unwrap();
    assert_eq!(own_session_ip(&server, &newest).await, "198.51.100.8");
    // IPv6 clients are bucketed by their /64.
    for host in 1..=3 {
        let forwarded = format!("2001:db8:0:1::{host}");
        let response = login_from(&server, ivy, Some(&forwarded)).await;
        assert_eq!(response.status(), 200, "{forwarded}");
    }
    retry_after(login_from(&server, ivy, Some("2001:db8:0:1::ffff")).await).await;
    // A malformed header is worthless: the proxy itself (127.0.0.1) is the client, and its
    // bucket has not been used yet (the signup had its own).
    for _ in 0..3 {
        let response = login_from(&server, ivy, Some("203.0.113.7, not-an-ip")).await;
        assert_eq!(response.status(), 200);
    }
    retry_after(login_from(&server, ivy, None).await).await;
    let ips = session_ips(&server, &body).await;
    assert!(ips.contains(&json!("203.0.113.7")), "{ips:?}");
    assert!(ips.contains(&json!("127.0.0.1")), "{ips:?}");
    assert!(ips.contains(&json!("2001:db8:0:1::1")), "{ips:?}");
    assert!(!ips.contains(&json!("10.1.2.3")), "{ips:?}");
}

/// Every route that checks a password is behind a bucket per address: the re-checks of
/// `POST /v1/password` and `DELETE /v1/me` share one (at the login rate, 3/m here), and when
/// it is empty both are refused before any check, while login keeps its own bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_rechecks_share_a_bucket_per_address() {
    let server = server_with_small_buckets(&[]).await;
    let access = access_token(&server.signup("cy@example.com", PASSWORD).await);
    assert_eq!(change_password(&server, &access, WRONG).await.status(), 401);
    assert_eq!(delete_me(&server, &access, WRONG).await.status(), 401);
    assert_eq!(change_password(&server, &access, WRONG).await.status(), 401);
    retry_after(change_password(&server, &access, PASSWORD).await).await;
    retry_after(delete_me(&server, &access, PASSWORD).await).await;
    assert_eq!(server.login("cy@example.com", PASSWORD).await.status(), 200);
    // Other account routes have no bucket.
    assert_eq!(server.get_bearer("/v1/me", &access).await.status(), 200);
}
