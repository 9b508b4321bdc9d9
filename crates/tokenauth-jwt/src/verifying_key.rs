//! [`VerifyingKey`]: a parsed public key (or HMAC secret) bound to exactly
//! one algorithm and one `kid`.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{self, ParsedPublicKey};

use crate::algorithm::Algorithm;
use crate::error::KeyError;

/// Minimum HMAC secret length in bytes (RFC 7518 §3.2: key size >= hash size).
pub(crate) const MIN_HMAC_SECRET: usize = 32;

/// A public (or HMAC) key bound to exactly one algorithm and `kid`.
///
/// The key is parsed once at construction; verification never re-parses it.
/// Cloning is cheap (reference counted). `Debug` prints only `kid` and `alg`.
#[derive(Clone)]
pub struct VerifyingKey {
    inner: Arc<Inner>,
}

struct Inner {
    kid: String,
    alg: Algorithm,
    key: Material,
}

enum Material {
    Public(ParsedPublicKey),
    Hmac(Box<hmac::Key>),
}

impl VerifyingKey {
    /// An HS256 verification key from a shared secret of at least 32 bytes.
    ///
    /// # Errors
    /// [`KeyError::MissingKid`] for an empty `kid`, [`KeyError::WeakSecret`]
    /// for a secret shorter than 32 bytes.
    pub fn hmac(kid: String, secret: &[u8]) -> Result<VerifyingKey, KeyError> {
        check_kid(&kid)?;
        if secret.len() < MIN_HMAC_SECRET {
            return Err(KeyError::WeakSecret);
        }
        let key = Box::new(hmac::Key::new(hmac::HMAC_SHA256, secret));
        Ok(Self::from_hmac_key(kid, key))
    }

    pub(crate) fn from_hmac_key(kid: String, key: Box<hmac::Key>) -> VerifyingKey {
        Self::build(kid, Algorithm::HS256, Material::Hmac(key))
    }

    /// An ES256 or EdDSA key. `public` is the SEC1 uncompressed point for
    /// ES256 and the raw 32-byte key for EdDSA (RS256 goes through
    /// [`VerifyingKey::from_rsa_components`]).
    pub(crate) fn from_public_bytes(
        kid: String,
        alg: Algorithm,
        public: &[u8],
    ) -> Result<VerifyingKey, KeyError> {
        check_kid(&kid)?;
        let verification: &'static dyn signature::VerificationAlgorithm = match alg {
            Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            Algorithm::EdDSA => &signature::ED25519,
            Algorithm::RS256 | Algorithm::HS256 => return Err(KeyError::UnsupportedAlgorithm),
        };
        let parsed = ParsedPublicKey::new(verification, public)
            .map_err(|_| KeyError::Invalid("public key rejected"))?;
        Ok(Self::build(kid, alg, Material::Public(parsed)))
    }

    /// An RS256 key from the big-endian modulus and exponent (no leading
    /// zero bytes). The modulus must be 2048..=8192 bits.
    pub(crate) fn from_rsa_components(
        kid: String,
        n: &[u8],
        e: &[u8],
    ) -> Result<VerifyingKey, KeyError> {
        check_kid(&kid)?;
        let bits = rsa_modulus_bits(n).ok_or(KeyError::Invalid("RSA modulus has leading zeros"))?;
        if !(2048..=8192).contains(&bits) {
            return Err(KeyError::RsaKeySize);
        }
        let parsed = signature::RsaPublicKeyComponents { n, e }
            .to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256)
            .map_err(|_| KeyError::Invalid("RSA public key rejected"))?;
        Ok(Self::build(kid, Algorithm::RS256, Material::Public(parsed)))
    }

    fn build(kid: String, alg: Algorithm, key: Material) -> VerifyingKey {
        VerifyingKey {
            inner: Arc::new(Inner { kid, alg, key }),
        }
    }

    /// The key id this key is bound to.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.inner.kid
    }

    /// The only algorithm this key will ever verify.
    #[must_use]
    pub fn alg(&self) -> Algorithm {
        self.inner.alg
    }

    /// Checks `signature` over `message` with this key's own algorithm.
    /// Returns `true` only for a valid signature.
    ///
    /// ES256 signatures must be exactly 64 bytes `r || s`, and `r == 0` or
    /// `s == 0` is rejected before the crypto call (CVE-2022-21449 class).
    /// HS256 comparison is constant time.
    pub(crate) fn verify_raw(&self, message: &[u8], signature: &[u8]) -> bool {
        match &self.inner.key {
            Material::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
            Material::Public(key) => {
                if self.inner.alg == Algorithm::ES256 && !es256_shape_ok(signature) {
                    return false;
                }
                key.verify_sig(message, signature).is_ok()
            }
        }
    }
}

/// `true` if `sig` is 64 bytes and neither `r` nor `s` is zero.
fn es256_shape_ok(sig: &[u8]) -> bool {
    if sig.len() != 64 {
        return false;
    }
    let (r, s) = sig.split_at(32);
    r.iter().any(|&b| b != 0) && s.iter().any(|&b| b != 0)
}

/// Bit length of a big-endian integer, or `None` if it is empty or has a
/// leading zero byte (non-canonical).
pub(crate) fn rsa_modulus_bits(n: &[u8]) -> Option<usize> {
    let first = *n.first()?;
    if first == 0 {
        return None;
    }
    Some((n.len() - 1) * 8 + (8 - first.leading_zeros() as usize))
}

pub(crate) fn check_kid(kid: &str) -> Result<(), KeyError> {
    if kid.is_empty() {
        Err(KeyError::MissingKid)
    } else {
        Ok(())
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.inner.kid)
            .field("alg", &self.inner.alg)
            .finish_non_exhaustive()
    }
}
