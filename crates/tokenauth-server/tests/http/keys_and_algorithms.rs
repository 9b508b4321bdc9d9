//! Signing keys: every algorithm end to end, verification by a third party from JWKS alone, and
//! rotation on schedule (published before it signs, retired keys kept until their tokens expire).

use crate::common;

use std::time::Duration;

use common::{Backend, Options, PASSWORD, TestServer, jwt_parts, kid_of, kids};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::Value;
use tokenauth_core::audit::Auditor;
use tokenauth_core::keys::{RotationMode, force_rotation};
use tokenauth_core::{AuthSettings, Clock};
use tokenauth_server::bootstrap::load_master_key;

async fn access_token_for(server: &TestServer, email: &str) -> String {
    let response = server.login(email, PASSWORD).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// Plays a third-party API: verifies with the `jsonwebtoken` crate using only what the server
/// publishes (JWKS), checking issuer and audience.
fn verify_like_a_third_party(
    jwks: &Value,
    token: &str,
    issuer: &str,
) -> jsonwebtoken::TokenData<Value> {
    let set: JwkSet = serde_json::from_value(jwks.clone()).expect("JWKS parses as RFC 7517");
    let header = decode_header(token).expect("header");
    let kid = header.kid.expect("kid");
    let jwk = set.find(&kid).expect("kid published");
    let key = DecodingKey::from_jwk(jwk).expect("usable JWK");
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[issuer]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub", "nbf"]);
    decode::<Value>(token, &key, &validation).expect("third party accepts the token")
}

async fn each_asymmetric_algorithm_works_end_to_end_and_verifies_from_jwks(backend: Backend) {
    for (alg, expected) in [
        ("ES256", Algorithm::ES256),
        ("EdDSA", Algorithm::EdDSA),
        ("RS256", Algorithm::RS256),
    ] {
        let backend = backend.fresh(alg).await;
        let server = TestServer::start_with(Options::on(&backend).configure(move |c| {
            c.signing_alg = alg.parse().expect("a signing algorithm");
        }))
        .await;
        let body = server.signup("alg@example.com", PASSWORD).await;
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(
            server.get_bearer("/v1/me", token).await.status(),
            200,
            "{alg}"
        );
        let jwks = server.jwks().await;
        let key = &jwks["keys"][0];
        assert_eq!(key["alg"], alg);
        assert_eq!(key["use"], "sig");
        assert!(
            key.get("d").is_none() && key.get("p").is_none(),
            "no private parts: {key}"
        );
        let data = verify_like_a_third_party(&jwks, token, &server.base);
        assert_eq!(data.header.alg, expected);
        assert_eq!(data.header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(data.claims["sid"], body["session_id"]);
        // Refresh works with every algorithm too.
        let refreshed = server
            .refresh(body["refresh_token"].as_str().unwrap())
            .await;
        assert_eq!(refreshed.status(), 200, "{alg}");
    }
}

async fn hs256_works_end_to_end_and_its_secret_is_never_published(backend: Backend) {
    let server = TestServer::start_with(
        Options::on(&backend).configure(move |c| c.signing_alg = tokenauth_jwt::Algorithm::HS256),
    )
    .await;
    let body = server.signup("hmac@example.com", PASSWORD).await;
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(jwt_parts(token).0["alg"], "HS256");
    assert_eq!(server.get_bearer("/v1/me", token).await.status(), 200);
    let jwks = server.jwks().await;
    assert_eq!(
        jwks["keys"].as_array().unwrap().len(),
        0,
        "HS256 keys are never published: {jwks}"
    );
    let refreshed: Value = server
        .refresh(body["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        server
            .get_bearer("/v1/me", refreshed["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
}

async fn jwks_is_cacheable_and_discovery_points_at_it(backend: Backend) {
    let server = TestServer::start_with(
        Options::on(&backend).configure(move |c| c.jwks_max_age = Duration::from_secs(120)),
    )
    .await;
    let response = server
        .client
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "public, max-age=120");
    let discovery: Value = server
        .client
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], server.base);
    assert_eq!(discovery["jwks_uri"], server.url("/.well-known/jwks.json"));
}

async fn scheduled_rotation_publishes_first_signs_later_and_retires_after_tokens_expire(
    backend: Backend,
) {
    // Rotation every hour; JWKS cached 1 minute, so a new key is published 2 minutes ahead.
    let server = TestServer::start_with(Options::on(&backend).configure(move |c| {
        c.key_rotation_interval = Duration::from_secs(3600);
        c.jwks_max_age = Duration::from_secs(60);
        c.access_token_ttl = Duration::from_secs(300);
        c.clock_leeway = Duration::from_secs(10);
    }))
    .await;
    server.signup("rota@example.com", PASSWORD).await;
    let first_kid = kids(&server.jwks().await)[0].clone();

    // Not yet time: nothing changes.
    server.advance(Duration::from_secs(3600 - 121));
    assert!(!server.maintain_keys().await);
    assert_eq!(kids(&server.jwks().await), std::slice::from_ref(&first_kid));

    // Two minutes before the rotation is due, the next key is published but does not sign.
    server.advance(Duration::from_secs(2));
    assert!(server.maintain_keys().await);
    let published = kids(&server.jwks().await);
    assert_eq!(published.len(), 2);
    let next_kid = published.iter().find(|k| **k != first_kid).unwrap().clone();
    let old_token = access_token_for(&server, "rota@example.com").await;
    assert_eq!(
        kid_of(&old_token),
        first_kid,
        "the published key does not sign yet"
    );

    // When due, the next key signs; the old one stays published and its tokens verify.
    server.advance(Duration::from_secs(120));
    assert!(server.maintain_keys().await);
    let new_token = access_token_for(&server, "rota@example.com").await;
    assert_eq!(kid_of(&new_token), next_kid);
    let jwks = server.jwks().await;
    assert_eq!(kids(&jwks).len(), 2);
    assert_eq!(
        server.get_bearer("/v1/me", &old_token).await.status(),
        200,
        "old token still verifies"
    );
    verify_like_a_third_party(&jwks, &old_token, &server.base);
    verify_like_a_third_party(&jwks, &new_token, &server.base);

    // Once every token the old key signed has expired (ttl + leeway), it is withdrawn.
    server.advance(Duration::from_secs(5 * 60 + 10));
    assert!(server.maintain_keys().await);
    assert_eq!(kids(&server.jwks().await), [next_kid]);
}

async fn forced_rotation_waits_for_caches_unless_immediate(backend: Backend) {
    let server = TestServer::start_with(
        Options::on(&backend).configure(move |c| c.jwks_max_age = Duration::from_secs(60)),
    )
    .await;
    server.signup("force@example.com", PASSWORD).await;
    let first_kid = kids(&server.jwks().await)[0].clone();
    let keys = server.state.auth.keys().clone();

    let scheduled = keys.rotate(RotationMode::Scheduled).await.unwrap();
    let jwks = server.jwks().await;
    assert!(
        kids(&jwks).contains(&scheduled),
        "published at once: {scheduled} {jwks}"
    );
    assert_eq!(
        kid_of(&access_token_for(&server, "force@example.com").await),
        first_kid
    );
    server.advance(Duration::from_secs(121));
    server.maintain_keys().await;
    assert_eq!(
        kid_of(&access_token_for(&server, "force@example.com").await),
        scheduled
    );

    let before = access_token_for(&server, "force@example.com").await;
    let immediate = keys.rotate(RotationMode::Immediate).await.unwrap();
    assert_eq!(
        kid_of(&access_token_for(&server, "force@example.com").await),
        immediate
    );
    assert_eq!(
        server.get_bearer("/v1/me", &before).await.status(),
        200,
        "retired key still verifies"
    );
}

async fn changing_the_algorithm_rotates_gracefully_across_a_restart(backend: Backend) {
    let server = TestServer::start_with(
        Options::on(&backend).configure(move |c| c.jwks_max_age = Duration::from_secs(60)),
    )
    .await;
    let body = server.signup("switch@example.com", PASSWORD).await;
    let es_token = body["access_token"].as_str().unwrap().to_owned();
    let stopped = server.stop().await;

    let server = TestServer::start_with(Options::after(stopped).configure(move |c| {
        c.signing_alg = tokenauth_jwt::Algorithm::EdDSA;
        c.jwks_max_age = Duration::from_secs(60);
    }))
    .await;
    let jwks = server.jwks().await;
    let mut algs: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    algs.sort_unstable();
    assert_eq!(
        algs,
        ["ES256", "EdDSA"],
        "the EdDSA key is published before it signs"
    );
    assert_eq!(
        jwt_parts(&access_token_for(&server, "switch@example.com").await).0["alg"],
        "ES256"
    );
    server.advance(Duration::from_secs(121));
    server.maintain_keys().await;
    let ed_token = access_token_for(&server, "switch@example.com").await;
    assert_eq!(jwt_parts(&ed_token).0["alg"], "EdDSA");
    // The ES256 token minted before the restart still verifies against the published key.
    let (_, claims) = jwt_parts(&es_token);
    assert!(claims["exp"].as_i64().is_some());
    verify_like_a_third_party_with_issuer(
        &server.jwks().await,
        &es_token,
        claims["iss"].as_str().unwrap(),
    );
}

/// What a process with other settings (an old CLI) could do to the keys of an ES256 server:
/// add a pending HS256 key, or make one sign at once. The server never signs with it: the
/// pending one is withdrawn before it would activate, and one made active elsewhere is not put
/// in force; the server keeps its signer until a key of its own algorithm takes over.
async fn a_server_never_activates_a_key_of_another_algorithm(backend: Backend) {
    let server = TestServer::start_with(
        Options::on(&backend).configure(move |c| c.jwks_max_age = Duration::from_secs(60)),
    )
    .await;
    server.signup("alg@example.com", PASSWORD).await;
    let first = kid_of(&access_token_for(&server, "alg@example.com").await);
    let store = server.state.store.clone();
    let audit = Auditor::new(store.clone());
    let master = load_master_key(
        std::path::Path::new("unused"),
        Some(common::TEST_MASTER_KEY.into()),
    )
    .unwrap();
    let foreign = AuthSettings {
        signing_alg: "HS256".parse().unwrap(),
        ..server.state.auth.settings().clone()
    };
    let signing = |token: &str| {
        let (header, _) = jwt_parts(token);
        (
            header["alg"].as_str().unwrap().to_owned(),
            header["kid"].as_str().unwrap().to_owned(),
        )
    };

    let pending = force_rotation(
        store.as_ref(),
        &audit,
        &master,
        &foreign,
        server.clock.now(),
        RotationMode::Scheduled,
    )
    .await
    .unwrap();
    server.advance(Duration::from_secs(121));
    server.maintain_keys().await;
    let token = access_token_for(&server, "alg@example.com").await;
    assert_eq!(signing(&token), ("ES256".to_owned(), first.clone()));
    let stored = store.list_signing_keys().await.unwrap();
    assert!(
        stored.iter().all(|key| key.kid != pending),
        "the pending HS256 key is withdrawn: {stored:?}"
    );

    let made_active = force_rotation(
        store.as_ref(),
        &audit,
        &master,
        &foreign,
        server.clock.now(),
        RotationMode::Immediate,
    )
    .await
    .unwrap();
    server.state.auth.keys().follow_key_changes().await.unwrap();
    server.maintain_keys().await;
    let token = access_token_for(&server, "alg@example.com").await;
    assert_eq!(
        signing(&token),
        ("ES256".to_owned(), first.clone()),
        "{made_active} (HS256) is not used"
    );
    // A key of its own algorithm takes over after the publish lead.
    server.advance(Duration::from_secs(121));
    server.maintain_keys().await;
    let (alg, kid) = signing(&access_token_for(&server, "alg@example.com").await);
    assert_eq!(alg, "ES256");
    assert!(kid != first && kid != made_active, "{kid}");
}

fn verify_like_a_third_party_with_issuer(jwks: &Value, token: &str, issuer: &str) {
    verify_like_a_third_party(jwks, token, issuer);
}

each_backend!(
    each_asymmetric_algorithm_works_end_to_end_and_verifies_from_jwks,
    hs256_works_end_to_end_and_its_secret_is_never_published,
    jwks_is_cacheable_and_discovery_points_at_it,
    scheduled_rotation_publishes_first_signs_later_and_retires_after_tokens_expire,
    forced_rotation_waits_for_caches_unless_immediate,
    changing_the_algorithm_rotates_gracefully_across_a_restart,
    a_server_never_activates_a_key_of_another_algorithm,
);
