//! Issue 16: every kind of revocation takes the one path of `service/revocation.rs`. Each is
//! made here once, on a user of its own, through the API a user, a client or an operator really
//! uses (HTTP for a user's own and a client's, [`Accounts`] as the CLI builds it for an
//! operator's),
//! and must leave exactly one
//! revocation-feed event, one audit event and one increment of
//! `tokenauth_session_revocations_total{reason}`.
//!
//! The metric is read from a recorder local to the test's thread (`metrics::with_local_recorder`
//! on a current-thread runtime, which runs the in-process server's tasks on that thread too), so
//! tests running beside it in this process cannot add to its counts.

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use common::{Backend, Options, PASSWORD, TestServer, access_token, jwt_parts, refresh_token};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use serde_json::{Value, json};
use tokenauth_core::audit::AuditKind;
use tokenauth_core::client::ClientPermissions;
use tokenauth_core::clock::Clock as _;
use tokenauth_core::service::Accounts;
use tokenauth_core::store::FeedSubject;
use tokenauth_core::{SessionId, UserId};

/// Runs `test` on a current-thread runtime with a local debugging recorder.
fn with_counting_recorder(test: impl AsyncFnOnce(&Snapshotter)) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(test(&snapshotter));
    });
}

/// `tokenauth_session_revocations_total` by reason, as counted so far.
fn revocations_by_reason(snapshotter: &Snapshotter) -> HashMap<String, u64> {
    let mut counts = HashMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        if key.name() != tokenauth_core::telemetry::SESSION_REVOCATIONS {
            continue;
        }
        let reason = key
            .labels()
            .find(|label| label.key() == "reason")
            .map(|label| label.value().to_owned())
            .unwrap_or_default();
        if let DebugValue::Counter(count) = value {
            *counts.entry(reason).or_default() += count;
        }
    }
    counts
}

/// What one revocation left: feed events, the user's revocation audit events, metric increments.
struct Trace {
    feed: Vec<FeedSubject>,
    audit: Vec<(AuditKind, Option<SessionId>)>,
    increments: HashMap<String, u64>,
}

/// A user of its own with the one session its sign-up opened: its email, id, session id and
/// the sign-up's answer (its tokens).
struct Account {
    email: String,
    user: UserId,
    session: SessionId,
    login: Value,
}

async fn account(server: &TestServer, name: &str) -> Account {
    let email = format!("{name}@example.com");
    let login = server.signup(&email, PASSWORD).await;
    let claims = jwt_parts(&access_token(&login)).1;
    Account {
        user: claims["sub"]
            .as_str()
            .expect("sub")
            .parse()
            .expect("user id"),
        session: session_of(&login),
        email,
        login,
    }
}

/// The session (`sid`) of the access token in a sign-up's or login's answer.
fn session_of(answer: &Value) -> SessionId {
    let claims = jwt_parts(&access_token(answer)).1;
    claims["sid"].as_str().expect("sid").parse().expect("sid")
}

