//! Global limits: oversized headers are refused with 431, and at most `max_connections`
//! connections are served at once — the next one waits until one closes.

use crate::common;

use std::time::Duration;

use common::{Options, TestServer, assert_problem};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_are_refused() {
    let server = TestServer::start().await;
    let big = "a".repeat(20 * 1024);
    let response = server
        .client
        .get(server.url("/healthz"))
        .header("x-padding", big)
        .send()
        .await
        .unwrap();
    assert_problem(response, 431, "headers_too_large").await;
    // Many small headers adding up count too.
    let mut request = server.client.get(server.url("/healthz"));
    for i in 0..40 {
        request = request.header(format!("x-h{i}"), "b".repeat(500));
    }
    assert_problem(request.send().await.unwrap(), 431, "headers_too_large").await;
    // Ordinary requests pass.
    let ok = server
        .client
        .get(server.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let server =
        TestServer::start_with(Options::default().configure(move |c| c.max_connections = 2)).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    // Two idle connections take both slots.
    let mut first = TcpStream::connect(&addr).await.unwrap();
    let second = TcpStream::connect(&addr).await.unwrap();
    first
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let fresh = reqwest::Client::new();
    let waiting = fresh
        .get(server.url("/healthz"))
        .timeout(Duration::from_millis(700))
        .send()
        .await;
    assert!(
        waiting.is_err(),
        "a third connection was served: {waiting:?}"
    );

    // One closes: the next connection is served.
    drop(first);
    let served = fresh
        .get(server.url("/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    drop(second);
}
