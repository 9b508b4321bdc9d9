//! Users: their normalised email, their password rules, and the stored record.

use std::fmt;

use zeroize::Zeroizing;

use crate::clock::Timestamp;
use crate::error::AuthError;
use crate::ids::UserId;

/// Longest accepted email address, in bytes (RFC 5321's path limit).
pub const MAX_EMAIL_LEN: usize = 254;
/// Shortest accepted password, in bytes (NIST SP 800-63B).
pub const MIN_PASSWORD_LEN: usize = 8;
/// Longest accepted password, in bytes; bounds the hashing work one request can ask for.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// An email address, trimmed and case-folded, known to be syntactically valid. Two spellings of
/// one address compare equal, so the uniqueness constraint holds on this form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Normalises and validates `raw`.
    ///
    /// # Errors
    /// [`AuthError::InvalidInput`] when the address is empty, too long or not an address.
    pub fn parse(raw: &str) -> Result<Self, AuthError> {
        let normalised = raw.trim().to_lowercase();
        let invalid = |reason: &str| AuthError::InvalidInput {
            field: "email",
            reason: reason.to_owned(),
        };
        if normalised.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if normalised.len() > MAX_EMAIL_LEN {
            return Err(invalid("must be at most 254 bytes"));
        }
        let parsed = email_address::EmailAddress::parse_with_options(
            &normalised,
            email_address::Options::default()
                .without_display_text()
                .without_domain_literal(),
        )
        .map_err(|_| invalid("is not a valid email address"))?;
        if !parsed.domain().contains('.') {
            return Err(invalid("is not a valid email address"));
        }
        Ok(Self(normalised))
    }

    /// Wraps a value read back from storage, which was normalised when it was written.
    pub fn from_stored(stored: String) -> Self {
        Self(stored)
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A plaintext password within the length rules, normalised to Unicode NFKC (so the same text
/// typed on different systems is the same password); wiped from memory when dropped and never
/// printed by `Debug`.
pub struct Password(Zeroizing<String>);

impl Password {
    /// A password a user chooses (at sign-up or password change), held to the policy: 8 to 1024
    /// bytes after NFKC (any Unicode is allowed), and not one of the 10,000 most common
    /// passwords in any letter case ([`crate::common_passwords`]).
    ///
    /// # Errors
    /// [`AuthError::InvalidInput`] on field `password`, naming the rule that failed.
    pub fn new(raw: String) -> Result<Self, AuthError> {
        let raw = normalise(raw);
        let invalid = |reason: &str| AuthError::InvalidInput {
            field: "password",
            reason: reason.to_owned(),
        };
        if raw.len() < MIN_PASSWORD_LEN {
            return Err(invalid("must be at least 8 bytes"));
        }
        if raw.len() > MAX_PASSWORD_LEN {
            return Err(invalid("must be at most 1024 bytes"));
        }
        if crate::common_passwords::is_common(&raw) {
            return Err(invalid("is one of the most common passwords"));
        }
        Ok(Self(raw))
    }

    /// Accepts any presented password for a login check, where the rules of sign-up must not
    /// reveal anything (nor lock out accounts made before a rule existed); only the upper bound
    /// is kept, to bound hashing work.
    ///
    /// # Errors
    /// [`AuthError::InvalidCredentials`] for an overlong password.
    pub fn presented(raw: String) -> Result<Self, AuthError> {
        // Checked before normalising too: NFKC can grow a string, and the bound is on work.
        if raw.len() > MAX_PASSWORD_LEN * 4 {
            drop(Zeroizing::new(raw));
            return Err(AuthError::InvalidCredentials);
        }
        let raw = normalise(raw);
        if raw.len() > MAX_PASSWORD_LEN {
            return Err(AuthError::InvalidCredentials);
        }
        Ok(Self(raw))
    }

    /// A second copy (also wiped on drop), for when one is consumed by a check.
    pub(crate) fn duplicate(&self) -> Password {
        Password(self.0.clone())
    }

    /// The password's bytes, for the hasher.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// NFKC form of `raw`; both the input and the result are wiped when dropped.
fn normalise(raw: String) -> Zeroizing<String> {
    use unicode_normalization::UnicodeNormalization as _;
    let raw = Zeroizing::new(raw);
    if unicode_normalization::is_nfkc_quick(raw.chars()) == unicode_normalization::IsNormalized::Yes
    {
        return raw;
    }
    Zeroizing::new(raw.nfkc().collect())
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A user as stored.
#[derive(Debug, Clone)]
pub struct User {
    /// Identifier; the `sub` claim.
    pub id: UserId,
    /// Normalised, unique email.
    pub email: Email,
    /// Argon2id hash in PHC string form.
    pub password_hash: String,
    /// Roles, carried in the `roles` claim.
    pub roles: Vec<String>,
    /// When the account was created.
    pub created_at: Timestamp,
    /// When the account was disabled, if it is.
    pub disabled_at: Option<Timestamp>,
}

/// Longest role name, in bytes.
pub const MAX_ROLE_LEN: usize = 64;

/// A role name as given by an operator, trimmed: 1 to [`MAX_ROLE_LEN`] characters of
/// `A-Z a-z 0-9 - _ . :` (what fits a `roles` claim and a shell without quoting).
///
/// # Errors
/// [`AuthError::InvalidInput`] on field `role`.
pub fn parse_role(raw: &str) -> Result<String, AuthError> {
    let role = raw.trim();
    let valid = !role.is_empty()
        && role.len() <= MAX_ROLE_LEN
        && role
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
    if valid {
        Ok(role.to_owned())
    } else {
        Err(AuthError::InvalidInput {
            field: "role",
            reason: "must be 1-64 characters of A-Z a-z 0-9 - _ . :".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_case_folded() {
        let email = Email::parse("  Alice@Example.COM ").expect("valid");
        assert_eq!(email.as_str(), "alice@example.com");
    }

    #[test]
    fn bad_emails_are_rejected() {
        for bad in [
            "",
            "   ",
            "no-at-sign",
            "@example.com",
            "a@",
            "a@localhost",
            "Alice <a@example.com>",
            "a@[127.0.0.1]",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn password_length_rules_count_bytes() {
        assert!(Password::new("short".into()).is_err());
        assert!(Password::new("exactly8".into()).is_ok());
        assert!(
            Password::new("ü".repeat(4)).is_ok(),
            "4 two-byte chars = 8 bytes"
        );
        assert!(Password::new("x".repeat(1024)).is_ok());
        assert!(Password::new("x".repeat(1025)).is_err());
        assert!(Password::presented("x".into()).is_ok());
    }

    #[test]
    fn common_passwords_are_refused_in_any_case_but_presentable() {
        for common in [
            "password123",
            "Password123",
            "QWERTYUIOP",
            "ｐａｓｓｗｏｒｄ１２３",
        ] {
            match Password::new(common.into()) {
                Err(AuthError::InvalidInput { field, reason }) => {
                    assert_eq!(field, "password");
                    assert_eq!(reason, "is one of the most common passwords");
                }
                other => panic!("{common:?} accepted: {other:?}"),
            }
            assert!(
                Password::presented(common.into()).is_ok(),
                "logins still work"
            );
        }
        assert!(Password::new("password123!".into()).is_ok());
    }

    #[test]
    fn passwords_are_compared_in_nfkc() {
        let composed = Password::new("caf\u{e9} au lait".into()).expect("valid");
        let decomposed = Password::new("cafe\u{301} au lait".into()).expect("valid");
        assert_eq!(composed.as_bytes(), decomposed.as_bytes());
        let ligature = Password::presented("\u{fb01}ne print".into()).expect("valid");
        assert_eq!(ligature.as_bytes(), b"fine print");
    }

    #[test]
    fn password_debug_is_redacted() {
        let password = Password::new("correct horse".into()).expect("valid");
        assert!(!format!("{password:?}").contains("horse"));
    }
}
