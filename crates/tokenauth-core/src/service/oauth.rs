//! Token revocation (RFC 7009) and introspection (RFC 7662) for registered API clients. A
//! refresh token is recognised by its tag (a v2 token, then looked up by its session) or its
//! shape (a legacy token, looked up by hash); anything else is tried as an access token. A
//! client acts only on tokens issued to it unless it holds the permission (`revoke_any`,
//! `introspect`); first-party sessions are issued to no client.

use tokenauth_jwt::{AccessTokenClaims, VerifyError};

use crate::client::{ApiClient, ClientPermission};
use crate::clock::Timestamp;
use crate::error::AuthError;
use crate::ids::{SessionId, UserId};
use crate::service::revocation::Revocation;
use crate::service::{AuthService, ClientInfo};
use crate::session::RevokeReason;

/// Leeway used to verify an access token presented for revocation: revocation must work on a
/// token whatever its `exp`, as long as its signature is ours (ten years covers any lifetime).
const REVOCATION_LEEWAY_SECS: i64 = 10 * 365 * 24 * 3600;

/// What introspection found out about a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Introspection {
    /// Expired, revoked, unknown or malformed: RFC 7662 says nothing more than `active: false`.
    Inactive,
    /// A valid access token, with its verified claims.
    AccessToken(AccessTokenClaims),
    /// A live refresh token.
    RefreshToken {
        /// The session's user (`sub`).
        user_id: UserId,
        /// The session (`sid`).
        session_id: SessionId,
        /// When the refresh token expires.
        expires_at: Timestamp,
        /// The user's roles now.
        roles: Vec<String>,
    },
}

impl AuthService {
    /// Revokes the session of `token` (a refresh token, or an access token with a valid
    /// signature, expired or not) with reason [`RevokeReason::RevokedByClient`], and remembers
    /// the revocation so that the session's access tokens are refused at once. Unknown,
    /// malformed or foreign tokens are silently ignored, as RFC 7009 asks; so is every token
    /// `caller` may not revoke (not issued to it, and no `revoke_any`: RFC 7009 §2.1), before
    /// anything is looked up. A revocation records `session_revoked` (reason
    /// `revoked_by_client`) with `client`, the API client's request.
    ///
    /// # Errors
    /// Store failures only.
    pub async fn revoke_token(
        &self,
        token: &str,
        caller: &ApiClient,
        client: ClientInfo,
    ) -> Result<(), AuthError> {
        // Sessions are issued to no client (first-party sign-up and login).
        if !caller.may_act_on(ClientPermission::RevokeAny, None) {
            tracing::info!(
                client_id = %caller.client_id,
                "revocation ignored: the token was not issued to this client"
            );
            return Ok(());
        }
        let owner = if let Ok(refresh) = self.rotation_secret.verify(token) {
            self.store
                .find_refresh_token(&refresh)
                .await?
                .map(|status| (status.user_id, status.session_id))
        } else {
            self.verify_ignoring_expiry(token).await
        };
        let Some((user, session)) = owner else {
            return Ok(());
        };
        let now = self.clock.now();
        let revoked = self
            .store
            .revoke_session(user, session, RevokeReason::RevokedByClient, now)
            .await?;
        let sessions: &[SessionId] = if revoked { &[session] } else { &[] };
        self.after_revocation(Revocation {
            user,
            sessions,
            reason: RevokeReason::RevokedByClient,
            client: Some(&client),
            at: now,
        })
        .await;
        Ok(())
    }

    /// Whether `token` is active, and what it says: an access token must pass every check of
    /// [`AuthService::authenticate`]; a refresh token must be its session's live one, in a
    /// session neither revoked nor expired. Nothing is rotated or consumed. A token `caller`
    /// may not introspect (not issued to it, and no `introspect` permission) is
    /// [`Introspection::Inactive`] without being looked up.
    ///
    /// # Errors
    /// Store failures only; every token problem is [`Introspection::Inactive`].
    pub async fn introspect_token(
        &self,
        token: &str,
        caller: &ApiClient,
    ) -> Result<Introspection, AuthError> {
        if !caller.may_act_on(ClientPermission::Introspect, None) {
            return Ok(Introspection::Inactive);
        }
        if let Ok(refresh) = self.rotation_secret.verify(token) {
            let now = self.clock.now();
            return Ok(match self.store.find_refresh_token(&refresh).await? {
                Some(status) if status.is_active(now) => Introspection::RefreshToken {
                    user_id: status.user_id,
                    session_id: status.session_id,
                    expires_at: status.expires_at,
                    roles: status.roles,
                },
                _ => Introspection::Inactive,
            });
        }
        match self.authenticate(token).await {
            Ok(caller) => Ok(Introspection::AccessToken(caller.claims)),
            Err(AuthError::InvalidToken | AuthError::TokenExpired | AuthError::SessionRevoked) => {
                Ok(Introspection::Inactive)
            }
            Err(other) => Err(other),
        }
    }

    /// The user and session of an access token whose signature, `typ`, `iss` and `aud` are
    /// valid, whatever its `exp`; `None` for anything else.
    async fn verify_ignoring_expiry(&self, token: &str) -> Option<(UserId, SessionId)> {
        let mut validation = self.validation.clone();
        validation.leeway_secs = REVOCATION_LEEWAY_SECS;
        let now = self.clock.now().as_secs();
        let verify = || {
            tokenauth_jwt::verify_access_token(
                self.keys.keyring().verifiers(),
                token,
                &validation,
                now,
            )
        };
        let claims = match verify() {
            Err(VerifyError::UnknownKey) if self.keys.reload_for_unknown_kid().await => verify(),
            other => other,
        }
        .ok()?;
        Some((claims.sub.parse().ok()?, claims.sid.parse().ok()?))
    }
}
