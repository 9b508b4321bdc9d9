//! An example API as a tokenauth user would write it: per-user notes, with a public route, a
//! logged-in route and an admin-only route, all checked locally by `tokenauth-verify`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokenauth_verify::{Claims, Verifier, VerifyLayer};

/// The application state: the verifier and the notes, by user id.
#[derive(Clone)]
pub struct AppState {
    verifier: Verifier,
    notes: Arc<Mutex<HashMap<String, Vec<Note>>>>,
}

impl FromRef<AppState> for Verifier {
    fn from_ref(state: &AppState) -> Verifier {
        state.verifier.clone()
    }
}

/// One note.
#[derive(Clone, Serialize)]
pub struct Note {
    id: usize,
    text: String,
}

/// `POST /notes` body.
#[derive(Deserialize)]
pub struct NewNote {
    text: String,
}

/// The routes: `GET /public`, `GET|POST /notes` (any logged-in user, their own notes) and
/// `GET /admin/stats` (role `admin`).
pub fn app(verifier: Verifier) -> Router {
    let state = AppState {
        verifier: verifier.clone(),
        notes: Arc::default(),
    };
    // The layer verifies the token and checks the role before the handler runs: 401 without a
    // valid token, 403 without the role.
    let admin = Router::new()
        .route("/admin/stats", get(stats))
        .route_layer(VerifyLayer::new(verifier).require_role("admin"));
    Router::new()
        .route(
            "/public",
            get(|| async { Json(json!({"hello": "anyone"})) }),
        )
        .route("/notes", get(list_notes).post(add_note))
        .merge(admin)
        .with_state(state)
}

async fn list_notes(State(state): State<AppState>, claims: Claims) -> Json<Vec<Note>> {
    let notes = state
        .notes
        .lock()
        .map(|n| n.get(&claims.sub).cloned().unwrap_or_default());
    Json(notes.unwrap_or_default())
}

async fn add_note(
    State(state): State<AppState>,
    claims: Claims,
    Json(body): Json<NewNote>,
) -> Result<(StatusCode, Json<Note>), StatusCode> {
    let mut notes = state
        .notes
        .lock()
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let mine = notes.entry(claims.sub.clone()).or_default();
    let note = Note {
        id: mine.len() + 1,
        text: body.text,
    };
    mine.push(note.clone());
    Ok((StatusCode::CREATED, Json(note)))
}

async fn stats(State(state): State<AppState>, claims: Claims) -> Result<Json<Value>, StatusCode> {
    let notes = state
        .notes
        .lock()
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(Json(json!({
        "users": notes.len(),
        "notes": notes.values().map(Vec::len).sum::<usize>(),
        "asked_by": claims.sub,
    })))
}
