//! Graceful shutdown: a request already being received when the server is told to stop is
//! finished and answered (its write acknowledged), while new connections are refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_tests::{Backend, TestServer, backend_tests};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

backend_tests!(a_write_in_flight_at_shutdown_is_finished);

async fn read_until(sock: &mut TcpStream, marker: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(marker) {
        let n = sock.read(&mut buf).await.unwrap();
        assert!(
            n > 0,
            "connection closed before {marker:?}: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

async fn a_write_in_flight_at_shutdown_is_finished(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let p = owner.post("/api/v1/projects", json!({"name": "P"})).await;
    let t = owner
        .post(
            &format!("/api/v1/projects/{}/tables", p.body["id"].as_str().unwrap()),
            json!({"name": "T", "fields": [{"name": "n", "type": "integer"}]}),
        )
        .await;
    let table = t.body["id"].as_str().unwrap().to_owned();
    let token = owner
        .post("/api/v1/tokens", json!({"name": "t", "expires_in_days": 1}))
        .await
        .body["secret"]
        .as_str()
        .unwrap()
        .to_owned();

    // The client sends its headers and waits for `100 Continue`, which the server sends only
    // once the handler reads the body: from then on the request is in flight.
    let body = json!({"fields": {"n": 42}}).to_string();
    let mut sock = TcpStream::connect(server.addr).await.unwrap();
    let head = format!(
        "POST /api/v1/tables/{table}/records HTTP/1.1\r\nHost: acme.localhost\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    read_until(&mut sock, "100 Continue\r\n\r\n").await;

    server.signal_stop();
    // New connections are no longer taken once the listener has closed.
    let mut refused = false;
    for _ in 0..200 {
        if TcpStream::connect(server.addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(refused, "the listener still accepts after shutdown began");

    sock.write_all(body.as_bytes()).await.unwrap();
    let answer = read_until(&mut sock, "\"version\"").await;
    assert!(
        answer.contains("HTTP/1.1 201 Created"),
        "the in-flight write was answered: {answer}"
    );
    assert!(answer.contains("\"n\":42"), "{answer}");
    server.stop().await;
}
