//! The deadlines of one client connection, enforced on its socket: a client has
//! `header_read_timeout` to send a whole request head (from the accept for the first request,
//! from its first byte for a later one) and `idle_timeout` between a response and the next
//! request. While a request is being served neither applies (`request_timeout` bounds the
//! handler). Past a deadline the socket reports `TimedOut` and hyper closes the connection.
//!
//! Done here rather than with hyper's `header_read_timeout` because hyper restarts that timer
//! as soon as a response is written, so it would also end every keep-alive connection idle for
//! as long, shorter than the proxies in front keep theirs open (they would then send requests
//! on connections this end is closing).

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use metrics::counter;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Connections closed because the client was too slow, by `phase`: `header` (a request head
/// not complete in time) or `idle` (no next request in time).
pub const CONNECTIONS_TIMED_OUT: &str = "tokenauth_connections_timed_out_total";

/// Where a connection is between requests, and so which deadline applies.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Nothing of the next request has arrived since `since` (the accept when `first`, the
    /// last response otherwise).
    Waiting { since: Instant, first: bool },
    /// Part of a request head has arrived; the whole head is due `header_read_timeout` after
    /// `since`.
    ReadingHead { since: Instant },
    /// This many requests are being served.
    Serving(usize),
}

/// Which deadline ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expired {
    Header,
    Idle,
}

/// The phase of one connection, shared by its socket (which sees bytes arrive) and its service
/// (which sees requests start and end).
#[derive(Debug)]
pub struct ConnectionClock {
    phase: Mutex<Phase>,
    /// The connection's task, when its socket last waited with no deadline (while serving):
    /// woken when serving ends, so the idle deadline is armed even if hyper, its response
    /// written, only waits for the socket to turn readable.
    waiting_unbounded: Mutex<Option<Waker>>,
    header_read_timeout: Duration,
    idle_timeout: Duration,
}

impl ConnectionClock {
    /// The clock of a connection accepted now.
    pub fn new(header_read_timeout: Duration, idle_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            phase: Mutex::new(Phase::Waiting {
                since: Instant::now(),
                first: true,
            }),
            waiting_unbounded: Mutex::new(None),
            header_read_timeout,
            idle_timeout,
        })
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The deadline that applies now, and which one it is; `None` while a request is served.
    fn deadline(&self) -> Option<(Instant, Expired)> {
        match *self.phase() {
            Phase::Waiting { since, first: true } => {
                Some((since + self.header_read_timeout, Expired::Header))
            }
            Phase::Waiting {
                since,
                first: false,
            } => Some((since + self.idle_timeout, Expired::Idle)),
            Phase::ReadingHead { since } => {
                Some((since + self.header_read_timeout, Expired::Header))
            }
            Phase::Serving(_) => None,
        }
    }

    /// Bytes arrived: a waiting connection is now reading a request head.
    fn bytes_arrived(&self) {
        let mut phase = self.phase();
        if let Phase::Waiting { since, first } = *phase {
            // The first request's head is due counting from the accept, so a slow first byte
            // does not buy a second allowance.
            let since = if first { since } else { Instant::now() };
            *phase = Phase::ReadingHead { since };
        }
    }

    /// A request head has been read and the request is being served, until the guard is
    /// dropped (its response produced, or the request given up).
    pub fn request_started(self: &Arc<Self>) -> Serving {
        let mut phase = self.phase();
        *phase = match *phase {
            Phase::Serving(n) => Phase::Serving(n + 1),
            _ => Phase::Serving(1),
        };
        Serving(Arc::clone(self))
    }
}

/// One request being served on a connection; the idle deadline starts when the last is dropped.
#[derive(Debug)]
pub struct Serving(Arc<ConnectionClock>);

