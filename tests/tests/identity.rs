//! Identity, end to end: setup, login, sessions, tokens, CSRF, tenants by host, roles.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_tests::{Backend, PASSWORD, TestServer, backend_tests};
use reqwest::Method;
use serde_json::json;

backend_tests!(
    setup_token_creates_the_first_owner_once,
    login_failures_do_not_tell_whether_the_account_exists,
    session_cookie_is_host_prefixed_and_strict,
    every_endpoint_outside_the_allow_list_requires_authentication,
    cookie_writes_need_same_origin_proof,
    api_tokens_are_shown_once_expire_and_can_be_revoked,
    hosts_select_tenants_and_unknown_hosts_get_404,
    suspended_tenants_are_refused,
    logout_ends_the_session,
    tenant_roles_limit_user_administration,
    problems_are_rfc9457_with_request_ids,
    bad_bodies_get_clear_errors,
);

async fn setup_token_creates_the_first_owner_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.setup_token("acme").await;
    let c = server.client("acme");
    let body = |t: &str| json!({"token": t, "email": "boss@acme.test", "password": PASSWORD});

    let bad = c.post("/api/v1/setup", body("rps_notavalidtoken")).await;
    assert_eq!((bad.status, bad.code()), (400, "validation_failed"));
    assert_eq!(bad.body["errors"][0]["field"], "token");

    let weak = c
        .post(
            "/api/v1/setup",
            json!({"token": token, "email": "boss@acme.test", "password": "short"}),
        )
        .await;
    assert_eq!(weak.status, 400);
    assert_eq!(weak.body["errors"][0]["code"], "password_too_short");

    let ok = c.post("/api/v1/setup", body(&token)).await;
    assert_eq!(ok.status, 201, "{ok:?}");
    assert_eq!(ok.body["role"], "owner");

    let again = c.post("/api/v1/setup", body(&token)).await;
    assert_eq!(again.status, 400, "a setup token is single use");

    // Even a fresh token cannot create a second owner once the tenant has users.
    let fresh = server.setup_token("acme").await;
    let r = c
        .post(
            "/api/v1/setup",
            json!({"token": fresh, "email": "x@acme.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 400);

    // A token of one tenant is worthless on another.
    let default_token = server.setup_token("default").await;
    let r = c.post("/api/v1/setup", body(&default_token)).await;
    assert_eq!(r.status, 400);
    server.stop().await;
}

async fn login_failures_do_not_tell_whether_the_account_exists(backend: Backend) {
    let server = TestServer::start(backend).await;
    let _owner = server.owner("acme").await;
    let c = server.client("acme");
    let wrong_password = c
        .post(
            "/api/v1/auth/login",
            json!({"email": "owner@acme.test", "password": "wrong password!"}),
        )
        .await;
    let unknown = c
        .post(
            "/api/v1/auth/login",
            json!({"email": "nobody@acme.test", "password": "wrong password!"}),
        )
        .await;
    assert_eq!(wrong_password.status, 401);
    assert_eq!(unknown.status, 401);
    let strip = |mut v: serde_json::Value| {
        v.as_object_mut().unwrap().remove("request_id");
        v
    };
    assert_eq!(
        strip(wrong_password.body.clone()),
        strip(unknown.body.clone())
    );
    assert_eq!(wrong_password.code(), "invalid_credentials");
    // Same email on another tenant is another account.
    let other = server
        .client("default")
        .post(
            "/api/v1/auth/login",
            json!({"email": "owner@acme.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(other.status, 401);
    server.stop().await;
}

async fn session_cookie_is_host_prefixed_and_strict(backend: Backend) {
    let server = TestServer::start(backend).await;
    let _owner = server.owner("acme").await;
    let r = server
        .client("acme")
        .post(
            "/api/v1/auth/login",
            json!({"email": "owner@acme.test", "password": PASSWORD}),
        )
        .await;
    let cookie = r
        .headers
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        cookie.starts_with("__Host-rampart_session=rss_"),
        "{cookie}"
    );
    for attr in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(cookie.contains(attr), "{cookie} lacks {attr}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    // Only the hash of the session id is stored.
    let value = cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let (_, ts) = server.tenant("acme").await;
    let stored = ts
        .read(move |tx: &mut rampart_store::Tx| {
            Box::pin(async move {
                let mut q = tx.sql();
                q.push("SELECT id_hash FROM sessions");
                let rows = tx.fetch_all(q).await?;
                rows.iter()
                    .map(|r| r.bytes(0))
                    .collect::<Result<Vec<_>, _>>()
            })
        })
        .await
        .unwrap();
    assert!(
        stored
            .iter()
            .all(|h| h.len() == 32 && h.as_slice() != value.as_bytes())
    );
    server.stop().await;
}

async fn every_endpoint_outside_the_allow_list_requires_authentication(backend: Backend) {
    let server = TestServer::start(backend).await;
    let anon = server.client("acme");
    let doc = anon.get("/api/v1/openapi.json").await;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.body["openapi"], "3.1.0");
    let paths = doc.body["paths"].as_object().unwrap();
    let mut checked = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let public = rampart_server::openapi::PUBLIC_ENDPOINTS
                .contains(&(method.as_str(), path.as_str()));
            // Fill path parameters with syntactically valid ids.
            let concrete = path
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') {
                        uuid::Uuid::now_v7().to_string()
                    } else {
                        seg.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = anon.send(anon.raw(m, &concrete).json(&json!({}))).await;
            if public {
                assert_ne!(r.status, 401, "{method} {path} is public");
                assert!(
                    op.get("security").is_none(),
                    "{method} {path} documents security but is public"
                );
            } else {
                assert_eq!(
                    r.status, 401,
                    "{method} {path} answered {} without authentication",
                    r.status
                );
                assert_eq!(r.code(), "unauthenticated");
                assert!(
                    op.get("security").is_some(),
                    "{method} {path} does not document its security"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 10, "only {checked} protected operations found");
    // A garbage token and a garbage cookie are no better than nothing.
    let r = anon.with_token("rpt_garbage").get("/api/v1/me").await;
    assert_eq!(r.status, 401);
    let mut forged = anon.clone();
    forged.session = Some("rss_forged".into());
    assert_eq!(forged.get("/api/v1/me").await.status, 401);
    server.stop().await;
}

async fn cookie_writes_need_same_origin_proof(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let body = json!({"name": "P"});
    let mut no_proof = owner.clone();
    no_proof.same_origin = false;
    let r = no_proof.post("/api/v1/projects", body.clone()).await;
    assert_eq!((r.status, r.code()), (403, "csrf_check_failed"));

    // A sibling tenant is same-site but not same-origin.
    let r = owner
        .send(
            owner
                .raw(Method::POST, "/api/v1/projects")
                .header("sec-fetch-site", "same-site")
                .json(&body),
        )
        .await;
    assert_eq!(r.status, 403, "same-site must be refused");
    let mut q = no_proof.raw(Method::POST, "/api/v1/projects").json(&body);
    q = q.header(
        "cookie",
        format!("__Host-rampart_session={}", owner.session.clone().unwrap()),
    );
    let r = no_proof
        .send(q.header("origin", "http://default.localhost:1"))
        .await;
    assert_eq!(r.status, 403, "a foreign Origin is refused");

    let r = no_proof
        .send(
            no_proof
                .raw(Method::POST, "/api/v1/projects")
                .header(
                    "cookie",
                    format!("__Host-rampart_session={}", owner.session.clone().unwrap()),
                )
                .header("origin", owner.origin())
                .json(&body),
        )
        .await;
    assert_eq!(r.status, 201, "our own Origin is accepted: {r:?}");

    // Reads need no proof; nothing was created by the refused writes.
    let list = no_proof.get("/api/v1/projects").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.body.as_array().unwrap().len(), 1);

    // Bearer tokens are not sent by browsers on their own, so they need no proof.
    let token = owner
        .post(
            "/api/v1/tokens",
            json!({"name": "ci", "expires_in_days": 1}),
        )
        .await
        .body["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut bearer = owner.with_token(&token);
    bearer.same_origin = false;
    assert_eq!(
        bearer
            .post("/api/v1/projects", json!({"name": "Q"}))
            .await
            .status,
        201
    );
    server.stop().await;
}

async fn api_tokens_are_shown_once_expire_and_can_be_revoked(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let r = owner.post("/api/v1/tokens", json!({"name": "ci"})).await;
    assert_eq!(r.status, 201, "without an expiry the default applies");
    let expires =
        chrono::DateTime::parse_from_rfc3339(r.body["token"]["expires_at"].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc);
    let days = (expires - chrono::Utc::now()).num_hours() as f64 / 24.0;
    assert!(
        (89.9..=90.1).contains(&days),
        "default lifetime 90 days, got {days}"
    );
    let default_id = r.body["token"]["id"].as_str().unwrap().to_owned();
    let r = owner.delete(&format!("/api/v1/tokens/{default_id}")).await;
    assert_eq!(r.status, 204);
    let r = owner
        .post(
            "/api/v1/tokens",
            json!({"name": "ci", "expires_in_days": 100000}),
        )
        .await;
    assert_eq!(r.status, 400);

    let r = owner
        .post(
            "/api/v1/tokens",
            json!({"name": "ci", "expires_in_days": 30}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    let id = r.body["token"]["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("rpt_") && secret.len() == 53, "{secret}");

    let api = owner.with_token(&secret);
    let me = api.get("/api/v1/me").await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["email"], "owner@acme.test");

    let list = owner.get("/api/v1/tokens").await;
    assert_eq!(list.status, 200);
    assert!(
        !list.text.contains(&secret),
        "the secret is never shown again"
    );
    assert!(list.body[0]["last_used_at"].is_string(), "{:?}", list.body);

    // A token belongs to its tenant.
    let elsewhere = server.client("default").with_token(&secret);
    assert_eq!(elsewhere.get("/api/v1/me").await.status, 401);

    // One character off fails the checksum.
    let mut typo = secret.clone().into_bytes();
    typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    assert_eq!(owner.with_token(&typo).get("/api/v1/me").await.status, 401);

    assert_eq!(
        owner.delete(&format!("/api/v1/tokens/{id}")).await.status,
        204
    );
    assert_eq!(api.get("/api/v1/me").await.status, 401);
    assert_eq!(
        owner.delete(&format!("/api/v1/tokens/{id}")).await.status,
        404
    );
    server.stop().await;
}

async fn hosts_select_tenants_and_unknown_hosts_get_404(backend: Backend) {
    let server = TestServer::start(backend).await;
    let acme = server.owner("acme").await;
    let r = server
        .client_for_host("nosuch.localhost")
        .get("/api/v1/me")
        .await;
    assert_eq!((r.status, r.code()), (404, "not_found"));
    let r = server
        .client_for_host("evil.example")
        .get("/api/v1/openapi.json")
        .await;
    assert_eq!(r.status, 404);
    // The bare base domain and IP literals select the default tenant.
    let r = server
        .client_for_host("localhost")
        .post(
            "/api/v1/auth/login",
            json!({"email": "owner@acme.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        r.status, 401,
        "acme's owner is not a user of the default tenant"
    );
    let r = server
        .client_for_host("127.0.0.1")
        .get("/api/v1/openapi.json")
        .await;
    assert_eq!(r.status, 200);
    // acme's cookie does not work on the default tenant.
    let mut stolen = server.client("default");
    stolen.session = acme.session.clone();
    assert_eq!(stolen.get("/api/v1/me").await.status, 401);
    server.stop().await;
}

async fn suspended_tenants_are_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let acme = server.owner("acme").await;
    server
        .store
        .set_tenant_status("acme", rampart_store::TenantStatus::Suspended)
        .await
        .unwrap();
    let r = acme.get("/api/v1/me").await;
    assert_eq!((r.status, r.code()), (403, "tenant_suspended"));
    server
        .store
        .set_tenant_status("acme", rampart_store::TenantStatus::Active)
        .await
        .unwrap();
    assert_eq!(acme.get("/api/v1/me").await.status, 200);
    server.store.delete_tenant("acme").await.unwrap();
    assert_eq!(acme.get("/api/v1/me").await.status, 404);
    server.stop().await;
}

async fn logout_ends_the_session(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    assert_eq!(owner.get("/api/v1/me").await.status, 200);
    let r = owner.post("/api/v1/auth/logout", json!({})).await;
    assert_eq!(r.status, 204);
    assert!(
        r.headers
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(owner.get("/api/v1/me").await.status, 401);
    server.stop().await;
}

async fn tenant_roles_limit_user_administration(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let admin = server
        .user(&owner, "acme", "admin@acme.test", "admin")
        .await;
    let member = server
        .user(&owner, "acme", "member@acme.test", "member")
        .await;

    assert_eq!(member.get("/api/v1/users").await.status, 403);
    let r = member
        .post(
            "/api/v1/users",
            json!({"email": "x@acme.test", "display_name": "x", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 403);

    let r = admin
        .post("/api/v1/users", json!({"email": "o2@acme.test", "display_name": "o2", "password": PASSWORD, "role": "owner"}))
        .await;
    assert_eq!(r.status, 403, "admins cannot create owners");
    let users = admin.get("/api/v1/users").await;
    assert_eq!(
        users.body.as_array().unwrap().len(),
        3,
        "nothing was created"
    );

    let r = admin
        .post(
            "/api/v1/users",
            json!({"email": "member@acme.test", "display_name": "dup", "password": PASSWORD}),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "name_taken"));

    // The last owner cannot be demoted.
    let me = owner.get("/api/v1/me").await.body;
    let id = me["id"].as_str().unwrap();
    let r = owner
        .patch(&format!("/api/v1/users/{id}"), json!({"role": "member"}))
        .await;
    assert_eq!((r.status, r.code()), (409, "last_owner"));

    // Disabling a user ends their sessions.
    let member_id = member.get("/api/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = admin
        .patch(
            &format!("/api/v1/users/{member_id}"),
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(member.get("/api/v1/me").await.status, 401);
    server.stop().await;
}

async fn problems_are_rfc9457_with_request_ids(backend: Backend) {
    let server = TestServer::start(backend).await;
    let r = server.client("acme").get("/api/v1/me").await;
    assert_eq!(r.status, 401);
    assert_eq!(r.headers["content-type"], "application/problem+json");
    assert_eq!(r.body["type"], "urn:rampart:problem:unauthenticated");
    assert_eq!(r.body["status"], 401);
    assert!(r.body["title"].is_string());
    let header_id = r.headers["x-request-id"].to_str().unwrap();
    assert_eq!(r.body["request_id"], header_id);
    let r = server.client("acme").get("/api/v1/nothing-here").await;
    assert_eq!((r.status, r.code()), (404, "not_found"));
    let r = server
        .client("acme")
        .send(server.client("acme").raw(Method::PUT, "/api/v1/me"))
        .await;
    assert_eq!((r.status, r.code()), (405, "method_not_allowed"));
    server.stop().await;
}

async fn bad_bodies_get_clear_errors(backend: Backend) {
    // A small body limit, so the oversized body fits the socket buffers whole: the server
    // answers 413 without reading it, and the client still gets to read that answer.
    let server = TestServer::start_with(backend, |c| c.limits.body_bytes = 64 * 1024).await;
    let owner = server.owner("acme").await;
    let send = |body: &'static str, ct: &'static str| {
        owner.send(
            owner
                .raw(Method::POST, "/api/v1/projects")
                .header("content-type", ct)
                .body(body),
        )
    };
    let r = send("{\"name\": ", "application/json").await;
    assert_eq!((r.status, r.code()), (400, "malformed_json"));
    let r = send("{\"name\": \"x\", \"color\": 1}", "application/json").await;
    assert_eq!((r.status, r.code()), (400, "validation_failed"));
    assert_eq!(r.body["errors"][0]["code"], "unknown_field");
    let r = send("{\"name\": 7}", "application/json").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "name");
    let r = send("{\"name\": \"x\"}", "text/plain").await;
    assert_eq!((r.status, r.code()), (415, "unsupported_media_type"));
    let r = send("{\"name\": \"\"}", "application/json").await;
    assert_eq!(r.body["errors"][0]["field"], "name");
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(100 * 1024));
    let r = owner
        .send(
            owner
                .raw(Method::POST, "/api/v1/projects")
                .header("content-type", "application/json")
                .body(huge),
        )
        .await;
    assert_eq!((r.status, r.code()), (413, "payload_too_large"));
    let list = owner.get("/api/v1/projects").await;
    assert_eq!(
        list.body.as_array().unwrap().len(),
        0,
        "bad input changed nothing"
    );
    server.stop().await;
}

mod expiry {
    //! Expiry is tested by moving stored times into the past, never by sleeping.
    use super::*;

    backend_tests!(idle_and_absolute_session_expiry_and_token_expiry);

    async fn idle_and_absolute_session_expiry_and_token_expiry(backend: Backend) {
        let server = TestServer::start(backend).await;
        let owner = server.owner("acme").await;
        assert_eq!(owner.get("/api/v1/me").await.status, 200);
        server
            .backdate("acme", "UPDATE sessions SET last_seen_at = ")
            .await;
        assert_eq!(
            owner.get("/api/v1/me").await.status,
            401,
            "an idle session expires"
        );

        let owner = server
            .client("acme")
            .login("owner@acme.test", PASSWORD)
            .await;
        server
            .backdate("acme", "UPDATE sessions SET expires_at = ")
            .await;
        assert_eq!(
            owner.get("/api/v1/me").await.status,
            401,
            "a session ends at its absolute expiry"
        );

        let owner = server
            .client("acme")
            .login("owner@acme.test", PASSWORD)
            .await;
        let secret = owner
            .post("/api/v1/tokens", json!({"name": "t", "expires_in_days": 1}))
            .await
            .body["secret"]
            .as_str()
            .unwrap()
            .to_owned();
        let api = owner.with_token(&secret);
        assert_eq!(api.get("/api/v1/me").await.status, 200);
        server
            .backdate("acme", "UPDATE api_tokens SET expires_at = ")
            .await;
        assert_eq!(
            api.get("/api/v1/me").await.status,
            401,
            "an expired token is refused"
        );
        server.stop().await;
    }
}
