//! Refresh tokens: each names its session and generation, and is authenticated by a MAC under
//! the rotation secret; nothing of it is stored.
//!
//! Format v2 (75 characters): base64url without padding of 56 bytes, `session id (16 bytes, the
//! UUID) || generation (u64, big-endian) || tag (32 bytes)`, where the tag is HMAC-SHA256 under
//! the [`RotationSecret`] (derived from the master key, never stored in the database) over
//! `TAG_LABEL || session id || generation`. The store keeps only each session's live generation:
//! a presented token is checked against its tag without any database access, then found by the
//! session's primary key, and the generation alone says whether it is the live token, the one
//! just rotated away, or an older one. A token's successor is the token of the same session at
//! the next generation, so a benign retry is answered with the very successor the first request
//! got without storing it (invariant 7 of `shared/refresh-rotation.md`: derived
//! deterministically from a secret). Knowing tokens, or the whole database, is not enough to make
//! one: that takes the rotation secret.
//!
//! Legacy tokens (43 characters, before format v2) were random or derived from their
//! predecessor and stored as SHA-256 hashes; they are still recognised by that hash until their
//! session's next rotation, whose successor is a v2 token.

use std::fmt;

use aws_lc_rs::{digest, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::error::AuthError;
use crate::ids::SessionId;

/// Length of the base64url (no padding) form of a v2 token.
pub const TOKEN_CHARS: usize = 75;
/// Length of the base64url (no padding) form of a legacy token (256 bits).
pub const LEGACY_TOKEN_CHARS: usize = 43;
/// Bytes of a v2 token: session id, generation, tag.
const TOKEN_BYTES: usize = 56;
/// Bytes of the session id and the generation, before the tag.
const NAME_BYTES: usize = 24;
/// Domain separation of the tag: no other MAC under the rotation secret covers these bytes.
const TAG_LABEL: &[u8] = b"tokenauth refresh token v2\0";

/// A refresh token in plaintext, as handed to a client. Wiped on drop, never printed by
/// `Debug`. Made only by [`RotationSecret::token`].
pub struct RefreshToken(Zeroizing<String>);

impl RefreshToken {
    /// The token's text, to send to the client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

/// A presented refresh token, recognised by [`RotationSecret::verify`]: what a store needs to
/// find its session. Holds nothing that would let anyone use the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresentedRefreshToken {
    /// A v2 token whose tag verified under the rotation secret: generation `generation` of
    /// session `session_id`. Whether that session exists, and which generation is live, only
    /// the store knows.
    Session {
        /// The session named by the token.
        session_id: SessionId,
        /// The token's generation (0 for a session's first token).
        generation: u64,
    },
    /// A legacy token, known only by the SHA-256 hash its session stored.
    Legacy(RefreshTokenHash),
}

/// The SHA-256 hash of a legacy refresh token: the form in which sessions from before format
/// v2 stored their tokens (and still do until their next rotation).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RefreshTokenHash([u8; 32]);

impl RefreshTokenHash {
    /// The hash of a legacy token's text.
    pub fn of(token: &str) -> Self {
        let digest = digest::digest(&digest::SHA256, token.as_bytes());
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        Self(bytes)
    }

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

/// The secret that makes and recognises refresh tokens (derived from the master key). Whoever
/// lacks it cannot make a token that [`RotationSecret::verify`] accepts, whatever they know of
/// the database.
pub struct RotationSecret(hmac::Key);

impl RotationSecret {
    /// Wraps 32 secret bytes (derived from the master key).
    pub fn new(secret: &[u8; 32]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    /// The refresh token of `session` at `generation`. The same inputs always give the same
    /// token: a session's successor token is `token(session, live + 1)`, and a retry within
    /// the grace window is answered with `token(session, live)`.
    pub fn token(&self, session: SessionId, generation: u64) -> RefreshToken {
        let mut bytes = Zeroizing::new([0u8; TOKEN_BYTES]);
        let (name, tag) = bytes.split_at_mut(NAME_BYTES);
        name[..16].copy_from_slice(session.as_uuid().as_bytes());
        name[16..].copy_from_slice(&generation.to_be_bytes());
        tag.copy_from_slice(self.tag(name).as_ref());
        RefreshToken(Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_ref())))
    }

    /// Recognises a presented token: a v2 token (75 base64url characters, canonical) whose tag
    /// verifies, checked in constant time; or a legacy one (43 base64url characters), by its
    /// hash. No database is involved.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] for anything else: a wrong length or alphabet, a tag that
    /// does not verify (a token altered, forged, or made under another secret). That is the
    /// same answer as for a token no session knows, and it touches nothing.
    pub fn verify(&self, presented: &str) -> Result<PresentedRefreshToken, AuthError> {
        let alphabet = presented
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !alphabet {
            return Err(AuthError::InvalidToken);
        }
        match presented.len() {
            TOKEN_CHARS => self.verify_v2(presented),
            LEGACY_TOKEN_CHARS => Ok(PresentedRefreshToken::Legacy(RefreshTokenHash::of(
                presented,
            ))),
            _ => Err(AuthError::InvalidToken),
        }
    }

    /// Decodes a 75-character token and checks its tag.
    fn verify_v2(&self, presented: &str) -> Result<PresentedRefreshToken, AuthError> {
        // Room for the decoder's estimate; a canonical 75-character token fills 56 bytes.
        let mut bytes = Zeroizing::new([0u8; TOKEN_BYTES + 8]);
        let decoded = URL_SAFE_NO_PAD
            .decode_slice(presented, bytes.as_mut())
            .map_err(|_| AuthError::InvalidToken)?;
        if decoded != TOKEN_BYTES {
            return Err(AuthError::InvalidToken);
        }
        let (name, rest) = bytes.split_at(NAME_BYTES);
        let tag = &rest[..TOKEN_BYTES - NAME_BYTES];
        // Label, session id and generation: the same bytes `tag` covers. Constant time.
        let mut message = [0u8; TAG_LABEL.len() + NAME_BYTES];
        message[..TAG_LABEL.len()].copy_from_slice(TAG_LABEL);
        message[TAG_LABEL.len()..].copy_from_slice(name);
        hmac::verify(&self.0, &message, tag).map_err(|_| AuthError::InvalidToken)?;
        let (id, generation) = name.split_at(16);
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(id);
        let mut counter = [0u8; 8];
        counter.copy_from_slice(generation);
        Ok(PresentedRefreshToken::Session {
            session_id: SessionId::from_uuid(Uuid::from_bytes(uuid)),
            generation: u64::from_be_bytes(counter),
        })
    }

    /// The tag over `name` (session id and generation).
    fn tag(&self, name: &[u8]) -> hmac::Tag {
        let mut context = hmac::Context::with_key(&self.0);
        context.update(TAG_LABEL);
        context.update(name);
        context.sign()
    }
}

impl fmt::Debug for RotationSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RotationSecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests;
