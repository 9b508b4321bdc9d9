//! Bad tokens: refresh tokens that are garbage, unknown or of the wrong kind are 401
//! `invalid_token`; bad bearer headers and tampered, unsigned, expired or foreign JWTs get 401
//! with an RFC 6750 challenge; tokens in the query string are never accepted; unknown routes and
//! wrong methods are 404 and 405.

use crate::common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{
    Backend, PASSWORD, TestServer, access_token, assert_problem, jwt_parts, refresh_token,
};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::{Value, json};

/// A 401 for a bad bearer token: problem+json with `code` and a Bearer challenge naming
/// `invalid_token`.
async fn assert_token_rejected(response: reqwest::Response, code: &str, what: &str) {
    assert_eq!(response.status(), 401, "{what}");
    let challenge = response
        .headers()
        .get("www-authenticate")
        .unwrap_or_else(|| panic!("{what}: no WWW-Authenticate"))
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Bearer"), "{what}: {challenge}");
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{what}: {challenge}"
    );
    assert_problem(response, 401, code).await;
}
// ---------------------------------------------------------------------------------------------
// Refresh tokens
// ---------------------------------------------------------------------------------------------

async fn bad_refresh_tokens_are_401_invalid_token(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let body = server.signup("refresh@example.com", PASSWORD).await;
    let live = refresh_token(&body);
    let non_ascii_43 = format!("{}é", "a".repeat(41));
    assert_eq!(non_ascii_43.len(), 43);
    for bad in [
        "garbage".to_owned(),
        String::new(),
        " ".to_owned(),
        "a".repeat(44),
        format!("{live}A"),
        live[..42].to_owned(),
        non_ascii_43,
        "é".repeat(43),
        "🔑".repeat(11),
        format!("{}=", &live[..42]),
        format!(" {}", &live[..42]),
        "A".repeat(43), // well-formed, unknown
        access_token(&body),
        "x".repeat(10_000),
    ] {
        let problem = assert_problem(server.refresh(&bad).await, 401, "invalid_token").await;
        if !bad.is_empty() && bad.trim().len() > 3 {
            assert!(
                !problem.to_string().contains(&bad),
                "the token is not echoed"
            );
        }
    }
    // None of that disturbed the live session.
    assert_eq!(server.refresh(&live).await.status(), 200);
}

