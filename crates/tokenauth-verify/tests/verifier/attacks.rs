//! Hostile tokens through a `Verifier` fed by a real JWKS endpoint: each is
//! rejected with the right error.

use std::time::Duration;

use crate::support::*;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};
use tokenauth_jwt::{Algorithm, SigningKey, Zeroizing};
use tokenauth_verify::{Verifier, VerifierError, VerifierError::*};

/// The verifier's fixed "now".
const T: i64 = 1_800_000_000;
const ISS: &str = "https://auth.example";

struct Fixture {
    server: JwksServer,
    verifier: Verifier,
    keys: Vec<(SigningKey, Zeroizing<Vec<u8>>)>,
}

/// Keys for ES256, EdDSA and RS256 published by a JWKS server, and a
/// verifier (leeway 10 s, clock at `T`) built from it.
async fn fixture() -> Fixture {
    let keys: Vec<_> = [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256]
        .into_iter()
        .map(|alg| new_key(alg, &format!("kid-{alg}")))
        .collect();
    let published: Vec<&SigningKey> = keys.iter().map(|(k, _)| k).collect();
    let server = JwksServer::start(&published, Some(300)).await;
    let verifier = Verifier::builder(ISS, AUD)
        .jwks_url(server.jwks_url())
        .leeway(Duration::from_secs(10))
        .min_refetch_interval(Duration::from_secs(3600))
        .clock(|| T)
        .build()
        .await
        .unwrap();
    Fixture {
        server,
        verifier,
        keys,
    }
}

impl Fixture {
    fn key(&self, alg: Algorithm) -> &(SigningKey, Zeroizing<Vec<u8>>) {
        self.keys.iter().find(|(k, _)| k.alg() == alg).unwrap()
    }

    /// Genuinely signed by the `alg` key, with this header and payload.
    fn signed(&self, alg: Algorithm, header: &str, payload: &Value) -> String {
        forge(header, &payload.to_string(), alg, &self.key(alg).1)
    }

    fn es(&self, payload: &Value) -> String {
        self.signed(Algorithm::ES256, &header("ES256", "kid-ES256"), payload)
    }

    async fn check(&self, token: &str) -> Result<(), VerifierError> {
        self.verifier.verify(token).await.map(drop)
    }

    async fn rejects(&self, token: &str, want: fn(&VerifierError) -> bool, what: &str) {
        match self.check(token).await {
            Err(err) if want(&err) => {
                let echoes = token.len() > 8 && err.to_string().contains(token);
                assert!(!echoes, "error echoes the token");
            }
            other => panic!("{what}: got {other:?}"),
        }
    }
}

fn header(alg: &str, kid: &str) -> String {
    json!({"alg": alg, "typ": "at+jwt", "kid": kid}).to_string()
}

fn payload() -> Value {
    claims(ISS, T)
}

#[tokio::test]
async fn genuine_tokens_of_every_published_algorithm_pass() {
    let f = fixture().await;
    for (key, _) in &f.keys {
        f.verifier.verify(&mint(key, &payload())).await.unwrap();
    }
}

#[tokio::test]
async fn alg_none_in_any_case_and_stripped_signatures() {
    let f = fixture().await;
    let body = b64(payload().to_string().as_bytes());
    for none in ["none", "NONE", "nOnE", "None"] {
        let head = b64(header(none, "kid-ES256").as_bytes());
        f.rejects(
            &format!("{head}.{body}."),
            |e| matches!(e, Malformed(_)),
            none,
        )
        .await;
        let with_sig = format!("{head}.{body}.AAAA");
        f.rejects(&with_sig, |e| matches!(e, UnsupportedAlgorithm), none)
            .await;
    }
    let genuine = f.es(&payload());
    let (signing_input, _) = genuine.rsplit_once('.').unwrap();
    for stripped in [format!("{signing_input}."), signing_input.to_owned()] {
        f.rejects(&stripped, |e| matches!(e, Malformed(_)), "stripped")
            .await;
    }
}

#[tokio::test]
async fn hs256_with_a_published_public_key_as_secret() {
    let f = fixture().await;
    let (es, es_material) = f.key(Algorithm::ES256);
    let jwk = es.public_jwk().unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, es_material).unwrap();
    let rsa_jwk = f.key(Algorithm::RS256).0.public_jwk().unwrap();
    let secrets: [(&str, Vec<u8>); 4] = [
        ("kid-ES256", pair.public_key().as_ref().to_vec()),
        ("kid-ES256", serde_json::to_vec(&jwk).unwrap()),
        ("kid-RS256", rsa_jwk.n.clone().unwrap().into_bytes()),
        ("kid-RS256", serde_json::to_vec(&rsa_jwk).unwrap()),
    ];
    for (kid, secret) in secrets {
        let token = forge(
            &header("HS256", kid),
            &payload().to_string(),
            Algorithm::HS256,
            &secret,
        );
        f.rejects(&token, |e| matches!(e, AlgorithmMismatch), kid)
            .await;
    }
    // Any other alg/key pairing is refused the same way.
    let ed_as_es = f.signed(Algorithm::EdDSA, &header("EdDSA", "kid-ES256"), &payload());
    f.rejects(&ed_as_es, |e| matches!(e, AlgorithmMismatch), "EdDSA")
        .await;
}

