//! Signing/verification round trips, persisted material, JWK shape.

use crate::common::*;
use serde_json::json;
use tokenauth_jwt::Algorithm::{ES256, EdDSA, HS256, RS256};
use tokenauth_jwt::{
    Algorithm, Jwk, Jwks, KeyError, KeySet, SigningKey, VerifyError, VerifyingKey,
    verify_access_token, verify_signature,
};

#[test]
fn round_trip_all_algorithms() {
    for alg in Algorithm::ALL {
        let key = key(alg);
        assert_eq!((key.alg(), key.kid()), (alg, kid(alg).as_str()));
        let token = key.sign("at+jwt", &claims(NOW)).unwrap();
        let got = verify_access_token(&keyset(), &token, &validation(), NOW);
        assert_eq!(got, Ok(claims(NOW)), "{alg}");
    }
}

#[test]
fn material_round_trip_signs_tokens_the_original_verifies() {
    for alg in Algorithm::ALL {
        let fx = fixture(alg);
        let reloaded = SigningKey::from_material(alg, kid(alg), &fx.1).unwrap();
        assert_eq!(reloaded.public_jwk(), fx.0.public_jwk());
        let token = reloaded.sign("at+jwt", &claims(NOW)).unwrap();
        let original = KeySet::new([fx.0.verifying_key()]);
        verify_access_token(&original, &token, &validation(), NOW).unwrap();
    }
    let secret = &fixture(HS256).1;
    assert_eq!(secret.len(), 32);
    let vk = VerifyingKey::hmac(kid(HS256), secret).unwrap();
    let token = key(HS256).sign("at+jwt", &claims(NOW)).unwrap();
    verify_access_token(&KeySet::new([vk]), &token, &validation(), NOW).unwrap();
    let short = VerifyingKey::hmac(kid(HS256), &secret[..31]);
    assert_eq!(short.unwrap_err(), KeyError::WeakSecret);
}

#[test]
fn other_keys_with_the_same_kid_do_not_verify() {
    for alg in Algorithm::ALL {
        let (other, _) = SigningKey::generate(alg, kid(alg)).unwrap();
        let token = other.sign("at+jwt", &claims(NOW)).unwrap();
        rejects(&token, VerifyError::BadSignature);
    }
}

#[test]
fn jwk_shapes() {
    let shape = |alg, kid: &str| {
        let jwk = key(alg).public_jwk().unwrap();
        let mut v = serde_json::to_value(&jwk).unwrap();
        assert_eq!(v["kid"], kid);
        v["kid"] = "k".into();
        (jwk, v)
    };
    let (es, v) = shape(ES256, "kid-ES256");
    let (x, y) = (&es.x, &es.y);
    let want = json!({"kty":"EC","kid":"k","alg":"ES256","use":"sig","crv":"P-256","x":x,"y":y});
    let lens = (es.x.unwrap().len(), es.y.unwrap().len());
    assert_eq!((v, lens), (want, (43, 43)));
    let (ed, v) = shape(EdDSA, "kid-EdDSA");
    let want = json!({"kty":"OKP","kid":"k","alg":"EdDSA","use":"sig","crv":"Ed25519","x":ed.x});
    assert_eq!((v, ed.x.unwrap().len()), (want, 43));
    let (rsa, v) = shape(RS256, "kid-RS256");
    let want = json!({"kty":"RSA","kid":"k","alg":"RS256","use":"sig","n":rsa.n,"e":"AQAB"});
    assert_eq!((v, rsa.n.unwrap().len()), (want, 342)); // 2048-bit modulus
    assert!(key(HS256).public_jwk().is_none());
    // Member order on the wire: kty, kid, alg, use, ...
    let text = serde_json::to_string(&key(ES256).public_jwk()).unwrap();
    assert!(text.starts_with(r#"{"kty":"EC","kid":"kid-ES256","alg":"ES256","use":"sig","crv""#));
}

#[test]
fn jwks_round_trip_and_key_set() {
    let keys = Algorithm::ALL.iter().filter_map(|&a| key(a).public_jwk());
    let mut jwks = Jwks {
        keys: keys.collect(),
    };
    let json = serde_json::to_string(&jwks).unwrap();
    assert!(json.starts_with(r#"{"keys":[{"#));
    assert_eq!(serde_json::from_str::<Jwks>(&json).unwrap(), jwks);

    // Unusable entries are skipped and reported.
    let oct = r#"{"kty":"oct","kid":"hmac","alg":"HS256","k":"c2VjcmV0"}"#;
    jwks.keys.push(serde_json::from_str::<Jwk>(oct).unwrap());
    jwks.keys.push(jwks.keys[0].clone());
    let (set, errors) = KeySet::from_jwks(&jwks);
    assert_eq!(errors, [KeyError::SymmetricJwk, KeyError::DuplicateKid]);
    let kids: Vec<_> = set.kids().collect();
    assert_eq!(kids, ["kid-ES256", "kid-EdDSA", "kid-RS256"]);
    for alg in [ES256, EdDSA, RS256] {
        let token = key(alg).sign("at+jwt", &claims(NOW)).unwrap();
        verify_access_token(&set, &token, &validation(), NOW).unwrap();
    }
}

#[test]
fn verify_signature_returns_payload_for_other_types() {
    let token = key(EdDSA).sign("logout+jwt", &json!({"x": 1})).unwrap();
    let payload = verify_signature(&keyset(), &token, "logout+jwt", 8192);
    assert_eq!(payload.unwrap(), br#"{"x":1}"#);
    let wrong = verify_signature(&keyset(), &token, "at+jwt", 8192);
    assert_eq!(wrong, Err(VerifyError::WrongType));
}

#[test]
fn application_prefixed_and_uppercase_typ_accepted() {
    for typ in ["application/at+jwt", "AT+JWT"] {
        let head = header("ES256", "kid-ES256").replace("at+jwt", typ);
        let token = forge_with(ES256, &head, &payload(NOW));
        verify_access_token(&keyset(), &token, &validation(), NOW).unwrap();
    }
}

#[test]
fn debug_never_prints_key_material() {
    for alg in Algorithm::ALL {
        let fx = fixture(alg);
        let hex: String = fx.1.iter().map(|b| format!("{b:02x}")).collect();
        for dbg in [format!("{:?}", fx.0), format!("{:?}", fx.0.verifying_key())] {
            assert!(dbg.contains(&kid(alg)), "{dbg}");
            assert!(!dbg.contains(&b64(&fx.1)), "{dbg}");
            assert!(!dbg.contains(&format!("{:?}", &fx.1[..])), "{dbg}");
            assert!(!dbg.contains(&hex[hex.len() - 16..]), "{dbg}");
        }
    }
}

#[test]
fn keys_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<SigningKey>();
    check::<VerifyingKey>();
    check::<KeySet>();
}
