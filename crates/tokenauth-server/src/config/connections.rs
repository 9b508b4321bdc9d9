//! The client-connection settings: how long a connection may take to send a request head or
//! sit idle between requests, how many one address may hold open, and how long a stop waits for
//! connections to finish.

use std::time::Duration;

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
