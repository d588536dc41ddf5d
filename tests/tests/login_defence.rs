//! The attacker's side of signing in: floods from one address, floods from many addresses
//! against one account, and whether answers (status, body, timing) tell that an account exists.
//! Clients take distinct loopback source addresses (127.0.0.n) to look like distinct machines.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use rampart_tests::{Authenticator, Backend, Client, PASSWORD, Resp, TestServer, backend_tests};
use serde_json::{Value, json};

backend_tests!(
    a_flood_from_one_address_backs_off_that_address_only,
    a_flood_against_one_account_cannot_lock_out_an_owner_with_a_second_factor,
    answers_do_not_tell_whether_an_account_exists,
    unknown_accounts_take_as_long_as_known_ones,
);

const LOGIN: &str = "/api/v1/auth/login";

async fn login(client: &Client, email: &str, password: &str) -> Resp {
    client
        .post(LOGIN, json!({"email": email, "password": password}))
        .await
}

/// A problem body without what differs between any two answers.
fn comparable(r: &Resp) -> Value {
    let mut v = r.body.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("request_id");
        o.remove("detail");
    }
    v
}

fn header_names(r: &Resp) -> Vec<String> {
    let mut names: Vec<String> = r.headers.keys().map(|k| k.as_str().to_owned()).collect();
    names.sort();
    names
}

