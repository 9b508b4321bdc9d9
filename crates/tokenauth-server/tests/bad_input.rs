//! Hostile and careless input: every bad request gets the right 4xx problem+json, never a 5xx,
//! and changes nothing. Bad bearer tokens get 401 with an RFC 6750 challenge.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Backend, TestServer, assert_problem, jwt_parts};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

fn access_token(body: &Value) -> String {
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

fn refresh_token(body: &Value) -> String {
    body["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned()
}

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

/// No account exists for `email`: a login with the password it would have had is refused.
async fn assert_no_user(server: &TestServer, email: &str, password: &str) {
    assert_problem(
        server.login(email, password).await,
        401,
        "invalid_credentials",
    )
    .await;
}

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
    assert!(ignored.len() < tokenauth_server::routes::BODY_LIMIT);
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
        let response = post_raw(&server, path, Some("application/json"), huge.clone()).await;
        assert_problem(response, 413, "payload_too_large").await;
    }
    // One byte over the 16 KiB limit (valid JSON, made big with whitespace).
    let small = json!({"email": email, "password": PASSWORD}).to_string();
    let limit = tokenauth_server::routes::BODY_LIMIT;
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
    let problem = assert_problem(
        server
            .post_json("/v1/signup", json!({"email": email}))
            .await,
        400,
        "invalid_request",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("password"),
        "{problem}"
    );
    let problem = assert_problem(
        server.post_json("/v1/refresh", json!({})).await,
        400,
        "invalid_request",
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("refresh_token"),
        "{problem}"
    );
    assert_no_user(&server, email, PASSWORD).await;
    server.signup(email, PASSWORD).await;
}

// ---------------------------------------------------------------------------------------------
// Passwords and emails
// ---------------------------------------------------------------------------------------------

async fn password_length_rules_at_signup(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let signup = |email: &'static str, password: String| {
        let server = &server;
        async move {
            server
                .post_json("/v1/signup", json!({"email": email, "password": password}))
                .await
        }
    };
    let long = "x".repeat(1025);
    let problem = assert_problem(
        signup("long@example.com", long.clone()).await,
        400,
        "invalid_request",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("password"),
        "{problem}"
    );
    assert!(
        !problem.to_string().contains(&long),
        "the password is not echoed"
    );
    assert_no_user(&server, "long@example.com", &"x".repeat(1024)).await;

    let problem = assert_problem(
        signup("short@example.com", "1234567".into()).await,
        400,
        "invalid_request",
    )
    .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("password"),
        "{problem}"
    );
    assert_no_user(&server, "short@example.com", "1234567").await;
    assert_no_user(&server, "short@example.com", "12345678").await;
    // Bytes, not characters: three 2-byte characters plus one byte are 7 bytes.
    assert_problem(
        signup("short@example.com", "üüüx".into()).await,
        400,
        "invalid_request",
    )
    .await;

    // Exactly 1024 bytes (multi-byte characters included) is accepted and works at login.
    let exact = format!("{}{}", "é".repeat(500), "x".repeat(24));
    assert_eq!(exact.len(), 1024);
    assert_eq!(
        signup("long@example.com", exact.clone()).await.status(),
        201
    );
    assert_eq!(server.login("long@example.com", &exact).await.status(), 200);
    assert_eq!(
        signup("short@example.com", "12345678".into())
            .await
            .status(),
        201
    );
}