#[tokio::test]
async fn es256_psychic_signatures() {
    let f = fixture().await;
    let genuine = f.es(&payload());
    let (input, _) = genuine.rsplit_once('.').unwrap();
    let mut r_zero = [1u8; 64];
    r_zero[..32].fill(0);
    for signature in [[0u8; 64], r_zero] {
        let token = format!("{input}.{}", b64(&signature));
        f.rejects(&token, |e| matches!(e, BadSignature), "r=s=0")
            .await;
    }
}

#[tokio::test]
async fn embedded_jwk_and_jku_headers_are_ignored() {
    let f = fixture().await;
    let (evil, evil_material) = new_key(Algorithm::ES256, "evil");
    let evil_jwks = JwksServer::start(&[&evil], Some(300)).await;
    let evil_jwk = serde_json::to_value(evil.public_jwk().unwrap()).unwrap();
    let sign_evil = |header: Value| {
        forge(
            &header.to_string(),
            &payload().to_string(),
            Algorithm::ES256,
            &evil_material,
        )
    };
    let base = json!({"alg": "ES256", "typ": "at+jwt"});
    let with = |extra: Value| {
        let mut h = base.clone();
        h.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        h
    };
    let unknown = [
        with(json!({"kid": "evil", "jwk": evil_jwk})),
        with(json!({"kid": "evil", "jku": evil_jwks.jwks_url()})),
        with(json!({"kid": "evil", "x5u": evil_jwks.jwks_url()})),
        with(json!({"jwk": evil_jwk})),
    ];
    for h in unknown {
        f.rejects(&sign_evil(h), |e| matches!(e, UnknownKey), "jwk/jku")
            .await;
    }
    let hijack = with(json!({"kid": "kid-ES256", "jwk": evil_jwk, "jku": evil_jwks.jwks_url()}));
    f.rejects(&sign_evil(hijack), |e| matches!(e, BadSignature), "hijack")
        .await;
    assert_eq!(evil_jwks.hits(), 0, "the jku URL is never fetched");
}

#[tokio::test]
async fn hostile_kids_are_only_lookup_keys() {
    let f = fixture().await;
    let kids = [
        "../../../../etc/passwd",
        "/dev/null",
        "' OR '1'='1",
        "kid-ES256'; DROP TABLE keys; --",
        "kid-ES256\u{0000}",
        "KID-ES256",
        "http://127.0.0.1:1/jwks.json",
        "",
    ];
    for kid in kids {
        let token = f.signed(Algorithm::ES256, &header("ES256", kid), &payload());
        f.rejects(&token, |e| matches!(e, UnknownKey), kid).await;
    }
    let no_kid = json!({"alg": "ES256", "typ": "at+jwt"}).to_string();
    let token = f.signed(Algorithm::ES256, &no_kid, &payload());
    f.rejects(&token, |e| matches!(e, UnknownKey), "no kid")
        .await;
    assert_eq!(
        f.server.hits(),
        1,
        "rate limit: no refetch inside the interval"
    );
}

#[tokio::test]
async fn tampered_payload_keeps_the_old_signature() {
    let f = fixture().await;
    for alg in [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256] {
        let genuine = mint(&f.key(alg).0, &payload());
        let parts: Vec<&str> = genuine.split('.').collect();
        let mut escalated = payload();
        escalated["roles"] = json!(["admin"]);
        let forged_body = b64(escalated.to_string().as_bytes());
        let token = format!("{}.{forged_body}.{}", parts[0], parts[2]);
        f.rejects(&token, |e| matches!(e, BadSignature), alg.as_str())
            .await;
    }
}

#[tokio::test]
async fn time_checks_with_leeway() {
    let f = fixture().await;
    let at = |exp: i64, nbf: i64| {
        let mut p = payload();
        p["exp"] = json!(exp);
        p["nbf"] = json!(nbf);
        f.es(&p)
    };
    f.rejects(&at(T - 11, T - 300), |e| matches!(e, Expired), "expired")
        .await;
    f.rejects(&at(T - 10, T - 300), |e| matches!(e, Expired), "edge")
        .await;
    f.check(&at(T - 9, T - 300)).await.unwrap();
    f.rejects(&at(T + 300, T + 11), |e| matches!(e, NotYetValid), "nbf")
        .await;
    f.check(&at(T + 300, T + 10)).await.unwrap();
    assert_eq!(VerifierError::Expired.code(), "token_expired");
}