async fn a_flood_from_one_address_backs_off_that_address_only(backend: Backend) {
    let server = TestServer::start(backend).await;
    let _owner = server.owner("acme").await;
    let attacker = server.client("acme").from_loopback(2);
    for i in 0..5 {
        let r = login(&attacker, &format!("guess{i}@acme.test"), "Guess1234567").await;
        assert_eq!((r.status, r.code()), (401, "invalid_credentials"));
    }
    // Backing off: even a right password from that address waits.
    let r = login(&attacker, "owner@acme.test", PASSWORD).await;
    assert_eq!((r.status, r.code()), (429, "login_throttled"), "{r:?}");
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(
        (1..=2).contains(&wait),
        "the first back-off is short: {wait}"
    );

    // Everybody else signs in as usual.
    let r = login(
        &server.client("acme").from_loopback(3),
        "owner@acme.test",
        PASSWORD,
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");

    // Each further failure doubles the wait.
    server
        .backdate("acme", "UPDATE login_throttle SET blocked_until = ")
        .await;
    let r = login(&attacker, "guess@acme.test", "Guess1234567").await;
    assert_eq!(r.status, 401);
    let r = login(&attacker, "guess@acme.test", "Guess1234567").await;
    assert_eq!(r.status, 429);
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(
        (3..=4).contains(&wait),
        "the second back-off doubles: {wait}"
    );
    server.stop().await;
}

async fn a_flood_against_one_account_cannot_lock_out_an_owner_with_a_second_factor(
    backend: Backend,
) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let _member = server
        .user(&owner, "acme", "member@acme.test", "member")
        .await;
    let r = owner
        .post("/api/v1/me/second-factors/totp", json!({}))
        .await;
    let mut app = Authenticator::from_uri(r.body["uri"].as_str().unwrap());
    let r = owner
        .post(
            "/api/v1/me/second-factors/totp/confirm",
            json!({"code": app.next_code().await}),
        )
        .await;
    assert_eq!(r.status, 200);

    // Five guesses per account, each from its own address: no address backs off, the
    // accounts do (including one that does not exist).
    let mut n = 20;
    for email in ["owner@acme.test", "member@acme.test", "ghost@acme.test"] {
        for _ in 0..5 {
            let r = login(
                &server.client("acme").from_loopback(n),
                email,
                "Guess1234567",
            )
            .await;
            assert_eq!(r.status, 401);
            n += 1;
        }
    }
    // However long the rest of this test takes, the accounts stay blocked until released.
    server
        .set_time(
            "acme",
            "UPDATE login_throttle SET blocked_until = ",
            chrono::Utc::now() + chrono::Duration::hours(1),
            " WHERE key LIKE 'account:%'",
        )
        .await;
    let fresh = server.client("acme").from_loopback(99);
    let ghost = login(&fresh, "ghost@acme.test", "Guess1234567").await;
    assert_eq!((ghost.status, ghost.code()), (429, "login_throttled"));
    let wrong = login(&fresh, "owner@acme.test", "Guess1234567").await;
    assert_eq!(
        (wrong.status, comparable(&wrong)),
        (429, comparable(&ghost))
    );

    // The owner proves themselves with the password and the second factor.
    let r = login(&fresh, "owner@acme.test", PASSWORD).await;
    assert_eq!(r.body["status"], "second_factor_required", "{r:?}");
    let r = fresh
        .post(
            "/api/v1/auth/login/second-factor",
            json!({"challenge": r.body["challenge"], "code": app.next_code().await}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        fresh.with_session_of(&r).get("/api/v1/me").await.status,
        200
    );

    // Without a second factor, a right password cannot be told from a guess until the
    // back-off ends (the price of not letting the flood learn anything).
    let member = login(&fresh, "member@acme.test", PASSWORD).await;
    assert_eq!(
        (member.status, comparable(&member)),
        (429, comparable(&ghost))
    );
    server
        .backdate("acme", "UPDATE login_throttle SET blocked_until = ")
        .await;
    let r = login(&fresh, "member@acme.test", PASSWORD).await;
    assert_eq!(
        r.status, 200,
        "after the back-off the member signs in: {r:?}"
    );
    server.stop().await;
}

async fn answers_do_not_tell_whether_an_account_exists(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let disabled = server
        .user(&owner, "acme", "gone@acme.test", "member")
        .await;
    let id = disabled.get("/api/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = owner
        .patch(&format!("/api/v1/users/{id}"), json!({"disabled": true}))
        .await;
    assert_eq!(r.status, 200);

    let answers = [
        login(
            &server.client("acme").from_loopback(2),
            "nobody@acme.test",
            "Guess1234567",
        )
        .await,
        login(
            &server.client("acme").from_loopback(3),
            "owner@acme.test",
            "Guess1234567",
        )
        .await,
        login(
            &server.client("acme").from_loopback(4),
            "gone@acme.test",
            PASSWORD,
        )
        .await,
        login(
            &server.client("acme").from_loopback(5),
            "OWNER@acme.test ",
            "Guess1234567",
        )
        .await,
    ];
    for r in &answers {
        assert_eq!((r.status, r.code()), (401, "invalid_credentials"), "{r:?}");
        assert_eq!(comparable(r), comparable(&answers[0]));
        assert_eq!(r.body["detail"], answers[0].body["detail"]);
        assert_eq!(header_names(r), header_names(&answers[0]));
        assert!(Client::session_cookie(r).is_none());
    }
    server.stop().await;
}

/// The fastest of some durations: whatever else the machine does only ever adds time, so
/// the minimum is the cost of the work itself (a median still moved with the load of the
/// tests running beside this one).
fn fastest(d: Vec<Duration>) -> Duration {
    d.into_iter().min().unwrap_or_default()
}

async fn unknown_accounts_take_as_long_as_known_ones(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let known: Vec<String> = (0..3).map(|i| format!("known{i}@acme.test")).collect();
    for email in &known {
        let r = owner
            .post(
                "/api/v1/users",
                json!({"email": email, "display_name": email, "password": PASSWORD}),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    // Interleaved, each attempt from its own address, at most four per known account so
    // nothing backs off: the only difference is whether the account exists.
    let (mut known_times, mut unknown_times) = (Vec::new(), Vec::new());
    let mut n = 10;
    for round in 0..12 {
        for exists in [true, false] {
            let email = if exists {
                known[round % known.len()].clone()
            } else {
                format!("unknown{round}@acme.test")
            };
            let client = server.client("acme").from_loopback(n);
            n += 1;
            let started = Instant::now();
            let r = login(&client, &email, "Guess1234567").await;
            let took = started.elapsed();
            assert_eq!(r.status, 401, "{r:?}");
            if exists {
                known_times.push(took);
            } else {
                unknown_times.push(took);
            }
        }
    }
    let (k, u) = (fastest(known_times), fastest(unknown_times));
    let ratio = u.as_secs_f64() / k.as_secs_f64();
    // Skipping the hash for unknown accounts makes this ratio fall far below 0.1; noise on a
    // busy machine stays well inside these bounds.
    assert!(
        (0.5..2.0).contains(&ratio),
        "unknown/known fastest login time {ratio:.2} ({u:?} vs {k:?})"
    );
    server.stop().await;
}
