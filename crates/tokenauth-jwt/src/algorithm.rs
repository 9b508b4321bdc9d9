//! The closed set of JOSE signature algorithms this crate supports.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ParseAlgorithmError;

/// A JWS signature algorithm (RFC 7518 / RFC 8037 name).
///
/// The set is closed on purpose: `none` and every algorithm not listed here
/// can never be named, so they can never be accepted. Serializes, displays and
/// parses as the exact, case-sensitive JOSE name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// ECDSA on P-256 with SHA-256, fixed 64-byte `r || s` signatures.
    ES256,
    /// Ed25519 (RFC 8037).
    EdDSA,
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048..=8192-bit moduli.
    RS256,
    /// HMAC with SHA-256 and a shared secret of at least 32 bytes.
    HS256,
}

impl Algorithm {
    /// Every supported algorithm, in a stable order.
    pub const ALL: [Algorithm; 4] = [
        Algorithm::ES256,
        Algorithm::EdDSA,
        Algorithm::RS256,
        Algorithm::HS256,
    ];

    /// `true` only for HS256, whose verification key is a shared secret
    /// that must never be published.
    #[must_use]
    pub fn is_symmetric(self) -> bool {
        matches!(self, Algorithm::HS256)
    }

    /// The exact JOSE name, e.g. `"ES256"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::ES256 => "ES256",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::RS256 => "RS256",
            Algorithm::HS256 => "HS256",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = ParseAlgorithmError;

    /// Parses the exact, case-sensitive JOSE name; anything else (including
    /// `none` in any spelling) is an error.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|alg| alg.as_str() == s)
            .ok_or(ParseAlgorithmError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_exact_and_closed() {
        for alg in Algorithm::ALL {
            assert_eq!(alg.to_string().parse(), Ok(alg));
            let json = serde_json::to_string(&alg).unwrap();
            assert_eq!(json, format!("\"{alg}\""));
            assert_eq!(serde_json::from_str::<Algorithm>(&json).unwrap(), alg);
            assert_eq!(alg.is_symmetric(), alg == Algorithm::HS256);
        }
        for bad in "es256|EDDSA|rs256|none|None|HS384|| ES256|ES256 ".split('|') {
            assert_eq!(bad.parse::<Algorithm>(), Err(ParseAlgorithmError), "{bad}");
        }
        assert!(serde_json::from_str::<Algorithm>("\"none\"").is_err());
    }
}
