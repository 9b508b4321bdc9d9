//! [`SigningKey`]: a parsed private key bound to one algorithm and `kid`,
//! producing compact JWS.
//!
//! The compact encoding is hand-written on purpose: `jsonwebtoken` re-parses
//! the private key on every `encode` (about +316 µs per RS256 token), whereas
//! here the aws-lc-rs key pair is parsed once and kept in the struct.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::error::Unspecified;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{self, SystemRandom};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::algorithm::Algorithm;
use crate::b64;
use crate::error::{KeyError, SignError};
use crate::jwk::Jwk;
use crate::verifying_key::{MIN_HMAC_SECRET, VerifyingKey, check_kid};

/// A private signing key bound to one algorithm and `kid`.
///
/// Holds the parsed aws-lc-rs key, so signing never re-parses material.
/// `Debug` prints only `kid` and `alg`, never key material.
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    key: Private,
    verifying: VerifyingKey,
    rng: SystemRandom,
}

enum Private {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(RsaKeyPair),
    Hs256(Box<hmac::Key>),
}

/// The protected header; field order is the serialization order.
#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'a str,
    kid: &'a str,
}

impl SigningKey {
    /// A new random key: ES256 P-256, EdDSA Ed25519, RS256 2048-bit RSA,
    /// HS256 32 random bytes.
    ///
    /// Also returns the secret material to persist: PKCS#8 v1 DER for the
    /// asymmetric algorithms, the raw secret for HS256. Feeding exactly these
    /// bytes to [`SigningKey::from_material`] yields the same key.
    ///
    /// # Errors
    /// [`KeyError::MissingKid`] for an empty `kid`, [`KeyError::Generation`]
    /// if the crypto library fails.
    pub fn generate(
        alg: Algorithm,
        kid: String,
    ) -> Result<(SigningKey, Zeroizing<Vec<u8>>), KeyError> {
        check_kid(&kid)?;
        fn der<D: AsRef<[u8]>>(doc: Result<D, Unspecified>) -> Result<Vec<u8>, KeyError> {
            doc.map(|d| d.as_ref().to_vec())
                .map_err(|_| KeyError::Generation)
        }
        let es256 = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let material = Zeroizing::new(match alg {
            Algorithm::ES256 => der(EcdsaKeyPair::generate(es256).and_then(|k| k.to_pkcs8v1()))?,
            Algorithm::EdDSA => der(Ed25519KeyPair::generate().and_then(|k| k.to_pkcs8v1()))?,
            Algorithm::RS256 => {
                let rsa = RsaKeyPair::generate(KeySize::Rsa2048);
                der(rsa.and_then(|k| k.as_der().map(|d| d.as_ref().to_vec())))?
            }
            Algorithm::HS256 => {
                let mut secret = vec![0u8; MIN_HMAC_SECRET];
                rand::fill(&mut secret).map_err(|_| KeyError::Generation)?;
                secret
            }
        });
        let key = SigningKey::from_material(alg, kid, &material)?;
        Ok((key, material))
    }

    /// Parses persisted material (the exact bytes [`SigningKey::generate`]
    /// returned): PKCS#8 DER for ES256/EdDSA/RS256, a raw secret of at least
    /// 32 bytes for HS256. RSA keys must be 2048..=8192 bits.
    ///
    /// # Errors
    /// [`KeyError::Invalid`] if the material does not parse as a key of
    /// `alg`, [`KeyError::WeakSecret`], [`KeyError::RsaKeySize`] or
    /// [`KeyError::MissingKid`].
    pub fn from_material(
        alg: Algorithm,
        kid: String,
        material: &[u8],
    ) -> Result<SigningKey, KeyError> {
        check_kid(&kid)?;
        let rejected = |_| KeyError::Invalid("private key material rejected");
        let es256 = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let public = |bytes: &[u8]| VerifyingKey::from_public_bytes(kid.clone(), alg, bytes);
        let (key, verifying) = match alg {
            Algorithm::ES256 => {
                let pair = EcdsaKeyPair::from_pkcs8(es256, material).map_err(rejected)?;
                let vk = public(pair.public_key().as_ref())?;
                (Private::Es256(pair), vk)
            }
            Algorithm::EdDSA => {
                let pair = Ed25519KeyPair::from_pkcs8(material).map_err(rejected)?;
                let vk = public(pair.public_key().as_ref())?;
                (Private::EdDsa(pair), vk)
            }
            Algorithm::RS256 => {
                let pair = RsaKeyPair::from_pkcs8(material).map_err(rejected)?;
                let (n, e) = rsa_public(&pair);
                let vk = VerifyingKey::from_rsa_components(kid.clone(), n, e)?;
                (Private::Rs256(pair), vk)
            }
            Algorithm::HS256 => {
                if material.len() < MIN_HMAC_SECRET {
                    return Err(KeyError::WeakSecret);
                }
                let key = Box::new(hmac::Key::new(hmac::HMAC_SHA256, material));
                let vk = VerifyingKey::from_hmac_key(kid.clone(), key.clone());
                (Private::Hs256(key), vk)
            }
        };
        Ok(SigningKey {
            kid,
            alg,
            key,
            verifying,
            rng: SystemRandom::new(),
        })
    }

