//! The edge's transport: HTTPS with rustls (HSTS only there), TLS 1.0/1.1 refused, the
//! certificate replaced while the server runs, and forwarding headers believed only from
//! trusted proxies. Transport does not depend on the database, so these run on SQLite.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use rampart_server::dev_cert;
use rampart_server::tls::TlsConfig;
use rampart_tests::{Backend, TestServer};

fn names() -> Vec<String> {
    dev_cert::DEFAULT_NAMES
        .iter()
        .map(|n| (*n).to_owned())
        .collect()
}

fn write_cert(dir: &std::path::Path) -> String {
    let cert = dev_cert::generate(&names()).unwrap();
    std::fs::write(dir.join("cert.pem"), &cert.cert_pem).unwrap();
    std::fs::write(dir.join("key.pem"), &cert.key_pem).unwrap();
    cert.ca_pem
}

fn https_client(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .https_only(true)
        .build()
        .unwrap()
}

async fn tls_server(dir: &std::path::Path) -> TestServer {
    let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
    TestServer::start_with(Backend::Sqlite, move |c| {
        c.tls = Some(TlsConfig {
            cert_file,
            key_file,
            profile: rampart_server::tls::TlsProfile::Intermediate,
            redirect_listen: None,
            reload_check_secs: 1,
        });
    })
    .await
}

#[tokio::test]
async fn https_is_served_with_hsts_and_a_replaced_certificate_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let first_ca = write_cert(dir.path());
    let server = tls_server(dir.path()).await;
    let url = format!(
        "https://localhost:{}/api/v1/openapi.json",
        server.addr.port()
    );

    let r = https_client(&first_ca).get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["strict-transport-security"],
        "max-age=63072000; includeSubDomains; preload"
    );

    // Plain HTTP on the TLS port gets no answer from the application.
    let plain = reqwest::get(format!(
        "http://localhost:{}/api/v1/openapi.json",
        server.addr.port()
    ))
    .await;
    assert!(
        plain.is_err() || plain.unwrap().status() != 200,
        "plain HTTP must not be served on the TLS port"
    );

    // A certificate from another CA is written; within the check interval it is served.
    let second_ca = write_cert(dir.path());
    let mut picked_up = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if https_client(&second_ca).get(&url).send().await.is_ok() {
            picked_up = true;
            break;
        }
    }
    assert!(picked_up, "the new certificate was not served");
    assert!(
        https_client(&first_ca).get(&url).send().await.is_err(),
        "the old certificate is no longer offered"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_broken_certificate_file_keeps_the_current_one() {
    let dir = tempfile::tempdir().unwrap();
    let ca = write_cert(dir.path());
    let server = tls_server(dir.path()).await;
    let url = format!(
        "https://localhost:{}/api/v1/openapi.json",
        server.addr.port()
    );
    std::fs::write(dir.path().join("cert.pem"), "not a certificate").unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let r = https_client(&ca).get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    server.stop().await;
}

#[tokio::test]
async fn plain_http_carries_no_hsts() {
    let server = TestServer::start(Backend::Sqlite).await;
    let r = server.client("acme").get("/api/v1/openapi.json").await;
    assert!(r.headers.get("strict-transport-security").is_none());
    server.stop().await;
}

#[tokio::test]
async fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    let deny = |c: &mut rampart_server::Config| {
        c.ip_deny = vec!["198.51.100.0/24".parse().unwrap()];
    };
    // No trusted proxy: a client naming a denied address in the header is not believed.
    let server = TestServer::start_with(Backend::Sqlite, deny).await;
    let anon = server.client("acme");
    let r = anon
        .send(
            anon.raw(reqwest::Method::GET, "/api/v1/openapi.json")
                .header("x-forwarded-for", "198.51.100.9"),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    server.stop().await;

    // Loopback is the trusted proxy: the address it forwards is judged.
    let server = TestServer::start_with(Backend::Sqlite, |c| {
        deny(c);
        c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let anon = server.client("acme");
    let r = anon
        .send(
            anon.raw(reqwest::Method::GET, "/api/v1/openapi.json")
                .header("x-forwarded-for", "198.51.100.9"),
        )
        .await;
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(r.body["code"], "ip_refused");
    // A forged left part does not help: the rightmost untrusted address counts.
    let r = anon
        .send(
            anon.raw(reqwest::Method::GET, "/api/v1/openapi.json")
                .header("x-forwarded-for", "203.0.113.1, 198.51.100.9"),
        )
        .await;
    assert_eq!(r.status, 403, "{r:?}");
    let r = anon
        .send(
            anon.raw(reqwest::Method::GET, "/api/v1/openapi.json")
                .header("x-forwarded-for", "198.51.100.9, 203.0.113.1"),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    server.stop().await;
}
