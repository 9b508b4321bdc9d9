//! Shared fixtures: one key per algorithm (generated once per test binary),
//! claims, and a raw token builder for forging attack tokens.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::OnceLock;

use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use aws_lc_rs::{hmac, rand::SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokenauth_jwt::{
    AccessTokenClaims, Algorithm, Audience, KeySet, SigningKey, Validation, VerifyError, Zeroizing,
    verify_access_token,
};

pub const NOW: i64 = 1_750_000_000;
pub const ISS: &str = "https://auth.example";
pub const AUD: &str = "api";

pub struct Fixture {
    pub key: SigningKey,
    pub material: Zeroizing<Vec<u8>>,
}

pub fn kid(alg: Algorithm) -> String {
    format!("kid-{alg}")
}

/// One generated key per algorithm, shared by all tests in the binary.
pub fn fixture(alg: Algorithm) -> &'static Fixture {
    static ALL: OnceLock<Vec<Fixture>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        Algorithm::ALL
            .into_iter()
            .map(|alg| {
                let (key, material) = SigningKey::generate(alg, kid(alg)).unwrap();
                Fixture { key, material }
            })
            .collect()
    });
    all.iter().find(|f| f.key.alg() == alg).unwrap()
}

pub fn key(alg: Algorithm) -> &'static SigningKey {
    &fixture(alg).key
}

/// A key set trusting all four fixture keys.
pub fn keyset() -> KeySet {
    KeySet::new(Algorithm::ALL.map(|alg| key(alg).verifying_key()))
}

pub fn claims(now: i64) -> AccessTokenClaims {
    AccessTokenClaims {
        iss: ISS.into(),
        sub: "user-1".into(),
        aud: Audience::One(AUD.into()),
        exp: now + 300,
        iat: now,
        nbf: now,
        jti: "jti-1".into(),
        sid: "sid-1".into(),
        roles: vec!["admin".into()],
    }
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
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, material)
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
            let mut sig = vec![0; pair.public_modulus_len()];
            pair.sign(&signature::RSA_PKCS1_SHA256, &rng, input, &mut sig)
                .unwrap();
            sig
        }
        Algorithm::HS256 => hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, material), input)
            .as_ref()
            .to_vec(),
    }
}

/// `b64(header).b64(payload).b64(sig)` where `sig` signs with `alg`/`material`.
pub fn forge(header: &str, payload: &str, alg: Algorithm, material: &[u8]) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig = raw_sign(alg, material, input.as_bytes());
    format!("{input}.{}", b64(&sig))
}

/// Forges with the fixture key of `alg` (so the signature is genuine).
pub fn forge_with(alg: Algorithm, header: &str, payload: &str) -> String {
    forge(header, payload, alg, &fixture(alg).material)
}

pub fn header(alg: &str, kid: &str) -> String {
    format!(r#"{{"alg":"{alg}","typ":"at+jwt","kid":"{kid}"}}"#)
}

pub fn payload(now: i64) -> String {
    serde_json::to_string(&claims(now)).unwrap()
}

/// Asserts the full check fails with `want`, and that the error message
/// echoes no part of the token.
pub fn assert_rejected(token: &str, want: VerifyError) {
    let got = verify_access_token(&keyset(), token, &validation(), NOW);
    assert_eq!(got, Err(want), "token: {token}");
    let msg = want.to_string();
    for part in token.split('.').filter(|p| p.len() > 3) {
        assert!(!msg.contains(part), "error message leaks token: {msg}");
    }
}
