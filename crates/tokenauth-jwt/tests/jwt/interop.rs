//! Interoperability with the independent `jsonwebtoken` implementation.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::common::*;
use jsonwebtoken::{self as jwt, DecodingKey, EncodingKey};
use tokenauth_jwt::Algorithm::{self, ES256, EdDSA, HS256};
use tokenauth_jwt::{AccessTokenClaims, verify_access_token};

fn theirs(alg: Algorithm) -> jwt::Algorithm {
    alg.as_str().parse().unwrap()
}

/// Decodes with `jsonwebtoken`, checking signature, iss, aud, exp, typ, kid.
fn decode(token: &str, key: &DecodingKey, alg: Algorithm) -> AccessTokenClaims {
    let mut v = jwt::Validation::new(theirs(alg));
    v.set_issuer(&[ISS]);
    v.set_audience(&[AUD]);
    let data = jwt::decode::<AccessTokenClaims>(token, key, &v).unwrap();
    assert_eq!(data.header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(data.header.kid, Some(kid(alg)));
    data.claims
}

#[test]
fn jsonwebtoken_verifies_our_tokens() {
    let now = SystemTime::now().duration_since(UNIX_EPOCH);
    let claims = claims(i64::try_from(now.unwrap().as_secs()).unwrap());
    for alg in Algorithm::ALL {
        let (key, material) = fixture(alg);
        let token = key.sign("at+jwt", &claims).unwrap();
        let Some(jwk) = key.public_jwk() else {
            let secret = DecodingKey::from_secret(material).unwrap();
            assert_eq!(decode(&token, &secret, alg), claims);
            continue;
        };
        let c = |member: &Option<String>| member.clone().unwrap();
        let from_components = match alg {
            ES256 => DecodingKey::from_ec_components(&c(&jwk.x), &c(&jwk.y)),
            EdDSA => DecodingKey::from_ed_components(&c(&jwk.x)),
            _ => DecodingKey::from_rsa_components(&c(&jwk.n), &c(&jwk.e)),
        };
        assert_eq!(decode(&token, &from_components.unwrap(), alg), claims);
        // Their JWK parser accepts our JWK JSON too.
        let their_jwk = serde_json::from_str(&serde_json::to_string(&jwk).unwrap()).unwrap();
        decode(&token, &DecodingKey::from_jwk(&their_jwk).unwrap(), alg);
    }
}

#[test]
fn we_verify_tokens_signed_by_jsonwebtoken() {
    // jsonwebtoken wants PKCS#1 for RSA, so RS256 is covered the other way only.
    for alg in [ES256, EdDSA, HS256] {
        let material = &fixture(alg).1;
        let encoding = match alg {
            ES256 => EncodingKey::from_ec_der(material),
            EdDSA => EncodingKey::from_ed_der(material),
            _ => EncodingKey::from_secret(material).unwrap(),
        };
        let mut header = jwt::Header::new(theirs(alg));
        (header.typ, header.kid) = (Some("at+jwt".into()), Some(kid(alg)));
        let token = jwt::encode(&header, &claims(NOW), &encoding).unwrap();
        let got = verify_access_token(&keyset(), &token, &validation(), NOW);
        assert_eq!(got, Ok(claims(NOW)));
    }
}
