//! Liveness and readiness.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::Problem;
use crate::state::AppState;

/// The process is up.
#[derive(Serialize, ToSchema)]
#[schema(as = Health)]
pub struct HealthBody {
    /// Always `ok`.
    #[schema(example = "ok")]
    status: &'static str,
}

/// The server can serve: the database answers and signing keys are loaded.
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

/// The server cannot serve now.
#[derive(Serialize, ToSchema)]
#[schema(as = Unready)]
pub struct UnreadyBody {
    /// Always `unavailable`.
    #[schema(example = "unavailable")]
    status: &'static str,
    /// Why, e.g. `database unreachable`.
    reason: &'static str,
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

/// `GET /readyz`: the database answers and signing keys are loaded.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    summary = "Readiness",
    responses(
        (status = 200, description = "The database answers and keys are loaded.", body = ReadyBody),
        (status = 503, description = "Not ready (JSON), or the check itself timed out (problem+json `timeout`).",
            content((UnreadyBody = "application/json"), (Problem = "application/problem+json"))),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.schema_version().await {
        Ok(schema_version) => Json(ReadyBody {
            status: "ready",
            schema_version,
            signing_kid: state.auth.keys().keyring().signer().kid().to_owned(),
        })
        .into_response(),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(UnreadyBody {
                    status: "unavailable",
                    reason: "database unreachable",
                }),
            )
                .into_response()
        }
    }
}
