//! Against the real tokenauth server (in process, real HTTP): its tokens
//! verify through its JWKS, rotations and roles reach the verifier, and the
//! verifier outlives the server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth_server;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use auth_server::{AuthServer, jwt_parts};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use tokenauth_core::keys::RotationMode;
use tokenauth_core::user::Email;
use tokenauth_core::{Clock, SystemClock};
use tokenauth_verify::{Claims, Verifier, VerifierError, VerifyLayer, require_role};
use tower::ServiceExt;

fn issuer(server: &AuthServer) -> String {
    server.issuer()
}

fn audience(server: &AuthServer) -> String {
    server.audience()
}

async fn access_token(server: &AuthServer, email: &str) -> String {
    server.access_token(email).await
}

async fn verifier(server: &AuthServer) -> Verifier {
    Verifier::builder(issuer(server), audience(server))
        .jwks_url(server.url("/.well-known/jwks.json"))
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn server_tokens_verify_for_every_published_algorithm() {
    for alg in ["ES256", "EdDSA", "RS256"] {
        let server = AuthServer::start_with(&[("signing_alg", alg)]).await;
        let body = server.signup("ada@example.com").await;
        let token = body["access_token"].as_str().unwrap();
        let (header, _) = jwt_parts(token);
        assert_eq!(header["alg"], alg);

        let by_url = verifier(&server).await;
        let by_discovery = Verifier::builder(issuer(&server), audience(&server))
            .discover()
            .build()
            .await
            .unwrap();
        let by_default = Verifier::builder(issuer(&server), audience(&server))
            .build()
            .await
            .unwrap();
        for v in [&by_url, &by_discovery, &by_default] {
            let claims = v.verify(token).await.unwrap();
            assert_eq!(claims.sub, body["user"]["id"].as_str().unwrap());
            assert_eq!(claims.sid, body["session_id"].as_str().unwrap());
            assert_eq!(v.verify_local(token).unwrap(), claims);
        }
        assert_eq!(
            by_discovery.jwks_url(),
            Some(server.url("/.well-known/jwks.json").as_str())
        );

        let refresh = body["refresh_token"].as_str().unwrap();
        let err = by_url.verify(refresh).await.unwrap_err();
        assert!(matches!(err, VerifierError::Malformed(_)), "{err:?}");
    }
}

#[tokio::test]
async fn issuer_audience_and_expiry_are_enforced_on_server_tokens() {
    let server = AuthServer::start().await;
    let body = server.signup("eve@example.com").await;
    let token = body["access_token"].as_str().unwrap();
    let jwks = server.url("/.well-known/jwks.json");

    let other_aud = Verifier::builder(issuer(&server), "https://other-api.example")
        .jwks_url(&jwks)
        .build()
        .await
        .unwrap();
    let err = other_aud.verify(token).await.unwrap_err();
    assert!(matches!(err, VerifierError::WrongAudience), "{err:?}");
    let other_iss = Verifier::builder("https://impostor.example", audience(&server))
        .jwks_url(&jwks)
        .build()
        .await
        .unwrap();
    let err = other_iss.verify(token).await.unwrap_err();
    assert!(matches!(err, VerifierError::WrongIssuer), "{err:?}");

    let (_, claims) = jwt_parts(token);
    let exp = claims["exp"].as_i64().unwrap();
    let now = Arc::new(AtomicI64::new(exp + 9));
    let clock = Arc::clone(&now);
    let late = Verifier::builder(issuer(&server), audience(&server))
        .jwks_url(&jwks)
        .leeway(Duration::from_secs(10))
        .clock(move || clock.load(Ordering::SeqCst))
        .build()
        .await
        .unwrap();
    late.verify(token).await.unwrap();
    now.store(exp + 10, Ordering::SeqCst);
    let err = late.verify(token).await.unwrap_err();
    assert!(matches!(err, VerifierError::Expired), "{err:?}");
    assert_eq!(err.code(), "token_expired");
}

#[tokio::test]
async fn an_immediate_rotation_is_fetched_on_the_unknown_kid() {
    let server = AuthServer::start().await;
    server.signup("rot@example.com").await;
    let verifier = Verifier::builder(issuer(&server), audience(&server))
        .min_refetch_interval(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    let before = access_token(&server, "rot@example.com").await;
    verifier.verify(&before).await.unwrap();

    let new_kid = server
        .state
        .auth
        .keys()
        .rotate(RotationMode::Immediate)
        .await
        .unwrap();
    let after = access_token(&server, "rot@example.com").await;
    assert_eq!(jwt_parts(&after).0["kid"], new_kid.as_str());
    assert!(matches!(
        verifier.verify_local(&after),
        Err(VerifierError::UnknownKey)
    ));
    tokio::time::sleep(Duration::from_millis(400)).await;
    verifier.verify(&after).await.unwrap();
    verifier.verify(&before).await.unwrap();
}

#[tokio::test]
async fn a_scheduled_key_arrives_through_the_max_age_refresh() {
    let server = AuthServer::start_with(&[("jwks_max_age", "1s")]).await;
    let verifier = verifier(&server).await;
    let next = server
        .state
        .auth
        .keys()
        .rotate(RotationMode::Scheduled)
        .await
        .unwrap();
    assert!(verifier.key_set().get(&next).is_none());
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        verifier.key_set().get(&next).is_some(),
        "published key fetched before it signs"
    );
}

#[tokio::test]
async fn the_verifier_outlives_the_server() {
    let server = AuthServer::start_with(&[("jwks_max_age", "1s")]).await;
    let body = server.signup("solo@example.com").await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    let verifier = verifier(&server).await;
    server.stop().await;
    tokio::time::sleep(Duration::from_millis(2500)).await; // refreshes fail
    verifier.verify(&token).await.unwrap();
    verifier.verify_local(&token).unwrap();
}

#[tokio::test]
async fn roles_granted_by_the_server_open_role_guarded_routes() {
    let server = AuthServer::start().await;
    server.signup("admin@example.com").await;
    server.signup("user@example.com").await;
    let email = Email::parse("admin@example.com").unwrap();
    let store = &server.state.store;
    assert!(
        store
            .add_role(&email, "admin", SystemClock.now())
            .await
            .unwrap()
    );
    let admin = access_token(&server, "admin@example.com").await;
    let user = access_token(&server, "user@example.com").await;
    let verifier = verifier(&server).await;
    assert_eq!(verifier.verify(&admin).await.unwrap().roles, ["admin"]);

    let router = Router::new()
        .route("/admin", get(|c: Claims| async move { c.sub.clone() }))
        .route_layer(require_role("admin"))
        .route("/me", get(|c: Claims| async move { c.sub.clone() }))
        .layer(VerifyLayer::new(verifier.clone()))
        .with_state(verifier);
    let status = |path: &'static str, token: Option<String>| {
        let router = router.clone();
        async move {
            let mut request = Request::builder().uri(path);
            if let Some(token) = token {
                request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
            }
            let response = router
                .oneshot(request.body(Body::empty()).unwrap())
                .await
                .unwrap();
            response.status()
        }
    };
    assert_eq!(status("/admin", None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        status("/admin", Some("x.y.z".into())).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status("/admin", Some(user.clone())).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(status("/admin", Some(admin.clone())).await, StatusCode::OK);
    assert_eq!(status("/me", Some(user)).await, StatusCode::OK);
}
