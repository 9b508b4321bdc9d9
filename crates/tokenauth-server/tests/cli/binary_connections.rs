//! The real binary's connections over real sockets (issue 15 items 13 and 14): a silent client
//! and one trickling a request head are closed after `header_read_timeout`, a keep-alive
//! connection lives `idle_timeout` between requests, one address cannot hold more than
//! `max_connections_per_ip` connections while another is still served, and SIGTERM ends within
//! `shutdown_timeout` even while a client holds a half-sent request head.

use crate::common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::process::{Server, workdir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Generous bound on anything that should happen "soon" on a loaded machine.
const SOON: Duration = Duration::from_secs(30);

/// A request head, complete.
const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: tokenauth\r\n\r\n";

fn address(server: &Server) -> SocketAddr {
    server.base.trim_start_matches("http://").parse().unwrap()
}

/// A connection to `server` from the local address `from` (any of 127.0.0.0/8 on Linux).
async fn connect_from(server: &Server, from: [u8; 4]) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(address(server)).await.unwrap()
}

/// Reads until the server closes the connection (EOF or reset); everything it sent before.
/// Panics if it stays open for [`SOON`].
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut received = Vec::new();
    let closed = tokio::time::timeout(SOON, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server kept the connection open for {SOON:?}"
    );
    received
}

/// Sends one request on `stream` and reads its whole response (`content-length` bodies).
async fn exchange(stream: &mut TcpStream, request: &[u8]) -> String {
    stream.write_all(request).await.unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let answered = tokio::time::timeout(SOON, async {
        loop {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before the response was complete");
            received.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&received);
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if body.len() >= length {
                    return text.into_owned();
                }
            }
        }
    })
    .await;
    answered.unwrap_or_else(|_| panic!("no response within {SOON:?}"))
}

/// Whether an ordinary client is served (within a generous bound).
async fn served(server: &Server) -> bool {
    let response = server
        .client
        .get(server.url("/healthz"))
        .timeout(SOON)
        .send()
        .await;
    response.is_ok_and(|r| r.status() == 200)
}

#[tokio::test]
async fn silent_and_trickling_connections_are_closed_after_the_header_timeout() {
    let (_temp, dir) = workdir();
    let server = Server::start_with(&dir, |c| {
        c.args(["--header-read-timeout", "1s", "--idle-timeout", "30s"]);
    })
    .await;

    // A connection that sends nothing.
    let started = Instant::now();
    let mut silent = TcpStream::connect(address(&server)).await.unwrap();
    let sent = read_until_closed(&mut silent).await;
    assert!(sent.is_empty(), "no response to no request");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "closed before the header timeout: {:?}",
        started.elapsed()
    );

    // A request head sent one byte at a time, never finished.
    let mut trickle = TcpStream::connect(address(&server)).await.unwrap();
    let (mut reader, mut writer) = trickle.split();
    let partial = b"GET /healthz HTTP/1.1\r\nhost: tokenauth\r\nx-slow: ".repeat(20);
    let closed = tokio::time::timeout(SOON, async {
        let mut buf = [0u8; 64];
        for byte in partial.iter().cycle() {
            tokio::select! {
                read = reader.read(&mut buf) => {
                    if matches!(read, Ok(0) | Err(_)) {
                        return true;
                    }
                }
                () = tokio::time::sleep(Duration::from_millis(100)) => {
                    if writer.write_all(&[*byte]).await.is_err() {
                        return true;
                    }
                }
            }
        }
        false
    })
    .await;
    assert_eq!(closed, Ok(true), "a trickled head is cut off");

    // Others are served meanwhile and afterwards.
    assert!(served(&server).await);
}

