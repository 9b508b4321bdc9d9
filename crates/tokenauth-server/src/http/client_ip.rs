//! Which address a request comes from: the TCP peer, unless the peer is a trusted proxy, in
//! which case the right-most `X-Forwarded-For` entry that is not itself a trusted proxy. The
//! per-IP rate limits and the sessions' `ip` both use it.
//!
//! Entries left of the answer are written by the client and never read, so a client cannot
//! choose its own address by sending `X-Forwarded-For`; a malformed entry in the part that is
//! read makes the header worthless, and the peer is used.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;

/// The header a proxy appends the address it received a request from to.
const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// The resolved client address of a request, put in its extensions by [`resolve_client_ip`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The proxies whose `X-Forwarded-For` is believed: addresses and CIDR ranges. Empty (the
/// default) believes no one.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses each item as an address (`10.0.0.5`, `::1`) or a CIDR range (`10.0.0.0/8`).
    ///
    /// # Errors
    /// The first item that is neither, in words.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self, String> {
        items
            .iter()
            .map(|item| {
                let item = item.as_ref().trim();
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| format!("{item:?} is not an IP address or CIDR range"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Whether none are trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client address of a request that came from `peer` with `headers`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        // Several headers count as one list, in order (RFC 9110 §5.3).
        let mut entries = Vec::new();
        for value in headers.get_all(X_FORWARDED_FOR) {
            let Ok(text) = value.to_str() else {
                return peer;
            };
            entries.extend(text.split(','));
        }
        let mut answer = peer;
        for entry in entries.iter().rev() {
            let Some(ip) = parse_entry(entry) else {
                return peer;
            };
            answer = ip;
            if !self.contains(ip) {
                break;
            }
        }
        // Every entry trusted: the left-most one is the farthest we know of.
        answer
    }
}

impl fmt::Debug for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(ToString::to_string))
            .finish()
    }
}

/// One `X-Forwarded-For` entry: an IPv4 or IPv6 address, optionally bracketed (`[::1]`) or
/// with a port (`192.0.2.1:443`, `[2001:db8::1]:443`), as some proxies write them.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(socket) = entry.parse::<SocketAddr>() {
        return Some(socket.ip().to_canonical());
    }
    let bracketed = entry.strip_prefix('[')?.strip_suffix(']')?;
    bracketed
        .parse::<std::net::Ipv6Addr>()
        .ok()
        .map(|ip| IpAddr::V6(ip).to_canonical())
}

/// Middleware: resolves the client address of every request (from its `ConnectInfo`) and puts
/// it in the request's extensions as [`ClientIp`]. Without `ConnectInfo` (a router served
/// without it) no address is known and none is put.
pub async fn resolve_client_ip(
    State(trusted): State<Arc<TrustedProxies>>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let peer = peer.ip();
        if trusted.is_empty() && request.headers().contains_key(X_FORWARDED_FOR) {
            warn_untrusted_forwarding(peer);
        }
        let ip = trusted.client_ip(peer, request.headers());
        request.extensions_mut().insert(ClientIp(ip));
    }
    next.run(request).await
}

/// Says once per process that `X-Forwarded-For` arrives but is ignored: behind a proxy that
/// nobody declared trusted, every client shares the proxy's address and its rate limits.
fn warn_untrusted_forwarding(peer: IpAddr) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            %peer,
            "X-Forwarded-For is ignored because trusted_proxies is empty; if tokenauth runs \
             behind a proxy, list it in trusted_proxies, or every client shares its address"
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    fn trusted(items: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(items).expect("valid")
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                X_FORWARDED_FOR,
                HeaderValue::from_str(value).expect("header"),
            );
        }
        headers
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_forwards() {
        let none = TrustedProxies::default();
        let headers = xff(&["203.0.113.9"]);
        assert_eq!(none.client_ip(ip("192.0.2.1"), &headers), ip("192.0.2.1"));
        let other = trusted(&["10.0.0.0/8"]);
        assert_eq!(other.client_ip(ip("192.0.2.1"), &headers), ip("192.0.2.1"));
    }

    #[test]
    fn trusted_peer_gives_the_right_most_untrusted_entry() {
        let proxies = trusted(&["10.0.0.0/8", "192.0.2.1"]);
        let peer = ip("192.0.2.1");
        // The client claims 1.1.1.1; the outer proxy 10.0.0.7 saw 203.0.113.9.
        let headers = xff(&["1.1.1.1, 203.0.113.9", "10.0.0.7"]);
        assert_eq!(proxies.client_ip(peer, &headers), ip("203.0.113.9"));
        assert_eq!(
            proxies.client_ip(peer, &HeaderMap::new()),
            peer,
            "no header: the peer"
        );
    }

    #[test]
    fn all_trusted_gives_the_left_most_entry() {
        let proxies = trusted(&["10.0.0.0/8"]);
        let headers = xff(&["10.1.1.1, 10.2.2.2"]);
        assert_eq!(proxies.client_ip(ip("10.0.0.1"), &headers), ip("10.1.1.1"));
    }

    #[test]
    fn malformed_entries_in_the_part_read_fall_back_to_the_peer() {
        let proxies = trusted(&["127.0.0.1"]);
        let peer = ip("127.0.0.1");
        for bad in [
            "",
            "garbage",
            "203.0.113.9,",
            "203.0.113.9, unknown",
            "1.2.3.4.5",
        ] {
            assert_eq!(proxies.client_ip(peer, &xff(&[bad])), peer, "{bad:?}");
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            X_FORWARDED_FOR,
            HeaderValue::from_bytes(b"\xff203.0.113.9").expect("opaque header"),
        );
        assert_eq!(proxies.client_ip(peer, &headers), peer, "not text");
        // Garbage left of the answer is the client's own and is never read.
        let headers = xff(&["garbage, 203.0.113.9"]);
        assert_eq!(proxies.client_ip(peer, &headers), ip("203.0.113.9"));
    }

    #[test]
    fn entries_with_ports_brackets_and_mapped_addresses() {
        let proxies = trusted(&["127.0.0.1"]);
        let peer = ip("::ffff:127.0.0.1");
        let cases = [
            ("203.0.113.9:4711", "203.0.113.9"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("[2001:db8::1]:443", "2001:db8::1"),
            (" 2001:db8::2 ", "2001:db8::2"),
            ("::ffff:198.51.100.4", "198.51.100.4"),
        ];
        for (entry, expected) in cases {
            assert_eq!(
                proxies.client_ip(peer, &xff(&[entry])),
                ip(expected),
                "{entry}"
            );
        }
    }

    #[test]
    fn parse_accepts_addresses_and_ranges_and_names_the_bad_item() {
        let proxies = trusted(&[
            "127.0.0.1",
            "10.0.0.0/8",
            "::1",
            "fd00::/8",
            "192.168.1.77/24",
        ]);
        assert!(proxies.contains(ip("10.200.0.1")));
        assert!(proxies.contains(ip("192.168.1.1")), "host bits dropped");
        assert!(proxies.contains(ip("::ffff:127.0.0.1")));
        assert!(!proxies.contains(ip("127.0.0.2")));
        assert!(!proxies.contains(ip("fe80::1")));
        let error = TrustedProxies::parse(&["10.0.0.0/8", "proxy.internal"]).expect_err("bad");
        assert!(error.contains("proxy.internal"), "{error}");
        assert!(TrustedProxies::parse(&["10.0.0.0/33"]).is_err());
    }
}
