//! The domain services: what the HTTP handlers (and the CLI) call. Each takes validated domain
//! values, talks to the store through its traits and returns domain results or [`AuthError`].

mod access;
mod account_state;
mod accounts;
mod clients;
pub mod credential_check;
mod credentials;
mod erasure;
mod feed;
mod oauth;
mod password_change;
mod revocation;
mod sessions;
mod user_admin;

use std::sync::Arc;

use crate::audit::Auditor;
use crate::clock::Clock;
use crate::keys::KeyManager;
use crate::master_key::MasterKey;
use crate::password::PasswordHasher;
use crate::refresh_token::RotationSecret;
use crate::settings::AuthSettings;
use crate::store::Store;
use tokenauth_jwt::Validation;

pub use crate::client_info::ClientInfo;
pub use crate::retention::ENDED_SESSION_RETENTION;
pub use crate::session::RevokedSession;
pub use access::{AuthenticatedCaller, IssuedTokens};
pub use account_state::AccountChange;
pub use accounts::Accounts;
pub use clients::Clients;
pub use erasure::{EXPORT_AUDIT_LIMIT, Eraser, UserExport};
pub use feed::{
    FEED_PAGE_LIMIT, FEED_RETENTION, FeedCursor, FeedPage, InvalidCursor, WithdrawnKey,
};
pub use oauth::Introspection;
/// The JOSE `typ` of access tokens (RFC 9068); the one definition is in `tokenauth-jwt`.
pub use tokenauth_jwt::ACCESS_TOKEN_TYP;
/// The revoked set the verifier crate uses too; see [`tokenauth_jwt::RevokedSessions`].
pub use tokenauth_jwt::RevokedSessions;
pub use user_admin::SessionRevocation;

/// Sign-up, login, refresh, session management and access-token checks, over one store.
pub struct AuthService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    settings: AuthSettings,
    hasher: PasswordHasher,
    keys: Arc<KeyManager>,
    rotation_secret: RotationSecret,
    revoked: RevokedSessions,
    /// This instance's place in the revocation feed.
    feed: feed::FeedFollower,
    /// What an access token must satisfy; built once.
    validation: Validation,
    /// Where audit events go.
    audit: Auditor,
}

impl AuthService {
    /// Assembles the service. Loads the revoked sessions whose access tokens may still be alive
    /// by the expiry stored when they were minted, so a restart does not forget a logout, even
    /// one whose tokens were minted with a longer `access_token_ttl` than today's. Audit events go to `audit`
    /// (normally the same store, shared with the key manager).
    ///
    /// # Errors
    /// [`crate::AuthError::Internal`] if the store cannot be read.
    pub async fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        settings: AuthSettings,
        hasher: PasswordHasher,
        keys: Arc<KeyManager>,
        master: &MasterKey,
        audit: Auditor,
    ) -> Result<Self, crate::AuthError> {
        let revoked = RevokedSessions::default();
        // Each kept until the expiry stored with its tokens, not one computed from today's
        // `access_token_ttl` (which may have been lowered since they were minted).
        let alive_at = clock.now().minus(settings.clock_leeway);
        for session in store.revoked_sessions_alive_at(alive_at).await? {
            revoked.insert(
                &session.session.to_string(),
                session.alive_until.plus(settings.clock_leeway),
            );
        }
        let feed = feed::FeedFollower::new(store.revocation_signal());
        let mut validation = Validation::new(settings.issuer.clone(), settings.audience.clone());
        validation.leeway_secs = i64::try_from(settings.clock_leeway.as_secs()).unwrap_or(i64::MAX);
        Ok(Self {
            validation,
            store,
            clock,
            settings,
            hasher,
            keys,
            rotation_secret: master.rotation_secret(),
            revoked,
            feed,
            audit,
        })
    }

    /// The settings the service runs with.
    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// The signing keys.
    pub fn keys(&self) -> &Arc<KeyManager> {
        &self.keys
    }

    /// The password hasher (for queue metrics).
    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// The clock the service reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Where audit events go; its [`Auditor::failures`] counts the events that could not be
    /// written.
    pub fn auditor(&self) -> &Auditor {
        &self.audit
    }
}
