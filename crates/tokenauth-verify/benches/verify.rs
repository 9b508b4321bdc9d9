//! Verification cost per algorithm, on the same token bytes:
//!
//! - `bare_parsed`: aws-lc-rs signature check alone with a pre-parsed key
//!   (`ParsedPublicKey::verify_sig`, or `hmac::verify` for HS256) — the floor;
//! - `bare_unparsed`: the same with `UnparsedPublicKey` (key parsed per call);
//! - `jsonwebtoken`: `jsonwebtoken::decode` with the same key and checks;
//! - `verify_local`: our full check (`Verifier::verify_local`, no cache);
//! - `cached`: `verify_local` answered by the verified-token cache.
//!
//! Run: `cargo bench -p tokenauth-verify --bench verify`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey, RsaKeyPair,
    RsaPublicKeyComponents, UnparsedPublicKey, VerificationAlgorithm,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{DecodingKey, Validation as JwtValidation};
use tokenauth_jwt::{AccessTokenClaims, Algorithm, KeySet, SigningKey};
use tokenauth_verify::Verifier;

const ISS: &str = "https://auth.example.com";
const AUD: &str = "https://api.example.com";

/// Claims shaped like the auth server's (UUIDv7 ids, one role).
fn claims() -> serde_json::Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    serde_json::json!({
        "iss": ISS, "sub": "01a225c0-e231-7300-b8f7-7c8f10052032", "aud": AUD,
        "exp": now + 3600, "iat": now, "nbf": now,
        "jti": "01a225c0-e231-7301-9d4c-2f0b8c7e9a11",
        "sid": "01a225c0-e231-7302-a3b1-5c6d7e8f9a0b", "roles": ["admin"],
    })
}

/// The signature check alone, with the key already parsed.
enum Bare {
    Public(ParsedPublicKey, Vec<u8>, &'static dyn VerificationAlgorithm),
    Rsa(ParsedPublicKey, Vec<u8>, Vec<u8>),
    Hmac(Box<hmac::Key>),
}

impl Bare {
    fn parsed(&self, msg: &[u8], signature: &[u8]) -> bool {
        match self {
            Bare::Public(key, _, _) | Bare::Rsa(key, _, _) => {
                key.verify_sig(msg, signature).is_ok()
            }
            Bare::Hmac(key) => hmac::verify(key, msg, signature).is_ok(),
        }
    }

