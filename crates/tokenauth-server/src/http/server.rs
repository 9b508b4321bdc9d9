//! Serves HTTP/1.1 connections from a [`LimitedListener`] until told to stop, each under its
//! [`ConnectionClock`] deadlines, then drains: the listener closes, open connections finish
//! the request they are serving and close, and whatever is still open after
//! `shutdown_timeout` (a client holding a half-sent request head, a slow handler) is closed
//! outright, so a stop always ends.
//!
//! In place of `axum::serve`, which has neither header nor idle timeouts and waits for every
//! connection without bound.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use crate::config::ConnectionLimits;
use crate::http::connection::{ConnectionClock, TimedStream};
use crate::http::listener::{LimitedListener, LimitedStream};

/// Serves `app` on `listener` until `shutdown` completes, then drains as the module says.
/// Requests see the peer's address as axum's `ConnectInfo<SocketAddr>`.
pub async fn serve(
    mut listener: LimitedListener,
    app: Router,
    limits: &ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let (drain, draining) = watch::channel(false);
    let mut connections = JoinSet::new();
    let shutdown = std::pin::pin!(shutdown);
    let mut shutdown = shutdown;
    loop {
        tokio::select! {
            // Shutdown first: its first poll (before any connection is accepted) is what
            // installs a signal handler built lazily.
            biased;
            () = &mut shutdown => break,
            // Finished connections are reaped as they end, so the set holds only open ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            (stream, peer) = listener.accept() => {
                connections.spawn(serve_connection(
                    stream,
                    peer,
                    app.clone(),
                    limits.clone(),
                    draining.clone(),
                ));
            }
        }
    }
    drop(listener);
    drain.send_replace(true);
    let drained = tokio::time::timeout(limits.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open after shutdown_timeout; closing them"
        );
        connections.shutdown().await;
    }
}

/// One connection: its requests, until the client or a deadline closes it, or the drain asks
/// it to finish.
async fn serve_connection(
    stream: LimitedStream,
    peer: SocketAddr,
    app: Router,
    limits: ConnectionLimits,
    mut draining: watch::Receiver<bool>,
) {
    let clock = ConnectionClock::new(limits.header_read_timeout, limits.idle_timeout);
    let io = TokioIo::new(TimedStream::new(stream, clock.clone()));
    let service = service_fn(move |mut request: hyper::Request<Incoming>| {
        let serving = clock.request_started();
        request.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move {
            let response = app.oneshot(request.map(Body::new)).await;
            drop(serving);
            response
        }
    });
    let mut http = http1::Builder::new();
    // The deadlines are the socket's (crate::http::connection), not hyper's.
    http.header_read_timeout(None);
    let connection = http.serve_connection(io, service);
    let mut connection = std::pin::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = drain_asked(&mut draining) => {
            // Finishes the request being served (answered with `Connection: close`), or
            // closes at once between requests.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(client = %peer.ip(), %error, "connection ended with an error");
    }
}

/// Completes once the drain is asked for (or the server is gone).
async fn drain_asked(draining: &mut watch::Receiver<bool>) {
    let _ = draining.wait_for(|draining| *draining).await;
}
