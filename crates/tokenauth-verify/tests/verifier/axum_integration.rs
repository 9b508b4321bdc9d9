//! The `Claims` extractor, `VerifyLayer` and `require_role` in an axum app.

use crate::support::*;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Value, json};
use tokenauth_jwt::{Algorithm, KeySet, SigningKey};
use tokenauth_verify::{Claims, Verifier, VerifyLayer, require_role};
use tower::ServiceExt;

const ISS: &str = "https://auth.example";
const T: i64 = 1_800_000_000;

struct App {
    key: SigningKey,
    verifier: Verifier,
}

fn app() -> App {
    let (key, _) = new_key(Algorithm::ES256, "k1");
    let verifier = Verifier::builder(ISS, AUD)
        .clock(|| T)
        .build_with_keys(KeySet::new([key.verifying_key()]))
        .unwrap();
    App { key, verifier }
}

impl App {
    fn token(&self, roles: &[&str]) -> String {
        let mut claims = claims(ISS, T);
        claims["roles"] = json!(roles);
        mint(&self.key, &claims)
    }

    fn expired(&self) -> String {
        mint(&self.key, &claims(ISS, T - 1000))
    }

    /// Handlers with the extractor only; the state is the verifier.
    fn extractor_router(&self) -> Router {
        let guarded = Router::new()
            .route("/admin-unguarded", get(|| async { "nope" }))
            .route_layer(require_role("admin"));
        Router::new()
            .route("/me", get(|c: Claims| async move { c.sub.clone() }))
            .route(
                "/maybe",
                get(|c: Option<Claims>| async move {
                    c.map_or("anonymous".to_owned(), |c| c.0.sub)
                }),
            )
            .route("/open", get(|| async { "open" }))
            .merge(guarded)
            .with_state(self.verifier.clone())
    }

    /// Everything behind `VerifyLayer`; `/admin` also needs the admin role.
    fn layered_router(&self) -> Router {
        let admin = Router::new()
            .route(
                "/admin",
                get(|c: Claims| async move { format!("hi {}", c.sub) }),
            )
            .route_layer(require_role("admin"));
        Router::new()
            .route("/me", get(|c: Claims| async move { c.sub.clone() }))
            .merge(admin)
            .route(
                "/billing",
                get(|| async { "billing" })
                    .route_layer(VerifyLayer::new(self.verifier.clone()).require_role("billing")),
            )
            .layer(VerifyLayer::new(self.verifier.clone()))
            .with_state(self.verifier.clone())
    }
}

async fn call(router: &Router, uri: &str, auth: &[&str]) -> Response {
    let mut request = Request::builder().uri(uri);
    for value in auth {
        request = request.header(header::AUTHORIZATION, *value);
    }
    let request = request.body(Body::empty()).unwrap();
    router.clone().oneshot(request).await.unwrap()
}

async fn body(response: Response) -> Vec<u8> {
    axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap()
        .to_vec()
}

