//! Interoperability with the independent `jsonwebtoken` implementation.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::*;
use jsonwebtoken as jwt;
use tokenauth_jwt::{AccessTokenClaims, Algorithm, verify_access_token};

fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    i64::try_from(secs).unwrap()
}

fn jwt_validation(alg: jwt::Algorithm) -> jwt::Validation {
    let mut v = jwt::Validation::new(alg);
    v.set_issuer(&[ISS]);
    v.set_audience(&[AUD]);
    v
}

#[test]
fn jsonwebtoken_verifies_our_asymmetric_tokens_from_our_jwk() {
    for (alg, theirs) in [
        (Algorithm::ES256, jwt::Algorithm::ES256),
        (Algorithm::EdDSA, jwt::Algorithm::EdDSA),
        (Algorithm::RS256, jwt::Algorithm::RS256),
    ] {
        let key = key(alg);
        let jwk = key.public_jwk().unwrap();
        let decoding = match alg {
            Algorithm::ES256 => jwt::DecodingKey::from_ec_components(
                jwk.x.as_deref().unwrap(),
                jwk.y.as_deref().unwrap(),
            ),
            Algorithm::EdDSA => jwt::DecodingKey::from_ed_components(jwk.x.as_deref().unwrap()),
            _ => jwt::DecodingKey::from_rsa_components(
                jwk.n.as_deref().unwrap(),
                jwk.e.as_deref().unwrap(),
            ),
        }
        .unwrap();
        let token = key.sign("at+jwt", &claims(now())).unwrap();
        let data =
            jwt::decode::<AccessTokenClaims>(&token, &decoding, &jwt_validation(theirs)).unwrap();
        assert_eq!(data.header.kid.as_deref(), Some(key.kid()));
        assert_eq!(data.header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(data.claims.sub, "user-1");

        // And their JWK parser accepts our JWK JSON.
        let their_jwk: jwt::jwk::Jwk =
            serde_json::from_str(&serde_json::to_string(&jwk).unwrap()).unwrap();
        let decoding = jwt::DecodingKey::from_jwk(&their_jwk).unwrap();
        jwt::decode::<AccessTokenClaims>(&token, &decoding, &jwt_validation(theirs)).unwrap();
    }
}

#[test]
fn jsonwebtoken_verifies_our_hs256_tokens() {
    let fx = fixture(Algorithm::HS256);
    let token = fx.key.sign("at+jwt", &claims(now())).unwrap();
    let decoding = jwt::DecodingKey::from_secret(&fx.material).unwrap();
    jwt::decode::<AccessTokenClaims>(&token, &decoding, &jwt_validation(jwt::Algorithm::HS256))
        .unwrap();
}

#[test]
fn we_verify_tokens_signed_by_jsonwebtoken() {
    for (alg, theirs) in [
        (Algorithm::ES256, jwt::Algorithm::ES256),
        (Algorithm::EdDSA, jwt::Algorithm::EdDSA),
        (Algorithm::HS256, jwt::Algorithm::HS256),
    ] {
        let fx = fixture(alg);
        let encoding = match alg {
            Algorithm::ES256 => jwt::EncodingKey::from_ec_der(&fx.material),
            Algorithm::EdDSA => jwt::EncodingKey::from_ed_der(&fx.material),
            _ => jwt::EncodingKey::from_secret(&fx.material).unwrap(),
        };
        let mut header = jwt::Header::new(theirs);
        header.typ = Some("at+jwt".into());
        header.kid = Some(kid(alg));
        let token = jwt::encode(&header, &claims(NOW), &encoding).unwrap();
        let got = verify_access_token(&keyset(), &token, &validation(), NOW).unwrap();
        assert_eq!(got, claims(NOW));
    }
}
