//! [`VerifierBuilder`]: settings of a [`Verifier`], and where its keys come from.

use std::sync::Arc;
use std::time::Duration;

use tokenauth_jwt::{
    Clock, DEFAULT_MAX_TOKEN_LEN, KeySet, RevokedSessions, SystemClock, TokenCache, Validation,
};

use crate::error::VerifierError;
use crate::jwks::fetch::{Fetcher, discover, http_client, issuer_url, parse_url};
use crate::jwks::refresher;
use crate::jwks::remote::{RefreshPolicy, RemoteKeys};
use crate::revocations::feed::{self, FeedSource, FeedState};
use crate::trusted_keys::TrustedKeys;
use crate::verifier::{Parts, Verifier};

/// How long the auth server may hold an empty revocation-feed answer.
const DEFAULT_FEED_WAIT: Duration = Duration::from_secs(25);

/// The revocation feed subscription asked for.
#[derive(Clone)]
struct FeedSettings {
    url: Option<String>,
    client_id: String,
    client_secret: zeroize::Zeroizing<String>,
    wait: Duration,
}

/// How long keys not refreshed are still trusted, by default.
const DEFAULT_MAX_STALE: Duration = Duration::from_secs(24 * 3600);

/// Largest accepted clock leeway (the auth server's own limit).
const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// Where the JWKS is fetched from.
#[derive(Clone, Debug)]
enum JwksSource {
    /// `{issuer}/.well-known/jwks.json`.
    IssuerDefault,
    /// An explicit URL.
    Url(String),
    /// `jwks_uri` of `{issuer}/.well-known/openid-configuration`.
    Discover,
}

/// Settings of a [`Verifier`]; every one has a default.
///
/// Defaults: JWKS at `{issuer}/.well-known/jwks.json`, leeway 10 s,
/// unknown-`kid` refetch at most every 30 s, JWKS lifetime 5 min when the
/// server sends no `Cache-Control: max-age`, keys trusted for 24 h after
/// the last successful refresh (`max_stale`), HTTP timeout 5 s, no token
/// cache, tokens up to 8192 bytes, the system clock.
#[must_use = "a builder does nothing until built"]
#[derive(Clone)]
pub struct VerifierBuilder {
    issuer: String,
    audience: String,
    source: JwksSource,
    leeway: Duration,
    min_refetch_interval: Duration,
    default_max_age: Duration,
    max_stale: Duration,
    http_timeout: Duration,
    token_cache: Option<usize>,
    max_token_len: usize,
    clock: Arc<dyn Clock>,
    feed: Option<FeedSettings>,
    revoked: Option<Arc<RevokedSessions>>,
}

impl VerifierBuilder {
    pub(crate) fn new(issuer: String, audience: String) -> VerifierBuilder {
        VerifierBuilder {
            issuer,
            audience,
            source: JwksSource::IssuerDefault,
            leeway: Duration::from_secs(10),
            min_refetch_interval: Duration::from_secs(30),
            default_max_age: Duration::from_secs(300),
            max_stale: DEFAULT_MAX_STALE,
            http_timeout: Duration::from_secs(5),
            token_cache: None,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
            clock: Arc::new(SystemClock),
            feed: None,
            revoked: None,
        }
    }

