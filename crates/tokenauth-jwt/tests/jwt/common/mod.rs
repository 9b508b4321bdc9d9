//! Shared fixtures: one key per algorithm (generated once per test binary),
//! claims, and raw signing for forging hostile tokens.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::OnceLock;

use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use aws_lc_rs::{hmac, rand::SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokenauth_jwt::{AccessTokenClaims, Algorithm, KeySet, SigningKey, Validation};
use tokenauth_jwt::{VerifyError, Zeroizing, verify_access_token};

pub const NOW: i64 = 1_750_000_000;
pub const ISS: &str = "https://auth.example";
pub const AUD: &str = "api";

pub fn kid(alg: Algorithm) -> String {
    format!("kid-{alg}")
}

/// The fixture key of `alg` and its persisted material, generated once.
pub fn fixture(alg: Algorithm) -> &'static (SigningKey, Zeroizing<Vec<u8>>) {
    static ALL: OnceLock<Vec<(SigningKey, Zeroizing<Vec<u8>>)>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        let generate = |alg| SigningKey::generate(alg, kid(alg)).unwrap();
        Algorithm::ALL.into_iter().map(generate).collect()
    });
    all.iter().find(|(key, _)| key.alg() == alg).unwrap()
}

pub fn key(alg: Algorithm) -> &'static SigningKey {
    &fixture(alg).0
}

/// A key set trusting all four fixture keys.
pub fn keyset() -> KeySet {
    KeySet::new(Algorithm::ALL.map(|alg| key(alg).verifying_key()))
}

pub fn claims(now: i64) -> AccessTokenClaims {
    let exp = now + 300;
    let claims = serde_json::json!({"iss": ISS, "sub": "user-1", "aud": AUD, "exp": exp,
        "iat": now, "nbf": now, "jti": "jti-1", "sid": "sid-1", "roles": ["admin"]});
    serde_json::from_value(claims).unwrap()
}

pub fn validation() -> Validation {
    Validation::new(ISS, AUD)
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Signature over `input` made directly with aws-lc-rs from `material`.
pub fn raw_sign(alg: Algorithm, material: &[u8], input: &[u8]) -> Vec<u8> {
    let rng = SystemRandom::new();
    match alg {
        Algorithm::ES256 => {
            EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, material)
                .unwrap()
                .sign(&rng, input)
                .unwrap()
                .as_ref()
                .to_vec()
        }
        Algorithm::EdDSA => Ed25519KeyPair::from_pkcs8(material)
            .unwrap()
            .sign(input)
            .as_ref()
            .to_vec(),
        Algorithm::RS256 => {
            let pair = RsaKeyPair::from_pkcs8(material).unwrap();
            let mut out = vec![0; pair.public_modulus_len()];
            pair.sign(&sig::RSA_PKCS1_SHA256, &rng, input, &mut out)
                .unwrap();
            out
        }
        Algorithm::HS256 => {
            let key = hmac::Key::new(hmac::HMAC_SHA256, material);
            hmac::sign(&key, input).as_ref().to_vec()
        }
    }
}

/// `b64(header).b64(payload).b64(sig)`, `sig` made with `alg`/`material`.
pub fn forge(header: &str, payload: &str, alg: Algorithm, material: &[u8]) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig = raw_sign(alg, material, input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

/// Forges with the fixture key of `alg` (so the signature is genuine).
pub fn forge_with(alg: Algorithm, header: &str, payload: &str) -> String {
    forge(header, payload, alg, &fixture(alg).1)
}

pub fn header(alg: &str, kid: &str) -> String {
    format!(r#"{{"alg":"{alg}","typ":"at+jwt","kid":"{kid}"}}"#)
}

pub fn payload(now: i64) -> String {
    serde_json::to_string(&claims(now)).unwrap()
}

/// Asserts the full check fails with `want` and its message echoes no part
/// of the token.
pub fn rejects(token: &str, want: VerifyError) {
    let got = verify_access_token(&keyset(), token, &validation(), NOW);
    assert_eq!(got, Err(want), "token: {token}");
    for part in token.split('.').filter(|p| p.len() > 3) {
        assert!(!want.to_string().contains(part), "message leaks: {want}");
    }
}

/// Asserts the full check fails as `Malformed`.
pub fn malformed(token: &str) {
    let got = verify_access_token(&keyset(), token, &validation(), NOW);
    let ok = matches!(got, Err(VerifyError::Malformed(_)));
    assert!(ok, "{token:?}: {got:?}");
}
