//! JWK / JWKS (RFC 7517) types and strict conversion of a public JWK into a
//! [`VerifyingKey`].

use serde::{Deserialize, Serialize};

use crate::algorithm::Algorithm;
use crate::b64;
use crate::error::KeyError;
use crate::verifying_key::VerifyingKey;

/// A JSON Web Key (RFC 7517) restricted to the public members we use.
///
/// Absent members are skipped when serializing; unknown members (including
/// `x5c`, `x5u`, `key_ops` and any private members) are ignored when
/// deserializing and never used. Byte-valued members are base64url strings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type: `"EC"`, `"OKP"`, `"RSA"` (`"oct"` is always rejected).
    pub kty: String,
    /// Key id; required by [`VerifyingKey::from_jwk`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// JOSE algorithm name; required by [`VerifyingKey::from_jwk`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Public key use; if present it must be `"sig"`.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub key_use: Option<String>,
    /// Curve: `"P-256"` (EC) or `"Ed25519"` (OKP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate or OKP public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA public exponent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

/// A JWK Set: `{"keys":[...]}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// The keys, in publication order.
    pub keys: Vec<Jwk>,
}

impl Jwk {
    /// A public signature JWK with `kid`, `alg` and `"use":"sig"` set and
    /// no key members yet.
    pub(crate) fn public(kty: &str, kid: &str, alg: Algorithm) -> Jwk {
        Jwk {
            kty: kty.to_owned(),
            kid: Some(kid.to_owned()),
            alg: Some(alg.as_str().to_owned()),
            key_use: Some("sig".to_owned()),
            ..Jwk::default()
        }
    }
}

impl VerifyingKey {
    /// A verification key from a public JWK.
    ///
    /// Requires a non-empty `kid` and an `alg` consistent with `kty`/`crv`
    /// (ES256: EC P-256 with 32-byte `x`,`y`; EdDSA: OKP Ed25519 with a
    /// 32-byte `x`; RS256: RSA with canonical `n` of 2048..=8192 bits and
    /// `e`). `use`, if present, must be `sig`. `oct` keys are always
    /// rejected: symmetric secrets are never taken from a JWK. Certificate
    /// members (`x5c`, `x5u`) are ignored.
    ///
    /// # Errors
    /// A [`KeyError`] naming the first problem found.
    pub fn from_jwk(jwk: &Jwk) -> Result<VerifyingKey, KeyError> {
        if jwk.kty == "oct" {
            return Err(KeyError::SymmetricJwk);
        }
        let kid = match jwk.kid.as_deref() {
            Some(kid) if !kid.is_empty() => kid.to_owned(),
            _ => return Err(KeyError::MissingKid),
        };
        if jwk.key_use.as_deref().is_some_and(|u| u != "sig") {
            return Err(KeyError::NotForSignatures);
        }
        let alg: Algorithm = jwk
            .alg
            .as_deref()
            .ok_or(KeyError::MissingAlgorithm)?
            .parse()
            .map_err(|_| KeyError::UnsupportedAlgorithm)?;
        match alg {
            Algorithm::ES256 => {
                expect(jwk, "EC", Some("P-256"))?;
                let x = member(jwk.x.as_deref(), 32, "EC x must be 32 bytes")?;
                let y = member(jwk.y.as_deref(), 32, "EC y must be 32 bytes")?;
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                VerifyingKey::from_public_bytes(kid, alg, &point)
            }
            Algorithm::EdDSA => {
                expect(jwk, "OKP", Some("Ed25519"))?;
                let x = member(jwk.x.as_deref(), 32, "Ed25519 x must be 32 bytes")?;
                VerifyingKey::from_public_bytes(kid, alg, &x)
            }
            Algorithm::RS256 => {
                expect(jwk, "RSA", None)?;
                let n = decode_required(jwk.n.as_deref(), "RSA n")?;
                let e = decode_required(jwk.e.as_deref(), "RSA e")?;
                VerifyingKey::from_rsa_components(kid, &n, &e)
            }
            Algorithm::HS256 => Err(KeyError::SymmetricJwk),
        }
    }
}

/// Checks `kty` and (optionally) `crv` agree with the algorithm.
fn expect(jwk: &Jwk, kty: &str, crv: Option<&str>) -> Result<(), KeyError> {
    if jwk.kty != kty {
        return Err(KeyError::Inconsistent("kty does not match alg"));
    }
    if let Some(crv) = crv
        && jwk.crv.as_deref() != Some(crv)
    {
        return Err(KeyError::Inconsistent("crv does not match alg"));
    }
    Ok(())
}