    /// Fetch the JWKS from `url` (an absolute `http`/`https` URL; use
    /// `https` anywhere but a trusted local network).
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.source = JwksSource::Url(url.into());
        self
    }

    /// Find the JWKS through OpenID discovery at
    /// `{issuer}/.well-known/openid-configuration`; [`build`](Self::build)
    /// fails unless that document names exactly our issuer.
    pub fn discover(mut self) -> Self {
        self.source = JwksSource::Discover;
        self
    }

    /// Tolerated clock skew for `exp` and `nbf` (at most 5 minutes).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Least time between two JWKS fetches caused by unknown `kid`s
    /// (counted from any fetch). Zero removes the limit; concurrent misses
    /// still share one request.
    pub fn min_refetch_interval(mut self, interval: Duration) -> Self {
        self.min_refetch_interval = interval;
        self
    }

    /// How long a JWKS stays fresh when the response has no
    /// `Cache-Control: max-age`.
    pub fn default_max_age(mut self, max_age: Duration) -> Self {
        self.default_max_age = max_age;
        self
    }

    /// How long after the last successful JWKS fetch the keys are still
    /// trusted (default 24 h). Past it, while the auth server stays
    /// unreachable, every token is refused with
    /// [`VerifierError::KeysStale`] until a refresh succeeds: the verifier
    /// fails closed.
    ///
    /// The trade-off is availability against trust. A verifier cut off from
    /// the auth server cannot learn that a key was withdrawn (its private
    /// part leaked), so without a bound it would accept tokens forged with
    /// that key for as long as the outage lasts. With the bound, an outage
    /// longer than `max_stale` stops this API from accepting any token,
    /// forged or not. Choose it as the longest time you accept trusting a
    /// possibly withdrawn key; `Duration::MAX` never fails closed. The
    /// verifier refreshes at least every `max_stale / 2`, so a reachable
    /// server never lets the keys go stale.
    pub fn max_stale(mut self, max_stale: Duration) -> Self {
        self.max_stale = max_stale;
        self
    }

    /// Timeout of each JWKS or discovery request, connection included.
    pub fn http_timeout(mut self, timeout: Duration) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// Remember up to `capacity` verified tokens (0 disables the cache).
    ///
    /// A cached token is answered without signature or JSON work until its
    /// `exp` + leeway. Trade-off: it is not re-checked against the current
    /// keys, so the cache is cleared whenever a key is withdrawn from the
    /// JWKS; between the withdrawal and the next refresh, cached tokens of
    /// that key are still accepted (as they would be without the cache).
    pub fn token_cache(mut self, capacity: usize) -> Self {
        self.token_cache = (capacity > 0).then_some(capacity);
        self
    }

    /// Reject tokens longer than `bytes` before any parsing (default 8192).
    pub fn max_token_len(mut self, bytes: usize) -> Self {
        self.max_token_len = bytes;
        self
    }

    /// Subscribe to the auth server's revocation feed at
    /// `{issuer}/v1/revocations`, authenticating as the API client
    /// `client_id` (see `tokenauth client add`). Tokens of a revoked session
    /// are then refused with [`VerifierError::SessionRevoked`] within about a
    /// second of the revocation, still without any call per request.
    ///
    /// [`build`](Self::build) takes a first snapshot and fails if it cannot;
    /// afterwards a long-poll runs in the background, resuming from its
    /// cursor after any interruption (while the server is unreachable, the
    /// revocations already known stay in force). Each revoked session is
    /// held only until its last access token has expired.
    pub fn revocation_feed(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        let wait = self.feed.as_ref().map_or(DEFAULT_FEED_WAIT, |f| f.wait);
        let url = self.feed.as_ref().and_then(|f| f.url.clone());
        self.feed = Some(FeedSettings {
            url,
            client_id: client_id.into(),
            client_secret: zeroize::Zeroizing::new(client_secret.into()),
            wait,
        });
        self
    }

    /// Read the revocation feed from `url` instead of
    /// `{issuer}/v1/revocations` (call after
    /// [`revocation_feed`](Self::revocation_feed)).
    pub fn revocation_feed_url(mut self, url: impl Into<String>) -> Self {
        if let Some(feed) = &mut self.feed {
            feed.url = Some(url.into());
        }
        self
    }

    /// How long the server may hold an empty feed answer (default 25 s; the
    /// server caps it below its request timeout). Shorter means more
    /// requests, not faster revocations: a revocation ends the wait at once.
    pub fn revocation_feed_wait(mut self, wait: Duration) -> Self {
        if let Some(feed) = &mut self.feed {
            feed.wait = wait;
        }
        self
    }

    /// Also refuse tokens whose `sid` is in `set` (shared with whoever fills
    /// it). With [`revocation_feed`](Self::revocation_feed), the feed fills
    /// this set.
    pub fn revoked_sessions(mut self, set: Arc<RevokedSessions>) -> Self {
        self.revoked = Some(set);
        self
    }

    /// Read "now" from `clock` (for tests); any `Fn() -> i64` closure of
    /// Unix seconds is a [`Clock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Fetches the JWKS (after discovery, if chosen) and starts the
    /// background refresh task on the current tokio runtime.
    ///
    /// # Errors
    /// [`VerifierError::InvalidConfig`] for a bad setting or URL;
    /// [`VerifierError::Unavailable`] if discovery or the first JWKS fetch
    /// fails or yields no usable key;
    /// [`VerifierError::RevocationsUnavailable`] if the first revocation
    /// snapshot cannot be fetched (wrong client credentials included).
    pub async fn build(self) -> Result<Verifier, VerifierError> {
        let validation = self.validation()?;
        let client = http_client(self.http_timeout).map_err(VerifierError::Unavailable)?;
        let url = match &self.source {
            JwksSource::IssuerDefault => issuer_url(&self.issuer, "/.well-known/jwks.json")
                .map_err(|_| VerifierError::InvalidConfig("issuer is not an http(s) URL"))?,
            JwksSource::Url(url) => parse_url(url)
                .map_err(|_| VerifierError::InvalidConfig("jwks_url is not an http(s) URL"))?,
            JwksSource::Discover => {
                let doc = issuer_url(&self.issuer, "/.well-known/openid-configuration")
                    .map_err(|_| VerifierError::InvalidConfig("issuer is not an http(s) URL"))?;
                discover(&client, &doc, &self.issuer)
                    .await
                    .map_err(VerifierError::Unavailable)?
            }
        };
        let keys = self.trusted_keys(KeySet::default());
        let policy = RefreshPolicy {
            min_refetch_interval: self.min_refetch_interval,
            default_max_age: self.default_max_age,
            max_stale: self.max_stale,
        };
        let remote = Arc::new(RemoteKeys::new(
            Fetcher::new(client.clone(), url),
            Arc::clone(&keys),
            policy,
            Arc::clone(&self.clock),
        ));
        remote.refresh().await.map_err(VerifierError::Unavailable)?;
        let (revoked, feed) = match &self.feed {
            Some(settings) => {
                let set = self.revoked.clone().unwrap_or_default();
                let subscription = self
                    .subscribe(settings, client, &set, &keys, validation.leeway_secs)
                    .await?;
                (Some(set), Some(subscription))
            }
            None => (self.revoked.clone(), None),
        };
        let stop_refresher = refresher::spawn(&remote);
        Ok(Verifier::from_parts(Parts {
            validation,
            clock: self.clock,
            keys,
            remote: Some((remote, stop_refresher)),
            revoked,
            feed,
        }))
    }

    /// Takes the first snapshot of the revocation feed into `set`, then
    /// starts the long-poll task.
    async fn subscribe(
        &self,
        settings: &FeedSettings,
        client: reqwest::Client,
        set: &Arc<RevokedSessions>,
        keys: &Arc<TrustedKeys>,
        leeway_secs: i64,
    ) -> Result<(Arc<FeedState>, tokio::sync::oneshot::Sender<()>), VerifierError> {
        let url = match &settings.url {
            Some(url) => parse_url(url).map_err(|_| {
                VerifierError::InvalidConfig("revocation_feed_url is not an http(s) URL")
            })?,
            None => issuer_url(&self.issuer, "/v1/revocations")
                .map_err(|_| VerifierError::InvalidConfig("issuer is not an http(s) URL"))?,
        };
        if settings.client_id.is_empty() {
            return Err(VerifierError::InvalidConfig(
                "the revocation feed needs a client id",
            ));
        }
        let source = FeedSource::new(
            client,
            url,
            settings.client_id.clone(),
            settings.client_secret.clone(),
            settings.wait,
            self.http_timeout,
        );
        let state = Arc::new(FeedState::default());
        source
            .sync(&state, set, keys, leeway_secs, self.clock.as_ref())
            .await
            .map_err(VerifierError::RevocationsUnavailable)?;
        let stop = feed::spawn(
            source,
            &state,
            set,
            keys,
            leeway_secs,
            Arc::clone(&self.clock),
        );
        Ok((state, stop))
    }

    /// A verifier that trusts exactly `keys` and never fetches anything
    /// (the JWKS settings are ignored). Needs no runtime.
    ///
    /// # Errors
    /// [`VerifierError::InvalidConfig`] for a bad setting.
    pub fn build_with_keys(self, keys: KeySet) -> Result<Verifier, VerifierError> {
        let validation = self.validation()?;
        if self.feed.is_some() {
            return Err(VerifierError::InvalidConfig(
                "the revocation feed needs build(), which fetches",
            ));
        }
        let keys = self.trusted_keys(keys);
        Ok(Verifier::from_parts(Parts {
            validation,
            clock: self.clock,
            keys,
            remote: None,
            revoked: self.revoked,
            feed: None,
        }))
    }

    fn trusted_keys(&self, keys: KeySet) -> Arc<TrustedKeys> {
        Arc::new(TrustedKeys::new(
            keys,
            self.token_cache.map(TokenCache::new),
        ))
    }

    fn validation(&self) -> Result<Validation, VerifierError> {
        if self.issuer.is_empty() || self.audience.is_empty() {
            return Err(VerifierError::InvalidConfig(
                "issuer and audience must not be empty",
            ));
        }
        if self.leeway > MAX_LEEWAY {
            return Err(VerifierError::InvalidConfig(
                "leeway must be at most 5 minutes",
            ));
        }
        if self.max_token_len == 0 {
            return Err(VerifierError::InvalidConfig(
                "max_token_len must be positive",
            ));
        }
        if self.http_timeout.is_zero() {
            return Err(VerifierError::InvalidConfig(
                "http_timeout must be positive",
            ));
        }
        let mut validation = Validation::new(self.issuer.clone(), self.audience.clone());
        // At most 300 by the check above.
        validation.leeway_secs = i64::try_from(self.leeway.as_secs()).unwrap_or(0);
        validation.max_token_len = self.max_token_len;
        Ok(validation)
    }
}

