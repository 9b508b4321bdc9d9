//! Hostile tokens: each must be rejected with the right error, and no error
//! message may echo the token.
#![allow(clippy::unwrap_used)]

mod common;

use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair};
use common::*;
use tokenauth_jwt::VerifyError::{
    AlgorithmMismatch, BadSignature, Expired, MissingClaim, NotYetValid, TooLarge, UnknownKey,
    UnsupportedAlgorithm, WrongAudience, WrongIssuer, WrongType,
};
use tokenauth_jwt::{Algorithm, KeySet, SigningKey, Validation, VerifyError, verify_access_token};

const ES: Algorithm = Algorithm::ES256;
const ES_KID: &str = "kid-ES256";

/// Segments of a genuine ES256 access token.
fn parts() -> (String, String, String) {
    let token = key(ES).sign("at+jwt", &claims(NOW)).unwrap();
    let mut it = token.split('.').map(str::to_owned);
    (it.next().unwrap(), it.next().unwrap(), it.next().unwrap())
}

/// Genuinely ES256-signed token with this header JSON and payload JSON.
fn es(header_json: &str, payload_json: &str) -> String {
    forge_with(ES, header_json, payload_json)
}

fn malformed(token: &str) {
    let got = verify_access_token(&keyset(), token, &validation(), NOW);
    assert!(
        matches!(got, Err(VerifyError::Malformed(_))),
        "{token:?}: {got:?}"
    );
}

#[test]
fn alg_none_in_any_case() {
    let body = b64(payload(NOW).as_bytes());
    for none in ["none", "NONE", "nOnE", "None"] {
        for kid in [ES_KID, "nobody"] {
            let head = b64(header(none, kid).as_bytes());
            malformed(&format!("{head}.{body}."));
            assert_rejected(&format!("{head}.{body}.AAAA"), UnsupportedAlgorithm);
        }
    }
}