/// Asserts a problem+json rejection; returns its body.
async fn problem(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let headers = response.headers();
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let challenge = headers[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned();
    if status == StatusCode::UNAUTHORIZED {
        assert!(
            challenge.starts_with(r#"Bearer error="invalid_token""#),
            "{challenge}"
        );
    }
    let json: Value = serde_json::from_slice(&body(response).await).unwrap();
    assert_eq!(json["error"], code, "{json}");
    assert_eq!(json["status"], status.as_u16());
    assert_eq!(json["type"], format!("urn:tokenauth:problem:{code}"));
    assert!(
        json["title"].is_string() && json["detail"].is_string(),
        "{json}"
    );
    json
}

#[tokio::test]
async fn extractor_answers_401_without_a_valid_bearer_token() {
    let app = app();
    let router = app.extractor_router();
    let good = format!("Bearer {}", app.token(&[]));
    let ok = call(&router, "/me", &[&good]).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(body(ok).await, b"user-1");

    let token = app.token(&[]);
    let expired = format!("Bearer {}", app.expired());
    let cases: Vec<(String, Vec<String>, &str)> = vec![
        ("/me".into(), vec![], "invalid_token"),
        ("/me".into(), vec!["Bearer garbage".into()], "invalid_token"),
        ("/me".into(), vec![expired.clone()], "token_expired"),
        (
            "/me".into(),
            vec![good.clone(), good.clone()],
            "invalid_token",
        ),
        (
            "/me".into(),
            vec![format!("Basic {token}")],
            "invalid_token",
        ),
        ("/me".into(), vec!["Bearer ".into()], "invalid_token"),
        (format!("/me?access_token={token}"), vec![], "invalid_token"),
    ];
    for (uri, auth, code) in cases {
        let auth: Vec<&str> = auth.iter().map(String::as_str).collect();
        let response = call(&router, &uri, &auth).await;
        let json = problem(response, StatusCode::UNAUTHORIZED, code).await;
        assert!(!json.to_string().contains(&token), "no token echo");
    }
    let response = call(&router, "/me", &[&expired]).await;
    let challenge = response.headers()[header::WWW_AUTHENTICATE].clone();
    assert!(challenge.to_str().unwrap().contains("expired"));
}

#[tokio::test]
async fn optional_claims_are_none_only_without_authorization() {
    let app = app();
    let router = app.extractor_router();
    let anonymous = call(&router, "/maybe", &[]).await;
    assert_eq!(body(anonymous).await, b"anonymous");
    let good = format!("Bearer {}", app.token(&[]));
    assert_eq!(
        body(call(&router, "/maybe", &[&good]).await).await,
        b"user-1"
    );
    let bad = call(&router, "/maybe", &["Bearer x.y.z"]).await;
    problem(bad, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let open = call(&router, "/open", &[]).await;
    assert_eq!(open.status(), StatusCode::OK);
}

#[tokio::test]
async fn require_role_without_a_verify_layer_fails_closed() {
    let app = app();
    let admin = format!("Bearer {}", app.token(&["admin"]));
    let response = call(&app.extractor_router(), "/admin-unguarded", &[&admin]).await;
    problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn layer_and_role_guard() {
    let app = app();
    let router = app.layered_router();
    let reader = format!("Bearer {}", app.token(&["reader"]));
    let admin = format!("Bearer {}", app.token(&["admin"]));
    let billing = format!("Bearer {}", app.token(&["billing"]));

    problem(
        call(&router, "/me", &[]).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    problem(
        call(&router, "/admin", &[]).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    let bad = call(&router, "/admin", &["Bearer a.b.c"]).await;
    problem(bad, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let expired = format!("Bearer {}", app.expired());
    problem(
        call(&router, "/me", &[&expired]).await,
        StatusCode::UNAUTHORIZED,
        "token_expired",
    )
    .await;

    let me = call(&router, "/me", &[&reader]).await;
    assert_eq!(me.status(), StatusCode::OK);
    let forbidden = call(&router, "/admin", &[&reader]).await;
    let json = problem(forbidden, StatusCode::FORBIDDEN, "insufficient_role").await;
    assert_eq!(json["title"], "Insufficient role");
    let ok = call(&router, "/admin", &[&admin]).await;
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(body(ok).await, b"hi user-1");

    let no_billing = call(&router, "/billing", &[&admin]).await;
    problem(no_billing, StatusCode::FORBIDDEN, "insufficient_role").await;
    let ok = call(&router, "/billing", &[&billing]).await;
    assert_eq!(ok.status(), StatusCode::OK);
    let unknown = call(&router, "/nowhere", &[&admin]).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn claims_extractor_reuses_the_layer_result() {
    // The state's verifier rejects everything (other audience); the layer's
    // accepts: a handler behind the layer sees the layer's claims.
    let app = app();
    let strict = Verifier::builder(ISS, "https://other.example")
        .build_with_keys(KeySet::new([app.key.verifying_key()]))
        .unwrap();
    let router = Router::new()
        .route("/me", get(|c: Claims| async move { c.sub.clone() }))
        .layer(VerifyLayer::new(app.verifier.clone()))
        .with_state(strict);
    let good = format!("Bearer {}", app.token(&[]));
    assert_eq!(body(call(&router, "/me", &[&good]).await).await, b"user-1");
}
