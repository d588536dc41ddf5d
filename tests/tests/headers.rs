//! The edge: security headers on every answer of the public listener (successes, problems,
//! unknown routes and hosts, before and after authentication), and bodies nested too deep
//! refused before parsing, and client address rules applied first.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_server::security_headers::HEADERS;
use rampart_tests::{Backend, Resp, TestServer, backend_tests};
use serde_json::json;

backend_tests!(
    every_answer_carries_the_security_headers,
    bodies_nested_too_deep_are_refused,
    client_addresses_are_judged_before_anything_else,
);

fn check(what: &str, r: &Resp) {
    for (name, value) in HEADERS {
        assert_eq!(
            r.headers.get(*name).map(|v| v.to_str().unwrap()),
            Some(*value),
            "{what}: {name} in {:?}",
            r.headers
        );
    }
    assert!(
        r.headers.get("server").is_none(),
        "{what}: no server banner"
    );
}

async fn every_answer_carries_the_security_headers(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let anon = server.client("acme");
    check("openapi", &anon.get("/api/v1/openapi.json").await);
    check("signed in", &owner.get("/api/v1/me").await);
    check("unauthenticated", &anon.get("/api/v1/me").await);
    check("unknown route", &anon.get("/api/nope").await);
    check(
        "wrong method",
        &anon
            .send(anon.raw(reqwest::Method::PUT, "/api/v1/openapi.json"))
            .await,
    );
    check(
        "unknown host",
        &server.client("nobody").get("/api/v1/me").await,
    );
    check(
        "failed login",
        &anon
            .post(
                "/api/v1/auth/login",
                json!({"email": "x@acme.test", "password": "wrong one here"}),
            )
            .await,
    );
    check(
        "bad json",
        &owner.post("/api/v1/projects", json!({"name": 5})).await,
    );
    server.stop().await;
}

async fn bodies_nested_too_deep_are_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let deep = format!(
        r#"{{"name": "P", "x": {}1{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let r = owner
        .send(
            owner
                .raw(reqwest::Method::POST, "/api/v1/projects")
                .header("content-type", "application/json")
                .body(deep),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "json_too_deep"), "{r:?}");
    check("too deep", &r);
    assert_eq!(owner.get("/api/v1/projects").await.body, json!([]));
    server.stop().await;
}

async fn client_addresses_are_judged_before_anything_else(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.ip_allow = vec!["127.0.0.0/29".parse().unwrap()];
        c.ip_deny = vec!["127.0.0.5/32".parse().unwrap()];
    })
    .await;
    let owner = server.owner("acme").await;
    assert_eq!(owner.get("/api/v1/me").await.status, 200);
    let anon = server.client("acme");
    assert_eq!(
        anon.from_loopback(3)
            .get("/api/v1/openapi.json")
            .await
            .status,
        200
    );
    for n in [5, 9] {
        let r = anon.from_loopback(n).get("/api/v1/openapi.json").await;
        assert_eq!((r.status, r.code()), (403, "ip_refused"), "127.0.0.{n}");
        check("refused address", &r);
        // Refused before authentication: even a valid session does not help.
        let r = owner.from_loopback(n).get("/api/v1/me").await;
        assert_eq!(r.code(), "ip_refused");
    }
    server.stop().await;
}
