//! Liveness and readiness.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::state::AppState;

/// Longest a readiness check waits for the database: a load balancer's probe must get an answer
/// (503) rather than time out itself while the database is unreachable.
pub const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /healthz`: the process is up.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: 200 when the database answers within [`READINESS_TIMEOUT`], its schema is the
/// one this build expects and signing keys are loaded; otherwise 503 problem+json whose `reason`
/// is `database unreachable`, `migrations pending`, `database schema is newer than this build`
/// or `signing keys not loaded`.
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
    let keyring = state.auth.keys().keyring();
    if keyring.verifiers().is_empty() {
        return unready("signing keys not loaded", None);
    }
    no_store(
        StatusCode::OK,
        json!({
            "status": "ready",
            "schema_version": version,
            "signing_kid": keyring.signer().kid(),
        }),
    )
}

/// 503 problem+json (error `not_ready`) whose `reason` (also its `detail`) says why, with the
/// schema versions when they are the reason.
fn unready(reason: &str, versions: Option<(i64, i64)>) -> Response {
    let mut body = json!({
        "type": "urn:tokenauth:problem:not_ready",
        "title": "Not ready",
        "status": StatusCode::SERVICE_UNAVAILABLE.as_u16(),
        "detail": reason,
        "error": "not_ready",
        "reason": reason,
    });
    if let Some((found, expected)) = versions {
        body["schema_version"] = json!(found);
        body["expected_schema_version"] = json!(expected);
    }
    let mut response = no_store(StatusCode::SERVICE_UNAVAILABLE, body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

fn no_store(status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