    /// The key id written into every token's header.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The only algorithm this key signs with.
    #[must_use]
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// A compact JWS: header `{"alg","typ","kid"}` (in that order, `typ` as
    /// given, e.g. `"at+jwt"`), the JSON-serialized `claims` as payload,
    /// every part base64url without padding.
    ///
    /// # Errors
    /// [`SignError::Claims`] if `claims` fail to serialize,
    /// [`SignError::Crypto`] if the crypto library fails.
    pub fn sign<C: Serialize>(&self, typ: &str, claims: &C) -> Result<String, SignError> {
        let header = serde_json::to_vec(&Header {
            alg: self.alg.as_str(),
            typ,
            kid: &self.kid,
        })
        .map_err(SignError::Claims)?;
        let payload = serde_json::to_vec(claims).map_err(SignError::Claims)?;

        let b64_len = |n: usize| n.div_ceil(3) * 4;
        let mut token =
            String::with_capacity(b64_len(header.len()) + b64_len(payload.len()) + 1400);
        b64::encode_into(&header, &mut token);
        token.push('.');
        b64::encode_into(&payload, &mut token);

        let signature = self.sign_raw(token.as_bytes())?;
        token.push('.');
        b64::encode_into(&signature, &mut token);
        Ok(token)
    }

    fn sign_raw(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        match &self.key {
            Private::Es256(pair) => pair
                .sign(&self.rng, message)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| SignError::Crypto),
            Private::EdDsa(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            Private::Rs256(pair) => {
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
                    .map_err(|_| SignError::Crypto)?;
                Ok(sig)
            }
            Private::Hs256(key) => Ok(hmac::sign(key, message).as_ref().to_vec()),
        }
    }

    /// The public JWK (`kty`/`crv`/`x`/`y` for EC P-256, `kty` OKP `crv`
    /// Ed25519 `x`, `kty` RSA `n` `e`; plus `kid`, `alg` and `"use":"sig"`).
    /// `None` for HS256: shared secrets are never published.
    #[must_use]
    pub fn public_jwk(&self) -> Option<Jwk> {
        let mut jwk;
        match &self.key {
            Private::Es256(pair) => {
                let point = pair.public_key().as_ref();
                let (x, y) = point.get(1..33).zip(point.get(33..65))?;
                jwk = Jwk::public("EC", &self.kid, self.alg);
                jwk.crv = Some("P-256".to_owned());
                jwk.x = Some(b64::encode(x));
                jwk.y = Some(b64::encode(y));
            }
            Private::EdDsa(pair) => {
                jwk = Jwk::public("OKP", &self.kid, self.alg);
                jwk.crv = Some("Ed25519".to_owned());
                jwk.x = Some(b64::encode(pair.public_key().as_ref()));
            }
            Private::Rs256(pair) => {
                let (n, e) = rsa_public(pair);
                jwk = Jwk::public("RSA", &self.kid, self.alg);
                jwk.n = Some(b64::encode(n));
                jwk.e = Some(b64::encode(e));
            }
            Private::Hs256(_) => return None,
        }
        Some(jwk)
    }

    /// The matching verification key (for HS256, the same secret).
    #[must_use]
    pub fn verifying_key(&self) -> VerifyingKey {
        self.verifying.clone()
    }
}

/// The big-endian modulus and exponent, without leading zeros.
fn rsa_public(pair: &RsaKeyPair) -> (&[u8], &[u8]) {
    let public = pair.public_key();
    let n = public.modulus().big_endian_without_leading_zero();
    (n, public.exponent().big_endian_without_leading_zero())
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Algorithm::*;

    #[test]
    fn bad_kid_and_material_rejected() {
        let err = |alg, kid: &str, material: &[u8]| {
            SigningKey::from_material(alg, kid.into(), material).unwrap_err()
        };
        let (_, ed) = SigningKey::generate(EdDSA, "k".into()).unwrap();
        assert_eq!(err(EdDSA, "", &ed), KeyError::MissingKid);
        assert_eq!(err(HS256, "k", &[1; 31]), KeyError::WeakSecret);
        assert!(matches!(err(ES256, "k", &ed), KeyError::Invalid(_)));
        assert!(matches!(err(RS256, "k", b"garbage"), KeyError::Invalid(_)));
        let no_kid = SigningKey::generate(ES256, String::new());
        assert_eq!(no_kid.unwrap_err(), KeyError::MissingKid);
    }

    #[test]
    fn header_order_and_encoding() {
        let (key, _) = SigningKey::generate(HS256, "k\"1".into()).unwrap();
        let token = key.sign("at+jwt", &serde_json::json!({"a": 1})).unwrap();
        let header = b64::decode(token.split('.').next().unwrap()).unwrap();
        assert_eq!(header, br#"{"alg":"HS256","typ":"at+jwt","kid":"k\"1"}"#);
        assert_eq!(token.split('.').count(), 3);
        assert!(!token.contains('='));
    }
}
