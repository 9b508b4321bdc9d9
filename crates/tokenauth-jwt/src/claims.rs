//! Access-token claim types (RFC 9068 plus ours).

use serde::{Deserialize, Serialize};

/// The registered access-token claims (RFC 9068 + `sid` and `roles`).
///
/// Times are NumericDate seconds since the Unix epoch (integers only).
/// Unknown claims are ignored on input; a repeated known claim is an error.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AccessTokenClaims {
    /// Issuer.
    pub iss: String,
    /// Subject (the user).
    pub sub: String,
    /// Audience(s).
    pub aud: Audience,
    /// Expiry (exclusive).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before (inclusive).
    pub nbf: i64,
    /// Unique token id.
    pub jti: String,
    /// Session id.
    pub sid: String,
    /// Roles granted; absent means none.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// The `aud` claim: a single string or an array of strings.
///
/// `One` serializes as a plain string, `Many` as an array.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience, serialized as a plain string.
    One(String),
    /// Several audiences, serialized as an array.
    Many(Vec<String>),
}

impl Audience {
    /// `true` if `aud` is exactly (case-sensitively) one of the audiences.
    #[must_use]
    pub fn contains(&self, aud: &str) -> bool {
        match self {
            Audience::One(one) => one == aud,
            Audience::Many(many) => many.iter().any(|a| a == aud),
        }
    }
}

impl From<String> for Audience {
    fn from(aud: String) -> Self {
        Audience::One(aud)
    }
}

impl From<&str> for Audience {
    fn from(aud: &str) -> Self {
        Audience::One(aud.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audience_shapes() {
        let one: Audience = serde_json::from_str(r#""api""#).unwrap();
        assert_eq!(one, Audience::One("api".into()));
        assert_eq!(serde_json::to_string(&one).unwrap(), r#""api""#);
        let many: Audience = serde_json::from_str(r#"["a","b"]"#).unwrap();
        assert_eq!(many, Audience::Many(vec!["a".into(), "b".into()]));
        assert_eq!(serde_json::to_string(&many).unwrap(), r#"["a","b"]"#);
        assert!(many.contains("b") && !many.contains("B") && !many.contains("c"));
        assert!(one.contains("api") && !one.contains("ap"));
        for bad in ["5", r#"["a",5]"#, "null", "{}"] {
            assert!(serde_json::from_str::<Audience>(bad).is_err(), "{bad}");
        }
    }
}
