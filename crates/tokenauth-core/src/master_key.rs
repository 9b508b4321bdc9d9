//! The master key: the root secret from which the key that encrypts signing keys at rest and the
//! refresh-token rotation secret are derived (HKDF-SHA256, one label each).

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::hkdf;
use zeroize::Zeroizing;

use crate::refresh_token::RotationSecret;

/// Length of a master key in bytes.
pub const MASTER_KEY_LEN: usize = 32;

const KEY_ENCRYPTION_LABEL: &[u8] = b"tokenauth/v1/signing-key-encryption";
const ROTATION_LABEL: &[u8] = b"tokenauth/v1/refresh-token-rotation";

/// Failures of sealing or opening secret material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MasterKeyError {
    /// The ciphertext was altered, is for another key id, or the master key is not the one it was
    /// sealed with.
    #[error("cannot decrypt key material: wrong master key or corrupted data")]
    Open,
    /// The crypto library refused an operation that should not fail.
    #[error("encryption failed")]
    Seal,
}

/// The root secret. Never printed; wiped when dropped.
pub struct MasterKey {
    key_encryption: RandomizedNonceKey,
    rotation_secret: Zeroizing<[u8; 32]>,
}

impl MasterKey {
    /// Derives the working keys from 32 secret bytes.
    ///
    /// # Errors
    /// [`MasterKeyError::Seal`] if the crypto library rejects the derived key (it should not).
    pub fn from_bytes(bytes: &[u8; MASTER_KEY_LEN]) -> Result<Self, MasterKeyError> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"tokenauth master key").extract(bytes);
        let expand = |label: &[u8]| -> Result<Zeroizing<[u8; 32]>, MasterKeyError> {
            let mut out = Zeroizing::new([0u8; 32]);
            let labels = [label];
            prk.expand(&labels, hkdf::HKDF_SHA256)
                .and_then(|okm| okm.fill(out.as_mut()))
                .map_err(|_| MasterKeyError::Seal)?;
            Ok(out)
        };
        let encryption_key = expand(KEY_ENCRYPTION_LABEL)?;
        let key_encryption = RandomizedNonceKey::new(&AES_256_GCM, encryption_key.as_ref())
            .map_err(|_| MasterKeyError::Seal)?;
        Ok(Self {
            key_encryption,
            rotation_secret: expand(ROTATION_LABEL)?,
        })
    }

    /// Encrypts `plaintext` (AES-256-GCM, random 96-bit nonce) bound to `context` (the key id),
    /// returning `nonce || ciphertext || tag`.
    ///
    /// # Errors
    /// [`MasterKeyError::Seal`] if encryption fails.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        let mut in_out = plaintext.to_vec();
        let nonce = self
            .key_encryption
            .seal_in_place_append_tag(Aad::from(context.as_bytes()), &mut in_out)
            .map_err(|_| MasterKeyError::Seal)?;
        let mut sealed = Vec::with_capacity(NONCE_LEN + in_out.len());
        sealed.extend_from_slice(nonce.as_ref());
        sealed.extend_from_slice(&in_out);
        in_out.fill(0);
        Ok(sealed)
    }

    /// Decrypts what [`MasterKey::seal`] produced for the same `context`.
    ///
    /// # Errors
    /// [`MasterKeyError::Open`] if the data was tampered with, belongs to another context, or was
    /// sealed under another master key.
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, MasterKeyError> {
        if sealed.len() < NONCE_LEN {
            return Err(MasterKeyError::Open);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| MasterKeyError::Open)?;
        let mut in_out = Zeroizing::new(ciphertext.to_vec());
        let plaintext_len = self
            .key_encryption
            .open_in_place(nonce, Aad::from(context.as_bytes()), in_out.as_mut_slice())
            .map_err(|_| MasterKeyError::Open)?
            .len();
        in_out.truncate(plaintext_len);
        Ok(in_out)
    }

    /// The secret that makes and recognises refresh tokens (their tags).
    pub fn rotation_secret(&self) -> RotationSecret {
        RotationSecret::new(&self.rotation_secret)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open_round_trips_and_binds_context() {
        let key = MasterKey::from_bytes(&[7; 32]).expect("key");
        let sealed = key.seal("kid-1", b"secret material").expect("seal");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            key.open("kid-1", &sealed).expect("open").as_slice(),
            b"secret material"
        );
        assert!(key.open("kid-2", &sealed).is_err(), "context is bound");
        let other = MasterKey::from_bytes(&[8; 32]).expect("key");
        assert!(other.open("kid-1", &sealed).is_err(), "wrong master key");
        let mut tampered = sealed.clone();
        if let Some(last) = tampered.last_mut() {
            *last ^= 1;
        }
        assert!(key.open("kid-1", &tampered).is_err());
        assert!(key.open("kid-1", &[1, 2, 3]).is_err());
    }
}