/// `method path` with `account`'s access token and an optional JSON body; the status.
async fn send_as(
    server: &TestServer,
    account: &Account,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::StatusCode {
    let mut request = server.client.request(method, server.url(path)).header(
        "authorization",
        format!("Bearer {}", access_token(&account.login)),
    );
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect(path).status()
}

/// Runs `revoke` and returns what it left for `user` since `since` and the feed head.
async fn trace(
    server: &TestServer,
    snapshotter: &Snapshotter,
    user: UserId,
    revoke: impl AsyncFnOnce(),
) -> Trace {
    let store = &server.state.store;
    let head = store
        .revocation_feed_position()
        .await
        .expect("position")
        .head;
    let since = server.clock.now();
    let before = revocations_by_reason(snapshotter);
    revoke().await;
    let feed = store
        .feed_events_after(head, 100)
        .await
        .expect("feed")
        .into_iter()
        .map(|event| event.subject)
        .collect();
    let audit = store
        .audit_events_of_user(user, since, 100)
        .await
        .expect("audit")
        .into_iter()
        .filter(|event| {
            matches!(
                event.kind,
                AuditKind::SessionRevoked
                    | AuditKind::RefreshReuseDetected
                    | AuditKind::UserDeleted
            )
        })
        .map(|event| (event.kind, event.session_id))
        .collect();
    let mut increments = revocations_by_reason(snapshotter);
    for (reason, count) in before {
        if let Some(after) = increments.get_mut(&reason) {
            *after -= count;
        }
    }
    increments.retain(|_, count| *count > 0);
    Trace {
        feed,
        audit,
        increments,
    }
}

/// Exactly one feed event for `session`, one audit event of `kind`, one increment of `reason`.
fn assert_one_of_each(trace: &Trace, session: SessionId, kind: AuditKind, reason: &str) {
    assert_eq!(
        trace.feed,
        [FeedSubject::Session(session)],
        "{reason}: feed"
    );
    let audited_session = (kind != AuditKind::UserDeleted).then_some(session);
    assert_eq!(trace.audit, [(kind, audited_session)], "{reason}: audit");
    assert_eq!(
        trace.increments,
        HashMap::from([(reason.to_owned(), 1)]),
        "{reason}: metric"
    );
}

async fn every_revocation_kind_leaves_one_feed_event_one_audit_event_one_increment(
    backend: Backend,
    snapshotter: &Snapshotter,
) {
    let server = TestServer::start_with(
        Options::on(&backend).configure(move |c| c.refresh_reuse_grace = Duration::from_secs(0)),
    )
    .await;
    users_own_revocations(&server, snapshotter).await;
    theft_and_client_revocations(&server, snapshotter).await;
    operator_revocations(&server, snapshotter).await;
    server.stop().await;
}

/// A user's own: logout, revoke one, revoke all, password change, deletion.
async fn users_own_revocations(server: &TestServer, snapshotter: &Snapshotter) {
    use reqwest::Method;

    let a = account(server, "logout").await;
    let t = trace(server, snapshotter, a.user, async || {
        let status = send_as(server, &a, Method::POST, "/v1/logout", None).await;
        assert_eq!(status, 204);
    })
    .await;
    assert_one_of_each(&t, a.session, AuditKind::SessionRevoked, "logout");

    let a = account(server, "revoke-one").await;
    let other = account_login(server, &a.email).await;
    let t = trace(server, snapshotter, a.user, async || {
        let path = format!("/v1/sessions/{other}");
        assert_eq!(send_as(server, &a, Method::DELETE, &path, None).await, 204);
    })
    .await;
    assert_one_of_each(&t, other, AuditKind::SessionRevoked, "revoked_by_user");

    let a = account(server, "revoke-all").await;
    let t = trace(server, snapshotter, a.user, async || {
        let status = send_as(server, &a, Method::DELETE, "/v1/sessions", None).await;
        assert_eq!(status, 204);
    })
    .await;
    assert_one_of_each(&t, a.session, AuditKind::SessionRevoked, "revoke_all");

    let a = account(server, "password-change").await;
    let other = account_login(server, &a.email).await;
    let t = trace(server, snapshotter, a.user, async || {
        let body =
            json!({"current_password": PASSWORD, "new_password": "a new and long passphrase"});
        let status = send_as(server, &a, Method::POST, "/v1/password", Some(body)).await;
        assert_eq!(status, 204);
    })
    .await;
    assert_one_of_each(&t, other, AuditKind::SessionRevoked, "password_changed");

    let a = account(server, "delete").await;
    let t = trace(server, snapshotter, a.user, async || {
        let body = json!({"password": PASSWORD});
        let status = send_as(server, &a, Method::DELETE, "/v1/me", Some(body)).await;
        assert_eq!(status, 204);
    })
    .await;
    assert_one_of_each(&t, a.session, AuditKind::UserDeleted, "user_deleted");
}

/// Theft (a rotated refresh token presented again after the zero grace), and a resource
/// server's revocation through RFC 7009 with the `revoke_any` permission.
async fn theft_and_client_revocations(server: &TestServer, snapshotter: &Snapshotter) {
    let a = account(server, "reuse").await;
    let first = refresh_token(&a.login);
    assert_eq!(server.refresh(&first).await.status(), 200);
    server.advance(Duration::from_secs(1));
    let t = trace(server, snapshotter, a.user, async || {
        assert_eq!(server.refresh(&first).await.status(), 401);
    })
    .await;
    let reuse = AuditKind::RefreshReuseDetected;
    assert_one_of_each(&t, a.session, reuse, "refresh_token_reused");

    let a = account(server, "client").await;
    let (client, secret) = server
        .state
        .auth
        .clients()
        .register("resource server", ClientPermissions::all())
        .await
        .expect("client");
    let t = trace(server, snapshotter, a.user, async || {
        let response = server
            .client
            .post(server.url("/oauth2/revoke"))
            .basic_auth(&client.client_id, Some(secret.expose()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={}", refresh_token(&a.login)))
            .send()
            .await
            .expect("revoke");
        assert_eq!(response.status(), 200);
    })
    .await;
    let revoked = AuditKind::SessionRevoked;
    assert_one_of_each(&t, a.session, revoked, "revoked_by_client");
}

/// An operator's, through [`Accounts`] as the CLI builds it.
async fn operator_revocations(server: &TestServer, snapshotter: &Snapshotter) {
    let (store, audit) = (server.state.store.as_ref(), server.state.auth.auditor());
    let accounts = || Accounts::new(store, audit, server.clock.now());
    let revoked = AuditKind::SessionRevoked;

    let a = account(server, "disable").await;
    let t = trace(server, snapshotter, a.user, async || {
        accounts().disable(&a.email).await.expect("disable");
    })
    .await;
    assert_one_of_each(&t, a.session, revoked, "disabled");

    let a = account(server, "operator-one").await;
    let t = trace(server, snapshotter, a.user, async || {
        let found = accounts().revoke_session(a.session).await.expect("by id");
        assert!(found.revoked);
    })
    .await;
    assert_one_of_each(&t, a.session, revoked, "revoked_by_operator");

    let a = account(server, "operator-all").await;
    let t = trace(server, snapshotter, a.user, async || {
        accounts()
            .revoke_sessions_of(&a.email)
            .await
            .expect("all of");
    })
    .await;
    assert_one_of_each(&t, a.session, revoked, "revoked_by_operator");

    let a = account(server, "operator-reset").await;
    let hasher = server.state.auth.hasher();
    let t = trace(server, snapshotter, a.user, async || {
        let password = "a reset long passphrase".to_owned();
        let reset = accounts().reset_password(hasher, &a.email, password).await;
        reset.expect("reset");
    })
    .await;
    assert_one_of_each(&t, a.session, revoked, "revoked_by_operator");

    let a = account(server, "operator-delete").await;
    let t = trace(server, snapshotter, a.user, async || {
        accounts().erase_by_email(&a.email).await.expect("erase");
    })
    .await;
    assert_one_of_each(&t, a.session, AuditKind::UserDeleted, "user_deleted");
}

/// Logs `email` in again; the new session's id.
async fn account_login(server: &TestServer, email: &str) -> SessionId {
    let login: Value = server
        .login(email, PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    session_of(&login)
}

#[test]
fn every_revocation_kind_leaves_one_of_each_on_sqlite() {
    with_counting_recorder(async |snapshotter| {
        every_revocation_kind_leaves_one_feed_event_one_audit_event_one_increment(
            Backend::Sqlite,
            snapshotter,
        )
        .await;
    });
}

#[test]
fn every_revocation_kind_leaves_one_of_each_on_postgres() {
    with_counting_recorder(async |snapshotter| {
        if let Some(backend) = Backend::postgres("every_revocation_kind").await {
            every_revocation_kind_leaves_one_feed_event_one_audit_event_one_increment(
                backend,
                snapshotter,
            )
            .await;
        }
    });
}
