//! The connection layer, spoken to over raw sockets: idle connections, however many and from
//! however many addresses, cannot keep a new client out; every connection has deadlines for
//! its first byte, its request heads and its idle time on both protocols; and what is refused
//! below the handlers is still a problem document with a request id.
//!
//! Connection handling does not touch the database, so these run on SQLite only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rampart_tests::{Backend, TestServer};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

async fn connect_from(addr: SocketAddr, source: [u8; 4]) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(IpAddr::from(source), 0))
        .unwrap();
    socket.connect(addr).await.unwrap()
}

/// An answer read off a socket the server closes after it.
#[derive(Debug)]
struct Raw {
    status: u16,
    head: String,
    body: Value,
}

/// Reads until the server closes the connection; `None` if it closed without a word.
async fn read_to_close(stream: &mut TcpStream) -> Option<Raw> {
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut bytes))
        .await
        .expect("the server closes the connection");
    if bytes.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Some(Raw {
        status: head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        head: head.to_ascii_lowercase(),
        body: serde_json::from_str(body).unwrap_or(Value::Null),
    })
}

fn assert_problem(r: &Raw, status: u16, code: &str) {
    assert_eq!(r.status, status, "{r:?}");
    assert_eq!(r.body["code"], code, "{r:?}");
    assert_eq!(r.body["status"], status, "{r:?}");
    assert!(
        r.body["request_id"].as_str().is_some_and(|s| s.len() == 32),
        "{r:?}"
    );
    assert!(
        r.head.contains("content-type: application/problem+json"),
        "{r:?}"
    );
    assert!(r.head.contains("x-content-type-options: nosniff"), "{r:?}");
}

const GET: &[u8] = b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: acme.localhost\r\n\r\n";

/// Whether a request on a fresh connection from `source` is answered 200.
async fn served(addr: SocketAddr, source: [u8; 4]) -> bool {
    let mut s = connect_from(addr, source).await;
    if s.write_all(GET).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).await.is_ok() && &buf == b"HTTP/1.1 200"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_from_many_addresses_cannot_keep_a_new_client_out() {
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.limits.max_connections = 64;
        c.limits.max_connections_per_range = 32;
        c.limits.max_connections_per_ip = 16;
    })
    .await;
    let header_timeout = Duration::from_secs(server.config.limits.header_read_timeout_secs);
    // Four /24 ranges, two addresses each, twice the per-address cap from each: every cap is
    // passed, by connections that send nothing.
    let mut idle = Vec::new();
    for range in 1..=4u8 {
        for host in 1..=2u8 {
            for _ in 0..32 {
                idle.push(connect_from(server.addr, [127, 1, range, host]).await);
            }
        }
    }
    // An honest client, from a fifth range and from one of the flooding addresses' range,
    // is served at once: idle connections made room for it.
    for source in [[127, 0, 0, 1], [127, 1, 1, 3]] {
        let ok = tokio::time::timeout(header_timeout, served(server.addr, source)).await;
        assert_eq!(
            ok.ok(),
            Some(true),
            "a new client from {source:?} is served"
        );
    }
    // The server closed idle connections to make room: no more than the cap stay open.
    let mut open: Vec<TcpStream> = idle;
    for _ in 0..1000 {
        let mut still = Vec::new();
        for mut s in open {
            let mut b = [0u8; 1];
            match tokio::time::timeout(Duration::from_millis(1), s.read(&mut b)).await {
                Ok(Ok(0) | Err(_)) => {}
                _ => still.push(s),
            }
        }
        open = still;
        if open.len() <= 64 {
            break;
        }
    }
    assert!(
        open.len() <= 64,
        "{} idle connections still open",
        open.len()
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_slow_and_idle_connections_are_closed_on_both_protocols() {
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.limits.header_read_timeout_secs = 1;
        c.limits.idle_timeout_secs = 1;
    })
    .await;
    // Nothing sent: closed without a word after the first-byte deadline.
    let mut silent = connect_from(server.addr, [127, 0, 0, 1]).await;
    assert!(read_to_close(&mut silent).await.is_none());
    // Half a head: 408 once the head's deadline passes.
    let mut slow = connect_from(server.addr, [127, 0, 0, 1]).await;
    slow.write_all(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: acme.lo")
        .await
        .unwrap();
    assert_problem(
        &read_to_close(&mut slow).await.unwrap(),
        408,
        "request_header_timeout",
    );
    // Keep-alive after an answer: closed once idle for the idle time-out.
    let mut kept = connect_from(server.addr, [127, 0, 0, 1]).await;
    kept.write_all(GET).await.unwrap();
    let r = read_to_close(&mut kept).await.unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    // The internal listener too.
    let mut internal = connect_from(server.internal_addr, [127, 0, 0, 1]).await;
    assert!(read_to_close(&mut internal).await.is_none());
    // HTTP/2 with prior knowledge: a connection without streams gets GOAWAY, then is closed.
    let mut h2 = connect_from(server.addr, [127, 0, 0, 1]).await;
    h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    let mut frames = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), h2.read_to_end(&mut frames))
        .await
        .expect("the server closes the idle HTTP/2 connection");
    let mut at = 0;
    let mut goaway = false;
    while at + 9 <= frames.len() {
        let len = usize::from(frames[at]) << 16
            | usize::from(frames[at + 1]) << 8
            | usize::from(frames[at + 2]);
        goaway |= frames[at + 3] == 7;
        at += 9 + len;
    }
    assert!(goaway, "the server said GOAWAY: {frames:?}");
    server.stop().await;
}

