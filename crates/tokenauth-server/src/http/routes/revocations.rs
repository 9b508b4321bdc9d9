//! `GET /v1/revocations`: the revocation feed for verifiers, authenticated as an API client
//! (HTTP Basic, RFC 6749 §2.3.1). A long-poll: with `wait`, an empty answer is held until a
//! revocation arrives or the wait ends.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokenauth_core::AuthError;
use tokenauth_core::client::ClientPermission;
use tokenauth_core::service::{FeedCursor, FeedPage, RevokedSession, WithdrawnKey};

use utoipa::{IntoParams, ToSchema};

use super::client_auth::{OAuthError, client_credentials};
use crate::http::error::{ApiError, Problem};
use crate::http::openapi::responses::BadRequest;
use crate::http::state::AppState;

/// The query: `after` (a cursor from an earlier answer; absent for a first snapshot) and
/// `wait` (seconds to hold an empty answer, capped by the server). Any other parameter is 400.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct FeedQuery {
    /// The `cursor` of the previous answer (opaque, `EPOCH.SEQ`); absent for a first snapshot.
    /// A cursor that cannot be continued answers a snapshot (`reset: true`).
    #[param(
        value_type = String,
        required = false,
        pattern = r"^[0-9a-f]{16}\.[0-9]{1,19}$",
        example = "3f9a1c2b4d5e6f70.42"
    )]
    after: Option<String>,
    /// Seconds to hold an empty answer until a revocation arrives (a long-poll); capped at 30
    /// and below `request_timeout`. Absent or 0: answer at once.
    #[param(value_type = i64, required = false, minimum = 0)]
    wait: Option<i64>,
}

/// One answer of the feed.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = RevocationFeed)]
struct FeedBody {
    /// Send it back as `after` to continue from here.
    #[schema(example = "3f9a1c2b4d5e6f70.42")]
    cursor: String,
    /// `true`: a snapshot of every session whose tokens may still be alive, which replaces what
    /// the reader held; `false`: the revocations after `after`, oldest first.
    reset: bool,
    /// `true`: more revocations are waiting; ask again at once.
    more: bool,
    /// At most 1000 (together with `withdrawn_keys`).
    revocations: Vec<RevocationBody>,
    /// Signing keys withdrawn after `after` (in a snapshot: every withdrawal still held),
    /// oldest first: stop trusting these `kid`s at once, whatever a cached JWKS says. Readers
    /// that predate this field may ignore it; they drop the key at their next JWKS refresh.
    withdrawn_keys: Vec<WithdrawnKeyBody>,
}

/// A withdrawn signing key: its `kid` and Unix milliseconds of its withdrawal.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WithdrawnKey)]
struct WithdrawnKeyBody {
    /// The key's id (`kid` in the header of the tokens it signed).
    kid: String,
    /// When it was withdrawn, Unix milliseconds.
    withdrawn_at_ms: i64,
}

impl From<&WithdrawnKey> for WithdrawnKeyBody {
    fn from(key: &WithdrawnKey) -> Self {
        Self {
            kid: key.kid.clone(),
            withdrawn_at_ms: key.withdrawn_at.as_millis(),
        }
    }
}

/// A revoked session: `sid`, and Unix milliseconds of its revocation and of the latest `exp`
/// its access tokens can carry.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Revocation)]
struct RevocationBody {
    /// The revoked session's id (`sid` of its tokens).
    sid: String,
    /// When it was revoked, Unix milliseconds.
    revoked_at_ms: i64,
    /// The latest `exp` its access tokens can carry, Unix milliseconds: keep the `sid` until
    /// then (plus clock leeway), and not longer.
    alive_until_ms: i64,
}

impl From<&RevokedSession> for RevocationBody {
    fn from(revoked: &RevokedSession) -> Self {
        Self {
            sid: revoked.session.to_string(),
            revoked_at_ms: revoked.revoked_at.as_millis(),
            alive_until_ms: revoked.alive_until.as_millis(),
        }
    }
}