    fn unparsed(&self, msg: &[u8], signature: &[u8]) -> bool {
        match self {
            Bare::Public(_, public, alg) => UnparsedPublicKey::new(*alg, public)
                .verify(msg, signature)
                .is_ok(),
            Bare::Rsa(_, n, e) => RsaPublicKeyComponents { n, e }
                .verify(&sig::RSA_PKCS1_2048_8192_SHA256, msg, signature)
                .is_ok(),
            Bare::Hmac(key) => hmac::verify(key, msg, signature).is_ok(),
        }
    }
}

struct Case {
    alg: Algorithm,
    token: String,
    bare: Bare,
    decoding: DecodingKey,
    jwt_validation: JwtValidation,
    verifier: Verifier,
    cached: Verifier,
}

fn case(alg: Algorithm) -> Case {
    let (key, material) = SigningKey::generate(alg, format!("kid-{alg}")).unwrap();
    let token = key.sign("at+jwt", &claims()).unwrap();
    let jwk = key.public_jwk();
    let field =
        |f: fn(&tokenauth_jwt::Jwk) -> &Option<String>| f(jwk.as_ref().unwrap()).clone().unwrap();
    let (bare, decoding, jwt_alg) = match alg {
        Algorithm::ES256 => {
            let pair =
                EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, &material).unwrap();
            let point = pair.public_key().as_ref().to_vec();
            let verify = &sig::ECDSA_P256_SHA256_FIXED;
            let parsed = ParsedPublicKey::new(verify, &point).unwrap();
            let decoding = DecodingKey::from_ec_components(&field(|j| &j.x), &field(|j| &j.y));
            let bare = Bare::Public(parsed, point, verify);
            (bare, decoding.unwrap(), jsonwebtoken::Algorithm::ES256)
        }
        Algorithm::EdDSA => {
            let pair = Ed25519KeyPair::from_pkcs8(&material).unwrap();
            let public = pair.public_key().as_ref().to_vec();
            let parsed = ParsedPublicKey::new(&sig::ED25519, &public).unwrap();
            let decoding = DecodingKey::from_ed_components(&field(|j| &j.x)).unwrap();
            let bare = Bare::Public(parsed, public, &sig::ED25519);
            (bare, decoding, jsonwebtoken::Algorithm::EdDSA)
        }
        Algorithm::RS256 => {
            let pair = RsaKeyPair::from_pkcs8(&material).unwrap();
            let public = pair.public_key();
            let n = public.modulus().big_endian_without_leading_zero().to_vec();
            let e = public.exponent().big_endian_without_leading_zero().to_vec();
            let parsed = RsaPublicKeyComponents { n: &n, e: &e }
                .to_parsed_public_key(&sig::RSA_PKCS1_2048_8192_SHA256)
                .unwrap();
            let decoding = DecodingKey::from_rsa_components(&field(|j| &j.n), &field(|j| &j.e));
            (
                Bare::Rsa(parsed, n, e),
                decoding.unwrap(),
                jsonwebtoken::Algorithm::RS256,
            )
        }
        Algorithm::HS256 => {
            let bare = Bare::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, &material)));
            let decoding = DecodingKey::from_secret(&material).unwrap();
            (bare, decoding, jsonwebtoken::Algorithm::HS256)
        }
    };
    let mut jwt_validation = JwtValidation::new(jwt_alg);
    jwt_validation.set_issuer(&[ISS]);
    jwt_validation.set_audience(&[AUD]);
    jwt_validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    jwt_validation.validate_nbf = true;
    jwt_validation.leeway = 10;

    let keys = KeySet::new([key.verifying_key()]);
    let verifier = Verifier::builder(ISS, AUD)
        .build_with_keys(keys.clone())
        .unwrap();
    let cached = Verifier::builder(ISS, AUD)
        .token_cache(10_000)
        .build_with_keys(keys)
        .unwrap();
    Case {
        alg,
        token,
        bare,
        decoding,
        jwt_validation,
        verifier,
        cached,
    }
}

fn bench(c: &mut Criterion) {
    for alg in Algorithm::ALL {
        let case = case(alg);
        let (signing_input, signature_b64) = case.token.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature_b64).unwrap();
        let msg = signing_input.as_bytes();
        // Every contender must accept the token before it is timed.
        assert!(case.bare.parsed(msg, &signature) && case.bare.unparsed(msg, &signature));
        jsonwebtoken::decode::<AccessTokenClaims>(
            &case.token,
            &case.decoding,
            &case.jwt_validation,
        )
        .unwrap();
        case.verifier.verify_local(&case.token).unwrap();
        case.cached.verify_local(&case.token).unwrap();

        let mut group = c.benchmark_group(case.alg.as_str());
        group.bench_function("bare_parsed", |b| {
            b.iter(|| case.bare.parsed(black_box(msg), black_box(&signature)))
        });
        group.bench_function("bare_unparsed", |b| {
            b.iter(|| case.bare.unparsed(black_box(msg), black_box(&signature)))
        });
        group.bench_function("jsonwebtoken", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<AccessTokenClaims>(
                    black_box(&case.token),
                    &case.decoding,
                    &case.jwt_validation,
                )
            })
        });
        group.bench_function("verify_local", |b| {
            b.iter(|| case.verifier.verify_local(black_box(&case.token)))
        });
        group.bench_function("cached", |b| {
            b.iter(|| case.cached.verify_local(black_box(&case.token)))
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(50);
    targets = bench
}
criterion_main!(benches);
