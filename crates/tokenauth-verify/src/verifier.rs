//! [`Verifier`]: checks access tokens against the keys in force.

use std::fmt;
use std::sync::Arc;

use tokenauth_jwt::{
    AccessTokenClaims, Clock, KeySet, RevokedSessions, TokenCache, Validation, VerifyingKey,
    check_access_token,
};
use tokio::sync::oneshot;

use crate::builder::VerifierBuilder;
use crate::error::VerifierError;
use crate::jwks::remote::RemoteKeys;
use crate::revocations::feed::{FeedState, FeedStatus};
use crate::trusted_keys::TrustedKeys;

/// Verifies tokenauth access tokens locally, without calling the auth server
/// per request.
///
/// A token is accepted only if every check of
/// [`tokenauth_jwt::check_access_token`] (the auth server's own token check)
/// passes: size cap, strict compact
/// JWS, `alg` equal to the algorithm bound to the key named by `kid` (never
/// `none`, never HMAC with a public key; `jku`/`x5u`/`jwk`/`x5c` are ignored),
/// `typ` `at+jwt`, signature, `iss`, `aud`, `exp` and `nbf` within the
/// leeway, non-empty `sub`, `sid` and `jti`, and a `sid` not in the revoked
/// set (when there is one).
///
/// Cloning is cheap (one `Arc`); all clones share the keys, the optional
/// token cache and, for a verifier built from a URL, one background refresh
/// task that ends when the last clone is dropped.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    validation: Validation,
    clock: Arc<dyn Clock>,
    keys: Arc<TrustedKeys>,
    remote: Option<Arc<RemoteKeys>>,
    /// Sessions whose tokens are refused.
    revoked: Option<Arc<RevokedSessions>>,
    /// The revocation feed subscription, if any.
    feed: Option<Arc<FeedState>>,
    /// Dropping this (with the last clone) stops the refresher.
    _stop_refresher: Option<oneshot::Sender<()>>,
    /// Dropping this (with the last clone) stops the feed subscription.
    _stop_feed: Option<oneshot::Sender<()>>,
}

/// What a [`Verifier`] is assembled from.
pub(crate) struct Parts {
    pub(crate) validation: Validation,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) keys: Arc<TrustedKeys>,
    pub(crate) remote: Option<(Arc<RemoteKeys>, oneshot::Sender<()>)>,
    pub(crate) revoked: Option<Arc<RevokedSessions>>,
    pub(crate) feed: Option<(Arc<FeedState>, oneshot::Sender<()>)>,
}

impl Verifier {
    /// Starts configuring a verifier for tokens whose `iss` is exactly
    /// `issuer` and whose `aud` contains exactly `audience`.
    pub fn builder(issuer: impl Into<String>, audience: impl Into<String>) -> VerifierBuilder {
        VerifierBuilder::new(issuer.into(), audience.into())
    }

    /// A verifier for a single service that shares an HS256 secret with the
    /// auth server: only tokens with header `kid` equal to `kid` and an HS256
    /// signature under `secret` pass. Nothing is ever fetched. Default leeway
    /// (10 s), size cap and system clock; use
    /// [`VerifierBuilder::build_with_keys`] with [`VerifyingKey::hmac`] for
    /// other settings.
    ///
    /// # Errors
    /// [`VerifierError::InvalidKey`] for an empty `kid` or a secret shorter
    /// than 32 bytes.
    pub fn hs256(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        kid: impl Into<String>,
        secret: &[u8],
    ) -> Result<Verifier, VerifierError> {
        let key = VerifyingKey::hmac(kid.into(), secret).map_err(VerifierError::InvalidKey)?;
        Verifier::builder(issuer, audience).build_with_keys(KeySet::new([key]))
    }

    pub(crate) fn from_parts(parts: Parts) -> Verifier {
        let (remote, stop_refresher) = parts
            .remote
            .map_or((None, None), |(r, s)| (Some(r), Some(s)));
        let (feed, stop_feed) = parts.feed.map_or((None, None), |(f, s)| (Some(f), Some(s)));
        Verifier {
            inner: Arc::new(Inner {
                validation: parts.validation,
                clock: parts.clock,
                keys: parts.keys,
                remote,
                revoked: parts.revoked,
                feed,
                _stop_refresher: stop_refresher,
                _stop_feed: stop_feed,
            }),
        }
    }

