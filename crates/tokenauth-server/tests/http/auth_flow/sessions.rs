//! Sessions over their life: listed and revoked one by one or all at once, access and refresh
//! tokens expiring, an absolute end and an idle timeout no rotation passes, ended sessions
//! purged after the retention period, and revocations that outlive a lowered access TTL.

use crate::common;

use std::time::Duration;

use common::{Backend, Options, PASSWORD, TestServer, access_token, assert_problem, refresh_token};
use serde_json::Value;

/// A login of `email` with [`PASSWORD`]; its JSON body.
async fn login(server: &TestServer, email: &str) -> Value {
    server.login(email, PASSWORD).await.json().await.unwrap()
}

/// `DELETE path` with the access token of the sign-up or login answer `caller`.
async fn delete_as(server: &TestServer, path: &str, caller: &Value) -> reqwest::Response {
    server
        .client
        .delete(server.url(path))
        .bearer_auth(access_token(caller))
        .send()
        .await
        .unwrap()
}

/// The sessions `/v1/sessions` lists to the access token of the answer `caller`.
async fn sessions_of(server: &TestServer, caller: &Value) -> Vec<Value> {
    let list: Value = server
        .get_bearer("/v1/sessions", &access_token(caller))
        .await
        .json()
        .await
        .unwrap();
    list["sessions"].as_array().unwrap().clone()
}

/// The path of the session of the sign-up or login answer `body`.
fn session_path(body: &Value) -> String {
    format!("/v1/sessions/{}", body["session_id"].as_str().unwrap())
}

async fn sessions_can_be_listed_and_revoked_one_by_one_or_all_at_once(backend: Backend) {
    let server = TestServer::start_on(&backend).await;
    let first = server.signup("hank@example.com", PASSWORD).await;
    let second = login(&server, "hank@example.com").await;
    let third = login(&server, "hank@example.com").await;
    let other = server.signup("ivy@example.com", PASSWORD).await;

    let sessions = sessions_of(&server, &third).await;
    assert_eq!(sessions.len(), 3);
    assert_eq!(sessions[0]["id"], third["session_id"], "newest first");
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(sessions[1]["current"], false);
    assert!(sessions[0]["created_at"].as_str().unwrap().ends_with('Z'));

    revoking_one_session_leaves_the_others(&server, &second, &third, &other).await;
    logging_out_everywhere_revokes_every_session(&server, &first, &third).await;
}

/// `third` revokes `second`'s session: its refresh token dies. Revoking it again, `other`'s
/// (someone else's) session or a garbage id answers 404, and `other` is untouched.
async fn revoking_one_session_leaves_the_others(
    server: &TestServer,
    second: &Value,
    third: &Value,
    other: &Value,
) {
    let revoked = session_path(second);
    assert_eq!(delete_as(server, &revoked, third).await.status(), 204);
    assert_problem(
        server.refresh(&refresh_token(second)).await,
        401,
        "session_revoked",
    )
    .await;
    let foreign = session_path(other);
    for path in [revoked.as_str(), &foreign, "/v1/sessions/not-a-uuid"] {
        assert_problem(delete_as(server, path, third).await, 404, "not_found").await;
    }
    assert_eq!(
        server.refresh(&refresh_token(other)).await.status(),
        200,
        "ivy is untouched"
    );
}

/// `first` logs out everywhere: the refresh tokens of `first` and `third` and the access token
/// of `third` are then refused as revoked.
async fn logging_out_everywhere_revokes_every_session(
    server: &TestServer,
    first: &Value,
    third: &Value,
) {
    assert_eq!(delete_as(server, "/v1/sessions", first).await.status(), 204);
    for body in [first, third] {
        assert_problem(
            server.refresh(&refresh_token(body)).await,
            401,
            "session_revoked",
        )
        .await;
    }
    assert_problem(
        server
            .get_bearer("/v1/sessions", &access_token(third))
            .await,
        401,
        "session_revoked",
    )
    .await;
}

