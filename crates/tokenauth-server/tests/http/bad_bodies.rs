//! Hostile and careless request bodies: malformed JSON, the wrong content type, oversized and
//! chunked bodies, missing fields and wrong types each get the right 4xx problem+json, never a
//! 5xx, and create nothing; concurrent signups with one email make exactly one user.

use crate::common;

use std::time::Duration;

use common::{Backend, PASSWORD, TestServer, assert_invalid_field, assert_no_user, assert_problem};
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

/// POSTs `body` as is, with the given `Content-Type` (none if `None`).
async fn post_raw(
    server: &TestServer,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut request = server.client.post(server.url(path)).body(body);
    if let Some(content_type) = content_type {
        request = request.header(CONTENT_TYPE, content_type);
    }
    request.send().await.expect("request")
}

/// Sends a POST whose head declares a `length`-byte JSON body, sends none of it, and returns
/// what the server answers.
async fn declare_and_read(server: &TestServer, path: &str, length: usize) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    );
    read.await
        .expect("the server answers without waiting for the body")
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------------------------

async fn malformed_json_is_400_and_creates_nothing(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let email = "malformed@example.com";
    let valid = json!({"email": email, "password": PASSWORD}).to_string();
    let truncated = &valid[..valid.len() - 5];
    let array = json!([email, PASSWORD]).to_string();
    for (what, body) in [
        ("truncated", truncated.to_owned()),
        ("not JSON", "email=malformed@example.com".to_owned()),
        ("array instead of object", array),
        ("null", "null".to_owned()),
        ("a string", format!("{email:?}")),
        ("a number", "42".to_owned()),
        ("trailing garbage", format!("{valid} x")),
        ("empty object", "{}".to_owned()),
    ] {
        for path in ["/v1/signup", "/v1/login", "/v1/refresh"] {
            let response = post_raw(&server, path, Some("application/json"), body.clone()).await;
            let problem = assert_problem(response, 400, "invalid_request").await;
            assert!(
                !problem["detail"].as_str().unwrap().is_empty(),
                "{what} on {path}: {problem}"
            );
        }
    }
    // Bytes that are not JSON text at all, and JSON that serde must refuse.
    let deep = format!(
        r#"{{"password": "{PASSWORD}", "email": {}{}}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let duplicate = format!(
        r#"{{"email": "{email}", "email": "other@example.com", "password": "{PASSWORD}"}}"#
    );
    let surrogate = format!(r#"{{"email": "{email}", "password": "\ud800 {PASSWORD}"}}"#);
    let mut not_utf8 = format!(r#"{{"email": "{email}", "password": ""#).into_bytes();
    not_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    not_utf8.extend_from_slice(br#"12345678"}"#);
    for (what, body) in [
        ("deeply nested", deep.into_bytes()),
        ("duplicate key", duplicate.into_bytes()),
        ("lone surrogate", surrogate.into_bytes()),
        ("invalid UTF-8", not_utf8),
        ("UTF-8 BOM", {
            let mut bom = vec![0xef, 0xbb, 0xbf];
            bom.extend_from_slice(valid.as_bytes());
            bom
        }),
    ] {
        let response = post_raw(&server, "/v1/signup", Some("application/json"), body).await;
        assert_eq!(response.status(), 400, "{what}");
        let problem = assert_problem(response, 400, "invalid_request").await;
        assert!(!problem["detail"].as_str().unwrap().is_empty(), "{what}");
    }
    assert_no_user(&server, email, PASSWORD).await;
    server.signup(email, PASSWORD).await;

    // Deep nesting in an unknown (ignored) field does not overflow the stack: either it is
    // ignored or refused as too deep, never a 5xx or a dead server.
    let ignored = format!(
        r#"{{"email": "nested@example.com", "password": "{PASSWORD}", "pad": {}1{}}}"#,
        "[{\"a\":".repeat(2000),
        "}]".repeat(2000)
    );
    assert!(ignored.len() < tokenauth_server::http::routes::BODY_LIMIT);
    let response = post_raw(&server, "/v1/signup", Some("application/json"), ignored).await;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    assert!(status == 201 || status == 400, "{status}: {body}");
    assert_eq!(
        server
            .client
            .get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

async fn empty_body_is_rejected(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    for path in ["/v1/signup", "/v1/login", "/v1/refresh"] {
        let response = post_raw(&server, path, Some("application/json"), "").await;
        assert_problem(response, 400, "invalid_request").await;
        // Without a content type an empty body is a 415, like any other non-JSON body.
        let response = post_raw(&server, path, None, "").await;
        assert_problem(response, 415, "unsupported_media_type").await;
    }
}

async fn wrong_content_type_is_415_and_creates_nothing(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let email = "content-type@example.com";
    let json_body = json!({"email": email, "password": PASSWORD}).to_string();
    let form_body = format!("email={email}&password=correct+horse+battery+staple");
    for (content_type, body) in [
        (Some("text/plain"), json_body.clone()),
        (None, json_body.clone()),
        (Some("application/x-www-form-urlencoded"), form_body),
        (Some("multipart/form-data; boundary=x"), json_body.clone()),
        (Some("application/xml"), json_body.clone()),
    ] {
        for path in ["/v1/signup", "/v1/login"] {
            let response = post_raw(&server, path, content_type, body.clone()).await;
            let problem = assert_problem(response, 415, "unsupported_media_type").await;
            assert!(
                problem["detail"].as_str().unwrap().contains("JSON"),
                "{content_type:?}: {problem}"
            );
        }
    }
    assert_no_user(&server, email, PASSWORD).await;
    // JSON with parameters, or a +json subtype, is still JSON.
    let response = post_raw(
        &server,
        "/v1/signup",
        Some("application/json; charset=utf-8"),
        json_body,
    )
    .await;
    assert_eq!(response.status(), 201);
}

async fn oversized_bodies_are_413_and_create_nothing(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let email = "big@example.com";
    // 2 MiB: padding inside a string field.
    let huge = json!({"email": email, "password": PASSWORD, "pad": "x".repeat(2 << 20)});
    let huge = huge.to_string();
    assert!(huge.len() > 2 << 20);
    for path in ["/v1/signup", "/v1/login", "/v1/refresh"] {
        // The server answers 413 from Content-Length and may close before the body is sent,
        // which a client writing the whole body can see as a reset: send only the head.
        let head = declare_and_read(&server, path, huge.len()).await;
        assert!(head.starts_with("HTTP/1.1 413"), "{head}");
        assert!(head.contains("application/problem+json"), "{head}");
        assert!(head.contains("payload_too_large"), "{head}");
    }
    // One byte over the 16 KiB limit (valid JSON, made big with whitespace).
    let small = json!({"email": email, "password": PASSWORD}).to_string();
    let limit = tokenauth_server::http::routes::BODY_LIMIT;
    let over = format!("{}{small}", " ".repeat(limit + 1 - small.len()));
    assert_eq!(over.len(), limit + 1);
    let response = post_raw(&server, "/v1/signup", Some("application/json"), over).await;
    assert_problem(response, 413, "payload_too_large").await;
    assert_no_user(&server, email, PASSWORD).await;

    // Exactly at the limit is fine.
    let exact = format!("{}{small}", " ".repeat(limit - small.len()));
    assert_eq!(exact.len(), limit);
    let response = post_raw(&server, "/v1/signup", Some("application/json"), exact).await;
    assert_eq!(response.status(), 201);
}

/// A chunked body has no Content-Length to check up front; the limit must still hold while
/// reading it.
async fn oversized_chunked_body_is_413(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let chunk = format!(r#"{{"email": "chunked@example.com", "password": "{PASSWORD}", "pad": ""#);
    let filler = " ".repeat(4096);
    let mut request = format!(
        "POST /v1/signup HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{chunk}\r\n",
        chunk.len()
    );
    for _ in 0..8 {
        request.push_str(&format!("{:x}\r\n{filler}\r\n", filler.len()));
    }
    request.push_str("2\r\n\"}\r\n0\r\n\r\n");
    let response = tokio::task::spawn_blocking(move || {
        use std::io::{Read as _, Write as _};
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // The server may answer and close before reading everything; a failed write is fine.
        let _ = stream.write_all(request.as_bytes());
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        response
    })
    .await
    .unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(
        response.starts_with("HTTP/1.1 413"),
        "unexpected response: {response}"
    );
    assert!(response.contains("application/problem+json"), "{response}");
    assert!(response.contains("payload_too_large"), "{response}");
    assert_no_user(&server, "chunked@example.com", PASSWORD).await;
}

async fn missing_fields_and_wrong_types_are_400(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let email = "fields@example.com";
    for (path, body) in [
        ("/v1/signup", json!({"password": PASSWORD})),
        ("/v1/signup", json!({"email": email})),
        ("/v1/signup", json!({"email": email, "password": null})),
        ("/v1/signup", json!({"email": 12345, "password": PASSWORD})),
        ("/v1/signup", json!({"email": email, "password": 12345678})),
        (
            "/v1/signup",
            json!({"email": [email], "password": PASSWORD}),
        ),
        (
            "/v1/signup",
            json!({"email": {"address": email}, "password": PASSWORD}),
        ),
        ("/v1/login", json!({"password": PASSWORD})),
        ("/v1/login", json!({"email": email})),
        ("/v1/login", json!({"email": 12345, "password": PASSWORD})),
        ("/v1/refresh", json!({})),
        ("/v1/refresh", json!({"token": "x"})),
        ("/v1/refresh", json!({"refresh_token": 42})),
        ("/v1/refresh", json!({"refresh_token": null})),
    ] {
        let problem = assert_problem(
            server.post_json(path, body.clone()).await,
            400,
            "invalid_request",
        )
        .await;
        let detail = problem["detail"].as_str().unwrap();
        assert!(!detail.is_empty(), "{path} {body}: {problem}");
    }
    // The detail names the missing field.
    assert_invalid_field(
        server
            .post_json("/v1/signup", json!({"email": email}))
            .await,
        "password",
    )
    .await;
    assert_invalid_field(
        server.post_json("/v1/refresh", json!({})).await,
        "refresh_token",
    )
    .await;
    assert_no_user(&server, email, PASSWORD).await;
    server.signup(email, PASSWORD).await;
}

// ---------------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------------

async fn concurrent_signups_with_one_email_make_exactly_one_user(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let requests: Vec<_> = (0..20)
        .map(|i| {
            let client = server.client.clone();
            let url = server.url("/v1/signup");
            // Different spellings of one address, and different passwords.
            let email = if i % 2 == 0 {
                "race@example.com".to_owned()
            } else {
                " RACE@Example.com".to_owned()
            };
            tokio::spawn(async move {
                let response = client
                    .post(url)
                    .json(&json!({"email": email, "password": format!("password-{i}")}))
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let content_type = response
                    .headers()
                    .get(CONTENT_TYPE)
                    .map(|v| v.to_str().unwrap().to_owned());
                let body: Value = response.json().await.unwrap();
                (i, status, content_type, body)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for request in requests {
        let (i, status, content_type, body) = request.await.unwrap();
        match status {
            201 => winners.push(i),
            409 => {
                assert_eq!(content_type.as_deref(), Some("application/problem+json"));
                assert_eq!(body["error"], "email_taken", "{body}");
            }
            other => panic!("signup {i}: unexpected status {other}: {body}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one signup wins: {winners:?}");
    let winner = winners[0];
    // The winner's password is the account's; the others' are not.
    assert_eq!(
        server
            .login("race@example.com", &format!("password-{winner}"))
            .await
            .status(),
        200
    );
    let loser = (winner + 1) % 20;
    assert_problem(
        server
            .login("race@example.com", &format!("password-{loser}"))
            .await,
        401,
        "invalid_credentials",
    )
    .await;
}

each_backend!(
    malformed_json_is_400_and_creates_nothing,
    empty_body_is_rejected,
    wrong_content_type_is_415_and_creates_nothing,
    oversized_bodies_are_413_and_create_nothing,
    oversized_chunked_body_is_413,
    missing_fields_and_wrong_types_are_400,
    concurrent_signups_with_one_email_make_exactly_one_user,
);
