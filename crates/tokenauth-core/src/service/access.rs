//! Access tokens: minting them for a session and checking presented ones, both against the
//! in-memory keyring (no database call).

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::rand;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokenauth_jwt::{AccessTokenClaims, Audience, VerifyError};

use crate::clock::Timestamp;
use crate::error::AuthError;
use crate::ids::{SessionId, UserId};
use crate::refresh_token::RefreshToken;
use crate::service::AuthService;

/// The JWS `typ` of access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";

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
    /// Signs an access token for `user` in `session` with the active key.
    pub(crate) fn mint_access_token(
        &self,
        user: UserId,
        session: SessionId,
        roles: Vec<String>,
        now: Timestamp,
    ) -> Result<(String, u64), AuthError> {
        let ttl = self.settings.access_token_ttl;
        let iat = now.as_secs();
        let claims = AccessTokenClaims {
            iss: self.settings.issuer.clone(),
            sub: user.to_string(),
            aud: Audience::One(self.settings.audience.clone()),
            exp: iat.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)),
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
        Ok((token, ttl.as_secs()))
    }

    /// Assembles the token response for a session whose refresh token expires at `expires_at`.
    pub(crate) fn issue(
        &self,
        user: UserId,
        session: SessionId,
        roles: Vec<String>,
        refresh_token: RefreshToken,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<IssuedTokens, AuthError> {
        let (access_token, expires_in) = self.mint_access_token(user, session, roles, now)?;
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
    /// A token that passed the full check before is answered from the verified-token cache
    /// ([`KeyManager::verified_tokens`](crate::keys::KeyManager::verified_tokens)) until its
    /// `exp` + leeway, without a signature check: clients present one access token many times.
    /// The revocation check runs on every call, cached or not.
    ///
    /// # Errors
    /// [`AuthError::TokenExpired`], [`AuthError::SessionRevoked`], or [`AuthError::InvalidToken`]
    /// for everything else.
    ///
    /// A token naming a kid this instance does not know makes it reload its keys once (rate
    /// limited) before giving up: with several instances, another one may have just activated a
    /// new key.
    pub async fn authenticate(&self, token: &str) -> Result<AuthenticatedCaller, AuthError> {
        let now = self.clock.now();
        let cache = self.keys.verified_tokens();
        let cacheable = token.len() <= self.validation.max_token_len;
        let claims = match cacheable.then(|| cache.get(token, now.as_secs())).flatten() {
            Some(claims) => AccessTokenClaims::clone(&claims),
            None => {
                // Read before the keys are: a key withdrawn meanwhile voids the insert below.
                let epoch = cache.epoch();
                let claims = match self.verify_with_loaded_keys(token, now) {
                    Err(VerifyError::UnknownKey) if self.keys.reload_for_unknown_kid().await => {
                        self.verify_with_loaded_keys(token, now)
                    }
                    other => other,
                }
                .map_err(|error| match error {
                    VerifyError::Expired => AuthError::TokenExpired,
                    _ => AuthError::InvalidToken,
                })?;
                let expires_at = claims.exp.saturating_add(self.validation.leeway_secs);
                cache.insert(token, Arc::new(claims.clone()), expires_at, epoch);
                claims
            }
        };
        let user_id: UserId = claims.sub.parse().map_err(|_| AuthError::InvalidToken)?;
        let session_id: SessionId = claims.sid.parse().map_err(|_| AuthError::InvalidToken)?;
        if self.revoked.contains(session_id, now) {
            return Err(AuthError::SessionRevoked);
        }
        Ok(AuthenticatedCaller {
            user_id,
            session_id,
            claims,
        })
    }

    fn verify_with_loaded_keys(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<AccessTokenClaims, VerifyError> {
        let keyring = self.keys.keyring();
        tokenauth_jwt::verify_access_token(
            keyring.verifiers(),
            token,
            &self.validation,
            now.as_secs(),
        )
    }

    /// Forgets revoked sessions whose access tokens have all expired.
    pub fn purge_revoked(&self) {
        self.revoked.purge(self.clock.now());
    }

    /// Remembers that `session` was revoked at `now`, until its last access token expires.
    pub(crate) fn remember_revoked(&self, session: SessionId, now: Timestamp) {
        self.revoked
            .insert(session, now.plus(self.revocation_hold()));
        self.nudge_revocation_follower();
    }

    pub(crate) fn revocation_hold(&self) -> Duration {
        self.settings.key_retire_hold()
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
