//! `GET /v1/revocations`, the revocation feed verifiers subscribe to: client authentication,
//! cursors, long-polls, snapshots, every kind of revocation, shutdown during a long-poll, and
//! two instances on one PostgreSQL database sharing it — through real HTTP on both backends.

use crate::common;

use std::time::{Duration, Instant};

use common::{Backend, Options, PASSWORD, TestServer, access_token, assert_problem, refresh_token};
use serde_json::Value;
use tokenauth_core::client::ClientPermissions;

/// A registered API client's credentials.
struct Client {
    id: String,
    secret: String,
}

async fn register(server: &TestServer) -> Client {
    let (client, secret) = server
        .state
        .auth
        .clients()
        .register("verifier", ClientPermissions::all())
        .await
        .unwrap();
    Client {
        id: client.client_id,
        secret: secret.expose().to_owned(),
    }
}

async fn feed_response(server: &TestServer, client: &Client, query: &str) -> reqwest::Response {
    server
        .client
        .get(server.url(&format!("/v1/revocations{query}")))
        .basic_auth(&client.id, Some(&client.secret))
        .send()
        .await
        .unwrap()
}

/// One successful feed answer.
async fn feed(server: &TestServer, client: &Client, query: &str) -> Value {
    let response = feed_response(server, client, query).await;
    assert_eq!(response.status(), 200, "feed{query}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

fn sids(page: &Value) -> Vec<String> {
    page["revocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["sid"].as_str().unwrap().to_owned())
        .collect()
}

fn session_id(body: &Value) -> String {
    body["session_id"].as_str().unwrap().to_owned()
}

async fn logout(server: &TestServer, body: &Value) {
    let response = server
        .client
        .post(server.url("/v1/logout"))
        .bearer_auth(access_token(body))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

/// A login of `email` with [`PASSWORD`]; its JSON body.
async fn login(server: &TestServer, email: &str) -> Value {
    server.login(email, PASSWORD).await.json().await.unwrap()
}

/// `DELETE path` with the access token of the sign-up or login answer `caller`; the status.
async fn delete_as(server: &TestServer, path: &str, caller: &Value) -> reqwest::StatusCode {
    server
        .client
        .delete(server.url(path))
        .bearer_auth(access_token(caller))
        .send()
        .await
        .unwrap()
        .status()
}

/// `client` revokes `refresh_token` through RFC 7009's `/oauth2/revoke`; the status.
async fn revoke_as_client(
    server: &TestServer,
    client: &Client,
    refresh_token: &str,
) -> reqwest::StatusCode {
    server
        .client
        .post(server.url("/oauth2/revoke"))
        .basic_auth(&client.id, Some(&client.secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={refresh_token}"))
        .send()
        .await
        .unwrap()
        .status()
}

async fn feed_requires_a_registered_client(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let client = register(&server).await;
    let url = server.url("/v1/revocations");
    let user = server.signup("ann@example.com", PASSWORD).await;
    let attempts = [
        server.client.get(&url),
        server
            .client
            .get(&url)
            .basic_auth(&client.id, Some("wrong")),
        server
            .client
            .get(&url)
            .basic_auth("tac_nobody", Some(&client.secret)),
        server.client.get(&url).bearer_auth(access_token(&user)),
        server.client.get(&url).header("authorization", "Basic !!!"),
    ];
    for attempt in attempts {
        let response = attempt.send().await.unwrap();
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Basic realm="tokenauth""#
        );
        assert_problem(response, 401, "invalid_client").await;
    }
    // Credentials in the query string are not a way in either.
    let in_query = server
        .client
        .get(format!(
            "{url}?client_id={}&client_secret={}",
            client.id, client.secret
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(in_query.status(), 401);
}

async fn bad_queries_are_rejected(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let client = register(&server).await;
    for query in [
        "?after=garbage",
        "?after=0123456789abcdef",
        "?after=0123456789ABCDEF.1",
        "?after=0123456789abcdef.-1",
        "?wait=soon",
        "?wait=-1",
        "?limit=5",
    ] {
        let response = feed_response(&server, &client, query).await;
        assert_problem(response, 400, "invalid_request").await;
    }
}

async fn revocations_follow_the_cursor(backend: Backend) {
    let server = TestServer::start_with(
        Options::on(&backend).configure(move |c| c.access_token_ttl = Duration::from_secs(120)),
    )
    .await;
    let client = register(&server).await;
    let ann = server.signup("ann@example.com", PASSWORD).await;
    let first = feed(&server, &client, "").await;
    assert_eq!(first["reset"], true, "no cursor: a snapshot");
    assert_eq!(sids(&first), Vec::<String>::new());
    let cursor = first["cursor"].as_str().unwrap().to_owned();

    logout(&server, &ann).await;
    let page = feed(&server, &client, &format!("?after={cursor}")).await;
    assert_eq!(page["reset"], false);
    assert_eq!(page["more"], false);
    assert_eq!(sids(&page), [session_id(&ann)]);
    let event = &page["revocations"][0];
    let revoked_at = event["revoked_at_ms"].as_i64().unwrap();
    assert_eq!(
        event["alive_until_ms"].as_i64().unwrap() - revoked_at,
        120_000
    );
    assert_ne!(page["cursor"], cursor.as_str());

    // The same cursor again gives the same answer; the new one gives nothing.
    let again = feed(&server, &client, &format!("?after={cursor}")).await;
    assert_eq!(sids(&again), [session_id(&ann)]);
    let next = page["cursor"].as_str().unwrap();
    let empty = feed(&server, &client, &format!("?after={next}")).await;
    assert_eq!(sids(&empty), Vec::<String>::new());
    assert_eq!(empty["cursor"], next);

    // A fresh reader's snapshot holds the session while its tokens may live.
    let snapshot = feed(&server, &client, "").await;
    assert_eq!(snapshot["reset"], true);
    assert_eq!(sids(&snapshot), [session_id(&ann)]);
    assert_eq!(snapshot["cursor"], next);
}

/// The sessions one revocation of each kind revoked, in that order, and Ann's that lives on.
struct Revoked {
    /// Ann's sign-up answer: her first session, still live.
    ann: Value,
    /// Ann's second session, which she revoked from her session list.
    listed: String,
    /// Bob's two sessions, ended by logging out everywhere, sorted.
    bobs: Vec<String>,
    /// Cy's session, revoked for the reuse of a rotated refresh token.
    cy: String,
    /// Dee's session, revoked by an API client through RFC 7009.
    dee: String,
}

/// Revokes one session (or two) of each kind, as [`Revoked`] lists them.
async fn revoke_one_of_each_kind(server: &TestServer, client: &Client) -> Revoked {
    // One session revoked from the session list.
    let ann = server.signup("ann@example.com", PASSWORD).await;
    let other = login(server, "ann@example.com").await;
    let path = format!("/v1/sessions/{}", session_id(&other));
    assert_eq!(delete_as(server, &path, &ann).await, 204);

    // Log out everywhere: both of Bob's sessions.
    let bob = server.signup("bob@example.com", PASSWORD).await;
    let bob2 = login(server, "bob@example.com").await;
    assert_eq!(delete_as(server, "/v1/sessions", &bob).await, 204);
    let mut bobs = vec![session_id(&bob), session_id(&bob2)];
    bobs.sort();

    // Theft: a rotated refresh token presented again after the grace window.
    let cy = server.signup("cy@example.com", PASSWORD).await;
    assert_eq!(server.refresh(&refresh_token(&cy)).await.status(), 200);
    server.advance(Duration::from_secs(1));
    let reuse = server.refresh(&refresh_token(&cy)).await;
    assert_problem(reuse, 401, "refresh_token_reused").await;

    // RFC 7009 revocation by an API client.
    let dee = server.signup("dee@example.com", PASSWORD).await;
    assert_eq!(
        revoke_as_client(server, client, &refresh_token(&dee)).await,
        200
    );
    Revoked {
        ann,
        listed: session_id(&other),
        bobs,
        cy: session_id(&cy),
        dee: session_id(&dee),
    }
}

async fn every_kind_of_revocation_is_published(backend: Backend) {
    let server = TestServer::start_with(
        Options::on(&backend).configure(move |c| c.refresh_reuse_grace = Duration::from_secs(0)),
    )
    .await;
    let client = register(&server).await;
    let cursor = feed(&server, &client, "").await["cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = revoke_one_of_each_kind(&server, &client).await;

    let page = feed(&server, &client, &format!("?after={cursor}")).await;
    let got = sids(&page);
    assert_eq!(got.len(), 5, "{page}");
    assert_eq!(got[0], revoked.listed);
    let mut got_bobs = got[1..3].to_vec();
    got_bobs.sort();
    assert_eq!(got_bobs, revoked.bobs);
    assert_eq!(got[3], revoked.cy);
    assert_eq!(got[4], revoked.dee);

    // Revoking what is already revoked publishes nothing more.
    let ann = &revoked.ann;
    logout(&server, ann).await;
    let next = page["cursor"].as_str().unwrap();
    let after_logout = feed(&server, &client, &format!("?after={next}")).await;
    assert_eq!(sids(&after_logout), [session_id(ann)]);
    let last = after_logout["cursor"].as_str().unwrap();
    assert_eq!(
        revoke_as_client(&server, &client, &refresh_token(ann)).await,
        200
    );
    assert_eq!(
        sids(&feed(&server, &client, &format!("?after={last}")).await),
        Vec::<String>::new()
    );
}

async fn a_long_poll_wakes_on_a_revocation(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let client = register(&server).await;
    let ann = server.signup("ann@example.com", PASSWORD).await;
    let cursor = feed(&server, &client, "").await["cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let started = Instant::now();
    let request = server
        .client
        .get(server.url(&format!("/v1/revocations?after={cursor}&wait=20")))
        .basic_auth(&client.id, Some(&client.secret))
        .send();
    let (response, ()) = tokio::join!(request, async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        logout(&server, &ann).await;
    });
    let page: Value = response.unwrap().json().await.unwrap();
    let waited = started.elapsed();
    assert_eq!(sids(&page), [session_id(&ann)]);
    assert!(
        waited >= Duration::from_millis(300),
        "held until the logout"
    );
    assert!(
        waited < Duration::from_secs(10),
        "answered at the logout, not at the end of the wait: {waited:?}"
    );
}

async fn a_foreign_or_future_cursor_gets_a_snapshot(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let client = register(&server).await;
    let ann = server.signup("ann@example.com", PASSWORD).await;
    logout(&server, &ann).await;
    let head = feed(&server, &client, "").await["cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let (epoch, seq) = head.split_once('.').unwrap();
    let other_epoch = if epoch == "0000000000000000" {
        "1111111111111111"
    } else {
        "0000000000000000"
    };
    let ahead = seq.parse::<u64>().unwrap() + 100;
    for cursor in [format!("{other_epoch}.{seq}"), format!("{epoch}.{ahead}")] {
        let page = feed(&server, &client, &format!("?after={cursor}")).await;
        assert_eq!(page["reset"], true, "{cursor}");
        assert_eq!(sids(&page), [session_id(&ann)]);
        assert_eq!(page["cursor"], head.as_str());
    }
}

async fn shutdown_does_not_wait_for_long_polls(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let client = register(&server).await;
    let cursor = feed(&server, &client, "").await["cursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let request = server
        .client
        .get(server.url(&format!("/v1/revocations?after={cursor}&wait=25")))
        .basic_auth(&client.id, Some(&client.secret))
        .send();
    let held = tokio::spawn(request);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    server.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown waited {:?} for a long-poll",
        started.elapsed()
    );
    let response = held.await.unwrap().unwrap();
    assert_eq!(response.status(), 200, "the held poll is answered, empty");
}

each_backend!(
    feed_requires_a_registered_client,
    bad_queries_are_rejected,
    revocations_follow_the_cursor,
    every_kind_of_revocation_is_published,
    a_long_poll_wakes_on_a_revocation,
    a_foreign_or_future_cursor_gets_a_snapshot,
    shutdown_does_not_wait_for_long_polls,
);

/// Two instances on one PostgreSQL database: a logout on A reaches B's feed readers and B's own
/// checks (`/v1/verify`, `/v1/me`) within a second, with no call between the instances.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_one_instance_reaches_the_other() {
    let Some(backend) = Backend::postgres("a_logout_on_one_instance_reaches_the_other").await
    else {
        return;
    };
    let shared = |backend: &Backend| {
        Options::on(backend).configure(move |c| {
            c.issuer = "http://auth.test".to_owned();
            c.audience = "http://api.test".to_owned();
        })
    };
    let a = TestServer::start_with(shared(&backend)).await;
    let b = TestServer::start_with(shared(&backend)).await;
    let client = register(&a).await;
    let ann = a.signup("ann@example.com", PASSWORD).await;
    let token = access_token(&ann);
    assert_eq!(b.get_bearer("/v1/verify", &token).await.status(), 200);
    let cursor = feed(&b, &client, "").await["cursor"]
        .as_str()
        .unwrap()
        .to_owned();

    let poll_on_b = b
        .client
        .get(b.url(&format!("/v1/revocations?after={cursor}&wait=10")))
        .basic_auth(&client.id, Some(&client.secret))
        .send();
    let started = Instant::now();
    let (response, ()) = tokio::join!(poll_on_b, async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        logout(&a, &ann).await;
    });
    let page: Value = response.unwrap().json().await.unwrap();
    assert_eq!(sids(&page), [session_id(&ann)]);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // B's own checks refuse the token too: its follower applied the revocation.
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let response = b.get_bearer("/v1/verify", &token).await;
        if response.status() == 401 {
            assert_problem(response, 401, "session_revoked").await;
            break;
        }
        assert!(Instant::now() < deadline, "B still accepts the token");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_problem(b.get_bearer("/v1/me", &token).await, 401, "session_revoked").await;
}