impl Drop for Serving {
    fn drop(&mut self) {
        let mut phase = self.0.phase();
        *phase = match *phase {
            Phase::Serving(n) if n > 1 => Phase::Serving(n - 1),
            _ => Phase::Waiting {
                since: Instant::now(),
                first: false,
            },
        };
        if matches!(*phase, Phase::Waiting { .. }) {
            drop(phase);
            let waker = self
                .0
                .waiting_unbounded
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

/// A socket that fails with `TimedOut` once its connection's deadline has passed while it waits
/// for the client.
pub struct TimedStream<S> {
    inner: S,
    clock: Arc<ConnectionClock>,
    timer: Pin<Box<Sleep>>,
}

impl<S> TimedStream<S> {
    /// `inner`, under the deadlines of `clock`.
    pub fn new(inner: S, clock: Arc<ConnectionClock>) -> Self {
        Self {
            inner,
            clock,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
        }
    }

    /// Called when the socket would wait: pending until the current deadline (if any), then
    /// `TimedOut`.
    fn wait_within_deadline<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let Some((deadline, expired)) = self.clock.deadline() else {
            let mut waker = self
                .clock
                .waiting_unbounded
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *waker = Some(cx.waker().clone());
            }
            return Poll::Pending;
        };
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        match self.timer.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => {
                let (phase, message) = match expired {
                    Expired::Header => ("header", "the request head did not arrive in time"),
                    Expired::Idle => ("idle", "the connection was idle too long"),
                };
                counter!(CONNECTIONS_TIMED_OUT, "phase" => phase).increment(1);
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, message)))
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TimedStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.clock.bytes_arrived();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => this.wait_within_deadline(cx),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TimedStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            // A client that does not read its response is as idle as one that sends nothing.
            Poll::Pending => this.wait_within_deadline(cx),
            ready => ready,
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => this.wait_within_deadline(cx),
            ready => ready,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: Duration = Duration::from_secs(10);
    const IDLE: Duration = Duration::from_secs(75);

    #[test]
    fn the_first_head_is_due_from_the_accept() {
        let clock = ConnectionClock::new(HEADER, IDLE);
        let accepted = clock.deadline();
        assert!(matches!(accepted, Some((_, Expired::Header))));
        clock.bytes_arrived();
        assert_eq!(clock.deadline(), accepted, "the first byte buys no time");
        clock.bytes_arrived();
        assert_eq!(clock.deadline(), accepted, "nor do later ones");
    }

    #[test]
    fn serving_has_no_deadline_and_idle_follows_it() {
        let clock = ConnectionClock::new(HEADER, IDLE);
        clock.bytes_arrived();
        let serving = clock.request_started();
        let second = clock.request_started();
        assert_eq!(
            clock.deadline(),
            None,
            "the handler is request_timeout's business"
        );
        drop(second);
        assert_eq!(clock.deadline(), None, "one request is still being served");
        let before = Instant::now();
        drop(serving);
        let after = Instant::now();
        let Some((idle_until, Expired::Idle)) = clock.deadline() else {
            panic!("idle after the response: {:?}", clock.deadline());
        };
        assert!(idle_until >= before + IDLE && idle_until <= after + IDLE);
        let before = Instant::now();
        clock.bytes_arrived();
        let after = Instant::now();
        let Some((head_until, Expired::Header)) = clock.deadline() else {
            panic!("reading a head: {:?}", clock.deadline());
        };
        assert!(
            head_until >= before + HEADER && head_until <= after + HEADER,
            "a later head is due from its first byte"
        );
    }

    #[tokio::test]
    async fn a_silent_socket_times_out() {
        let (_client, server) = tokio::io::duplex(64);
        let clock = ConnectionClock::new(Duration::from_millis(100), IDLE);
        let mut stream = TimedStream::new(server, clock);
        let mut buf = [0u8; 8];
        let read = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::io::AsyncReadExt::read(&mut stream, &mut buf),
        )
        .await
        .map_err(|_| "not closed within 30 s");
        assert!(
            matches!(read, Ok(Err(ref e)) if e.kind() == io::ErrorKind::TimedOut),
            "{read:?}"
        );
    }
}