#[test]
fn unsupported_or_missing_alg() {
    for alg in ["HS512", "ES384", "PS256", "es256", ""] {
        assert_rejected(
            &es(&header(alg, ES_KID), &payload(NOW)),
            UnsupportedAlgorithm,
        );
    }
    malformed(&es(r#"{"typ":"at+jwt","kid":"kid-ES256"}"#, &payload(NOW)));
}

#[test]
fn stripped_signature() {
    let (h, p, _) = parts();
    malformed(&format!("{h}.{p}."));
    malformed(&format!("{h}.{p}"));
}

#[test]
fn hs256_signed_with_the_es256_public_key_is_rejected() {
    let jwk = key(ES).public_jwk().unwrap();
    let material = &fixture(ES).material;
    let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, material);
    let secrets = [
        pair.unwrap().public_key().as_ref().to_vec(),
        serde_json::to_vec(&jwk).unwrap(),
        jwk.x.unwrap().into_bytes(),
    ];
    for secret in secrets {
        let token = forge(
            &header("HS256", ES_KID),
            &payload(NOW),
            Algorithm::HS256,
            &secret,
        );
        assert_rejected(&token, AlgorithmMismatch);
    }
}

#[test]
fn header_alg_must_equal_key_alg() {
    for key_alg in Algorithm::ALL {
        for alg in Algorithm::ALL.into_iter().filter(|&a| a != key_alg) {
            let token = forge_with(alg, &header(alg.as_str(), &kid(key_alg)), &payload(NOW));
            assert_rejected(&token, AlgorithmMismatch);
        }
    }
}

#[test]
fn es256_zero_and_misshapen_signatures() {
    let (h, p, _) = parts();
    let mut s_zero = [1u8; 64];
    s_zero[32..].fill(0);
    for sig in [&[0u8; 64][..], &s_zero, &[1; 70], &[1; 63]] {
        assert_rejected(&format!("{h}.{p}.{}", b64(sig)), BadSignature);
    }
}

#[test]
fn unknown_and_hostile_kids_are_only_lookup_misses() {
    for kid in [
        "unknown",
        "../../etc/passwd",
        "' OR 1=1--",
        "",
        "kid-es256",
        "kid-ES256 ",
    ] {
        assert_rejected(&es(&header("ES256", kid), &payload(NOW)), UnknownKey);
    }
    assert_rejected(
        &es(r#"{"alg":"ES256","typ":"at+jwt"}"#, &payload(NOW)),
        UnknownKey,
    );
    let token = key(ES).sign("at+jwt", &claims(NOW)).unwrap();
    let got = verify_access_token(&KeySet::new([]), &token, &validation(), NOW);
    assert_eq!(got, Err(UnknownKey));
}

#[test]
fn tampering() {
    let (h, p, s) = parts();
    let evil = payload(NOW).replace("user-1", "admin");
    assert_rejected(&format!("{h}.{}.{s}", b64(evil.as_bytes())), BadSignature);
    let other_head = b64(br#"{"alg":"ES256","kid":"kid-ES256","typ":"at+jwt"}"#);
    assert_rejected(&format!("{other_head}.{p}.{s}"), BadSignature);
    let other = key(ES).sign("at+jwt", &claims(NOW + 1)).unwrap();
    let s2 = other.rsplit('.').next().unwrap();
    assert_rejected(&format!("{h}.{p}.{s2}"), BadSignature);
}

#[test]
fn time_window_and_leeway() {
    let (set, token) = (keyset(), key(ES).sign("at+jwt", &claims(NOW)).unwrap());
    let check = |v: &Validation, now| verify_access_token(&set, &token, v, now).err();
    let mut v = validation(); // token: nbf = NOW, exp = NOW + 300
    assert_eq!(check(&v, NOW + 299), None);
    assert_eq!(check(&v, NOW), None);
    assert_eq!(check(&v, NOW + 300), Some(Expired));
    assert_eq!(check(&v, NOW - 1), Some(NotYetValid));
    v.leeway_secs = 30;
    assert_eq!(check(&v, NOW + 329), None);
    assert_eq!(check(&v, NOW - 30), None);
    assert_eq!(check(&v, NOW + 330), Some(Expired));
    assert_eq!(check(&v, NOW - 31), Some(NotYetValid));
}

#[test]
fn wrong_issuer_audience_and_type() {
    let token = key(ES).sign("at+jwt", &claims(NOW)).unwrap();
    for (v, want) in [
        (Validation::new("https://evil.example", AUD), WrongIssuer),
        (Validation::new(ISS, "other-api"), WrongAudience),
    ] {
        assert_eq!(verify_access_token(&keyset(), &token, &v, NOW), Err(want));
    }
    for typ in ["JWT", "jwt", "application/jwt", "at+jwt2"] {
        assert_rejected(&key(ES).sign(typ, &claims(NOW)).unwrap(), WrongType);
    }
    assert_rejected(
        &es(r#"{"alg":"ES256","kid":"kid-ES256"}"#, &payload(NOW)),
        WrongType,
    );
}

#[test]
fn oversized_token() {
    let mut c = claims(NOW);
    c.roles = vec!["r".repeat(7000)];
    let token = key(ES).sign("at+jwt", &c).unwrap();
    assert!(token.len() > 8192);
    assert_rejected(&token, TooLarge);
    assert_rejected(&"a".repeat(100_000), TooLarge);
    let v = Validation {
        max_token_len: 50,
        ..validation()
    };
    let token = key(ES).sign("at+jwt", &claims(NOW)).unwrap();
    assert_eq!(
        verify_access_token(&keyset(), &token, &v, NOW),
        Err(TooLarge)
    );
}

#[test]
fn garbage_and_structure() {
    let (h, p, s) = parts();
    let bad_headers = [
        &b"[\"ES256\"]"[..],
        b"\"str\"",
        b"{not json",
        br#"{"alg":"ES256","kid":7}"#,
    ];
    let mut cases = vec![
        String::new(),
        "not a token".into(),
        "....".into(),
        "a.b.c.d".into(),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}..{s}"),
        format!(".{p}.{s}"),
        format!("{h}!.{p}.{s}"),
        format!("{h}.{p}.{s}!"),
        format!("{h} .{p}.{s}"),
        format!("{}.{p}.{s}", h.replace('e', "+")),
    ];
    cases.extend(
        bad_headers
            .iter()
            .map(|bad| format!("{}.{p}.{s}", b64(bad))),
    );
    cases.iter().for_each(|token| malformed(token));
}

#[test]
fn padding_is_rejected_in_every_segment() {
    // The trailing space makes no segment a multiple of 4 characters.
    let token = es(
        r#"{"alg":"ES256","typ":"at+jwt","kid":"kid-ES256"} "#,
        &payload(NOW),
    );
    assert!(verify_access_token(&keyset(), &token, &validation(), NOW).is_ok());
    let v: Vec<&str> = token.split('.').collect();
    let (h, p, s) = (v[0], v[1], v[2]);
    assert!(h.len() % 4 != 0 && p.len() % 4 != 0 && s.len() % 4 != 0);
    let pad = |x: &str| format!("{x}{}", "=".repeat(4 - x.len() % 4));
    malformed(&format!("{}.{p}.{s}", pad(h)));
    malformed(&format!("{h}.{p}.{}", pad(s)));
    // A padded payload under a genuine signature is still malformed.
    let input = format!("{h}.{}", pad(p));
    let sig = raw_sign(ES, &fixture(ES).material, input.as_bytes());
    malformed(&format!("{input}.{}", b64(&sig)));
    // Padding added after signing changes the signed bytes.
    assert_rejected(&format!("{h}.{}.{s}", pad(p)), BadSignature);
}

#[test]
fn duplicate_members_rejected() {
    let dup = payload(NOW).replacen('{', r#"{"sub":"a","#, 1);
    assert!(dup.contains(r#""sub":"a""#) && dup.contains(r#""sub":"user-1""#));
    malformed(&es(&header("ES256", ES_KID), &dup));
    malformed(&es(
        r#"{"alg":"ES256","alg":"none","typ":"at+jwt","kid":"kid-ES256"}"#,
        &payload(NOW),
    ));
    malformed(&es(
        r#"{"alg":"ES256","typ":"at+jwt","kid":"x","kid":"kid-ES256"}"#,
        &payload(NOW),
    ));
}

#[test]
fn payload_must_be_a_complete_claims_object() {
    let head = header("ES256", ES_KID);
    malformed(&es(&head, r#"["sub"]"#));
    malformed(&es(
        &head,
        &payload(NOW).replace("\"exp\":", "\"exp\":0.5,\"x\":"),
    ));
    let no_sid = payload(NOW).replace(r#""sid":"sid-1","#, "");
    assert_rejected(&es(&head, &no_sid), MissingClaim("sid"));
    assert_rejected(
        &es(&head, &payload(NOW).replace("user-1", "")),
        MissingClaim("sub"),
    );
    assert_rejected(
        &es(&head, &payload(NOW).replace("jti-1", "")),
        MissingClaim("jti"),
    );
}

#[test]
fn crit_header_rejected() {
    for crit in [r#"["exp"]"#, "[]", "null"] {
        malformed(&es(
            &format!(r#"{{"alg":"ES256","typ":"at+jwt","kid":"kid-ES256","crit":{crit}}}"#),
            &payload(NOW),
        ));
    }
}

#[test]
fn embedded_or_remote_keys_in_header_are_ignored() {
    let (attacker, material) = SigningKey::generate(ES, "attacker".into()).unwrap();
    let jwk = serde_json::to_string(&attacker.public_jwk().unwrap()).unwrap();
    let extra = format!(
        r#""jwk":{jwk},"jku":"https://evil.example/jwks","x5u":"https://evil.example/c","x5c":["MIIB"]"#
    );
    for (kid, want) in [(ES_KID, BadSignature), ("attacker", UnknownKey)] {
        let head = format!(r#"{{"alg":"ES256","typ":"at+jwt","kid":"{kid}",{extra}}}"#);
        assert_rejected(&forge(&head, &payload(NOW), ES, &material), want);
    }
    // The same members on a token genuinely signed by our key are harmless.
    let head = format!(r#"{{"alg":"ES256","typ":"at+jwt","kid":"{ES_KID}",{extra}}}"#);
    assert!(verify_access_token(&keyset(), &es(&head, &payload(NOW)), &validation(), NOW).is_ok());
}