fn decode_required(value: Option<&str>, what: &'static str) -> Result<Vec<u8>, KeyError> {
    let value = value.ok_or(KeyError::Inconsistent(what))?;
    b64::decode(value).ok_or(KeyError::Invalid("member is not base64url"))
}

fn member(value: Option<&str>, len: usize, what: &'static str) -> Result<Vec<u8>, KeyError> {
    let bytes = decode_required(value, what)?;
    if bytes.len() == len {
        Ok(bytes)
    } else {
        Err(KeyError::Invalid(what))
    }
}

#[cfg(test)]
mod tests {
    use super::KeyError::*;
    use super::*;

    /// Error for the JWK `{"kid":"a",<members>}`.
    fn rej(members: &str) -> KeyError {
        let jwk: Jwk = serde_json::from_str(&format!(r#"{{"kid":"a",{members}}}"#)).unwrap();
        VerifyingKey::from_jwk(&jwk).unwrap_err()
    }

    #[test]
    fn rejections() {
        let ed = r#""kty":"OKP","alg":"EdDSA","crv":"Ed25519""#;
        let rsa = r#""kty":"RSA","alg":"RS256""#;
        let kty = Inconsistent("kty does not match alg");
        let crv = Inconsistent("crv does not match alg");
        let x_len = Invalid("Ed25519 x must be 32 bytes");
        let not_b64 = Invalid("member is not base64url");
        let cases = [
            (r#""kty":"oct","alg":"HS256","k":"AAAA""#, SymmetricJwk),
            (r#""kty":"RSA","alg":"HS256""#, SymmetricJwk),
            (r#""kty":"EC""#, MissingAlgorithm),
            (r#""kty":"EC","alg":"ES384""#, UnsupportedAlgorithm),
            (r#""kty":"EC","alg":"none""#, UnsupportedAlgorithm),
            (r#""kty":"EC","alg":"ES256","use":"enc""#, NotForSignatures),
            (r#""kty":"RSA","alg":"ES256""#, kty),
            (r#""kty":"EC","alg":"ES256","crv":"P-384""#, crv),
            (&format!(r#"{rsa},"n":"AQAB""#), Inconsistent("RSA e")),
            (&format!(r#"{rsa},"n":"wQ","e":"AQAB""#), RsaKeySize),
            (&format!(r#"{ed},"x":"AAAA""#), x_len),
            (&format!(r#"{ed},"x":"AA==""#), not_b64),
        ];
        for (members, want) in cases {
            assert_eq!(rej(members), want, "{members}");
        }
        let no_kid: Jwk = serde_json::from_str(r#"{"kty":"EC","alg":"ES256"}"#).unwrap();
        assert_eq!(VerifyingKey::from_jwk(&no_kid).unwrap_err(), MissingKid);
        assert!(serde_json::from_str::<Jwk>(r#"{"kty":"EC","kty":"RSA"}"#).is_err());
    }

    #[test]
    fn off_curve_point_and_small_rsa_rejected() {
        let zero = b64::encode(&[0u8; 32]);
        let (x, y) = (Some(zero.clone()), Some(zero));
        let crv = Some("P-256".into());
        let ec = Jwk {
            crv,
            x,
            y,
            ..Jwk::public("EC", "a", Algorithm::ES256)
        };
        let err = VerifyingKey::from_jwk(&ec).unwrap_err();
        assert_eq!(err, Invalid("public key rejected"));
        let (n, e) = (Some(b64::encode(&[0xc1; 128])), Some("AQAB".into())); // 1024-bit
        let rsa = Jwk {
            n,
            e,
            ..Jwk::public("RSA", "a", Algorithm::RS256)
        };
        assert_eq!(VerifyingKey::from_jwk(&rsa).unwrap_err(), RsaKeySize);
    }

    #[test]
    fn unknown_members_ignored_none_skipped() {
        let json = r#"{"kty":"EC","x5c":["AA"],"d":"s","use":"sig"}"#;
        let k: Jwk = serde_json::from_str(json).unwrap();
        let back = serde_json::to_string(&k).unwrap();
        assert_eq!(back, r#"{"kty":"EC","use":"sig"}"#);
    }
}
