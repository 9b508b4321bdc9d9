//! HTTP: fetching the JWKS and the OpenID discovery document, with a size
//! cap on every body and a timeout on every request.

use std::time::Duration;

use reqwest::header::ACCEPT;
use reqwest::{Client, Response, Url};
use serde::Deserialize;
use tokenauth_jwt::{Jwks, KeySet};

use super::cache_control::freshness;
use crate::error::FetchError;

/// Largest JWKS body accepted.
const MAX_JWKS_BYTES: usize = 1 << 20;
/// Largest discovery document accepted.
const MAX_DISCOVERY_BYTES: usize = 64 << 10;
/// Redirects followed before giving up.
const MAX_REDIRECTS: usize = 3;

/// Fetches one JWKS URL.
pub(crate) struct Fetcher {
    client: Client,
    url: Url,
}

/// The usable keys of one successful fetch, and how long the server lets
/// them be used before asking again (`None`: it did not say).
pub(crate) struct FetchedKeys {
    pub(crate) keys: KeySet,
    pub(crate) fresh_for: Option<Duration>,
}

/// The discovery members we read; the rest is ignored.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

/// A client with `timeout` on connecting and on each whole request.
pub(crate) fn http_client(timeout: Duration) -> Result<Client, FetchError> {
    Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
        .user_agent(concat!("tokenauth-verify/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(FetchError::Http)
}

/// `url` if it is an absolute `http` or `https` URL with a host.
pub(crate) fn parse_url(url: &str) -> Result<Url, FetchError> {
    let url = Url::parse(url).map_err(|_| FetchError::InvalidUrl("not an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(FetchError::InvalidUrl("not an http(s) URL with a host"));
    }
    Ok(url)
}

/// `issuer` + `suffix`, with one `/` between them.
pub(crate) fn issuer_url(issuer: &str, suffix: &str) -> Result<Url, FetchError> {
    parse_url(&format!("{}{suffix}", issuer.trim_end_matches('/')))
}

impl Fetcher {
    pub(crate) fn new(client: Client, url: Url) -> Fetcher {
        Fetcher { client, url }
    }

    /// The JWKS URL.
    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    /// One GET of the JWKS. Keys that cannot be used (unsupported,
    /// symmetric, malformed, duplicate `kid`) are skipped with a warning.
    ///
    /// # Errors
    /// Transport failures, a non-2xx status, an oversized or invalid body,
    /// or a set without any usable key.
    pub(crate) async fn fetch(&self) -> Result<FetchedKeys, FetchError> {
        let response = get(&self.client, &self.url).await?;
        let fresh_for = freshness(response.headers());
        let body = read_limited(response, MAX_JWKS_BYTES).await?;
        let jwks: Jwks = serde_json::from_slice(&body).map_err(|_| FetchError::Document("JWKS"))?;
        let (keys, skipped) = KeySet::from_jwks(&jwks);
        for error in skipped {
            tracing::warn!(url = %self.url, %error, "skipping an unusable JWKS key");
        }
        if keys.is_empty() {
            return Err(FetchError::NoUsableKeys);
        }
        Ok(FetchedKeys { keys, fresh_for })
    }
}

/// The `jwks_uri` of the OpenID discovery document at `url`, after checking
/// the document names exactly `issuer`.
///
/// # Errors
/// Transport or document failures, [`FetchError::IssuerMismatch`], or a
/// `jwks_uri` that is not an http(s) URL.
pub(crate) async fn discover(client: &Client, url: &Url, issuer: &str) -> Result<Url, FetchError> {
    let response = get(client, url).await?;
    let body = read_limited(response, MAX_DISCOVERY_BYTES).await?;
    let doc: Discovery =
        serde_json::from_slice(&body).map_err(|_| FetchError::Document("discovery"))?;
    if doc.issuer != issuer {
        return Err(FetchError::IssuerMismatch);
    }
    parse_url(&doc.jwks_uri)
}

async fn get(client: &Client, url: &Url) -> Result<Response, FetchError> {
    let response = client
        .get(url.clone())
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(FetchError::Http)?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Status(status.as_u16()));
    }
    Ok(response)
}

/// The body, or [`FetchError::TooLarge`] as soon as it passes `limit`.
pub(crate) async fn read_limited(
    mut response: Response,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(FetchError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(FetchError::Http)? {
        if body.len() + chunk.len() > limit {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(parse_url("https://auth.example/jwks").is_ok());
        for bad in ["/jwks", "ftp://x/jwks", "file:///etc/passwd", "http//x", ""] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        let url = issuer_url("http://a.example/", "/.well-known/jwks.json").unwrap();
        assert_eq!(url.as_str(), "http://a.example/.well-known/jwks.json");
    }
}
