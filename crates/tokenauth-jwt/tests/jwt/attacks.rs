//! Hostile tokens: each must be rejected with the right error, and no error
//! message may echo the token.

use crate::common::*;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use tokenauth_jwt::VerifyError::{self, *};
use tokenauth_jwt::{Algorithm, KeySet, SigningKey, Validation, verify_access_token};

const ES: Algorithm = Algorithm::ES256;
const ES_KID: &str = "kid-ES256";

/// Segments of a genuine ES256 access token.
fn parts() -> (String, String, String) {
    let token = key(ES).sign("at+jwt", &claims(NOW)).unwrap();
    let mut it = token.split('.').map(str::to_owned);
    (it.next().unwrap(), it.next().unwrap(), it.next().unwrap())
}

/// Genuinely ES256-signed token with this header JSON and the default claims.
fn es(header_json: &str) -> String {
    forge_with(ES, header_json, &payload(NOW))
}

/// Genuinely ES256-signed token with the default header and this payload.
fn es_payload(payload_json: &str) -> String {
    forge_with(ES, &header("ES256", ES_KID), payload_json)
}

fn full(token: &str, v: &Validation, now: i64) -> Result<(), VerifyError> {
    verify_access_token(&keyset(), token, v, now).map(drop)
}

#[test]
fn alg_none_in_any_case_unsupported_or_missing_alg() {
    let body = b64(payload(NOW).as_bytes());
    for none in ["none", "NONE", "nOnE", "None"] {
        for kid in [ES_KID, "nobody"] {
            let head = b64(header(none, kid).as_bytes());
            malformed(&format!("{head}.{body}."));
            rejects(&format!("{head}.{body}.AAAA"), UnsupportedAlgorithm);
        }
    }
    for alg in ["HS512", "ES384", "PS256", "es256", ""] {
        rejects(&es(&header(alg, ES_KID)), UnsupportedAlgorithm);
    }
    malformed(&es(r#"{"typ":"at+jwt","kid":"kid-ES256"}"#));
}

#[test]
fn hs256_signed_with_the_es256_public_key_is_rejected() {
    let jwk = key(ES).public_jwk().unwrap();
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let pair = EcdsaKeyPair::from_pkcs8(alg, &fixture(ES).1).unwrap();
    let point = pair.public_key().as_ref().to_vec();
    let json = serde_json::to_vec(&jwk).unwrap();
    for secret in [point, json, jwk.x.unwrap().into_bytes()] {
        let head = header("HS256", ES_KID);
        let token = forge(&head, &payload(NOW), Algorithm::HS256, &secret);
        rejects(&token, AlgorithmMismatch);
    }
}

#[test]
fn header_alg_must_equal_key_alg() {
    for key_alg in Algorithm::ALL {
        for alg in Algorithm::ALL.into_iter().filter(|&a| a != key_alg) {
            let token = forge_with(alg, &header(alg.as_str(), &kid(key_alg)), &payload(NOW));
            rejects(&token, AlgorithmMismatch);
        }
    }
}

#[test]
fn es256_zero_and_misshapen_signatures() {
    let (h, p, _) = parts();
    let mut s_zero = [1u8; 64];
    s_zero[32..].fill(0);
    for sig in [&[0u8; 64][..], &s_zero, &[1; 70], &[1; 63]] {
        rejects(&format!("{h}.{p}.{}", b64(sig)), BadSignature);
    }
}

#[test]
fn unknown_and_hostile_kids_are_only_lookup_misses() {
    for kid in "unknown|../../etc/passwd|' OR 1=1--||kid-es256|kid-ES256 ".split('|') {
        rejects(&es(&header("ES256", kid)), UnknownKey);
    }
    rejects(&es(r#"{"alg":"ES256","typ":"at+jwt"}"#), UnknownKey);
    let token = key(ES).sign("at+jwt", &claims(NOW)).unwrap();
    let got = verify_access_token(&KeySet::new([]), &token, &validation(), NOW);
    assert_eq!(got, Err(UnknownKey));
}

#[test]
fn tampering() {
    let (h, p, s) = parts();
    let evil = payload(NOW).replace("user-1", "admin");
    rejects(&format!("{h}.{}.{s}", b64(evil.as_bytes())), BadSignature);
    let other_head = b64(br#"{"alg":"ES256","kid":"kid-ES256","typ":"at+jwt"}"#);
    rejects(&format!("{other_head}.{p}.{s}"), BadSignature);
    let other = key(ES).sign("at+jwt", &claims(NOW + 1)).unwrap();
    let s2 = other.rsplit('.').next().unwrap();
    rejects(&format!("{h}.{p}.{s2}"), BadSignature);
}

#[test]
fn time_window_and_leeway() {
    let token = key(ES).sign("at+jwt", &claims(NOW)).unwrap(); // nbf NOW, exp NOW + 300
    let mut v = validation();
    assert_eq!(full(&token, &v, NOW + 299), Ok(()));
    assert_eq!(full(&token, &v, NOW), Ok(()));
    assert_eq!(full(&token, &v, NOW + 300), Err(Expired));
    assert_eq!(full(&token, &v, NOW - 1), Err(NotYetValid));
    v.leeway_secs = 30;
    assert_eq!(full(&token, &v, NOW + 329), Ok(()));
    assert_eq!(full(&token, &v, NOW - 30), Ok(()));
    assert_eq!(full(&token, &v, NOW + 330), Err(Expired));
    assert_eq!(full(&token, &v, NOW - 31), Err(NotYetValid));
}

#[test]
fn wrong_issuer_audience_and_type() {
    let token = key(ES).sign("at+jwt", &claims(NOW)).unwrap();
    let evil_iss = Validation::new("https://evil.example", AUD);
    assert_eq!(full(&token, &evil_iss, NOW), Err(WrongIssuer));
    let other_aud = Validation::new(ISS, "other-api");
    assert_eq!(full(&token, &other_aud, NOW), Err(WrongAudience));
    for typ in ["JWT", "jwt", "application/jwt", "at+jwt2"] {
        rejects(&key(ES).sign(typ, &claims(NOW)).unwrap(), WrongType);
    }
    rejects(&es(r#"{"alg":"ES256","kid":"kid-ES256"}"#), WrongType);
}

#[test]
fn oversized_token() {
    let mut c = claims(NOW);
    c.roles = vec!["r".repeat(7000)];
    let token = key(ES).sign("at+jwt", &c).unwrap();
    assert!(token.len() > 8192);
    rejects(&token, TooLarge);
    rejects(&"a".repeat(100_000), TooLarge);
    let mut v = validation();
    v.max_token_len = 50;
    let (h, p, s) = parts();
    assert_eq!(full(&format!("{h}.{p}.{s}"), &v, NOW), Err(TooLarge));
}

#[test]
fn garbage_structure_and_stripped_signature() {
    let (h, p, s) = parts();
    for token in ["", "not a token", "....", "a.b.c.d"] {
        malformed(token);
    }
    // The first two shapes are a stripped signature.
    let shapes =
        "#h.#p.|#h.#p|#h.#p.#s.#s|#h..#s|.#p.#s|#h!.#p.#s|#h.#p.#s!|#h .#p.#s|#h+.#p.#s|#h.#p.#s=";
    for shape in shapes.split('|') {
        malformed(&shape.replace("#h", &h).replace("#p", &p).replace("#s", &s));
    }
    for bad in ["[1]", "\"s\"", "{not json", r#"{"alg":"ES256","kid":7}"#] {
        malformed(&format!("{}.{p}.{s}", b64(bad.as_bytes())));
    }
}

#[test]
fn padding_is_rejected_in_every_segment() {
    // The trailing space makes no segment a multiple of 4 characters.
    let token = es(r#"{"alg":"ES256","typ":"at+jwt","kid":"kid-ES256"} "#);
    assert_eq!(full(&token, &validation(), NOW), Ok(()));
    let v: Vec<&str> = token.split('.').collect();
    let (h, p, s) = (v[0], v[1], v[2]);
    assert!(h.len() % 4 != 0 && p.len() % 4 != 0 && s.len() % 4 != 0);
    let pad = |x: &str| format!("{x}{}", "=".repeat(4 - x.len() % 4));
    malformed(&format!("{}.{p}.{s}", pad(h)));
    malformed(&format!("{h}.{p}.{}", pad(s)));
    // A padded payload under a genuine signature is still malformed.
    let input = format!("{h}.{}", pad(p));
    let sig = b64(&raw_sign(ES, &fixture(ES).1, input.as_bytes()));
    malformed(&format!("{input}.{sig}"));
    // Padding added after signing changes the signed bytes.
    rejects(&format!("{h}.{}.{s}", pad(p)), BadSignature);
}

#[test]
fn duplicate_members_rejected() {
    let dup = payload(NOW).replacen('{', r#"{"sub":"a","#, 1);
    assert!(dup.contains(r#""sub":"a""#) && dup.contains(r#""sub":"user-1""#));
    malformed(&es_payload(&dup));
    let typ_kid = r#""typ":"at+jwt","kid":"kid-ES256""#;
    malformed(&es(&format!(r#"{{"alg":"ES256","alg":"none",{typ_kid}}}"#)));
    malformed(&es(&format!(r#"{{"alg":"ES256","kid":"x",{typ_kid}}}"#)));
}

#[test]
fn payload_must_be_a_complete_claims_object() {
    malformed(&es_payload(r#"["sub"]"#));
    let edit = |from: &str, to: &str| es_payload(&payload(NOW).replace(from, to));
    malformed(&edit("\"exp\":", "\"exp\":0.5,\"x\":"));
    rejects(&edit(r#""sid":"sid-1","#, ""), MissingClaim("sid"));
    rejects(&edit("user-1", ""), MissingClaim("sub"));
    rejects(&edit("jti-1", ""), MissingClaim("jti"));
}

#[test]
fn crit_header_rejected() {
    for crit in [r#"["exp"]"#, "[]", "null"] {
        let head = format!(r#"{{"alg":"ES256","typ":"at+jwt","kid":"{ES_KID}","crit":{crit}}}"#);
        malformed(&es(&head));
    }
}

#[test]
fn embedded_or_remote_keys_in_header_are_ignored() {
    let (attacker, material) = SigningKey::generate(ES, "attacker".into()).unwrap();
    let jwk = serde_json::to_string(&attacker.public_jwk().unwrap()).unwrap();
    let urls = r#""jku":"https://evil.example/jwks","x5u":"https://evil.example/c""#;
    let extra = format!(r#""jwk":{jwk},{urls},"x5c":["MIIB"]"#);
    for (kid, want) in [(ES_KID, BadSignature), ("attacker", UnknownKey)] {
        let head = format!(r#"{{"alg":"ES256","typ":"at+jwt","kid":"{kid}",{extra}}}"#);
        rejects(&forge(&head, &payload(NOW), ES, &material), want);
    }
    // The same members on a token genuinely signed by our key are harmless.
    let head = format!(r#"{{"alg":"ES256","typ":"at+jwt","kid":"{ES_KID}",{extra}}}"#);
    assert_eq!(full(&es(&head), &validation(), NOW), Ok(()));
}
