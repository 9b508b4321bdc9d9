//! Access tokens: minting them for a session and checking presented ones, both against the
//! in-memory keyring (no database call).

use aws_lc_rs::rand;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokenauth_jwt::{ACCESS_TOKEN_TYP, AccessTokenClaims, Audience, VerifyError};

use crate::clock::Timestamp;
use crate::error::AuthError;
use crate::ids::{SessionId, UserId};
use crate::refresh_token::RefreshToken;
use crate::service::AuthService;
use crate::session::RevokedSession;

/// What a successful sign-up, login or refresh hands to the client.
#[derive(Debug)]
pub struct IssuedTokens {
    /// The signed access token.
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The session's live refresh token.
    pub refresh_token: RefreshToken,
    /// Seconds until the refresh token expires.
    pub refresh_token_expires_in: u64,
    /// The session (`sid`).
    pub session_id: SessionId,
}

impl AuthService {
    /// Signs an access token for `user` in `session` with the active key, expiring
    /// `access_token_ttl` after `now` or at `not_after`, whichever is sooner; returns it with
    /// its seconds to live.
    pub(crate) fn mint_access_token(
        &self,
        user: UserId,
        session: SessionId,
        roles: Vec<String>,
        now: Timestamp,
        not_after: Timestamp,
    ) -> Result<(String, u64), AuthError> {
        let ttl = self.settings.access_token_ttl;
        let iat = now.as_secs();
        let exp = iat
            .saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX))
            .min(not_after.as_secs());
        let claims = AccessTokenClaims {
            iss: self.settings.issuer.clone(),
            sub: user.to_string(),
            aud: Audience::One(self.settings.audience.clone()),
            exp,
            iat,
            nbf: iat,
            jti: new_jti()?,
            sid: session.to_string(),
            roles,
        };
        let keyring = self.keys.keyring();
        let token = keyring
            .signer()
            .sign(ACCESS_TOKEN_TYP, &claims)
            .map_err(|e| AuthError::Internal(format!("signing: {e}")))?;
        let expires_in = u64::try_from(exp.saturating_sub(iat)).unwrap_or(0);
        Ok((token, expires_in))
    }

    /// Assembles the token response for a new session whose refresh token expires at
    /// `expires_at`; the access token lives `access_token_ttl` (the expiry
    /// [`NewSession::access_expires_at`](crate::session::NewSession::access_expires_at) records).
    pub(crate) fn issue(
        &self,
        user: UserId,
        session: SessionId,
        roles: Vec<String>,
        refresh_token: RefreshToken,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<IssuedTokens, AuthError> {
        let access_expires_at = now.plus(self.settings.access_token_ttl);
        self.issue_until(
            user,
            session,
            roles,
            refresh_token,
            expires_at,
            access_expires_at,
            now,
        )
    }

    /// Assembles the token response for a session whose refresh token expires at `expires_at`
    /// (`refresh_token_expires_in` is the time to it, so never past the session's absolute end)
    /// and whose access tokens must not outlive `access_expires_at`, the expiry the store
    /// recorded for them.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn issue_until(
        &self,
        user: UserId,
        session: SessionId,
        roles: Vec<String>,
        refresh_token: RefreshToken,
        expires_at: Timestamp,
        access_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<IssuedTokens, AuthError> {
        let (access_token, expires_in) =
            self.mint_access_token(user, session, roles, now, access_expires_at)?;
        Ok(IssuedTokens {
            access_token,
            expires_in,
            refresh_token,
            refresh_token_expires_in: expires_at.since(now).as_secs(),
            session_id: session,
        })
    }

    /// Checks a presented access token: signature with the key its `kid` names (the algorithm
    /// comes from that key), `typ`, `iss`, `aud`, `exp`/`nbf` with the leeway, and that its
    /// session has not been revoked. No database call.
    ///
    /// The check is [`tokenauth_jwt::check_access_token`], the same function the verifier crate
    /// calls, with this instance's keyring, verified-token cache
    /// ([`KeyManager::verified_tokens`](crate::keys::KeyManager::verified_tokens)) and revoked
    /// set: a token that passed before is answered from the cache until its `exp` + leeway
    /// (clients present one access token many times); the revocation check runs on every call,
    /// cached or not.
    ///
    /// # Errors
    /// [`AuthError::TokenExpired`], [`AuthError::SessionRevoked`], or [`AuthError::InvalidToken`]
    /// for everything else, including a `sub` or `sid` that is not an id in the form this
    /// server mints.
    ///
    /// A token naming a kid this instance does not know makes it reload its keys once (rate
    /// limited) before giving up: with several instances, another one may have just activated a
    /// new key.
    pub async fn authenticate(&self, token: &str) -> Result<AuthenticatedCaller, AuthError> {
        let now = self.clock.now();
        let claims = match self.check_with_loaded_keys(token, now) {
            Err(VerifyError::UnknownKey) if self.keys.reload_for_unknown_kid().await => {
                self.check_with_loaded_keys(token, now)
            }
            other => other,
        }
        .map_err(|error| match error {
            VerifyError::Expired => AuthError::TokenExpired,
            VerifyError::SessionRevoked => AuthError::SessionRevoked,
            _ => AuthError::InvalidToken,
        })?;
        let user_id: UserId = claims.sub.parse().map_err(|_| AuthError::InvalidToken)?;
        let session_id: SessionId = claims.sid.parse().map_err(|_| AuthError::InvalidToken)?;
        // The revoked set is keyed by the `sid` string as minted; a token spelling its session
        // any other way would be looked up under the wrong key, so it is refused instead.
        let mut canonical = uuid::Uuid::encode_buffer();
        if claims.sid
            != *session_id
                .as_uuid()
                .hyphenated()
                .encode_lower(&mut canonical)
        {
            return Err(AuthError::InvalidToken);
        }
        Ok(AuthenticatedCaller {
            user_id,
            session_id,
            claims,
        })
    }

    /// One pass of the shared check with the keys loaded now.
    fn check_with_loaded_keys(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<AccessTokenClaims, VerifyError> {
        tokenauth_jwt::check_access_token(
            || self.keys.keyring(),
            Some(self.keys.verified_tokens()),
            Some(&self.revoked),
            &self.validation,
            token,
            now,
        )
    }

    /// Forgets revoked sessions whose access tokens have all expired.
    pub fn purge_revoked(&self) {
        self.revoked.purge(self.clock.now());
    }

    /// Remembers that `session` was revoked at `now`, at once for as long as a token minted
    /// with today's `access_token_ttl` lives, and wakes the feed follower, which extends that
    /// to the expiry stored with the session (its tokens may come from a run with a longer
    /// TTL; see [`AuthService::follow_revocation_feed`]).
    pub(crate) fn remember_revoked(&self, session: SessionId, now: Timestamp) {
        self.revoked.insert(
            &session.to_string(),
            now.plus(self.settings.key_retire_hold()),
        );
        self.nudge_revocation_follower();
    }

    /// Remembers `revoked` until its stored latest access-token expiry plus the clock leeway.
    pub(crate) fn remember_revoked_until_expiry(&self, revoked: &RevokedSession) {
        self.revoked.insert(
            &revoked.session.to_string(),
            revoked.alive_until.plus(self.settings.clock_leeway),
        );
    }
}

/// The caller behind a valid access token.
#[derive(Debug, Clone)]
pub struct AuthenticatedCaller {
    /// `sub`.
    pub user_id: UserId,
    /// `sid`.
    pub session_id: SessionId,
    /// All verified claims.
    pub claims: AccessTokenClaims,
}

/// A random token id: 128 bits, base64url.
fn new_jti() -> Result<String, AuthError> {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes).map_err(|_| AuthError::Internal("random source failed".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}
