//! `GET /openapi.json`: a valid OpenAPI 3.1 document whose every reference resolves; it lists
//! exactly the routes the router serves (every documented operation is served, no other method
//! answers on a documented path, and routes are only ever registered with their documentation);
//! and real answers of every endpoint, errors included, fit it ([`answers`]).

use crate::{common, conformance};

mod answers;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::TestServer;
use conformance::Document;
use reqwest::Method;
use serde_json::Value;

/// Every method OpenAPI can name, lower-case as in a path item.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "options", "head", "trace",
];

async fn fetch_document(server: &TestServer) -> Value {
    let response = server
        .client
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

/// `path` with its template parameters filled with sample values.
fn concrete(path: &str) -> String {
    path.replace("{id}", "0190f4e2-5a6b-7c8d-9e0f-1a2b3c4d5e6f")
        .replace("{path}", "api/notes/42")
}

/// The documented methods of each path.
fn operations(document: &Value) -> BTreeMap<String, BTreeSet<String>> {
    document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(path, item)| {
            let methods = METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(|m| (*m).to_owned())
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

/// Every string under a `$ref` key, anywhere in `value`.
fn references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(reference)) => found.push(reference.clone()),
                    _ => references(inner, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| references(item, found)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_1_and_every_reference_resolves() {
    let server = TestServer::start().await;
    let raw = fetch_document(&server).await;

    // It parses back into utoipa's model of OpenAPI 3.1, and says which version it is.
    let parsed: utoipa::openapi::OpenApi =
        serde_json::from_value(raw.clone()).expect("an OpenAPI document");
    assert_eq!(raw["openapi"], "3.1.0");
    assert_eq!(parsed.info.version, env!("CARGO_PKG_VERSION"));
    assert!(!parsed.paths.paths.is_empty());

    let document = Document(raw.clone());
    let mut refs = Vec::new();
    references(&raw, &mut refs);
    assert!(refs.len() > 50, "only {} references", refs.len());
    for reference in &refs {
        assert!(reference.starts_with("#/"), "non-local {reference}");
        assert!(
            document.resolve(reference).is_some(),
            "{reference} points nowhere"
        );
    }

    let schemes = raw["components"]["securitySchemes"].as_object().unwrap();
    let tags: BTreeSet<&str> = raw["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let mut operation_ids = BTreeSet::new();
    for (path, methods) in operations(&raw) {
        let template_params: BTreeSet<String> = path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .map(str::to_owned)
            .collect();
        for method in methods {
            let operation = &raw["paths"][&path][&method];
            let where_ = format!("{method} {path}");
            let id = operation["operationId"].as_str().expect("an operationId");
            assert!(
                operation_ids.insert(id.to_owned()),
                "{where_}: {id} repeats"
            );
            for tag in operation["tags"].as_array().expect("tagged") {
                assert!(tags.contains(tag.as_str().unwrap()), "{where_}: tag {tag}");
            }
            for requirement in operation["security"].as_array().into_iter().flatten() {
                for scheme in requirement.as_object().unwrap().keys() {
                    assert!(schemes.contains_key(scheme), "{where_}: scheme {scheme}");
                }
            }
            let declared: BTreeSet<String> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "path")
                .inspect(|p| assert_eq!(p["required"], true, "{where_}: {p}"))
                .map(|p| p["name"].as_str().unwrap().to_owned())
                .collect();
            assert_eq!(declared, template_params, "{where_}: path parameters");
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|status| status.starts_with('2')),
                "{where_}: no success response"
            );
            // Whatever the handler does, the middleware can answer these.
            for status in ["413", "431", "500", "503"] {
                assert!(responses.contains_key(status), "{where_}: no {status}");
            }
        }
    }
}

#[tokio::test]
async fn every_documented_operation_is_served_and_no_other_method_answers() {
    let server = TestServer::start().await;
    let document = fetch_document(&server).await;
    let operations = operations(&document);
    assert!(operations.len() >= 20, "{operations:?}");
    for (path, documented) in &operations {
        let url = server.url(&concrete(path));
        for method in METHODS {
            // HEAD is answered wherever GET is, as HTTP wants; OpenAPI need not repeat it.
            if method == "head" && documented.contains("get") {
                continue;
            }
            let verb = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = server.client.request(verb, &url).send().await.unwrap();
            let status = response.status().as_u16();
            if documented.contains(method) {
                // No credentials are sent: the answer may be 4xx, but never the router's own.
                assert!(
                    status != 404 && status != 405,
                    "{method} {path} is documented but answered {status}"
                );
            } else {
                assert_eq!(status, 405, "{method} {path} answers but is not documented");
            }
        }
    }
}

#[tokio::test]
async fn forward_auth_answers_methods_openapi_cannot_name() {
    let server = TestServer::start().await;
    for method in ["PROPFIND", "MKCOL", "FOO"] {
        for path in ["/v1/verify", "/v1/verify/dav/a"] {
            let verb = Method::from_bytes(method.as_bytes()).unwrap();
            let response = server
                .client
                .request(verb, server.url(path))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 401, "{method} {path}");
        }
    }
}

/// The router is built only from the annotated handlers in `routes::api_routes`: a route added
/// any other way would be served without being documented. axum cannot list its routes, so
/// this looks at the source for the calls that add one.
#[test]
fn routes_are_added_only_with_their_documentation() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offenders = Vec::new();
    let mut files = vec![src];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let code: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n")
            .split_whitespace()
            .collect();
        for call in [".route(", ".route_service(", ".nest(", ".nest_service("] {
            if code.contains(call) {
                offenders.push(format!("{} calls {call}", path.display()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "register routes with `.routes(routes!(handler))` in routes::api_routes, with a \
         #[utoipa::path] annotation on the handler, so that they are documented: {offenders:?}"
    );
}

/// The document's mirrors of types that live outside the server crate name exactly the fields
/// those types serialize.
#[test]
fn mirrored_schemas_match_the_types_they_mirror() {
    let document = serde_json::to_value(tokenauth_server::http::openapi::document()).unwrap();
    let properties = |schema: &str| -> BTreeSet<String> {
        document["components"]["schemas"][schema]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("schema {schema}"))
            .keys()
            .cloned()
            .collect()
    };
    let keys =
        |value: Value| -> BTreeSet<String> { value.as_object().unwrap().keys().cloned().collect() };
    let full = tokenauth_jwt::Jwk {
        kty: "EC".into(),
        kid: Some("k".into()),
        alg: Some("ES256".into()),
        key_use: Some("sig".into()),
        crv: Some("P-256".into()),
        x: Some("x".into()),
        y: Some("y".into()),
        n: Some("n".into()),
        e: Some("e".into()),
    };
    assert_eq!(keys(serde_json::to_value(full).unwrap()), properties("Jwk"));
    let claims = tokenauth_jwt::AccessTokenClaims {
        iss: "i".into(),
        sub: "s".into(),
        aud: "a".into(),
        exp: 2,
        iat: 1,
        nbf: 1,
        jti: "j".into(),
        sid: "s".into(),
        roles: vec![],
    };
    assert_eq!(
        keys(serde_json::to_value(claims).unwrap()),
        properties("AccessTokenClaims")
    );
}
