//! `GET /openapi.json`: the OpenAPI 3.1 document of this server (see [`crate::http::openapi`]).

use axum::Extension;
use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The document, serialized once when the router is built.
#[derive(Clone)]
pub struct OpenApiJson(pub Bytes);

/// `GET /openapi.json`: the document, generated from the handlers the router serves.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "discovery",
    summary = "This document (OpenAPI 3.1)",
    responses((status = 200, description = "The OpenAPI 3.1 document.", body = Object, content_type = "application/json")),
)]
pub async fn openapi_json(Extension(OpenApiJson(document)): Extension<OpenApiJson>) -> Response {
    let mut response = document.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