impl std::fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("source", &self.source)
            .field("leeway", &self.leeway)
            .field("min_refetch_interval", &self.min_refetch_interval)
            .field("default_max_age", &self.default_max_age)
            .field("max_stale", &self.max_stale)
            .field("http_timeout", &self.http_timeout)
            .field("token_cache", &self.token_cache)
            .field("max_token_len", &self.max_token_len)
            .field("revocation_feed", &self.feed.as_ref().map(|f| &f.client_id))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let b = || Verifier::builder("https://auth.example", "api");
        let err = |b: VerifierBuilder| b.build_with_keys(KeySet::default()).unwrap_err();
        let too_lenient = err(b().leeway(Duration::from_secs(301)));
        assert!(matches!(too_lenient, VerifierError::InvalidConfig(_)));
        assert!(matches!(
            err(b().max_token_len(0)),
            VerifierError::InvalidConfig(_)
        ));
        let empty = Verifier::builder("", "api").build_with_keys(KeySet::default());
        assert!(matches!(empty, Err(VerifierError::InvalidConfig(_))));
        let ok = b().leeway(Duration::from_secs(300)).token_cache(0);
        assert!(ok.build_with_keys(KeySet::default()).is_ok());
    }

    #[tokio::test]
    async fn bad_urls_are_config_errors() {
        let bad = Verifier::builder("https://auth.example", "api").jwks_url("/jwks.json");
        let err = bad.build().await.unwrap_err();
        assert!(matches!(err, VerifierError::InvalidConfig(_)), "{err:?}");
        let no_scheme = Verifier::builder("auth.example", "api");
        let err = no_scheme.build().await.unwrap_err();
        assert!(matches!(err, VerifierError::InvalidConfig(_)), "{err:?}");
    }
}