async fn send(addr: SocketAddr, bytes: &[u8]) -> Raw {
    let mut s = connect_from(addr, [127, 0, 0, 7]).await;
    s.write_all(bytes).await.unwrap();
    read_to_close(&mut s).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_below_the_handlers_are_problem_documents() {
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.limits.body_idle_timeout_secs = 1;
        c.limits.body_bytes = 1024;
    })
    .await;
    let source = [127, 0, 0, 7];
    let addr = server.addr;
    let header_bytes = server.config.limits.header_bytes;
    let big = format!(
        "GET / HTTP/1.1\r\nHost: acme.localhost\r\nX-Big: {}\r\n\r\n",
        "a".repeat(header_bytes)
    );
    assert_problem(
        &send(addr, big.as_bytes()).await,
        431,
        "request_header_too_large",
    );
    assert_problem(
        &send(addr, b"GET /a b c d\r\nHost: acme.localhost\r\n\r\n").await,
        400,
        "malformed_request",
    );
    assert_problem(
        &send(addr, b"GET / HTTP/1.1\r\nHost acme.localhost\r\n\r\n").await,
        400,
        "malformed_request",
    );
    // What the router refuses, on a connection the client closes after one request.
    let request = |method: &str, path: &str, content_type: &str, body: &str| {
        format!(
            "{method} {path} HTTP/1.1\r\nHost: acme.localhost\r\nConnection: close\r\n\
             Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    for (req, status, code) in [
        (
            request("DELETE", "/api/v1/openapi.json", "text/plain", ""),
            405,
            "method_not_allowed",
        ),
        (
            request("POST", "/api/v1/auth/login", "text/plain", "x"),
            415,
            "unsupported_media_type",
        ),
        (
            request(
                "POST",
                "/api/v1/auth/login",
                "application/json",
                &"x".repeat(2000),
            ),
            413,
            "payload_too_large",
        ),
        (
            request(
                "POST",
                "/api/v1/auth/login",
                "application/json",
                r#"{"email":"a@b.test","password":"x","email":"c@d.test"}"#,
            ),
            400,
            "validation_failed",
        ),
        (
            request("GET", "/api/v1/openapi.json?x=%FF", "text/plain", ""),
            400,
            "invalid_encoding",
        ),
    ] {
        let r = send(addr, req.as_bytes()).await;
        assert_problem(&r, status, code);
        if code == "validation_failed" {
            assert_eq!(r.body["errors"][0]["code"], "duplicate_key", "{r:?}");
            assert_eq!(r.body["errors"][0]["field"], "email", "{r:?}");
        }
    }
    // A body that never arrives: 408, not 503.
    let mut stalled = connect_from(server.addr, source).await;
    stalled
        .write_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: acme.localhost\r\n\
              Content-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"em",
        )
        .await
        .unwrap();
    let r = read_to_close(&mut stalled).await.unwrap();
    assert_problem(&r, 408, "body_timeout");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_finding_every_slot_busy_is_refused_in_words() {
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        c.limits.max_connections_per_ip = 2;
        c.limits.max_connections_per_range = 2;
        c.limits.body_idle_timeout_secs = 300;
    })
    .await;
    let source = [127, 0, 0, 8];
    // Both connections of an address busy with a request: the server has asked for their
    // bodies (100 Continue), so they are in its hands.
    let mut busy = Vec::new();
    for _ in 0..2 {
        let mut s = connect_from(server.addr, source).await;
        s.write_all(
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: acme.localhost\r\nExpect: 100-continue\r\n\
              Content-Type: application/json\r\nContent-Length: 40\r\n\r\n",
        )
        .await
        .unwrap();
        let mut interim = [0u8; 25];
        s.read_exact(&mut interim).await.unwrap();
        assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
        busy.push(s);
    }
    let mut third = connect_from(server.addr, source).await;
    let _ = third.write_all(GET).await;
    let refused = read_to_close(&mut third).await.unwrap();
    assert_problem(&refused, 503, "connection_limit");
    assert!(refused.head.contains("retry-after: 1"), "{refused:?}");
    // Another address is not affected.
    assert!(served(server.addr, [127, 0, 1, 8]).await);
    drop(busy);
    server.stop().await;
}