    /// Checks `token` with the keys in force, without any I/O, and returns
    /// its claims.
    ///
    /// The check is [`tokenauth_jwt::check_access_token`], the same function
    /// the auth server runs on the tokens presented to it: with the token
    /// cache enabled, a token that passed before and has not reached `exp` +
    /// leeway is answered from the cache; the revoked set (if any) is
    /// consulted on every call, cached or not.
    ///
    /// # Errors
    /// The first failing check, e.g. [`VerifierError::Expired`],
    /// [`VerifierError::BadSignature`] or [`VerifierError::UnknownKey`] (a
    /// `kid` not in the cached set: [`Verifier::verify`] would refetch);
    /// [`VerifierError::KeysStale`] for every token while the JWKS has not
    /// been refreshed for longer than
    /// [`max_stale`](crate::VerifierBuilder::max_stale).
    pub fn verify_local(&self, token: &str) -> Result<AccessTokenClaims, VerifierError> {
        let inner = &*self.inner;
        // Before staleness, as always: an oversized token is refused for what it is.
        if token.len() > inner.validation.max_token_len {
            return Err(VerifierError::TooLarge);
        }
        let now = inner.clock.now();
        if inner
            .remote
            .as_ref()
            .is_some_and(|remote| remote.is_stale(now.as_secs()))
        {
            return Err(VerifierError::KeysStale);
        }
        let claims = check_access_token(
            || inner.keys.load(),
            inner.keys.token_cache(),
            inner.revoked.as_deref(),
            &inner.validation,
            token,
            now,
        )?;
        Ok(claims)
    }

    /// Like [`Verifier::verify_local`], but a token whose `kid` is unknown
    /// triggers a JWKS refetch (at most one per `min_refetch_interval`, shared
    /// by all concurrent callers) and one more check with the new keys.
    ///
    /// # Errors
    /// As [`Verifier::verify_local`]; [`VerifierError::UnknownKey`] if the
    /// `kid` is still unknown after the refetch, or a refetch was not allowed.
    pub async fn verify(&self, token: &str) -> Result<AccessTokenClaims, VerifierError> {
        match self.verify_local(token) {
            Err(VerifierError::UnknownKey) => match &self.inner.remote {
                Some(remote) => {
                    remote.refetch_for_unknown_kid().await;
                    self.verify_local(token)
                }
                None => Err(VerifierError::UnknownKey),
            },
            result => result,
        }
    }

    /// Fetches the JWKS now, whatever the schedule and rate limit, after any
    /// fetch in flight. Does nothing for a verifier with static keys.
    ///
    /// # Errors
    /// [`VerifierError::Unavailable`] if the fetch failed; the keys in force
    /// are then unchanged.
    pub async fn refresh(&self) -> Result<(), VerifierError> {
        match &self.inner.remote {
            Some(remote) => remote.refresh().await.map_err(VerifierError::Unavailable),
            None => Ok(()),
        }
    }

    /// The issuer tokens must name in `iss`.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.inner.validation.issuer
    }

    /// The audience tokens must list in `aud`.
    #[must_use]
    pub fn audience(&self) -> &str {
        &self.inner.validation.audience
    }

    /// The keys in force right now (a snapshot; later refreshes replace it).
    #[must_use]
    pub fn key_set(&self) -> Arc<KeySet> {
        self.inner.keys.snapshot()
    }

    /// Whether the keys are stale now: not refreshed for longer than
    /// [`max_stale`](crate::VerifierBuilder::max_stale), so every token is
    /// refused with [`VerifierError::KeysStale`]. Always `false` for static
    /// keys. For health checks.
    #[must_use]
    pub fn keys_stale(&self) -> bool {
        let now = self.inner.clock.now().as_secs();
        self.inner
            .remote
            .as_ref()
            .is_some_and(|remote| remote.is_stale(now))
    }

    /// The JWKS URL keys are fetched from; `None` for static keys.
    #[must_use]
    pub fn jwks_url(&self) -> Option<&str> {
        self.inner.remote.as_deref().map(RemoteKeys::url)
    }

    /// The set of revoked sessions this verifier checks `sid` against;
    /// `None` without a revocation feed or a set of its own.
    #[must_use]
    pub fn revoked_sessions(&self) -> Option<&Arc<RevokedSessions>> {
        self.inner.revoked.as_ref()
    }

    /// What the revocation feed subscription has done: connected or not,
    /// sessions held, revocations applied, the lag of the last one. `None`
    /// without a feed.
    #[must_use]
    pub fn revocation_status(&self) -> Option<FeedStatus> {
        let feed = self.inner.feed.as_ref()?;
        let set = self.inner.revoked.as_ref()?;
        Some(feed.status(set))
    }

    /// Number of tokens in the verified-token cache (0 when disabled).
    /// Expired entries count until they are evicted.
    #[must_use]
    pub fn cached_tokens(&self) -> usize {
        self.inner.keys.token_cache().map_or(0, TokenCache::len)
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self.key_set();
        f.debug_struct("Verifier")
            .field("issuer", &self.issuer())
            .field("audience", &self.audience())
            .field("jwks_url", &self.jwks_url())
            .field("kids", &keys.kids().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}
