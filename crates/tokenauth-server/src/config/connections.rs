//! The client-connection settings: how long a connection may take to send a request head or
//! sit idle between requests, how many one address may hold open, and how long a stop waits for
//! connections to finish.

use std::time::Duration;

use super::parse::text;
use super::{ConfigError, Layer, invalid, parse_duration, require_at_least};

/// Connection settings, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Longest a client may take to send a whole request head: from the connection's accept
    /// for its first request, from the first byte for a later one.
    pub header_read_timeout: Duration,
    /// Longest a keep-alive connection may sit between a response and the next request's
    /// first byte.
    pub idle_timeout: Duration,
    /// Most connections one client address may hold open; 0 for no limit. Trusted proxies are
    /// exempt (every client behind them shares their address).
    pub max_connections_per_ip: usize,
    /// Longest a stop waits for open connections to finish their requests before it closes
    /// them.
    pub shutdown_timeout: Duration,
}

impl Default for ConnectionLimits {
    /// Long enough for any honest client on a slow network; short enough that a silent or
    /// trickling connection is let go quickly. Keep-alive outlasts the 60 s that proxies
    /// (nginx's `keepalive_timeout` for upstreams) hold idle connections, so the proxy closes
    /// first and never sends on a connection this end is closing.
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_connections_per_ip: 256,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

impl ConnectionLimits {
    /// Takes this group's settings out of `raw` and validates them, filling in defaults.
    pub(super) fn take(raw: &mut Layer) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let duration = |raw: &mut Layer, name: &'static str, default: Duration| {
            text(raw, name)?.map_or(Ok(default), |t| {
                parse_duration(&t).map_err(|e| invalid(name, e))
            })
        };
        let header_read_timeout =
            duration(raw, "header_read_timeout", defaults.header_read_timeout)?;
        require_at_least(
            "header_read_timeout",
            header_read_timeout,
            Duration::from_millis(100),
        )?;
        let idle_timeout = duration(raw, "idle_timeout", defaults.idle_timeout)?;
        require_at_least("idle_timeout", idle_timeout, Duration::from_millis(100))?;
        let shutdown_timeout = duration(raw, "shutdown_timeout", defaults.shutdown_timeout)?;
        let max_connections_per_ip = match text(raw, "max_connections_per_ip")? {
            None => defaults.max_connections_per_ip,
            Some(t) => t.parse::<usize>().map_err(|_| {
                invalid(
                    "max_connections_per_ip",
                    format!("{t:?} is not a whole number (0 for no limit)"),
                )
            })?,
        };
        Ok(Self {
            header_read_timeout,
            idle_timeout,
            max_connections_per_ip,
            shutdown_timeout,
        })
    }
}
