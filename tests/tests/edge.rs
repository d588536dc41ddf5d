//! The edge, per tenant: rate budgets (per address for sign-in and data calls, per account,
//! per token) answered with 429 and `Retry-After`; tenant IP rules applied before
//! authentication; CORS off until a tenant names origins, and never a way around CSRF.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_tests::{Backend, Client, Resp, TestServer, backend_tests};
use reqwest::Method;
use serde_json::{Value, json};

backend_tests!(
    sign_in_calls_from_one_address_are_limited_by_default,
    tenants_may_lower_their_budgets_but_not_raise_them,
    token_and_account_budgets_are_separate,
    tenant_ip_rules_refuse_before_authentication,
    cors_is_off_until_a_tenant_names_origins,
    csrf_holds_against_sibling_foreign_and_missing_origins,
);

fn assert_limited(r: &Resp, budget_hint: &str) {
    assert_eq!(
        (r.status, r.code()),
        (429, "rate_limited"),
        "{budget_hint}: {r:?}"
    );
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1, "Retry-After is a positive number of seconds");
    assert_eq!(
        r.headers["content-type"], "application/problem+json",
        "a problem document"
    );
}

async fn options_for(client: &Client, email: &str) -> Resp {
    client
        .post("/api/v1/auth/passkey/options", json!({"email": email}))
        .await
}

async fn sign_in_calls_from_one_address_are_limited_by_default(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.rate_limits = rampart_server::config::RateLimitsConfig::default();
    })
    .await;
    let anon = server.client("acme");
    let budget = server.config.rate_limits.login_per_ip.burst;
    for i in 0..budget {
        let r = options_for(&anon, "someone@acme.test").await;
        assert_eq!(r.status, 200, "call {i} is within the burst: {r:?}");
    }
    assert_limited(
        &options_for(&anon, "someone@acme.test").await,
        "the call after the burst",
    );
    // The same address may still read (its data budget is separate) ...
    assert_eq!(anon.get("/api/v1/openapi.json").await.status, 200);
    // ... another address has its own budget, and so has the same address on another tenant.
    assert_eq!(
        options_for(&anon.from_loopback(23), "someone@acme.test")
            .await
            .status,
        200
    );
    assert_eq!(
        options_for(&server.client("default"), "someone@default.test")
            .await
            .status,
        200
    );
    server.stop().await;
}

fn budgets(token_burst: u32, account_burst: u32) -> Value {
    json!({
        "login_per_ip": {"per_minute": 30, "burst": 30},
        "data_per_ip": {"per_minute": 6000, "burst": 300},
        "data_per_account": {"per_minute": 1, "burst": account_burst},
        "data_per_token": {"per_minute": 1, "burst": token_burst},
    })
}

async fn tenants_may_lower_their_budgets_but_not_raise_them(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.rate_limits = rampart_server::config::RateLimitsConfig::default();
    })
    .await;
    let owner = server.owner("acme").await;
    let r = owner.get("/api/v1/settings/edge").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["rate_limits_customized"], false);
    assert_eq!(r.body["rate_limits"], r.body["rate_limits_ceiling"]);

    let mut raised = budgets(10, 10);
    raised["data_per_ip"]["per_minute"] = json!(6001);
    let r = owner
        .patch("/api/v1/settings/edge", json!({"rate_limits": raised}))
        .await;
    assert_eq!((r.status, r.code()), (400, "validation_failed"), "{r:?}");
    assert_eq!(r.body["errors"][0]["field"], "rate_limits.data_per_ip");
    assert_eq!(r.body["errors"][0]["code"], "above_instance_limit");

    let mut zero = budgets(10, 10);
    zero["data_per_token"]["burst"] = json!(0);
    let r = owner
        .patch("/api/v1/settings/edge", json!({"rate_limits": zero}))
        .await;
    assert_eq!(r.body["errors"][0]["field"], "rate_limits.data_per_token");
    assert_eq!(r.body["errors"][0]["code"], "out_of_range");
    // Nothing was changed by the refused calls.
    let r = owner.get("/api/v1/settings/edge").await;
    assert_eq!(r.body["rate_limits_customized"], false);

    let r = owner
        .patch(
            "/api/v1/settings/edge",
            json!({"rate_limits": budgets(10, 50)}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["rate_limits_customized"], true);
    assert_eq!(r.body["rate_limits"]["data_per_token"]["burst"], 10);
    // `null` returns to the instance's budgets.
    let r = owner
        .patch("/api/v1/settings/edge", json!({"rate_limits": null}))
        .await;
    assert_eq!(r.body["rate_limits_customized"], false);

    // A member is not a tenant admin.
    let member = server
        .user(&owner, "acme", "member@acme.test", "member")
        .await;
    let r = member.get("/api/v1/settings/edge").await;
    assert_eq!(r.status, 403);
    server.stop().await;
}

