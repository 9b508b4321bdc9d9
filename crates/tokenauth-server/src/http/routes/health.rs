//! Liveness and readiness.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokenauth_core::store::WriteHealth;
use utoipa::ToSchema;

use crate::http::state::AppState;

/// Longest a readiness check waits for the database: a load balancer's probe must get an answer
/// (503) rather than time out itself while the database is unreachable.
pub const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// The process is up.
#[derive(Serialize, ToSchema)]
#[schema(as = Health)]
pub struct HealthBody {
    /// Always `ok`.
    #[schema(example = "ok")]
    status: &'static str,
}

/// The server can serve: the database answers at this build's schema, accepts writes, and
/// signing keys are loaded.
#[derive(Serialize, ToSchema)]
#[schema(as = Ready)]
pub struct ReadyBody {
    /// Always `ready`.
    #[schema(example = "ready")]
    status: &'static str,
    /// The database schema version (its latest migration).
    schema_version: i64,
    /// `kid` of the key that signs new access tokens.
    signing_kid: String,
}

/// The server cannot serve now: a problem+json document with error `not_ready` and the reason.
#[derive(Serialize, ToSchema)]
#[schema(as = Unready)]
pub struct UnreadyBody {
    /// `urn:tokenauth:problem:not_ready`.
    #[serde(rename = "type")]
    kind: &'static str,
    /// `Not ready`.
    title: &'static str,
    /// 503.
    status: u16,
    /// The reason, as in `reason`.
    detail: &'static str,
    /// Always `not_ready`.
    #[schema(example = "not_ready")]
    error: &'static str,
    /// `database unreachable`, `database writes failing`, `migrations pending`, `database schema
    /// is newer than this build` or `signing keys not loaded`.
    #[schema(example = "database unreachable")]
    reason: &'static str,
    /// The database's schema version, when the versions are the reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    schema_version: Option<i64>,
    /// The schema version this build expects, when the versions are the reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    expected_schema_version: Option<i64>,
}

/// `GET /healthz`: the process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    summary = "Liveness",
    responses((status = 200, description = "The process runs.", body = HealthBody)),
)]
pub async fn healthz() -> Json<HealthBody> {
    Json(HealthBody { status: "ok" })
}

/// `GET /readyz`: 200 when the database answers within [`READINESS_TIMEOUT`], its schema is the
/// one this build expects, it accepts writes and signing keys are loaded; otherwise 503
/// problem+json whose `reason` is `database unreachable`, `database writes failing`,
/// `migrations pending`, `database schema is newer than this build` or `signing keys not
/// loaded`.
///
/// Writes are judged by how the last ones went
/// ([`tokenauth_core::store::Lifecycle::write_health`]): 503 for a while
/// after any failed (the store's hold time); after that, while the last write failed, the check
/// rewrites one probe row and is 503 until that succeeds. A healthy server's probes write
/// nothing.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    summary = "Readiness",
    responses(
        (status = 200, description = "The database answers at this build's schema, accepts writes, and keys are loaded.",
            body = ReadyBody),
        (status = 503, description = "Not ready; `reason` says why.",
            body = UnreadyBody, content_type = "application/problem+json"),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let expected = state.store.expected_schema_version();
    let version = match tokio::time::timeout(READINESS_TIMEOUT, state.store.schema_version()).await
    {
        Ok(Ok(version)) => version,
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness check failed");
            return unready("database unreachable", None);
        }
        Err(_) => {
            tracing::warn!(
                timeout = ?READINESS_TIMEOUT,
                "readiness check failed: the database did not answer in time"
            );
            return unready("database unreachable", None);
        }
    };
    if version < expected {
        return unready("migrations pending", Some((version, expected)));
    }
    if version > expected {
        return unready(
            "database schema is newer than this build",
            Some((version, expected)),
        );
    }
    let writes_fail = match state.store.write_health() {
        WriteHealth::Healthy => false,
        WriteHealth::FailedRecently => true,
        WriteHealth::FailedEarlier => !accepts_writes(&state).await,
    };
    if writes_fail {
        return unready("database writes failing", None);
    }
    let keyring = state.auth.keys().keyring();
    if keyring.verifiers().is_empty() {
        return unready("signing keys not loaded", None);
    }
    no_store(
        Json(ReadyBody {
            status: "ready",
            schema_version: version,
            signing_kid: keyring.signer().kid().to_owned(),
        })
        .into_response(),
    )
}

/// Whether the database takes the probe write within [`READINESS_TIMEOUT`].
async fn accepts_writes(state: &AppState) -> bool {
    let probe = state.store.probe_write(state.auth.clock().now());
    match tokio::time::timeout(READINESS_TIMEOUT, probe).await {
        Ok(Ok(())) => {
            tracing::info!("the database accepts writes again");
            true
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness check failed: the database refuses writes");
            false
        }
        Err(_) => {
            tracing::warn!(
                timeout = ?READINESS_TIMEOUT,
                "readiness check failed: the probe write did not finish in time"
            );
            false
        }
    }
}

/// 503 problem+json (error `not_ready`) whose `reason` (also its `detail`) says why, with the
/// schema versions when they are the reason.
fn unready(reason: &'static str, versions: Option<(i64, i64)>) -> Response {
    let body = UnreadyBody {
        kind: "urn:tokenauth:problem:not_ready",
        title: "Not ready",
        status: StatusCode::SERVICE_UNAVAILABLE.as_u16(),
        detail: reason,
        error: "not_ready",
        reason,
        schema_version: versions.map(|(found, _)| found),
        expected_schema_version: versions.map(|(_, expected)| expected),
    };
    let mut response = no_store((StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