async fn overlong_password_at_login_is_invalid_credentials(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    server.signup("login-long@example.com", PASSWORD).await;
    for email in ["login-long@example.com", "nobody@example.com"] {
        let problem = assert_problem(
            server.login(email, &"x".repeat(1025)).await,
            401,
            "invalid_credentials",
        )
        .await;
        // Indistinguishable from an ordinary wrong password.
        let wrong = assert_problem(
            server.login(email, "wrong password").await,
            401,
            "invalid_credentials",
        )
        .await;
        assert_eq!(problem, wrong);
    }
    // A huge (but under the body limit) password is refused without a 5xx.
    assert_problem(
        server
            .login("login-long@example.com", &"x".repeat(15_000))
            .await,
        401,
        "invalid_credentials",
    )
    .await;
    // Short passwords at login are just wrong, not a length error.
    assert_problem(
        server.login("login-long@example.com", "x").await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_problem(
        server.login("login-long@example.com", "").await,
        401,
        "invalid_credentials",
    )
    .await;
}

async fn invalid_emails_at_signup_are_400_and_create_nothing(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let long_local = format!("{}@example.com", "a".repeat(243));
    assert_eq!(long_local.len(), 255);
    let long_domain = format!("a@{}.example.com", vec!["b".repeat(60); 4].join("."));
    assert!(long_domain.len() > 254);
    for bad in [
        "no-at-sign",
        "no-at-sign.example.com",
        "Alice <alice@example.com>",
        "\"Alice\" <alice@example.com>",
        "a@localhost",
        "@example.com",
        "a@",
        "",
        "   ",
        "a@[127.0.0.1]",
        "a b@example.com",
        "a@@example.com",
        "a@example.com\n",
        long_local.as_str(),
        long_domain.as_str(),
    ] {
        let response = server
            .post_json("/v1/signup", json!({"email": bad, "password": PASSWORD}))
            .await;
        if bad == "a@example.com\n" {
            // Surrounding whitespace is trimmed: this one is valid.
            assert_eq!(response.status(), 201, "{bad:?}");
            continue;
        }
        let problem = assert_problem(response, 400, "invalid_request").await;
        assert!(
            problem["detail"].as_str().unwrap().contains("email"),
            "{bad:?}: {problem}"
        );
    }
    // Nothing was created for the display-name form's address.
    assert_no_user(&server, "alice@example.com", PASSWORD).await;
    server.signup("alice@example.com", PASSWORD).await;
}

async fn unicode_passwords_work_end_to_end(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let emoji = "🔐🔑 pässwörd ✨ 密码";
    let nfc = "caf\u{e9} \u{f1}and\u{fa} secret"; // precomposed
    let nfd = "cafe\u{301} n\u{303}andu\u{301} secret"; // decomposed
    assert_ne!(nfc, nfd);
    let four_emoji = "😀😀";
    assert_eq!(four_emoji.len(), 8);
    for (email, password) in [
        ("emoji@example.com", emoji),
        ("nfc@example.com", nfc),
        ("nfd@example.com", nfd),
        ("two-emoji@example.com", four_emoji),
    ] {
        let body = server.signup(email, password).await;
        let login = server.login(email, password).await;
        assert_eq!(login.status(), 200, "{email}");
        let me = server.get_bearer("/v1/me", &access_token(&body)).await;
        assert_eq!(me.status(), 200);
        // A near-miss is still wrong.
        let near = format!("{password}!");
        assert_problem(server.login(email, &near).await, 401, "invalid_credentials").await;
    }
    // The password is not changed by the transport (e.g. no lossy re-encoding).
    assert_problem(
        server
            .login("emoji@example.com", "???? p?ssw?rd ? ??")
            .await,
        401,
        "invalid_credentials",
    )
    .await;
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
    let server = TestServer::start_with(
        common::Options::on(&backend)
            .with("access_token_ttl", "1m")
            .with("clock_leeway", "10s"),
    )
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
        (reqwest::Method::DELETE, "/v1/me"),
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
    password_length_rules_at_signup,
    overlong_password_at_login_is_invalid_credentials,
    invalid_emails_at_signup_are_400_and_create_nothing,
    unicode_passwords_work_end_to_end,
    bad_refresh_tokens_are_401_invalid_token,
    bearer_header_problems_are_401_invalid_token,
    two_authorization_headers_are_refused,
    tampered_and_unsigned_jwts_are_refused,
    expired_token_is_token_expired,
    token_from_another_server_is_refused,
    tokens_in_the_query_string_are_never_accepted,
    refresh_token_as_bearer_is_refused,
    unknown_routes_are_404_and_wrong_methods_405,
    concurrent_signups_with_one_email_make_exactly_one_user,
);
