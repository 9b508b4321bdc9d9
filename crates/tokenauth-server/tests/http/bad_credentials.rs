//! Careless credentials at signup and login: passwords too short or too long (in bytes),
//! invalid emails, and Unicode passwords that must work end to end. Every refusal is the right
//! 4xx problem+json and creates nothing.

use crate::common;

use common::{
    Backend, PASSWORD, TestServer, access_token, assert_invalid_field, assert_no_user,
    assert_problem,
};
use serde_json::json;

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
    let problem =
        assert_invalid_field(signup("long@example.com", long.clone()).await, "password").await;
    assert!(
        !problem.to_string().contains(&long),
        "the password is not echoed"
    );
    assert_no_user(&server, "long@example.com", &"x".repeat(1024)).await;

    assert_invalid_field(
        signup("short@example.com", "1234567".into()).await,
        "password",
    )
    .await;
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
    // Exactly 8 bytes is accepted, unless it is a common password ("12345678" is).
    assert_invalid_field(
        signup("short@example.com", "12345678".into()).await,
        "password",
    )
    .await;
    assert_eq!(
        signup("short@example.com", "exactly8".into())
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

each_backend!(
    password_length_rules_at_signup,
    overlong_password_at_login_is_invalid_credentials,
    invalid_emails_at_signup_are_400_and_create_nothing,
    unicode_passwords_work_end_to_end,
);
