//! The part of the configuration the domain acts on; built by the server from its typed config.

use std::time::Duration;

use tokenauth_jwt::Algorithm;

use crate::throttle::LockoutPolicy;

/// Default absolute end of a session after its creation (the contract's 90 days).
pub const SESSION_MAX_LIFETIME: Duration = Duration::from_secs(90 * 24 * 3600);

/// Lifetimes, names and algorithms that govern tokens and keys, and the login lock-out policy.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// `iss` of every token, and the issuer in discovery metadata.
    pub issuer: String,
    /// `aud` of every access token.
    pub audience: String,
    /// Lifetime of an access token.
    pub access_token_ttl: Duration,
    /// Lifetime of a refresh token; every rotation starts a new one (sliding expiry).
    pub refresh_token_ttl: Duration,
    /// Absolute end of a session, counted from its creation: no rotation extends a session past
    /// it, so a stolen refresh-token chain that is never detected still ends.
    pub session_max_lifetime: Duration,
    /// How long a session may go unused before it ends; each rotation's refresh token lives
    /// this long (capped at the session's absolute end). `None`: `refresh_token_ttl`. Read it
    /// through [`AuthSettings::idle_timeout`].
    pub session_idle_timeout: Option<Duration>,
    /// How long after a rotation the immediately previous refresh token is still a benign retry.
    pub refresh_reuse_grace: Duration,
    /// Tolerated clock difference when checking `exp` and `nbf`.
    pub clock_leeway: Duration,
    /// Algorithm of newly generated signing keys.
    pub signing_alg: Algorithm,
    /// How long a signing key signs before the next one takes over.
    pub key_rotation_interval: Duration,
    /// `Cache-Control: max-age` of the JWKS document. A new key is published at least two of
    /// these (and at least a minute) before it signs, so every cache has seen it first.
    pub jwks_max_age: Duration,
    /// When consecutive failed logins lock an email out, and for how long.
    pub login_lockout: LockoutPolicy,
    /// How long audit events are kept before the background purge deletes them.
    pub audit_retention: Duration,
    /// How long a session that ended (expired or was revoked) is kept, with its refresh-token
    /// history, before the background purge deletes it. Until then a late reuse of one of its
    /// tokens is still recognised as belonging to a dead session rather than answered as
    /// unknown, and the user's export lists it.
    pub ended_session_retention: Duration,
}

impl AuthSettings {
    /// How long a refresh token lives from its issue (its session's last use), before the cap
    /// of the session's absolute end: `session_idle_timeout`, never longer than
    /// `refresh_token_ttl`.
    pub fn idle_timeout(&self) -> Duration {
        self.session_idle_timeout
            .unwrap_or(self.refresh_token_ttl)
            .min(self.refresh_token_ttl)
    }

    /// How long before use a new key must be published: two JWKS cache lifetimes, and never
    /// less than [`crate::keys::MIN_KEY_PUBLISH_LEAD`] (verifiers rate-limit refetches).
    pub fn key_publish_lead(&self) -> Duration {
        self.jwks_max_age
            .saturating_mul(2)
            .max(crate::keys::MIN_KEY_PUBLISH_LEAD)
    }

    /// How long a retired key must stay published: until the last token it signed has expired,
    /// plus the clock leeway verifiers allow.
    pub fn key_retire_hold(&self) -> Duration {
        self.access_token_ttl.saturating_add(self.clock_leeway)
    }
}

impl Default for AuthSettings {
    /// The defaults of the external contract.
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".to_owned(),
            audience: "http://127.0.0.1:8080".to_owned(),
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            session_max_lifetime: SESSION_MAX_LIFETIME,
            session_idle_timeout: None,
            refresh_reuse_grace: Duration::from_secs(10),
            clock_leeway: Duration::from_secs(10),
            signing_alg: Algorithm::ES256,
            key_rotation_interval: Duration::from_secs(7 * 24 * 3600),
            jwks_max_age: Duration::from_secs(300),
            login_lockout: LockoutPolicy::default(),
            audit_retention: crate::retention::AUDIT_RETENTION,
            ended_session_retention: crate::retention::ENDED_SESSION_RETENTION,
        }
    }
}
