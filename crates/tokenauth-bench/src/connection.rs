//! One keep-alive HTTP/1.1 connection, driven with hyper's connection API directly: no pool,
//! no redirects, no URL handling per request. The load generator shares the machine's cores
//! with the server it loads, so every microsecond it spends per request is taken from the
//! server; this costs about what `wrk` does, where a full client (reqwest) cost ~2x more.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

/// Longest a request may take before it counts as a transport failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Where to connect and what to call the server in `Host`.
#[derive(Debug, Clone)]
pub struct Target {
    host: String,
    port: u16,
    authority: HeaderValue,
}

impl Target {
    /// Parses `http://host[:port]` (a path, if any, is ignored).
    ///
    /// # Errors
    /// If `base` is not an `http` URL with a host (`https` is not supported).
    pub fn parse(base: &str) -> anyhow::Result<Self> {
        let uri: http::Uri = base
            .parse()
            .with_context(|| format!("target {base:?} is not a URL"))?;
        anyhow::ensure!(
            uri.scheme_str() == Some("http"),
            "target {base} is not an http:// URL"
        );
        let authority = uri.authority().context("the target URL has no host")?;
        Ok(Self {
            host: authority.host().trim_matches(['[', ']']).to_owned(),
            port: authority.port_u16().unwrap_or(80),
            authority: HeaderValue::from_str(authority.as_str())?,
        })
    }

    /// The host to connect to (without brackets for IPv6) and the port.
    pub fn address(&self) -> (&str, u16) {
        (&self.host, self.port)
    }

    /// The `host[:port]` the requests name in `Host`.
    pub fn authority(&self) -> &str {
        self.authority.to_str().unwrap_or_default()
    }
}

/// A connection to one server, opened on first use and again after it breaks.
pub struct Connection {
    target: Target,
    sender: Mutex<Option<SendRequest<Full<Bytes>>>>,
}

/// A request to send: method, path, optional Bearer token, optional JSON body.
pub struct Call<'a> {
    /// The method.
    pub method: Method,
    /// The path (and query), e.g. `/v1/refresh`.
    pub path: &'a str,
    /// Sent as `Authorization: Bearer …`.
    pub bearer: Option<&'a str>,
    /// Sent as `application/json`.
    pub json: Option<Vec<u8>>,
}

impl Connection {
    /// A connection to `target`; nothing is opened yet.
    pub fn new(target: Target) -> Self {
        Self {
            target,
            sender: Mutex::new(None),
        }
    }

    /// Sends `call` and reads the whole answer.
    ///
    /// # Errors
    /// When no answer arrives (connect, send or receive failed, or [`REQUEST_TIMEOUT`]).
    pub async fn send(&self, call: Call<'_>) -> anyhow::Result<(StatusCode, Bytes)> {
        let request = self.request(call)?;
        tokio::time::timeout(REQUEST_TIMEOUT, self.exchange(request))
            .await
            .context("the request timed out")?
    }

    async fn exchange(&self, request: Request<Full<Bytes>>) -> anyhow::Result<(StatusCode, Bytes)> {
        let taken = self
            .sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let mut sender = match taken {
            Some(sender) if !sender.is_closed() => sender,
            _ => self.connect().await?,
        };
        sender.ready().await.context("the connection closed")?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        // Kept for the next request only once this one ended cleanly.
        *self.sender.lock().unwrap_or_else(PoisonError::into_inner) = Some(sender);
        Ok((status, body))
    }

    async fn connect(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let address = (self.target.host.as_str(), self.target.port);
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .with_context(|| {
                format!(
                    "connecting to {}",
                    self.target.authority.to_str().unwrap_or("?")
                )
            })?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the server closes or the sender is dropped; errors show up there.
            let _ = connection.await;
        });
        Ok(sender)
    }

    fn request(&self, call: Call<'_>) -> anyhow::Result<Request<Full<Bytes>>> {
        let mut builder = Request::builder()
            .method(call.method)
            .uri(call.path)
            .header(header::HOST, self.target.authority.clone());
        if let Some(token) = call.bearer {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match call.json {
            Some(json) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(json))
            }
            None => Full::new(Bytes::new()),
        };
        Ok(builder.body(body)?)
    }
}
