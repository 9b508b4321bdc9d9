//! The stored form of a signing key.

use std::fmt;
use std::str::FromStr;

use tokenauth_jwt::Algorithm;

use crate::clock::Timestamp;

/// Where a key stands in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published in JWKS, not yet signing; becomes active at `activate_at`.
    Next,
    /// The one key that signs new tokens.
    Active,
    /// No longer signs; published until `publish_until` so tokens it signed keep verifying.
    Retired,
}

impl KeyState {
    /// The stored spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
        }
    }
}

impl fmt::Display for KeyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyState {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "next" => Ok(KeyState::Next),
            "active" => Ok(KeyState::Active),
            "retired" => Ok(KeyState::Retired),
            other => Err(format!("unknown key state {other:?}")),
        }
    }
}

/// A signing key as stored: the private material only ever encrypted under the master key.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// Key id, the JWS `kid`.
    pub kid: String,
    /// The one algorithm this key signs and verifies with.
    pub alg: Algorithm,
    /// Life-cycle state.
    pub state: KeyState,
    /// `nonce || ciphertext || tag` of the private material (AES-256-GCM, bound to the kid).
    pub sealed_material: Vec<u8>,
    /// The public JWK as JSON; `None` for HS256, which is never published.
    pub public_jwk: Option<String>,
    /// When the key was generated (and, unless HS256, published).
    pub created_at: Timestamp,
    /// When a `next` key is due to become active.
    pub activate_at: Timestamp,
    /// When it became active.
    pub activated_at: Option<Timestamp>,
    /// When it was retired.
    pub retired_at: Option<Timestamp>,
    /// Until when a retired key stays published.
    pub publish_until: Option<Timestamp>,
}

impl SigningKeyRecord {
    /// Whether tokens signed by this key may still be alive at `now`, so it must be published.
    pub fn is_published_at(&self, now: Timestamp) -> bool {
        match self.state {
            KeyState::Next | KeyState::Active => true,
            KeyState::Retired => self.publish_until.is_some_and(|until| now < until),
        }
    }
}

impl fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .field("sealed_material", &"<sealed>")
            .field("created_at", &self.created_at)
            .field("activate_at", &self.activate_at)
            .field("activated_at", &self.activated_at)
            .field("retired_at", &self.retired_at)
            .field("publish_until", &self.publish_until)
            .finish()
    }
}
