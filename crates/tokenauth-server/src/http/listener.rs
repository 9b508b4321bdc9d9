//! A TCP listener that holds at most `max_connections` connections open at once, and at most
//! `max_connections_per_ip` from any one client address. Beyond the first bound, new
//! connections wait in the kernel's accept queue until one closes, instead of each taking
//! memory and a task; beyond the second, a connection is closed as soon as it is accepted, so
//! one address cannot take every slot and lock everyone else out.
//!
//! Written by hand because neither axum nor tower-http limits connections (tower's
//! concurrency limit counts requests, and an idle keep-alive connection holds none).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use axum::serve::Listener;
use metrics::counter;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::http::client_ip::TrustedProxies;

/// Connections closed at accept because their address already held `max_connections_per_ip`.
pub const CONNECTIONS_REFUSED: &str = "tokenauth_connections_refused_total";

/// A [`TcpListener`] with a bound on open connections, in all and per client address.
pub struct LimitedListener {
    inner: TcpListener,
    permits: Arc<Semaphore>,
    per_ip: Option<PerIpLimit>,
}

/// The per-address bound: the open connections of each address that has any.
struct PerIpLimit {
    max: usize,
    exempt: Arc<TrustedProxies>,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl LimitedListener {
    /// Wraps `inner`; at most `max_connections` (at least 1) accepted connections are open at
    /// any time, and at most `max_per_ip` of them from one address (0: no per-address bound).
    /// Addresses in `exempt` (the trusted proxies, whose one address carries many clients) have
    /// no per-address bound.
    pub fn new(
        inner: TcpListener,
        max_connections: usize,
        max_per_ip: usize,
        exempt: Arc<TrustedProxies>,
    ) -> Self {
        Self {
            inner,
            permits: Arc::new(Semaphore::new(max_connections.max(1))),
            per_ip: (max_per_ip > 0).then(|| PerIpLimit {
                max: max_per_ip,
                exempt,
                open: Arc::default(),
            }),
        }
    }

    /// The next connection within both bounds. Waits while `max_connections` are open;
    /// connections from an address over its bound are closed here and never returned.
    /// Cancel-safe: a connection is either returned or never taken from the kernel.
    pub async fn accept(&mut self) -> (LimitedStream, SocketAddr) {
        loop {
            // The semaphore is never closed, so this only fails in theory; try again then.
            let Ok(slot) = Arc::clone(&self.permits).acquire_owned().await else {
                continue;
            };
            // axum's accept retries errors (a full file table: after a pause) by itself.
            let (stream, addr) = Listener::accept(&mut self.inner).await;
            let address_slot = match &self.per_ip {
                None => None,
                Some(limit) => match limit.enter(addr.ip()) {
                    Ok(slot) => slot,
                    Err(open) => {
                        tracing::debug!(client = %addr.ip(), open, "too many connections from one address; closed");
                        counter!(CONNECTIONS_REFUSED, "reason" => "per_ip_limit").increment(1);
                        drop(stream);
                        continue;
                    }
                },
            };
            return (
                LimitedStream {
                    stream,
                    _slot: slot,
                    _address_slot: address_slot,
                },
                addr,
            );
        }
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    /// If the socket cannot report it.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

impl PerIpLimit {
    /// Counts a new connection from `ip`: `Ok(None)` for an exempt address, `Ok(Some(slot))`
    /// (given back when dropped) within the bound, `Err(open)` over it.
    fn enter(&self, ip: IpAddr) -> Result<Option<AddressSlot>, usize> {
        let ip = ip.to_canonical();
        if self.exempt.contains(ip) {
            return Ok(None);
        }
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(ip).or_insert(0);
        if *count >= self.max {
            return Err(*count);
        }
        *count += 1;
        Ok(Some(AddressSlot {
            ip,
            open: Arc::clone(&self.open),
        }))
    }
}

/// One connection counted against its address, until dropped.
struct AddressSlot {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                // Forgotten at zero, so the map holds only addresses with open connections.
                open.remove(&self.ip);
            }
        }
    }
}

/// An accepted connection; its slots are given back when it is dropped (closed).
pub struct LimitedStream {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
    _address_slot: Option<AddressSlot>,
}

impl AsyncRead for LimitedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(max: usize, exempt: &[&str]) -> PerIpLimit {
        PerIpLimit {
            max,
            exempt: Arc::new(TrustedProxies::parse(exempt).unwrap_or_default()),
            open: Arc::default(),
        }
    }

    #[test]
    fn an_address_holds_at_most_its_share_and_gets_slots_back() {
        let limit = limit(2, &["10.0.0.0/8"]);
        let a: IpAddr = [192, 0, 2, 1].into();
        let b: IpAddr = [192, 0, 2, 2].into();
        let first = limit.enter(a);
        let second = limit.enter(a);
        assert!(matches!(first, Ok(Some(_))) && matches!(second, Ok(Some(_))));
        assert_eq!(limit.enter(a).err(), Some(2), "a third from one address");
        assert!(matches!(limit.enter(b), Ok(Some(_))), "another address");
        drop(first);
        let third = limit.enter(a);
        assert!(matches!(third, Ok(Some(_))), "a slot came back");
        // The same address written as IPv4-mapped IPv6 is the same address.
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap_or(a);
        assert_eq!(limit.enter(mapped).err(), Some(2));
        drop((second, third));
        // A trusted proxy carries many clients: no bound.
        let proxy: IpAddr = [10, 1, 2, 3].into();
        for _ in 0..10 {
            assert!(matches!(limit.enter(proxy), Ok(None)));
        }
    }

    #[test]
    fn addresses_are_forgotten_when_their_last_connection_closes() {
        let limit = limit(5, &[]);
        let slots: Vec<_> = (1..=3u8)
            .map(|n| limit.enter([192, 0, 2, n].into()))
            .collect();
        assert_eq!(limit.open.lock().map(|m| m.len()).unwrap_or(0), 3);
        drop(slots);
        assert_eq!(limit.open.lock().map(|m| m.len()).unwrap_or(1), 0);
    }
}