/// Issue 15 item 6: every 401 about a token carries the RFC 6750 challenge, the reuse of a
/// rotated refresh token (`refresh_token_reused`) and the refresh of its revoked family
/// (`session_revoked`) as much as a bad access token.
async fn refresh_token_reuse_carries_a_bearer_challenge(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let first = server.signup("reuse-challenge@example.com", PASSWORD).await;
    let r0 = refresh_token(&first);
    let r1 = refresh_token(&server.refresh(&r0).await.json::<Value>().await.unwrap());
    server.advance(Duration::from_secs(11));
    assert_token_rejected(server.refresh(&r0).await, "refresh_token_reused", "reuse").await;
    assert_token_rejected(
        server.refresh(&r1).await,
        "session_revoked",
        "revoked family",
    )
    .await;
    assert_token_rejected(
        server.refresh("A".repeat(43).as_str()).await,
        "invalid_token",
        "unknown",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Bearer tokens
// ---------------------------------------------------------------------------------------------

async fn bearer_header_problems_are_401_invalid_token(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let body = server.signup("bearer@example.com", PASSWORD).await;
    let token = access_token(&body);

    let response = server
        .client
        .get(server.url("/v1/me"))
        .send()
        .await
        .unwrap();
    assert_token_rejected(response, "invalid_token", "no header").await;

    for (what, value) in [
        ("basic", "Basic YWxpY2U6c2VjcmV0".to_owned()),
        ("basic with the token", format!("Basic {token}")),
        ("bare token", token.clone()),
        ("scheme only", "Bearer".to_owned()),
        ("scheme and space", "Bearer ".to_owned()),
        ("scheme and spaces", "Bearer    ".to_owned()),
        ("garbage", "Bearer garbage".to_owned()),
        ("three dots", "Bearer a.b.c".to_owned()),
        ("empty segments", "Bearer ..".to_owned()),
        ("two tokens", format!("Bearer {token} {token}")),
        ("token with suffix", format!("Bearer {token}x")),
        (
            "truncated token",
            format!("Bearer {}", &token[..token.len() - 2]),
        ),
        ("huge", format!("Bearer {}", "a".repeat(8000))),
        ("refresh token", format!("Bearer {}", refresh_token(&body))),
        ("other scheme named like bearer", format!("Bearerx {token}")),
    ] {
        let response = server
            .client
            .get(server.url("/v1/me"))
            .header(AUTHORIZATION, value)
            .send()
            .await
            .unwrap();
        assert_token_rejected(response, "invalid_token", what).await;
    }

    // A header value that is not ASCII (obs-text) is refused, not a 400 or a 5xx.
    let response = server
        .client
        .get(server.url("/v1/me"))
        .header(
            AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer \xff\xfeabc").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_token_rejected(response, "invalid_token", "not ASCII").await;

    // The right token still works, and the scheme is case-insensitive (RFC 7235).
    let response = server
        .client
        .get(server.url("/v1/me"))
        .header(AUTHORIZATION, format!("bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn two_authorization_headers_are_refused(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let token = access_token(&server.signup("twice@example.com", PASSWORD).await);
    for second in [format!("Bearer {token}"), "Bearer garbage".to_owned()] {
        let mut headers = HeaderMap::new();
        headers.append(
            AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        headers.append(AUTHORIZATION, HeaderValue::from_str(&second).unwrap());
        assert_eq!(headers.get_all(AUTHORIZATION).iter().count(), 2);
        let response = server
            .client
            .get(server.url("/v1/me"))
            .headers(headers)
            .send()
            .await
            .unwrap();
        assert_token_rejected(response, "invalid_token", "two headers").await;
    }
}

async fn tampered_and_unsigned_jwts_are_refused(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let victim = server.signup("victim@example.com", PASSWORD).await;
    let attacker = server.signup("attacker@example.com", PASSWORD).await;
    let token = access_token(&attacker);
    let (header, claims) = jwt_parts(&token);
    let segments: Vec<&str> = token.split('.').collect();
    let encode = |value: &Value| URL_SAFE_NO_PAD.encode(value.to_string());

    // Payload re-encoded with the victim's sub, original signature.
    let mut forged = claims.clone();
    forged["sub"] = victim["user"]["id"].clone();
    let tampered = format!("{}.{}.{}", segments[0], encode(&forged), segments[2]);
    // Same claims, only re-encoded (different JSON formatting): still not the signed bytes.
    let reencoded = format!("{}.{}.{}", segments[0], encode(&claims), segments[2]);
    // alg none, with and without a signature.
    let mut none = header.clone();
    none["alg"] = json!("none");
    let unsigned = format!("{}.{}.", encode(&none), encode(&forged));
    let none_with_sig = format!("{}.{}.{}", encode(&none), encode(&forged), segments[2]);
    let mut none_no_kid = none.clone();
    none_no_kid.as_object_mut().unwrap().remove("kid");
    let unsigned_no_kid = format!("{}.{}.", encode(&none_no_kid), encode(&forged));
    // HS256 with the public key as secret (algorithm confusion) is not possible to build
    // without the key bytes here, but a header claiming HS256 with the real kid must fail.
    let mut hs = header.clone();
    hs["alg"] = json!("HS256");
    let confused = format!("{}.{}.{}", encode(&hs), encode(&forged), segments[2]);
    // Wrong typ: an id token shape.
    let mut jwt_typ = header.clone();
    jwt_typ["typ"] = json!("JWT");
    let wrong_typ = format!("{}.{}.{}", encode(&jwt_typ), segments[1], segments[2]);
    // Unknown kid.
    let mut unknown_kid = header.clone();
    unknown_kid["kid"] = json!("no-such-key");
    let unknown = format!("{}.{}.{}", encode(&unknown_kid), segments[1], segments[2]);
    // A swapped signature from another valid token.
    let other_sig = access_token(&victim);
    let other_sig = other_sig.rsplit('.').next().unwrap();
    let swapped = format!("{}.{}.{}", segments[0], segments[1], other_sig);

    for (what, bad) in [
        ("tampered sub", tampered),
        ("re-encoded payload", reencoded),
        ("alg none", unsigned),
        ("alg none with signature", none_with_sig),
        ("alg none without kid", unsigned_no_kid),
        ("alg confusion", confused),
        ("typ JWT", wrong_typ),
        ("unknown kid", unknown),
        ("swapped signature", swapped),
    ] {
        let response = server.get_bearer("/v1/me", &bad).await;
        assert_token_rejected(response, "invalid_token", what).await;
        let response = server.get_bearer("/v1/verify", &bad).await;
        assert_token_rejected(response, "invalid_token", what).await;
    }
    // The genuine token is unaffected.
    let me: Value = server
        .get_bearer("/v1/me", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["email"], "attacker@example.com");
}

async fn expired_token_is_token_expired(backend: Backend) {
    let server = TestServer::start_with(common::Options::on(&backend).configure(move |c| {
        c.access_token_ttl = Duration::from_secs(60);
        c.clock_leeway = Duration::from_secs(10);
    }))
    .await;
    let token = access_token(&server.signup("expired@example.com", PASSWORD).await);
    server.advance(Duration::from_secs(60 + 10 + 1));
    let response = server.get_bearer("/v1/me", &token).await;
    assert_token_rejected(response, "token_expired", "expired").await;
    let response = server.get_bearer("/v1/verify", &token).await;
    assert_token_rejected(response, "token_expired", "expired at verify").await;
}

async fn token_from_another_server_is_refused(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let other = TestServer::start().await;
    let foreign = access_token(&other.signup("foreign@example.com", PASSWORD).await);
    // Sanity: it works where it was issued.
    assert_eq!(other.get_bearer("/v1/me", &foreign).await.status(), 200);
    let response = server.get_bearer("/v1/me", &foreign).await;
    assert_token_rejected(response, "invalid_token", "foreign token").await;
}

async fn tokens_in_the_query_string_are_never_accepted(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let body = server.signup("query@example.com", PASSWORD).await;
    let token = access_token(&body);
    for path in ["/v1/me", "/v1/sessions", "/v1/verify"] {
        for param in ["access_token", "token", "bearer"] {
            let response = server
                .client
                .get(server.url(&format!("{path}?{param}={token}")))
                .send()
                .await
                .unwrap();
            assert_token_rejected(response, "invalid_token", path).await;
        }
    }
    let response = server
        .client
        .post(server.url(&format!("/v1/logout?access_token={token}")))
        .send()
        .await
        .unwrap();
    assert_token_rejected(response, "invalid_token", "logout").await;
    // Not logged out by that: the session lives on.
    assert_eq!(server.get_bearer("/v1/me", &token).await.status(), 200);
    assert_eq!(server.refresh(&refresh_token(&body)).await.status(), 200);
}

async fn refresh_token_as_bearer_is_refused(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let body = server.signup("swap@example.com", PASSWORD).await;
    let refresh = refresh_token(&body);
    for path in ["/v1/me", "/v1/sessions", "/v1/verify"] {
        let response = server.get_bearer(path, &refresh).await;
        assert_token_rejected(response, "invalid_token", path).await;
    }
    // And it still refreshes: presenting it as a bearer did not consume it.
    assert_eq!(server.refresh(&refresh).await.status(), 200);
}

// ---------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------

async fn unknown_routes_are_404_and_wrong_methods_405(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    for path in [
        "/nope",
        "/v1/nope",
        "/v1/signup/extra",
        "/v1",
        "/.well-known/nope",
    ] {
        let response = server.client.get(server.url(path)).send().await.unwrap();
        assert_problem(response, 404, "not_found").await;
        let response = server
            .client
            .post(server.url(path))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_problem(response, 404, "not_found").await;
    }
    for (method, path) in [
        (reqwest::Method::GET, "/v1/signup"),
        (reqwest::Method::GET, "/v1/login"),
        (reqwest::Method::PUT, "/v1/refresh"),
        (reqwest::Method::GET, "/v1/logout"),
        (reqwest::Method::POST, "/v1/me"),
        (reqwest::Method::PUT, "/v1/me"),
        (reqwest::Method::POST, "/.well-known/jwks.json"),
        (reqwest::Method::PATCH, "/v1/sessions"),
    ] {
        let response = server
            .client
            .request(method.clone(), server.url(path))
            .send()
            .await
            .unwrap();
        assert!(
            response.headers().contains_key("allow"),
            "405 names the allowed methods (RFC 9110): {method} {path}"
        );
        assert_problem(response, 405, "method_not_allowed").await;
    }
}

each_backend!(
    bad_refresh_tokens_are_401_invalid_token,
    refresh_token_reuse_carries_a_bearer_challenge,
    bearer_header_problems_are_401_invalid_token,
    two_authorization_headers_are_refused,
    tampered_and_unsigned_jwts_are_refused,
    expired_token_is_token_expired,
    token_from_another_server_is_refused,
    tokens_in_the_query_string_are_never_accepted,
    refresh_token_as_bearer_is_refused,
    unknown_routes_are_404_and_wrong_methods_405,
);
