//! The browser UI served by the binary: the page at `/` and at every app route with its own
//! strict policy, content-hashed files cached for a year and revalidated by entity tag, and
//! nothing of the UI's answering for the API or for files that do not exist.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;

use rampart_server::ui::PAGE_CSP;
use rampart_tests::{Backend, TestServer, backend_tests};

backend_tests!(the_ui_is_served_with_its_policy_and_caching);

async fn the_ui_is_served_with_its_policy_and_caching(backend: Backend) {
    let server = TestServer::start(backend).await;
    let anon = server.client("acme");
    let _owner = server.owner("acme").await;

    let mut script = None;
    for route in ["/", "/setup", "/projects/01a2", "/tables/x/y"] {
        let r = anon.get(route).await;
        assert_eq!(r.status, 200, "{route}");
        assert!(r.text.contains("<div id=\"app\">"), "{route}");
        assert_eq!(r.headers["content-security-policy"], PAGE_CSP, "{route}");
        assert_eq!(r.headers["cache-control"], "no-store, max-age=0");
        assert_eq!(r.headers["x-frame-options"], "DENY");
        assert!(
            r.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let src = r
            .text
            .split("src=\"")
            .nth(1)
            .and_then(|s| s.split('"').next());
        script = src.map(str::to_owned);
    }
    let script = script.expect("the page loads a script");
    assert!(script.starts_with("/assets/") && script.ends_with(".js"));

    let js = anon.get(&script).await;
    assert_eq!(js.status, 200);
    assert_eq!(
        js.headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(js.headers.get("pragma").is_none());
    assert!(
        js.headers["content-type"]
            .to_str()
            .unwrap()
            .contains("javascript")
    );
    // The API's policy, which forbids everything: a script file is not a document.
    assert_ne!(js.headers["content-security-policy"], PAGE_CSP);
    let etag = js.headers["etag"].to_str().unwrap().to_owned();
    let again = anon
        .send(
            anon.raw(reqwest::Method::GET, &script)
                .header("if-none-match", &etag),
        )
        .await;
    assert_eq!(again.status, 304);
    assert!(again.text.is_empty());

    // Gzip for a client that takes it, under its own validator; it decodes to the same file.
    let gz = anon
        .raw(reqwest::Method::GET, &script)
        .header("accept-encoding", "gzip, deflate, br")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    assert_eq!(gz.headers()["vary"], "accept-encoding");
    let gz_etag = gz.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(gz_etag, etag);
    let packed = gz.bytes().await.unwrap();
    assert!(packed.len() < js.text.len() / 2);
    let mut unpacked = String::new();
    flate2::read::GzDecoder::new(&packed[..])
        .read_to_string(&mut unpacked)
        .unwrap();
    assert_eq!(unpacked, js.text);
    let again = anon
        .send(
            anon.raw(reqwest::Method::GET, &script)
                .header("accept-encoding", "gzip")
                .header("if-none-match", &gz_etag),
        )
        .await;
    assert_eq!(again.status, 304);
    // Refused with a zero quality: the file as it is.
    let plain = anon
        .send(
            anon.raw(reqwest::Method::GET, &script)
                .header("accept-encoding", "gzip;q=0, br"),
        )
        .await;
    assert!(plain.headers.get("content-encoding").is_none());
    assert_eq!(plain.text, js.text);
    // API answers are never compressed (no compression oracle on anything holding a secret).
    let api = anon
        .send(
            anon.raw(reqwest::Method::GET, "/api/v1/openapi.json")
                .header("accept-encoding", "gzip"),
        )
        .await;
    assert!(api.headers.get("content-encoding").is_none());

    // Not the UI: the API's unknown routes, missing files, other methods, and paths that
    // try to leave the UI's folder.
    for (method, path) in [
        (reqwest::Method::GET, "/api/v1/nope"),
        (reqwest::Method::GET, "/api"),
        (reqwest::Method::GET, "/favicon.ico"),
        (reqwest::Method::GET, "/metrics"),
        (reqwest::Method::GET, "/readyz"),
        (reqwest::Method::GET, "/assets/nope.js"),
        (reqwest::Method::GET, "/assets/../../Cargo.toml"),
        (reqwest::Method::GET, "/assets/%2e%2e/index.html"),
        (reqwest::Method::POST, "/projects"),
        (reqwest::Method::DELETE, "/"),
    ] {
        let r = anon.send(anon.raw(method.clone(), path)).await;
        assert!(
            r.status == 404 || r.status == 405,
            "{method} {path}: {}",
            r.status
        );
        assert!(!r.text.contains("<div id=\"app\">"), "{method} {path}");
        assert!(
            r.headers["content-type"]
                .to_str()
                .unwrap()
                .contains("problem+json")
        );
    }
}
