//! The JWKS cache against a local JWKS server that counts its hits:
//! rate-limited refetch on unknown kids, rotation, max-age, outages,
//! withdrawn keys, discovery and the refresher's lifetime.

use std::time::Duration;

use crate::support::*;
use tokenauth_jwt::{Algorithm, Jwk, Jwks};
use tokenauth_verify::{FetchError, Verifier, VerifierError};

const ES: Algorithm = Algorithm::ES256;

fn builder(server: &JwksServer) -> tokenauth_verify::VerifierBuilder {
    Verifier::builder(server.issuer(), AUD).jwks_url(server.jwks_url())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_random_kids_costs_at_most_one_fetch_per_interval() {
    let (key, material) = new_key(ES, "a");
    let server = JwksServer::start(&[&key], Some(300)).await;
    let interval = Duration::from_millis(1500);
    let verifier = builder(&server)
        .min_refetch_interval(interval)
        .build()
        .await
        .unwrap();
    assert_eq!(server.hits(), 1, "the build fetch");
    let iss = server.issuer();
    let forged = |i: usize| {
        let header = format!(r#"{{"alg":"ES256","typ":"at+jwt","kid":"random-{i}"}}"#);
        forge(&header, &claims(&iss, now()).to_string(), ES, &material)
    };

    // Right after the build fetch: no refetch is allowed at all.
    for i in 0..1000 {
        let err = verifier.verify(&forged(i)).await.unwrap_err();
        assert!(matches!(err, VerifierError::UnknownKey), "{err:?}");
    }
    assert_eq!(server.hits(), 1);

    // Once the interval has passed: 1,000 concurrent misses share one fetch,
    // and 1,000 more right after it are refused without fetching.
    tokio::time::sleep(interval + Duration::from_millis(100)).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 1000..2000 {
        let (verifier, token) = (verifier.clone(), forged(i));
        tasks.spawn(async move { verifier.verify(&token).await });
    }
    while let Some(result) = tasks.join_next().await {
        assert!(matches!(result.unwrap(), Err(VerifierError::UnknownKey)));
    }
    for i in 2000..3000 {
        assert!(verifier.verify(&forged(i)).await.is_err());
    }
    assert_eq!(server.hits(), 2, "one refetch for 2,000 unknown kids");

    // Genuine tokens are unaffected.
    let token = mint(&key, &claims(&iss, now()));
    assert_eq!(verifier.verify(&token).await.unwrap().sub, "user-1");
}

#[tokio::test]
async fn a_rotated_in_key_is_picked_up_once_the_interval_allows() {
    let (old, _) = new_key(ES, "old");
    let (new, _) = new_key(Algorithm::EdDSA, "new");
    let server = JwksServer::start(&[&old], Some(300)).await;
    let interval = Duration::from_millis(800);
    let verifier = builder(&server)
        .min_refetch_interval(interval)
        .build()
        .await
        .unwrap();
    server.set_keys(&[&old, &new]);
    let token = mint(&new, &claims(&server.issuer(), now()));

    let early = verifier.verify(&token).await.unwrap_err();
    assert!(matches!(early, VerifierError::UnknownKey), "{early:?}");
    assert_eq!(server.hits(), 1, "too soon after the build fetch");

    tokio::time::sleep(interval + Duration::from_millis(100)).await;
    assert!(
        verifier.verify_local(&token).is_err(),
        "local never fetches"
    );
    verifier.verify(&token).await.unwrap();
    assert_eq!(server.hits(), 2);
    verifier.verify_local(&token).unwrap();
    let kids: Vec<String> = verifier.key_set().kids().map(str::to_owned).collect();
    assert_eq!(kids, ["old", "new"]);
}

#[tokio::test]
async fn max_age_drives_background_refresh() {
    let (a, _) = new_key(ES, "a");
    let (b, _) = new_key(Algorithm::RS256, "b");
    let server = JwksServer::start(&[&a], Some(1)).await;
    let verifier = builder(&server).build().await.unwrap();
    server.set_keys(&[&a, &b]);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(server.hits() >= 2, "refreshed in the background");
    // verify_local does no I/O: the new key came from the background task.
    let token = mint(&b, &claims(&server.issuer(), now()));
    verifier.verify_local(&token).unwrap();
}

#[tokio::test]
async fn without_max_age_the_default_lifetime_applies() {
    let (a, _) = new_key(ES, "a");
    let server = JwksServer::start(&[&a], None).await;
    let slow = builder(&server).build().await.unwrap();
    let fast = builder(&server)
        .default_max_age(Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Two builds, then only the 1 s verifier refreshed (about twice).
    assert!((3..=5).contains(&server.hits()), "{}", server.hits());
    drop((slow, fast));
}

#[tokio::test]
async fn keeps_verifying_from_cache_while_the_server_is_down() {
    let (a, material) = new_key(ES, "a");
    let server = JwksServer::start(&[&a], Some(1)).await;
    let issuer = server.issuer();
    let verifier = builder(&server)
        .min_refetch_interval(Duration::ZERO)
        .http_timeout(Duration::from_secs(1))
        .build()
        .await
        .unwrap();
    server.stop().await;
    // Several failed background refreshes later, the cached key still works.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let token = mint(&a, &claims(&issuer, now()));
    verifier.verify(&token).await.unwrap();
    verifier.verify_local(&token).unwrap();
    // An unknown kid fails fast (the refetch fails) and keeps the keys.
    let header = r#"{"alg":"ES256","typ":"at+jwt","kid":"other"}"#;
    let forged = forge(header, &claims(&issuer, now()).to_string(), ES, &material);
    let err = verifier.verify(&forged).await.unwrap_err();
    assert!(matches!(err, VerifierError::UnknownKey), "{err:?}");
    verifier.verify(&token).await.unwrap();
    let refresh = verifier.refresh().await.unwrap_err();
    assert!(matches!(
        refresh,
        VerifierError::Unavailable(FetchError::Http(_))
    ));
    verifier.verify_local(&token).unwrap();
}

#[tokio::test]
async fn a_withdrawn_key_is_rejected_after_the_refresh() {
    let (revoked, _) = new_key(ES, "revoked");
    let (kept, _) = new_key(ES, "kept");
    let server = JwksServer::start(&[&revoked, &kept], Some(1)).await;
    let verifier = builder(&server).token_cache(100).build().await.unwrap();
    let iss = server.issuer();
    let old_token = mint(&revoked, &claims(&iss, now()));
    verifier.verify(&old_token).await.unwrap();
    assert_eq!(verifier.cached_tokens(), 1);

    server.set_keys(&[&kept]);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(verifier.cached_tokens(), 0, "cache cleared on withdrawal");
    for _ in 0..2 {
        let err = verifier.verify(&old_token).await.unwrap_err();
        assert!(matches!(err, VerifierError::UnknownKey), "{err:?}");
    }
    verifier
        .verify(&mint(&kept, &claims(&iss, now())))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_refresher_stops_with_the_last_clone() {
    let (a, _) = new_key(ES, "a");
    let server = JwksServer::start(&[&a], Some(1)).await;
    let verifier = builder(&server).build().await.unwrap();
    let clone = verifier.clone();
    drop(verifier);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let while_alive = server.hits();
    assert!(while_alive >= 2, "a clone keeps it running");
    drop(clone);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let at_drop = server.hits();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(server.hits(), at_drop, "no fetch after the last drop");
}

#[tokio::test]
async fn build_fails_without_usable_keys() {
    let (a, _) = new_key(ES, "a");
    let server = JwksServer::start(&[&a], None).await;
    let unavailable = |r: Result<Verifier, VerifierError>| match r {
        Err(VerifierError::Unavailable(e)) => e,
        other => panic!("expected Unavailable, got {other:?}"),
    };

    let missing = builder(&server).jwks_url(format!("{}/nope", server.base));
    let err = unavailable(missing.build().await);
    assert!(matches!(err, FetchError::Status(404)), "{err:?}");

    let oct: Jwk =
        serde_json::from_str(r#"{"kty":"oct","kid":"s","alg":"HS256","k":"c2VjcmV0"}"#).unwrap();
    server.set_jwks(Jwks { keys: vec![oct] });
    let err = unavailable(builder(&server).build().await);
    assert!(matches!(err, FetchError::NoUsableKeys), "{err:?}");

    let url = server.jwks_url();
    server.stop().await;
    let down = Verifier::builder("https://auth.example", AUD).jwks_url(url);
    let err = unavailable(down.build().await);
    assert!(matches!(err, FetchError::Http(_)), "{err:?}");
}

#[tokio::test]
async fn discovery_and_the_default_url_find_the_jwks() {
    let (a, _) = new_key(ES, "a");
    let server = JwksServer::start(&[&a], Some(300)).await;
    let token = mint(&a, &claims(&server.issuer(), now()));

    let discovered = Verifier::builder(server.issuer(), AUD)
        .discover()
        .build()
        .await
        .unwrap();
    assert_eq!(discovered.jwks_url(), Some(server.jwks_url().as_str()));
    discovered.verify(&token).await.unwrap();

    let default = Verifier::builder(server.issuer(), AUD)
        .build()
        .await
        .unwrap();
    assert_eq!(default.jwks_url(), Some(server.jwks_url().as_str()));
    default.verify(&token).await.unwrap();

    server.set_discovery_issuer("https://impostor.example");
    let err = Verifier::builder(server.base.clone(), AUD)
        .discover()
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(err, VerifierError::Unavailable(FetchError::IssuerMismatch)),
        "{err:?}"
    );
}
