//! The key policy: the serving instances' rules for new signing keys (their algorithm, how long
//! before signing they are published, how long a retired key stays published), stored with the
//! keys so that anything else that changes keys — the CLI — follows the server's rules rather
//! than its own settings.

use std::fmt;
use std::time::Duration;

use tokenauth_jwt::Algorithm;

use crate::settings::AuthSettings;

/// The least time a new key is published before it signs, whatever `jwks_max_age` says: jose
/// and PyJWT refetch a JWKS for an unknown kid at most every 30 s, so a key published for less
/// than twice that could reach a verifier's tokens before its keys.
pub const MIN_KEY_PUBLISH_LEAD: Duration = Duration::from_secs(60);

/// What a serving instance requires of keys, as it stored it when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPolicy {
    /// The algorithm of every key it generates and the only one it makes active.
    pub signing_alg: Algorithm,
    /// How long a new key is published before it signs ([`AuthSettings::key_publish_lead`]).
    pub publish_lead: Duration,
    /// How long a retired key stays published ([`AuthSettings::key_retire_hold`]).
    pub retire_hold: Duration,
    /// The JWKS `max-age` it serves (what verifiers' caches hold).
    pub jwks_max_age: Duration,
}

impl KeyPolicy {
    /// The policy `settings` describe.
    pub fn of(settings: &AuthSettings) -> Self {
        Self {
            signing_alg: settings.signing_alg,
            publish_lead: settings.key_publish_lead(),
            retire_hold: settings.key_retire_hold(),
            jwks_max_age: settings.jwks_max_age,
        }
    }

    /// `settings` with this policy's algorithm, JWKS lifetime and retire hold in force, so that
    /// key operations made with them follow the policy. The retire hold is carried by the
    /// access-token lifetime (with no leeway added), the one input of it that keys use.
    pub fn applied_to(&self, settings: &AuthSettings) -> AuthSettings {
        AuthSettings {
            signing_alg: self.signing_alg,
            jwks_max_age: self.jwks_max_age,
            access_token_ttl: self.retire_hold,
            clock_leeway: Duration::ZERO,
            ..settings.clone()
        }
    }

    /// Where `other` differs from this policy, one line per difference, naming both values.
    pub fn differences(&self, other: &KeyPolicy) -> Vec<PolicyDifference> {
        let mut found = Vec::new();
        if self.signing_alg != other.signing_alg {
            found.push(PolicyDifference {
                setting: "signing_alg",
                stored: self.signing_alg.to_string(),
                given: other.signing_alg.to_string(),
            });
        }
        if self.jwks_max_age != other.jwks_max_age {
            found.push(PolicyDifference {
                setting: "jwks_max_age",
                stored: format!("{}s", self.jwks_max_age.as_secs_f64()),
                given: format!("{}s", other.jwks_max_age.as_secs_f64()),
            });
        }
        if self.retire_hold != other.retire_hold {
            found.push(PolicyDifference {
                setting: "access_token_ttl + clock_leeway",
                stored: format!("{}s", self.retire_hold.as_secs_f64()),
                given: format!("{}s", other.retire_hold.as_secs_f64()),
            });
        }
        found
    }
}

/// One setting in which two key policies differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDifference {
    /// The setting (or settings) it comes from.
    pub setting: &'static str,
    /// Its value in the stored policy.
    pub stored: String,
    /// Its value in the other one.
    pub given: String,
}

impl fmt::Display for PolicyDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is {} on the server but {} here",
            self.setting, self.stored, self.given
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applying_a_policy_reproduces_it() {
        let server = AuthSettings {
            signing_alg: Algorithm::HS256,
            jwks_max_age: Duration::from_secs(3600),
            access_token_ttl: Duration::from_secs(1800),
            ..AuthSettings::default()
        };
        let policy = KeyPolicy::of(&server);
        assert_eq!(policy.publish_lead, Duration::from_secs(7200));
        let cli = AuthSettings::default();
        assert_eq!(KeyPolicy::of(&policy.applied_to(&cli)), policy);
        let differences = policy.differences(&KeyPolicy::of(&cli));
        let names: Vec<_> = differences.iter().map(|d| d.setting).collect();
        assert_eq!(
            names,
            [
                "signing_alg",
                "jwks_max_age",
                "access_token_ttl + clock_leeway"
            ]
        );
        assert_eq!(
            differences[0].to_string(),
            "signing_alg is HS256 on the server but ES256 here"
        );
    }

    #[test]
    fn the_publish_lead_is_at_least_a_minute() {
        let settings = AuthSettings {
            jwks_max_age: Duration::from_secs(1),
            ..AuthSettings::default()
        };
        assert_eq!(settings.key_publish_lead(), MIN_KEY_PUBLISH_LEAD);
    }
}