#[tokio::test]
async fn a_keep_alive_connection_lives_the_idle_timeout_not_the_header_timeout() {
    let (_temp, dir) = workdir();
    let server = Server::start_with(&dir, |c| {
        c.args(["--header-read-timeout", "1s", "--idle-timeout", "6s"]);
    })
    .await;
    let mut stream = TcpStream::connect(address(&server)).await.unwrap();
    assert!(
        exchange(&mut stream, HEALTHZ)
            .await
            .starts_with("HTTP/1.1 200")
    );
    // Idle longer than the header timeout (well within the idle one): still open.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        exchange(&mut stream, HEALTHZ)
            .await
            .starts_with("HTTP/1.1 200")
    );
    // Then idle past the idle timeout: closed.
    let started = Instant::now();
    assert!(read_until_closed(&mut stream).await.is_empty());
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn one_address_cannot_take_the_listener() {
    let (_temp, dir) = workdir();
    let server = Server::start_with(&dir, |c| {
        c.args([
            "--max-connections",
            "16",
            "--max-connections-per-ip",
            "4",
            "--header-read-timeout",
            "60s",
        ]);
    })
    .await;
    // 127.0.0.3 opens far more idle connections than the whole listener holds.
    let mut hog = Vec::new();
    for _ in 0..24 {
        hog.push(connect_from(&server, [127, 0, 0, 3]).await);
    }
    // Beyond its four, each is closed without an answer.
    let mut extra = connect_from(&server, [127, 0, 0, 3]).await;
    let _ = extra.write_all(HEALTHZ).await;
    let answer = read_until_closed(&mut extra).await;
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));

    // Another address is served at once.
    let mut other = connect_from(&server, [127, 0, 0, 2]).await;
    assert!(
        exchange(&mut other, HEALTHZ)
            .await
            .starts_with("HTTP/1.1 200")
    );
    assert!(served(&server).await, "127.0.0.1 too");

    // When the address lets connections go, it gets slots again.
    drop(hog);
    let deadline = Instant::now() + SOON;
    loop {
        let mut again = connect_from(&server, [127, 0, 0, 3]).await;
        if again.write_all(HEALTHZ).await.is_ok() {
            let answer = String::from_utf8_lossy(&read_until_closed_or_answered(&mut again).await)
                .into_owned();
            if answer.starts_with("HTTP/1.1 200") {
                break;
            }
        }
        assert!(Instant::now() < deadline, "slots never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let scrape = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let refused = scrape
        .lines()
        .find(|l| l.starts_with("tokenauth_connections_refused_total{reason=\"per_ip_limit\"}"))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no refused-connection count in:\n{scrape}"));
    assert!(refused >= 21.0, "{refused}");
}

/// What the server sends before it closes or first answers (whichever comes first).
async fn read_until_closed_or_answered(stream: &mut TcpStream) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(SOON, stream.read(&mut buf)).await {
        Ok(Ok(n)) => buf[..n].to_vec(),
        _ => Vec::new(),
    }
}

#[tokio::test]
async fn sigterm_ends_within_the_shutdown_timeout_despite_a_half_sent_head() {
    let (_temp, dir) = workdir();
    let mut server = Server::start_with(&dir, |c| {
        c.args(["--shutdown-timeout", "2s", "--header-read-timeout", "120s"]);
    })
    .await;
    let mut held = TcpStream::connect(address(&server)).await.unwrap();
    held.write_all(b"GET /healthz HTTP/1.1\r\nhost: tokenauth\r\n")
        .await
        .unwrap();
    // The server has taken the connection (and the partial head) when it serves the next one.
    assert!(served(&server).await);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let status = server.terminate(Duration::from_secs(2) + SOON);
    let log = server.log_text();
    assert_eq!(status.code(), Some(0), "{status}: {log}");
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "the drain waited for the open connection: {:?}",
        started.elapsed()
    );
    assert!(
        log.contains("closing them"),
        "the forced close is logged: {log}"
    );
    assert!(
        log.contains("database closed"),
        "the clean close is logged: {log}"
    );
    assert!(log.contains("tokenauth stopped"), "{log}");
    assert!(read_until_closed(&mut held).await.is_empty());
}
