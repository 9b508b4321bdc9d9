//! Against the real tokenauth server (in process, real HTTP): its tokens
//! verify through its JWKS, rotations and roles reach the verifier, and the
//! verifier outlives the server.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::common;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::routing::get;
use common::{Options, PASSWORD, TestServer, jwt_parts};
use tokenauth_core::keys::RotationMode;
use tokenauth_core::user::Email;
use tokenauth_core::{Clock, SystemClock};
use tokenauth_verify::{Claims, Verifier, VerifierError, VerifyLayer, require_role};
use tower::ServiceExt;

async fn verifier(server: &TestServer) -> Verifier {
    Verifier::builder(server.issuer(), server.audience())
        .jwks_url(server.url("/.well-known/jwks.json"))
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn server_tokens_verify_for_every_published_algorithm() {
    for alg in ["ES256", "EdDSA", "RS256"] {
        let server = TestServer::start_with(Options::default().configure(move |c| {
            c.signing_alg = alg.parse().expect("algorithm");
        }))
        .await;
        let body = server.signup("ada@example.com", PASSWORD).await;
        let token = body["access_token"].as_str().unwrap();
        let (header, _) = jwt_parts(token);
        assert_eq!(header["alg"], alg);

        let by_url = verifier(&server).await;
        let by_discovery = Verifier::builder(server.issuer(), server.audience())
            .discover()
            .build()
            .await
            .unwrap();
        let by_default = Verifier::builder(server.issuer(), server.audience())
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
    let server = TestServer::start().await;
    let body = server.signup("eve@example.com", PASSWORD).await;
    let token = body["access_token"].as_str().unwrap();
    let jwks = server.url("/.well-known/jwks.json");

    let other_aud = Verifier::builder(server.issuer(), "https://other-api.example")
        .jwks_url(&jwks)
        .build()
        .await
        .unwrap();
    let err = other_aud.verify(token).await.unwrap_err();
    assert!(matches!(err, VerifierError::WrongAudience), "{err:?}");
    let other_iss = Verifier::builder("https://impostor.example", server.audience())
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
    let late = Verifier::builder(server.issuer(), server.audience())
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
    let server = TestServer::start().await;
    server.signup("rot@example.com", PASSWORD).await;
    let verifier = Verifier::builder(server.issuer(), server.audience())
        .min_refetch_interval(Duration::from_millis(300))
        .build()
        .await
        .unwrap();
    let before = server.access_token_of("rot@example.com").await;
    verifier.verify(&before).await.unwrap();

    let new_kid = server
        .state
        .auth
        .keys()
        .rotate(RotationMode::Immediate)
        .await
        .unwrap();
    let after = server.access_token_of("rot@example.com").await;
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
    let server = TestServer::start_with(
        Options::default().configure(|c| c.jwks_max_age = Duration::from_secs(1)),
    )
    .await;
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
    let server = TestServer::start_with(
        Options::default().configure(|c| c.jwks_max_age = Duration::from_secs(1)),
    )
    .await;
    let body = server.signup("solo@example.com", PASSWORD).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    let verifier = verifier(&server).await;
    server.stop().await;
    tokio::time::sleep(Duration::from_millis(2500)).await; // refreshes fail
    verifier.verify(&token).await.unwrap();
    verifier.verify_local(&token).unwrap();
}

#[tokio::test]
async fn roles_granted_by_the_server_open_role_guarded_routes() {
    let server = TestServer::start().await;
    server.signup("admin@example.com", PASSWORD).await;
    server.signup("user@example.com", PASSWORD).await;
    let email = Email::parse("admin@example.com").unwrap();
    let store = &server.state.store;
    assert!(
        store
            .add_role(&email, "admin", SystemClock.now())
            .await
            .unwrap()
    );
    let admin = server.access_token_of("admin@example.com").await;
    let user = server.access_token_of("user@example.com").await;
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

/// A verifier that follows the revocation feed drops a key the server withdraws as soon as the
/// feed delivers the withdrawal: no JWKS refetch is involved (the JWKS lives an hour and
/// unknown kids may refetch once an hour), and only `verify_local` is called, which never
/// fetches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawn_key_is_dropped_through_the_feed_without_a_refetch() {
    let server = TestServer::start_with(
        Options::default().configure(|c| c.jwks_max_age = Duration::from_secs(3600)),
    )
    .await;
    let old_token = server.signup("leak@example.com", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let old_kid = jwt_parts(&old_token).0["kid"].as_str().unwrap().to_owned();
    let keys = server.state.auth.keys();
    let new_kid = keys.rotate(RotationMode::Immediate).await.unwrap();
    let new_token = server.access_token_of("leak@example.com").await;
    assert_eq!(jwt_parts(&new_token).0["kid"], new_kid.as_str());

    let (client, secret) = server
        .state
        .auth
        .clients()
        .register("verifier", tokenauth_core::client::ClientPermissions::all())
        .await
        .unwrap();
    let verifier = Verifier::builder(server.issuer(), server.audience())
        .jwks_url(server.url("/.well-known/jwks.json"))
        .min_refetch_interval(Duration::from_secs(3600))
        .revocation_feed(client.client_id, secret.expose())
        .revocation_feed_wait(Duration::from_secs(5))
        .token_cache(16)
        .build()
        .await
        .unwrap();
    verifier.verify_local(&old_token).unwrap();
    verifier.verify_local(&new_token).unwrap();

    keys.withdraw(&old_kid).await.unwrap();
    let withdrawn_at = std::time::Instant::now();
    // The server's follower picks the withdrawal up within a poll interval and wakes the
    // verifier's long-poll; the bound is generous for a loaded machine.
    while verifier.verify_local(&old_token).is_ok() {
        assert!(
            withdrawn_at.elapsed() < Duration::from_secs(15),
            "the withdrawal never reached the verifier"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let err = verifier.verify_local(&old_token).unwrap_err();
    assert!(matches!(err, VerifierError::UnknownKey), "{err:?}");
    assert!(verifier.key_set().get(&old_kid).is_none());
    verifier.verify_local(&new_token).unwrap();
    // A verifier started afterwards learns it from the snapshot, whatever its JWKS said.
    let snapshot = server.state.auth.revocation_feed(None).await.unwrap();
    assert_eq!(snapshot.withdrawn_keys.len(), 1, "{snapshot:?}");
    let (client, secret) = server
        .state
        .auth
        .clients()
        .register("late", tokenauth_core::client::ClientPermissions::all())
        .await
        .unwrap();
    let late = Verifier::builder(server.issuer(), server.audience())
        .jwks_url(server.url("/.well-known/jwks.json"))
        .revocation_feed(client.client_id, secret.expose())
        .build()
        .await
        .unwrap();
    assert!(late.verify_local(&old_token).is_err());
    late.verify_local(&new_token).unwrap();
}

/// With the auth server gone, a verifier keeps trusting its cached keys for `max_stale`, then
/// fails closed: every token is refused with `KeysStale` (503 for the axum layer), not 401.
#[tokio::test]
async fn a_verifier_cut_off_for_longer_than_max_stale_fails_closed() {
    let server = TestServer::start().await;
    let token = server.signup("cut@example.com", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = Arc::new(AtomicI64::new(SystemClock.now().as_secs()));
    let clock = Arc::clone(&now);
    let verifier = Verifier::builder(server.issuer(), server.audience())
        .jwks_url(server.url("/.well-known/jwks.json"))
        .max_stale(Duration::from_secs(60))
        .clock(move || clock.load(Ordering::SeqCst))
        .build()
        .await
        .unwrap();
    verifier.verify(&token).await.unwrap();
    server.stop().await;

    now.fetch_add(60, Ordering::SeqCst);
    verifier.verify_local(&token).unwrap();
    assert!(!verifier.keys_stale());

    now.fetch_add(1, Ordering::SeqCst);
    assert!(verifier.keys_stale());
    let err = verifier.verify(&token).await.unwrap_err();
    assert!(matches!(err, VerifierError::KeysStale), "{err:?}");
    assert_eq!(err.code(), "keys_stale");
    assert!(!err.is_token_error());

    let router = Router::new()
        .route("/", get(|c: Claims| async move { c.sub.clone() }))
        .layer(VerifyLayer::new(verifier.clone()))
        .with_state(verifier);
    let response = router
        .oneshot(
            Request::get("/")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key(header::RETRY_AFTER));
}