impl From<FeedPage> for FeedBody {
    fn from(page: FeedPage) -> Self {
        Self {
            cursor: page.cursor.to_string(),
            reset: page.reset,
            more: page.more,
            revocations: page.revocations.iter().map(RevocationBody::from).collect(),
            withdrawn_keys: page
                .withdrawn_keys
                .iter()
                .map(WithdrawnKeyBody::from)
                .collect(),
        }
    }
}

/// `GET /v1/revocations?after=CURSOR&wait=SECONDS`.
#[utoipa::path(
    get,
    path = "/v1/revocations",
    tag = "revocations",
    summary = "Follow revocations (long-poll)",
    description = "How an API that verifies tokens by itself learns of revocations within a second. \
        The caller is a registered API client holding the `revocations` permission, authenticated \
        with HTTP Basic only.",
    params(FeedQuery),
    security(("client_basic" = [])),
    responses(
        (status = 200, description = "A page of the feed.", body = FeedBody,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, response = BadRequest),
        (status = 401, description = "`invalid_client`: client credentials missing, malformed or wrong.",
            body = Problem, content_type = "application/problem+json",
            headers(("WWW-Authenticate" = String, description = "`Basic realm=\"tokenauth\"`"))),
        (status = 403, description = "`forbidden`: the client lacks the `revocations` permission.",
            body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn feed(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<FeedQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let credentials = client_credentials(&headers, None, None).map_err(|error| match error {
        OAuthError::InvalidRequest(detail) => ApiError::InvalidRequest(detail.to_owned()),
        _ => ApiError::Auth(AuthError::InvalidClient),
    })?;
    let caller = state
        .auth
        .clients()
        .authenticate(&credentials.client_id, &credentials.secret)
        .await?;
    if !caller.may(ClientPermission::Revocations) {
        return Err(ApiError::Forbidden(
            "this client may not read the revocation feed (it needs the revocations permission)",
        ));
    }
    let Query(query) = query.map_err(|rejection| {
        ApiError::InvalidRequest(format!(
            "query: {} (expected after=CURSOR and wait=SECONDS)",
            rejection.body_text()
        ))
    })?;
    let after = match query.after.as_deref() {
        None => None,
        Some(text) => Some(
            text.parse::<FeedCursor>()
                .map_err(|error| ApiError::InvalidRequest(format!("after: {error}")))?,
        ),
    };
    let wait = u64::try_from(query.wait.unwrap_or(0))
        .map_err(|_| ApiError::InvalidRequest("wait: must be at least 0".to_owned()))?;
    let wait = Duration::from_secs(wait).min(state.feed_max_wait);
    let page = next_page(&state, after.as_ref(), wait).await?;
    let mut response = Json(FeedBody::from(page)).into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// The page after `after`; if it is empty, waits up to `wait` for this instance to apply a new
/// revocation or key withdrawal (or for shutdown) and reads again.
async fn next_page(
    state: &AppState,
    after: Option<&FeedCursor>,
    wait: Duration,
) -> Result<FeedPage, AuthError> {
    // Subscribe before reading, so a revocation applied between the read and the wait still
    // wakes the wait.
    let mut head = state.auth.revocation_feed_head();
    head.borrow_and_update();
    let mut shutting_down = state.shutting_down.clone();
    let mut page = state.auth.revocation_feed(after).await?;
    let deadline = tokio::time::Instant::now() + wait;
    while !page.reset
        && page.revocations.is_empty()
        && page.withdrawn_keys.is_empty()
        && !*shutting_down.borrow()
    {
        tokio::select! {
            changed = tokio::time::timeout_at(deadline, head.changed()) => {
                if !matches!(changed, Ok(Ok(()))) {
                    break;
                }
            }
            _ = shutting_down.wait_for(|down| *down) => break,
        }
        page = state.auth.revocation_feed(Some(&page.cursor)).await?;
    }
    Ok(page)
}
