//! Access-token verification (`tokenauth_jwt`) on untrusted input: it must never panic, and what
//! it accepts must satisfy the [`Validation`].
//!
//! The first byte picks what the rest of the input is:
//! - `S`: a second byte picks the signing algorithm (ES256, EdDSA, RS256, HS256 by `% 4`); the
//!   rest is `header JSON` `\n` `claims JSON`. The harness signs them with the fixed key of that
//!   algorithm, so the header checks, the algorithm binding and the claims parsing behind the
//!   signature are reached (random bytes almost never carry a valid signature).
//! - `K`: the rest is a JWKS document, parsed and turned into a `KeySet` (what
//!   `tokenauth-verify` does with a fetched JWKS), then used to verify a genuine token.
//! - anything else: the whole input is a compact token, verified against the four fixed keys
//!   with `verify_access_token` and `verify_signature`.
#![no_main]

use std::sync::OnceLock;

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use tokenauth_jwt::{
    AccessTokenClaims, Algorithm, Audience, Jwk, Jwks, KeySet, SigningKey, Validation, VerifyError,
    VerifyingKey, verify_access_token, verify_signature,
};

/// The fixed "now" of every verification (seconds).
const NOW: i64 = 1_750_000_000;
const ISS: &str = "https://auth.example";
const AUD: &str = "api";

/// One parsed private key per algorithm, for signing fuzzed headers and claims.
enum Signer {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(RsaKeyPair),
    Hs256(Box<hmac::Key>),
}

struct Fixture {
    keys: KeySet,
    signers: Vec<Signer>,
    validation: Validation,
    /// A token every check accepts (signed by the ES256 key).
    genuine: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut verifying = Vec::new();
        let mut signers = Vec::new();
        let mut es256 = None;
        for alg in Algorithm::ALL {
            let (key, material) =
                SigningKey::generate(alg, format!("kid-{alg}")).expect("key generation");
            verifying.push(key.verifying_key());
            signers.push(match alg {
                Algorithm::ES256 => Signer::Es256(
                    EcdsaKeyPair::from_pkcs8(
                        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                        &material,
                    )
                    .expect("ES256 material"),
                ),
                Algorithm::EdDSA => {
                    Signer::EdDsa(Ed25519KeyPair::from_pkcs8(&material).expect("EdDSA material"))
                }
                Algorithm::RS256 => {
                    Signer::Rs256(RsaKeyPair::from_pkcs8(&material).expect("RS256 material"))
                }
                Algorithm::HS256 => {
                    Signer::Hs256(Box::new(hmac::Key::new(hmac::HMAC_SHA256, &material)))
                }
            });
            if alg == Algorithm::ES256 {
                es256 = Some(key);
            }
        }
        let mut validation = Validation::new(ISS, AUD);
        validation.leeway_secs = 30;
        let claims = AccessTokenClaims {
            iss: ISS.into(),
            sub: "user".into(),
            aud: Audience::One(AUD.into()),
            exp: NOW + 60,
            iat: NOW,
            nbf: NOW,
            jti: "jti".into(),
            sid: "sid".into(),
            roles: vec![],
        };
        let genuine = es256
            .expect("an ES256 key")
            .sign(validation.typ, &claims)
            .expect("signing");
        let keys = KeySet::new(verifying);
        assert!(verify_access_token(&keys, &genuine, &validation, NOW).is_ok());
        Fixture {
            keys,
            signers,
            validation,
            genuine,
        }
    })
}

fn sign(signer: &Signer, input: &[u8]) -> Vec<u8> {
    match signer {
        Signer::Es256(pair) => pair
            .sign(&SystemRandom::new(), input)
            .expect("ES256 signing")
            .as_ref()
            .to_vec(),
        Signer::EdDsa(pair) => pair.sign(input).as_ref().to_vec(),
        Signer::Rs256(pair) => {
            let mut out = vec![0; pair.public_modulus_len()];
            pair.sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input,
                &mut out,
            )
            .expect("RS256 signing");
            out
        }
        Signer::Hs256(key) => hmac::sign(key, input).as_ref().to_vec(),
    }
}

/// Verifies `token` both ways and checks that the two agree and that an accepted token meets
/// the validation. Returns the payload `verify_signature` accepted, if it did.
fn verify(token: &str) -> Option<Vec<u8>> {
    let f = fixture();
    let full = verify_access_token(&f.keys, token, &f.validation, NOW);
    let payload = verify_signature(&f.keys, token, f.validation.typ, f.validation.max_token_len);
    if let Ok(claims) = &full {
        assert!(payload.is_ok(), "claims accepted without a valid signature");
        assert_eq!(claims.iss, ISS);
        assert!(claims.aud.contains(AUD));
        assert!(NOW < claims.exp.saturating_add(f.validation.leeway_secs));
        assert!(NOW.saturating_add(f.validation.leeway_secs) >= claims.nbf);
        assert!(!claims.sub.is_empty() && !claims.sid.is_empty() && !claims.jti.is_empty());
    }
    if token.len() > f.validation.max_token_len {
        assert_eq!(full.err(), Some(VerifyError::TooLarge));
    }
    payload.ok()
}

fn signed(data: &[u8]) {
    let [selector, rest @ ..] = data else { return };
    let f = fixture();
    let signer = &f.signers[usize::from(*selector) % f.signers.len()];
    let (header, claims) = match rest.iter().position(|&b| b == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &b""[..]),
    };
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(claims));
    let signature = sign(signer, token.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature));
    if let Some(payload) = verify(&token) {
        assert_eq!(
            payload, claims,
            "the payload is the signed claims, byte for byte"
        );
    }
}

fn jwks(data: &[u8]) {
    let f = fixture();
    if let Ok(jwk) = serde_json::from_slice::<Jwk>(data) {
        let _ = VerifyingKey::from_jwk(&jwk);
    }
    let Ok(jwks) = serde_json::from_slice::<Jwks>(data) else {
        return;
    };
    let (keys, errors) = KeySet::from_jwks(&jwks);
    assert_eq!(keys.len() + errors.len(), jwks.keys.len());
    // Our keys are generated afresh by every process, so no fuzzed key set can hold the public
    // key that verifies the genuine token.
    assert!(verify_access_token(&keys, &f.genuine, &f.validation, NOW).is_err());
}

fuzz_target!(|data: &[u8]| {
    match data {
        [b'S', rest @ ..] => signed(rest),
        [b'K', rest @ ..] => jwks(rest),
        _ => {
            verify(&String::from_utf8_lossy(data));
        }
    }
});