async fn access_and_refresh_tokens_expire(backend: Backend) {
    let server = TestServer::start_with(Options::on(&backend).configure(move |c| {
        c.access_token_ttl = Duration::from_secs(60);
        c.refresh_token_ttl = Duration::from_secs(3600);
        c.clock_leeway = Duration::from_secs(5);
        c.session_idle_timeout = Duration::from_secs(3600);
    }))
    .await;
    let body = server.signup("jack@example.com", PASSWORD).await;
    assert_eq!(body["expires_in"], 60);
    assert_eq!(body["refresh_token_expires_in"], 3600);

    server.advance(Duration::from_secs(62));
    assert_eq!(
        server
            .get_bearer("/v1/me", &access_token(&body))
            .await
            .status(),
        200,
        "within leeway"
    );
    server.advance(Duration::from_secs(4));
    let expired = server.get_bearer("/v1/me", &access_token(&body)).await;
    assert!(
        expired.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    assert_problem(expired, 401, "token_expired").await;

    // A refresh within its lifetime works, and its successor gets a fresh lifetime (sliding).
    let rotated: Value = server
        .refresh(&refresh_token(&body))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rotated["refresh_token_expires_in"], 3600);
    server.advance(Duration::from_secs(3601));
    assert_problem(
        server.refresh(&refresh_token(&rotated)).await,
        401,
        "token_expired",
    )
    .await;
    assert_problem(
        server.refresh(&refresh_token(&body)).await,
        401,
        "token_expired",
    )
    .await;
}

