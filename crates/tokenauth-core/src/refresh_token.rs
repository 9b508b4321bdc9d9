//! Refresh tokens: opaque 256-bit random strings, stored only as SHA-256 hashes.
//!
//! A session's first token is random. Each successor is derived from the token it replaces,
//! `successor = HMAC-SHA256(rotation_secret, presented)`, so that a benign retry of the previous
//! token inside the grace window can be answered with the very same successor the first request
//! got (idempotent replay) without ever storing a plaintext token. Knowing a token is not enough
//! to compute its successor: that also takes the rotation secret, derived from the master key.

use std::fmt;

use aws_lc_rs::{digest, hmac, rand};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::Zeroizing;

use crate::error::AuthError;

/// Random bytes in a refresh token (256 bits).
const TOKEN_BYTES: usize = 32;
/// Length of the base64url (no padding) form of a token.
const TOKEN_CHARS: usize = 43;

/// A refresh token in plaintext, as handed to and received from a client. Wiped on drop, never
/// printed by `Debug`.
pub struct RefreshToken(Zeroizing<String>);

impl RefreshToken {
    /// A new random token, for the first token of a session.
    ///
    /// # Errors
    /// [`AuthError::Internal`] if the system's random source fails.
    pub fn generate() -> Result<Self, AuthError> {
        let mut bytes = Zeroizing::new([0u8; TOKEN_BYTES]);
        rand::fill(bytes.as_mut())
            .map_err(|_| AuthError::Internal("random source failed".into()))?;
        Ok(Self(Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_ref()))))
    }

    /// Accepts a presented token if it has the shape of one of ours (43 base64url characters).
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] for anything else.
    pub fn parse(presented: &str) -> Result<Self, AuthError> {
        let well_formed = presented.len() == TOKEN_CHARS
            && presented
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !well_formed {
            return Err(AuthError::InvalidToken);
        }
        Ok(Self(Zeroizing::new(presented.to_owned())))
    }

    /// The token's text, to send to the client.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The SHA-256 hash under which the token is stored and looked up.
    pub fn hash(&self) -> RefreshTokenHash {
        let digest = digest::digest(&digest::SHA256, self.0.as_bytes());
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        RefreshTokenHash(bytes)
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

/// The SHA-256 hash of a refresh token: the only form in which tokens are stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RefreshTokenHash([u8; 32]);

impl RefreshTokenHash {
    /// Wraps 32 bytes read back from storage.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The hash's bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for RefreshTokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A prefix is enough to tell hashes apart in a debug log.
        write!(
            f,
            "RefreshTokenHash({:02x}{:02x}{:02x}{:02x}…)",
            self.0[0], self.0[1], self.0[2], self.0[3]
        )
    }
}

/// The secret that derives each refresh token's successor from it.
pub struct RotationSecret(hmac::Key);

impl RotationSecret {
    /// Wraps 32 secret bytes (derived from the master key).
    pub fn new(secret: &[u8; 32]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// The token that replaces `presented` on rotation; the same input always gives the same
    /// successor, which is what makes a retried refresh idempotent.
    pub fn successor(&self, presented: &RefreshToken) -> RefreshToken {
        let tag = hmac::sign(&self.0, presented.expose().as_bytes());
        RefreshToken(Zeroizing::new(URL_SAFE_NO_PAD.encode(tag.as_ref())))
    }
}

impl fmt::Debug for RotationSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RotationSecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_well_formed_and_distinct() {
        let a = RefreshToken::generate().expect("rng");
        let b = RefreshToken::generate().expect("rng");
        assert_ne!(a.expose(), b.expose());
        assert!(RefreshToken::parse(a.expose()).is_ok());
        assert_eq!(a.expose().len(), 43);
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        for bad in [
            "",
            "short",
            &"a".repeat(44),
            &format!("{}=", "a".repeat(42)),
            &"é".repeat(22),
        ] {
            assert!(RefreshToken::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn successor_is_deterministic_secret_dependent_and_well_formed() {
        let token = RefreshToken::generate().expect("rng");
        let one = RotationSecret::new(&[1; 32]);
        let two = RotationSecret::new(&[2; 32]);
        assert_eq!(
            one.successor(&token).expose(),
            one.successor(&token).expose()
        );
        assert_ne!(
            one.successor(&token).expose(),
            two.successor(&token).expose()
        );
        assert!(RefreshToken::parse(one.successor(&token).expose()).is_ok());
    }

    #[test]
    fn debug_never_shows_the_token() {
        let token = RefreshToken::generate().expect("rng");
        assert!(!format!("{token:?}").contains(token.expose()));
    }
}