async fn token_and_account_budgets_are_separate(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.rate_limits = rampart_server::config::RateLimitsConfig::default();
    })
    .await;
    let owner = server.owner("acme").await;
    let r = owner
        .patch(
            "/api/v1/settings/edge",
            json!({"rate_limits": budgets(5, 12)}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = owner
        .post(
            "/api/v1/tokens",
            json!({"name": "ci", "expires_in_days": 1}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let token = owner
        .anonymous()
        .with_token(r.body["secret"].as_str().unwrap());

    // New budgets start new counters: the account has spent 1 call (the token's creation).
    // The token gets its own 5 (one more each minute: nothing refills during the test).
    for i in 0..5 {
        assert_eq!(token.get("/api/v1/me").await.status, 200, "token call {i}");
    }
    assert_limited(&token.get("/api/v1/me").await, "sixth token call");
    // The session of the same account still has budget left: 12 - 1 - 5 - 1 (the refused
    // token call was counted against the account before the token) = 5.
    let mut ok = 0;
    loop {
        let r = owner.get("/api/v1/me").await;
        if r.status != 200 {
            assert_limited(&r, "the account budget");
            break;
        }
        ok += 1;
        assert!(ok < 20, "the account budget never ran out");
    }
    assert_eq!(ok, 5, "calls left on the account");
    // Another user of the tenant is untouched.
    let other = server.owner("default").await;
    assert_eq!(other.get("/api/v1/me").await.status, 200);
    server.stop().await;
}

async fn tenant_ip_rules_refuse_before_authentication(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;

    // An admin cannot lock themselves out.
    let r = owner
        .patch("/api/v1/settings/edge", json!({"ip_allow": ["10.0.0.0/8"]}))
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.body["errors"][0]["code"], "would_refuse_own_address");
    let r = owner
        .patch("/api/v1/settings/edge", json!({"ip_deny": ["127.0.0.1"]}))
        .await;
    assert_eq!(r.body["errors"][0]["code"], "would_refuse_own_address");
    let r = owner
        .patch(
            "/api/v1/settings/edge",
            json!({"ip_deny": ["not-a-network"]}),
        )
        .await;
    assert_eq!(r.body["errors"][0]["field"], "ip_deny");
    assert_eq!(r.body["errors"][0]["code"], "invalid_network");

    let r = owner
        .patch(
            "/api/v1/settings/edge",
            json!({"ip_deny": ["127.0.0.9/32", "2001:db8::/32"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["ip_deny"], json!(["127.0.0.9/32", "2001:db8::/32"]));

    // From the denied address: refused with or without credentials, before any login work.
    let denied = owner.from_loopback(9);
    let r = denied.get("/api/v1/me").await;
    assert_eq!((r.status, r.code()), (403, "ip_refused"), "{r:?}");
    let r = denied
        .anonymous()
        .post(
            "/api/v1/auth/login",
            json!({"email": "owner@acme.test", "password": rampart_tests::PASSWORD}),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "ip_refused"));
    // Other addresses, and other tenants from the denied address, are unaffected.
    assert_eq!(owner.from_loopback(10).get("/api/v1/me").await.status, 200);
    let r = server
        .client("default")
        .from_loopback(9)
        .get("/api/v1/openapi.json")
        .await;
    assert_eq!(r.status, 200);

    // An allow list admits only its networks.
    let r = owner
        .patch(
            "/api/v1/settings/edge",
            json!({"ip_allow": ["127.0.0.1/32", "127.0.0.2"], "ip_deny": []}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(owner.from_loopback(2).get("/api/v1/me").await.status, 200);
    assert_eq!(owner.from_loopback(3).get("/api/v1/me").await.status, 403);
    server.stop().await;
}

fn preflight(client: &Client, origin: &str) -> reqwest::RequestBuilder {
    client
        .anonymous()
        .raw(Method::OPTIONS, "/api/v1/me")
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
}

async fn cors_is_off_until_a_tenant_names_origins(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let app = "https://app.example.com";
    let r = owner.send(preflight(&owner, app)).await;
    assert_eq!((r.status, r.code()), (403, "cors_origin_refused"), "{r:?}");
    let r = owner
        .send(owner.raw(Method::GET, "/api/v1/me").header("origin", app))
        .await;
    assert!(r.headers.get("access-control-allow-origin").is_none());

    let r = owner
        .patch(
            "/api/v1/settings/edge",
            json!({"cors_origins": ["http://app.example.com"]}),
        )
        .await;
    assert_eq!(r.body["errors"][0]["code"], "invalid_origin", "{r:?}");
    let r = owner
        .patch(
            "/api/v1/settings/edge",
            json!({"cors_origins": ["https://App.Example.com:443"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["cors_origins"], json!([app]));

    let r = owner.send(preflight(&owner, app)).await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(r.headers["access-control-allow-origin"], app);
    assert!(
        r.headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    assert!(r.headers.get("access-control-allow-credentials").is_none());
    // Another origin is still refused, and so is the same origin on another tenant.
    let r = owner
        .send(preflight(&owner, "https://evil.example.com"))
        .await;
    assert_eq!(r.status, 403);
    let other = server.client("default");
    assert_eq!(other.send(preflight(&other, app)).await.status, 403);

    // A token call from the allowed origin is readable by that page.
    let t = owner
        .post(
            "/api/v1/tokens",
            json!({"name": "spa", "expires_in_days": 1}),
        )
        .await;
    let token = owner
        .anonymous()
        .with_token(t.body["secret"].as_str().unwrap());
    let r = token
        .send(token.raw(Method::GET, "/api/v1/me").header("origin", app))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["access-control-allow-origin"], app);

    // CORS never opens cookie-authenticated writes to that origin: CSRF still refuses them.
    let r = owner
        .send(
            owner
                .anonymous()
                .raw(Method::POST, "/api/v1/projects")
                .header(
                    "cookie",
                    format!("__Host-rampart_session={}", owner.session.clone().unwrap()),
                )
                .header("origin", app)
                .json(&json!({"name": "P"})),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "csrf_check_failed"));
    server.stop().await;
}

async fn csrf_holds_against_sibling_foreign_and_missing_origins(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let session = owner.session.clone().unwrap();
    let attempt = |origin: Option<String>, fetch_site: Option<&'static str>| {
        let mut q = owner
            .anonymous()
            .raw(Method::POST, "/api/v1/projects")
            .header("cookie", format!("__Host-rampart_session={session}"))
            .json(&json!({"name": "P"}));
        if let Some(o) = origin {
            q = q.header("origin", o);
        }
        if let Some(s) = fetch_site {
            q = q.header("sec-fetch-site", s);
        }
        q
    };
    let port = server.addr.port();
    let sibling = format!("http://default.localhost:{port}");
    for (what, origin, site) in [
        ("sibling tenant's origin", Some(sibling.clone()), None),
        (
            "sibling tenant, same-site",
            Some(sibling),
            Some("same-site"),
        ),
        (
            "foreign origin",
            Some("https://evil.example".to_owned()),
            Some("cross-site"),
        ),
        ("no origin at all", None, None),
        ("the literal null origin", Some("null".to_owned()), None),
        (
            "our origin but a cross-site fetch",
            Some(owner.origin()),
            Some("cross-site"),
        ),
    ] {
        let r = owner.send(attempt(origin, site)).await;
        assert_eq!((r.status, r.code()), (403, "csrf_check_failed"), "{what}");
    }
    let r = owner.get("/api/v1/projects").await;
    assert_eq!(
        r.body.as_array().map(Vec::len),
        Some(0),
        "no refused attempt created anything: {r:?}"
    );
    let r = owner.send(attempt(Some(owner.origin()), None)).await;
    assert_eq!(r.status, 201, "our own origin is accepted: {r:?}");
    server.stop().await;
}