async fn ended_sessions_are_purged_after_the_retention_period(backend: Backend) {
    let server = TestServer::start_with(Options::on(&backend).configure(move |c| {
        c.refresh_token_ttl = Duration::from_secs(3600);
        c.session_idle_timeout = Duration::from_secs(3600);
    }))
    .await;
    let ended = server.signup("purge@example.com", PASSWORD).await;
    let logged_out: Value = server
        .login("purge@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let logout = server
        .client
        .post(server.url("/v1/logout"))
        .bearer_auth(access_token(&logged_out))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    // Within retention the dead session's tokens are still recognised.
    server.advance(Duration::from_secs(2 * 3600));
    assert_eq!(server.state.auth.purge_ended_sessions(10).await.unwrap(), 0);
    assert_problem(
        server.refresh(&refresh_token(&logged_out)).await,
        401,
        "session_revoked",
    )
    .await;
    assert_problem(
        server.refresh(&refresh_token(&ended)).await,
        401,
        "token_expired",
    )
    .await;
    // After it, both are gone, and a fresh session is untouched.
    server.advance(tokenauth_core::service::ENDED_SESSION_RETENTION - Duration::from_secs(1800));
    let fresh = server.login("purge@example.com", PASSWORD).await;
    assert_eq!(fresh.status(), 200);
    let fresh: Value = fresh.json().await.unwrap();
    assert_eq!(server.state.auth.purge_ended_sessions(10).await.unwrap(), 2);
    for gone in [&ended, &logged_out] {
        assert_problem(
            server.refresh(&refresh_token(gone)).await,
            401,
            "invalid_token",
        )
        .await;
    }
    assert_eq!(server.refresh(&refresh_token(&fresh)).await.status(), 200);
}

/// Milliseconds since the epoch of an RFC 3339 time in a response.
fn millis(value: &Value) -> i64 {
    value
        .as_str()
        .expect("a time")
        .parse::<jiff::Timestamp>()
        .expect("RFC 3339")
        .as_millisecond()
}

/// Advances the clock by `minutes` and refreshes with `body`'s refresh token, which must
/// succeed; the new answer.
async fn refresh_after(server: &TestServer, minutes: u32, body: &Value) -> Value {
    server.advance(Duration::from_secs(60) * minutes);
    let response = server.refresh(&refresh_token(body)).await;
    let status = response.status();
    let body = response.json::<Value>().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// Rotations move a session's expiry by the idle timeout but never past its absolute end:
/// `refresh_token_expires_in` shrinks to the time left, `/v1/sessions` shows both ends, a
/// refresh at the absolute end is refused as expired, and a session left unused for the idle
/// timeout has expired.
async fn sessions_end_at_their_absolute_end_and_after_idling(backend: Backend) {
    let server = TestServer::start_with(Options::on(&backend).configure(move |c| {
        c.access_token_ttl = Duration::from_secs(60);
        c.refresh_token_ttl = Duration::from_secs(3600);
        c.session_idle_timeout = Duration::from_secs(1800);
        c.session_max_lifetime = Duration::from_secs(7200);
    }))
    .await;
    let body = server.signup("lena@example.com", PASSWORD).await;
    assert_eq!(body["expires_in"], 60);
    assert_eq!(body["refresh_token_expires_in"], 1800, "the idle timeout");
    let idle = login(&server, "lena@example.com").await;

    let listed = sessions_of(&server, &body)
        .await
        .into_iter()
        .find(|s| s["id"] == body["session_id"])
        .unwrap();
    let created = millis(&listed["created_at"]);
    assert_eq!(millis(&listed["expires_at"]) - created, 1_800_000);
    assert_eq!(millis(&listed["absolute_expires_at"]) - created, 7_200_000);

    let current = rotations_slide_until_the_absolute_end(&server, &body, &idle).await;
    let sessions = sessions_of(&server, &current).await;
    assert_eq!(sessions.len(), 1, "the idle session is not listed");
    assert_eq!(
        sessions[0]["expires_at"],
        sessions[0]["absolute_expires_at"]
    );
    assert_eq!(
        millis(&sessions[0]["absolute_expires_at"]) - created,
        7_200_000
    );

    let current = refresh_after(&server, 19, &current).await;
    assert_eq!(current["refresh_token_expires_in"], 60);
    server.advance(Duration::from_secs(60));
    assert_problem(
        server.refresh(&refresh_token(&current)).await,
        401,
        "token_expired",
    )
    .await;
}

/// From the sign-up answer `body` (with the 30 min idle timeout and 2 h lifetime of
/// [`sessions_end_at_their_absolute_end_and_after_idling`]): each rotation gets the full idle
/// timeout until, at 1 h 40 min, only 20 minutes are left; meanwhile the `idle` login's session,
/// unused for 30 minutes, has expired. The last answer.
async fn rotations_slide_until_the_absolute_end(
    server: &TestServer,
    body: &Value,
    idle: &Value,
) -> Value {
    let mut current = refresh_after(server, 25, body).await;
    assert_eq!(current["refresh_token_expires_in"], 1800, "sliding");
    // The login's session was not used for the whole idle timeout.
    server.advance(Duration::from_secs(60) * 5);
    assert_problem(
        server.refresh(&refresh_token(idle)).await,
        401,
        "token_expired",
    )
    .await;
    for wait in [20, 25] {
        current = refresh_after(server, wait, &current).await;
        assert_eq!(current["refresh_token_expires_in"], 1800);
    }
    // At 1 h 40 min only 20 minutes of the session are left.
    current = refresh_after(server, 25, &current).await;
    assert_eq!(current["refresh_token_expires_in"], 1200, "capped");
    current
}

/// Access tokens minted while `access_token_ttl` was 1 h stay refused after their session is
/// revoked, also once the server restarts with `access_token_ttl` 1 m and the clock is past
/// that minute: the revoked set keeps each session until the expiry stored with its tokens.
/// Both orders: revoked before the restart (rebuilt from the store at start) and after it
/// (extended from the revocation feed).
async fn revoked_tokens_stay_refused_after_the_access_ttl_is_lowered(backend: Backend) {
    let issuer = "http://tokenauth.test";
    let server = TestServer::start_with(Options::on(&backend).configure(move |c| {
        c.issuer = issuer.to_owned();
        c.access_token_ttl = Duration::from_secs(3600);
        c.audience = issuer.to_owned();
    }))
    .await;
    let before = server.signup("mona@example.com", PASSWORD).await;
    let after: Value = server
        .login("mona@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let logout = |server: &TestServer, token: String| {
        let request = server
            .client
            .post(server.url("/v1/logout"))
            .bearer_auth(token);
        async move { assert_eq!(request.send().await.unwrap().status(), 204) }
    };
    logout(&server, access_token(&before)).await;
    let stopped = server.stop().await;

    let server = TestServer::start_with(Options::after(stopped).configure(move |c| {
        c.issuer = issuer.to_owned();
        c.access_token_ttl = Duration::from_secs(60);
        c.audience = issuer.to_owned();
    }))
    .await;
    server.advance(Duration::from_secs(2 * 60));
    logout(&server, access_token(&after)).await;
    // What the background follower does on the logout's nudge, done here so the test need not
    // wait for it.
    server.state.auth.follow_revocation_feed().await.unwrap();
    server.state.auth.purge_revoked();
    server.advance(Duration::from_secs(10 * 60));
    server.state.auth.purge_revoked();
    for body in [&before, &after] {
        assert_problem(
            server.get_bearer("/v1/me", &access_token(body)).await,
            401,
            "session_revoked",
        )
        .await;
    }
    server.advance(Duration::from_secs(3600));
    assert_problem(
        server.get_bearer("/v1/me", &access_token(&before)).await,
        401,
        "token_expired",
    )
    .await;
}

each_backend!(
    sessions_can_be_listed_and_revoked_one_by_one_or_all_at_once,
    access_and_refresh_tokens_expire,
    ended_sessions_are_purged_after_the_retention_period,
    sessions_end_at_their_absolute_end_and_after_idling,
    revoked_tokens_stay_refused_after_the_access_ttl_is_lowered,
);
