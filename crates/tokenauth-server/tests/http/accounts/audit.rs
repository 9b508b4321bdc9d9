//! The audit log a whole account flow leaves behind, in order and without secrets, and the
//! audit of key rotations; on both backends.

use super::*;

/// The user's events, newest first, as the store lists them.
async fn events_of(server: &TestServer, email: &str) -> Vec<AuditEvent> {
    let since = server
        .state
        .auth
        .clock()
        .now()
        .minus(Duration::from_secs(3600));
    server
        .state
        .auth
        .accounts()
        .audit_events_of(email, since, 100)
        .await
        .unwrap()
        .1
}

/// `POST path` with the JSON `body` and [`AGENT`] as the user agent, without a token.
async fn post_as_agent(server: &TestServer, path: &str, body: Value) -> reqwest::Response {
    server
        .client
        .post(server.url(path))
        .header("user-agent", AGENT)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// The answers (with their tokens) of the flow [`run_audited_flow`] goes through.
struct Flow {
    /// The sign-up; its session's refresh token is later reused.
    signup: Value,
    /// A login that then logs out.
    logged_in: Value,
    /// The rotation of the sign-up's refresh token.
    rotated: Value,
    /// A login the password change revokes.
    doomed: Value,
    /// The login that changes the password.
    changer: Value,
}

/// Runs a flow as [`AGENT`] for `email`: sign-up, a login with a wrong password, one for an
/// unknown email, a login and its logout, a rotation and the reuse of the rotated token after
/// the grace window, two more logins, and a password change by the second.
async fn run_audited_flow(server: &TestServer, email: &str) -> Flow {
    let credentials = |password: &str| json!({"email": email, "password": password});
    let login = async |password: &str| -> Value {
        let response = post_as_agent(server, "/v1/login", credentials(password)).await;
        response.json().await.unwrap()
    };
    let signup = post_as_agent(server, "/v1/signup", credentials(PASSWORD)).await;
    let signup: Value = signup.json().await.unwrap();
    let failed = post_as_agent(server, "/v1/login", credentials("wrong password")).await;
    assert_eq!(failed.status(), 401);
    let nobody = json!({"email": "nobody@example.com", "password": PASSWORD});
    let unknown = post_as_agent(server, "/v1/login", nobody).await;
    assert_eq!(unknown.status(), 401);
    let logged_in = login(PASSWORD).await;
    let logout = post_bearer(server, "/v1/logout", &access_token(&logged_in), json!({})).await;
    assert_eq!(logout.status(), 204);

    // Refresh reuse: rotate the sign-up session's token, then present the old one after the
    // grace window.
    let refresh = || json!({"refresh_token": refresh_token(&signup)});
    let rotated = post_as_agent(server, "/v1/refresh", refresh()).await;
    let rotated: Value = rotated.json().await.unwrap();
    server.advance(Duration::from_secs(11));
    let reused = post_as_agent(server, "/v1/refresh", refresh()).await;
    assert_problem(reused, 401, "refresh_token_reused").await;

    let doomed = login(PASSWORD).await;
    let changer = login(PASSWORD).await;
    let changed = change_password(server, &access_token(&changer), PASSWORD, NEW_PASSWORD).await;
    assert_eq!(changed.status(), 204);
    Flow {
        signup,
        logged_in,
        rotated,
        doomed,
        changer,
    }
}

async fn audit_log_records_a_flow_in_order_without_secrets(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let email = "gus@example.com";
    let flow = run_audited_flow(&server, email).await;
    let events = events_of(&server, email).await;
    assert_flow_recorded_in_order(&events, &flow);
    assert_no_secret_stored(&server, &events, &flow, email).await;
    assert_eq!(server.state.auth.auditor().failures(), 0);
}

/// `events` (the user's, newest first) are the flow's, in order, each with its session and
/// detail, and all of the user with [`AGENT`] from 127.0.0.1.
fn assert_flow_recorded_in_order(events: &[AuditEvent], flow: &Flow) {
    let mut oldest_first: Vec<&AuditEvent> = events.iter().collect();
    oldest_first.reverse();
    let seen: Vec<(AuditKind, Option<String>, Option<String>)> = oldest_first
        .iter()
        .map(|e| {
            (
                e.kind,
                e.session_id.map(|s| s.to_string()),
                e.detail.clone(),
            )
        })
        .collect();
    let sid = |body: &Value| Some(body["session_id"].as_str().unwrap().to_owned());
    let Flow {
        signup,
        logged_in,
        doomed,
        changer,
        ..
    } = flow;
    assert_eq!(
        seen,
        [
            (AuditKind::Signup, sid(signup), None),
            (AuditKind::LoginFailed, None, None),
            (AuditKind::LoginSucceeded, sid(logged_in), None),
            (
                AuditKind::SessionRevoked,
                sid(logged_in),
                Some("logout".into())
            ),
            (AuditKind::RefreshReuseDetected, sid(signup), None),
            (AuditKind::LoginSucceeded, sid(doomed), None),
            (AuditKind::LoginSucceeded, sid(changer), None),
            (AuditKind::PasswordChanged, sid(changer), None),
            (
                AuditKind::SessionRevoked,
                sid(doomed),
                Some("password_changed".into())
            ),
        ]
    );
    let user_id = signup["user"]["id"].as_str().unwrap();
    for event in events {
        assert_eq!(
            event.user_id.map(|u| u.to_string()).as_deref(),
            Some(user_id)
        );
        assert_eq!(event.ip.as_deref(), Some("127.0.0.1"), "{event:?}");
        assert_eq!(event.user_agent.as_deref(), Some(AGENT), "{event:?}");
    }
}

/// No password, token or email of the flow is in any stored row, as the store returns it or
/// as `tokenauth audit --json` prints it; the rows hold more than the user's `events` (the
/// unknown email's failure, without a user).
async fn assert_no_secret_stored(
    server: &TestServer,
    events: &[AuditEvent],
    flow: &Flow,
    email: &str,
) {
    let since = server
        .state
        .auth
        .clock()
        .now()
        .minus(Duration::from_secs(3600));
    let all = server
        .state
        .store
        .audit_events_since(since, 1000)
        .await
        .unwrap();
    assert!(
        all.len() > events.len(),
        "the unknown email's failure is stored too"
    );
    assert!(
        all.iter()
            .any(|e| e.kind == AuditKind::LoginFailed && e.user_id.is_none())
    );
    let rows: String = all
        .iter()
        .map(|e| format!("{e:?} {}", tokenauth_server::cli::account::event_json(e)))
        .collect();
    let mut secrets = vec![
        PASSWORD.to_owned(),
        NEW_PASSWORD.to_owned(),
        "wrong password".to_owned(),
        email.to_owned(),
        "nobody@example.com".to_owned(),
    ];
    for body in [
        &flow.signup,
        &flow.logged_in,
        &flow.rotated,
        &flow.doomed,
        &flow.changer,
    ] {
        secrets.push(access_token(body));
        secrets.push(refresh_token(body));
    }
    for secret in &secrets {
        assert!(
            !rows.contains(secret.as_str()),
            "a secret in the audit log: {secret}"
        );
    }
}

async fn key_rotations_are_audited(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let kid = server
        .state
        .auth
        .keys()
        .rotate(tokenauth_core::keys::RotationMode::Immediate)
        .await
        .unwrap();
    let since = server
        .state
        .auth
        .clock()
        .now()
        .minus(Duration::from_secs(60));
    let all = server
        .state
        .store
        .audit_events_since(since, 100)
        .await
        .unwrap();
    let rotations: Vec<_> = all
        .iter()
        .filter(|e| e.kind == AuditKind::KeyRotated)
        .collect();
    assert_eq!(rotations.len(), 1, "{all:?}");
    assert_eq!(rotations[0].detail.as_deref(), Some(kid.as_str()));
    assert_eq!(rotations[0].user_id, None);
}

each_backend!(
    audit_log_records_a_flow_in_order_without_secrets,
    key_rotations_are_audited,
);