#[tokio::test]
async fn wrong_issuer_audience_and_type() {
    let f = fixture().await;
    let with = |field: &str, value: Value| {
        let mut p = payload();
        p[field] = value;
        f.es(&p)
    };
    f.rejects(
        &with("iss", json!("https://evil.example")),
        |e| matches!(e, WrongIssuer),
        "iss",
    )
    .await;
    f.rejects(
        &with("aud", json!("https://other.example")),
        |e| matches!(e, WrongAudience),
        "aud",
    )
    .await;
    f.rejects(
        &with("aud", json!(["a", "b"])),
        |e| matches!(e, WrongAudience),
        "aud[]",
    )
    .await;
    f.check(&with("aud", json!(["a", AUD]))).await.unwrap();

    let typed = |typ: Option<&str>| {
        let mut h = json!({"alg": "ES256", "kid": "kid-ES256"});
        if let Some(typ) = typ {
            h["typ"] = json!(typ);
        }
        h.to_string()
    };
    // An OpenID Connect ID token: typ JWT, aud a client id, a nonce.
    let mut id_token = payload();
    id_token["nonce"] = json!("n-0S6_WzA2Mj");
    for typ in [Some("JWT"), Some("jwt"), Some("id_token+jwt"), None] {
        let token = f.signed(Algorithm::ES256, &typed(typ), &id_token);
        f.rejects(&token, |e| matches!(e, WrongType), "typ").await;
    }
    let ok = f.signed(
        Algorithm::ES256,
        &typed(Some("application/at+jwt")),
        &payload(),
    );
    f.check(&ok).await.unwrap();
}

#[tokio::test]
async fn missing_claims_and_duplicate_json_keys() {
    let f = fixture().await;
    for claim in ["sub", "sid", "jti"] {
        let mut p = payload();
        p.as_object_mut().unwrap().remove(claim);
        f.rejects(&f.es(&p), |e| matches!(e, MissingClaim(_)), claim)
            .await;
        p[claim] = json!("");
        f.rejects(&f.es(&p), |e| matches!(e, MissingClaim(_)), claim)
            .await;
    }
    let body = payload().to_string();
    let dup = body.replacen(r#""sub":"user-1""#, r#""sub":"user-1","sub":"admin""#, 1);
    assert_ne!(dup, body);
    let token = forge(
        &header("ES256", "kid-ES256"),
        &dup,
        Algorithm::ES256,
        &f.key(Algorithm::ES256).1,
    );
    f.rejects(&token, |e| matches!(e, Malformed(_)), "dup claim")
        .await;
    let dup_header = r#"{"alg":"ES256","alg":"none","typ":"at+jwt","kid":"kid-ES256"}"#;
    let token = f.signed(Algorithm::ES256, dup_header, &payload());
    f.rejects(&token, |e| matches!(e, Malformed(_)), "dup header")
        .await;
    let crit = r#"{"alg":"ES256","typ":"at+jwt","kid":"kid-ES256","crit":["exp"]}"#;
    let token = f.signed(Algorithm::ES256, crit, &payload());
    f.rejects(&token, |e| matches!(e, Malformed(_)), "crit")
        .await;
}

#[tokio::test]
async fn refresh_tokens_oversized_and_garbage() {
    let f = fixture().await;
    let refresh_token = "I5cN-xrFZ8gGIZONVjrpeV7C6np0EN8ErTrdu8i1yEg";
    f.rejects(refresh_token, |e| matches!(e, Malformed(_)), "refresh")
        .await;

    f.rejects(&"a".repeat(8193), |e| matches!(e, TooLarge), "8193 bytes")
        .await;
    let mut big = payload();
    big["pad"] = json!("x".repeat(9000));
    f.rejects(&f.es(&big), |e| matches!(e, TooLarge), "big claims")
        .await;

    let genuine = f.es(&payload());
    let padded = genuine.replacen('.', "=.", 1);
    let std_alphabet = genuine.replace('-', "+").replace('_', "/");
    let garbage = [
        "",
        ".",
        "..",
        "a.b.c",
        "!!!.???.***",
        "eyJ.eyJ.eyJ.eyJ",
        &padded,
        "bm90IGpzb24.bm90IGpzb24.AAAA",
        "W10.e30.AAAA", // header `[]`
    ];
    for token in garbage {
        f.rejects(token, |e| matches!(e, Malformed(_)), token).await;
    }
    if std_alphabet != genuine {
        let result = f.check(&std_alphabet).await;
        assert!(matches!(result, Err(Malformed(_))), "{result:?}");
    }
}
