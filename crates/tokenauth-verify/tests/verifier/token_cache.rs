//! The optional verified-token cache: hits, expiry with the token, bounds,
//! failures never cached, cleared when a key is withdrawn.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::support::*;
use serde_json::json;
use tokenauth_jwt::{Algorithm, KeySet};
use tokenauth_verify::{Verifier, VerifierError};

const ISS: &str = "https://auth.example";
const T: i64 = 1_800_000_000;

fn clocked(capacity: usize) -> (Verifier, Arc<AtomicI64>, tokenauth_jwt::SigningKey) {
    let (key, _) = new_key(Algorithm::EdDSA, "k");
    let now = Arc::new(AtomicI64::new(T));
    let clock = Arc::clone(&now);
    let verifier = Verifier::builder(ISS, AUD)
        .leeway(Duration::from_secs(10))
        .token_cache(capacity)
        .clock(move || clock.load(Ordering::SeqCst))
        .build_with_keys(KeySet::new([key.verifying_key()]))
        .unwrap();
    (verifier, now, key)
}

#[test]
fn hits_return_the_same_claims_and_expire_with_the_token() {
    let (verifier, now, key) = clocked(16);
    let token = mint(&key, &claims(ISS, T)); // exp = T + 300
    let first = verifier.verify_local(&token).unwrap();
    assert_eq!(verifier.cached_tokens(), 1);
    let again = verifier.verify_local(&token).unwrap();
    assert_eq!(first, again);
    assert_eq!(verifier.cached_tokens(), 1, "a hit adds nothing");

    now.store(T + 309, Ordering::SeqCst); // inside the leeway
    verifier.verify_local(&token).unwrap();
    now.store(T + 310, Ordering::SeqCst);
    let err = verifier.verify_local(&token).unwrap_err();
    assert!(matches!(err, VerifierError::Expired), "{err:?}");
}

#[test]
fn failures_are_never_cached() {
    let (verifier, _, key) = clocked(16);
    let mut wrong_aud = claims(ISS, T);
    wrong_aud["aud"] = json!("https://other.example");
    let bad = mint(&key, &wrong_aud);
    for _ in 0..3 {
        let err = verifier.verify_local(&bad).unwrap_err();
        assert!(matches!(err, VerifierError::WrongAudience), "{err:?}");
    }
    let tampered = format!("{}x", mint(&key, &claims(ISS, T)));
    assert!(verifier.verify_local(&tampered).is_err());
    let (other, _) = new_key(Algorithm::EdDSA, "k");
    let foreign = mint(&other, &claims(ISS, T)); // same kid, other key
    let err = verifier.verify_local(&foreign).unwrap_err();
    assert!(matches!(err, VerifierError::BadSignature), "{err:?}");
    assert_eq!(verifier.cached_tokens(), 0);
}

#[test]
fn the_cache_is_bounded() {
    let (verifier, _, key) = clocked(3);
    let tokens: Vec<String> = (0..10).map(|_| mint(&key, &claims(ISS, T))).collect();
    for token in &tokens {
        verifier.verify_local(token).unwrap();
    }
    assert_eq!(verifier.cached_tokens(), 3);
    for token in &tokens {
        verifier.verify_local(token).unwrap(); // evicted ones verify in full
    }
    assert_eq!(verifier.cached_tokens(), 3);
}

#[test]
fn cached_and_uncached_verifiers_agree() {
    let (cached, now, key) = clocked(64);
    let plain = Verifier::builder(ISS, AUD)
        .leeway(Duration::from_secs(10))
        .clock(move || now.load(Ordering::SeqCst))
        .build_with_keys(KeySet::new([key.verifying_key()]))
        .unwrap();
    assert_eq!(plain.cached_tokens(), 0);
    let mut future = claims(ISS, T);
    future["nbf"] = json!(T + 60);
    for token in [mint(&key, &claims(ISS, T)), mint(&key, &future)] {
        for _ in 0..2 {
            let a = cached.verify_local(&token).map_err(|e| e.reason());
            let b = plain.verify_local(&token).map_err(|e| e.reason());
            assert_eq!(a, b);
        }
    }
}

#[tokio::test]
async fn withdrawing_a_key_clears_the_cache_adding_one_does_not() {
    let (a, _) = new_key(Algorithm::ES256, "a");
    let (b, _) = new_key(Algorithm::ES256, "b");
    let server = JwksServer::start(&[&a], Some(300)).await;
    let verifier = Verifier::builder(server.issuer(), AUD)
        .jwks_url(server.jwks_url())
        .token_cache(100)
        .build()
        .await
        .unwrap();
    let token = mint(&a, &claims(&server.issuer(), now()));
    verifier.verify(&token).await.unwrap();
    assert_eq!(verifier.cached_tokens(), 1);

    server.set_keys(&[&a, &b]);
    verifier.refresh().await.unwrap();
    assert_eq!(verifier.cached_tokens(), 1, "a new key keeps the cache");

    server.set_keys(&[&b]);
    verifier.refresh().await.unwrap();
    assert_eq!(verifier.cached_tokens(), 0, "a withdrawn key clears it");
    let err = verifier.verify_local(&token).unwrap_err();
    assert!(matches!(err, VerifierError::UnknownKey), "{err:?}");
}
