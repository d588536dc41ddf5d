//! Second factors over HTTP: TOTP enrolment proved by a code, sign-in with a challenge,
//! replayed codes and reused recovery codes refused, re-authentication before changes, and a
//! tenant that requires a second factor of everyone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_tests::{Authenticator, Backend, Client, PASSWORD, Resp, TestServer, backend_tests};
use serde_json::{Value, json};

backend_tests!(
    totp_enrolment_needs_a_valid_code_and_gives_recovery_codes,
    sign_in_needs_the_second_factor_and_codes_work_once,
    changing_second_factors_needs_a_recent_password,
    a_tenant_can_require_a_second_factor,
    a_project_can_require_a_second_factor,
);

const LOGIN: &str = "/api/v1/auth/login";
const SECOND: &str = "/api/v1/auth/login/second-factor";

/// Starts and confirms TOTP for a signed-in client; returns the app and the recovery codes.
async fn enrol(client: &Client) -> (Authenticator, Vec<String>) {
    let r = client
        .post("/api/v1/me/second-factors/totp", json!({}))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let mut app = Authenticator::from_uri(r.body["uri"].as_str().unwrap());
    let r = client
        .post(
            "/api/v1/me/second-factors/totp/confirm",
            json!({"code": app.next_code().await}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let codes = r.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    (app, codes)
}

/// Signs in with the password; returns the challenge.
async fn password_step(anon: &Client, email: &str) -> String {
    let r = anon
        .post(LOGIN, json!({"email": email, "password": PASSWORD}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["status"], "second_factor_required", "{r:?}");
    assert!(
        Client::session_cookie(&r).is_none(),
        "no session before the second factor"
    );
    assert!(
        r.body.get("user").is_none(),
        "no user before the second factor"
    );
    let challenge = r.body["challenge"].as_str().unwrap().to_owned();
    assert!(challenge.starts_with("rpc_"));
    challenge
}

async fn answer(anon: &Client, challenge: &str, proof: Value) -> Resp {
    let mut body = json!({"challenge": challenge});
    body.as_object_mut()
        .unwrap()
        .extend(proof.as_object().unwrap().clone());
    anon.post(SECOND, body).await
}

async fn totp_enrolment_needs_a_valid_code_and_gives_recovery_codes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let r = owner.get("/api/v1/me/second-factors").await;
    assert_eq!(
        r.body,
        json!({"totp": false, "passkeys": 0, "recovery_codes_left": 0, "required": false})
    );

    let r = owner
        .post("/api/v1/me/second-factors/totp", json!({}))
        .await;
    assert_eq!(r.status, 201);
    let uri = r.body["uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(r.body["secret"].as_str().unwrap()));
    let mut app = Authenticator::from_uri(uri);

    // A wrong code enables nothing: sign-in still needs only the password.
    let r = owner
        .post(
            "/api/v1/me/second-factors/totp/confirm",
            json!({"code": app.wrong_code()}),
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "validation_failed"));
    assert_eq!(r.body["errors"][0]["code"], "invalid_code");
    let anon = server.client("acme");
    let r = anon
        .post(
            LOGIN,
            json!({"email": "owner@acme.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.body["status"], "signed_in");

    let r = owner
        .post(
            "/api/v1/me/second-factors/totp/confirm",
            json!({"code": app.next_code().await}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let codes = r.body["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    let distinct: std::collections::HashSet<_> = codes.iter().collect();
    assert_eq!(distinct.len(), 10);

    // Confirming twice, or starting over while enabled, is refused.
    let r = owner
        .post(
            "/api/v1/me/second-factors/totp/confirm",
            json!({"code": app.next_code().await}),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "not_enrolled"));
    let r = owner
        .post("/api/v1/me/second-factors/totp", json!({}))
        .await;
    assert_eq!((r.status, r.code()), (409, "already_enrolled"));
    let r = owner.get("/api/v1/me/second-factors").await;
    assert_eq!(
        r.body,
        json!({"totp": true, "passkeys": 0, "recovery_codes_left": 10, "required": false})
    );
    assert_eq!(owner.get("/api/v1/me").await.body["second_factor"], true);

    // The seed is stored, but never shown again.
    let r = owner.get("/api/v1/me/second-factors").await;
    assert!(!r.text.contains("secret"));

    // An API token cannot enrol or change second factors.
    let secret = owner
        .post("/api/v1/tokens", json!({"name": "t", "expires_in_days": 1}))
        .await
        .body["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let api = owner.with_token(&secret);
    let r = api.delete("/api/v1/me/second-factors/totp").await;
    assert_eq!((r.status, r.code()), (403, "session_required"));
    let r = api
        .post("/api/v1/me/second-factors/recovery-codes", json!({}))
        .await;
    assert_eq!((r.status, r.code()), (403, "session_required"));
    server.stop().await;
}

async fn sign_in_needs_the_second_factor_and_codes_work_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let (mut app, recovery) = enrol(&owner).await;
    let anon = server.client("acme");
    let email = "owner@acme.test";

    // The code used to confirm the enrolment cannot be replayed to sign in.
    let challenge = password_step(&anon, email).await;
    let r = answer(&anon, &challenge, json!({"code": app.last_code()})).await;
    assert_eq!((r.status, r.code()), (401, "invalid_credentials"), "{r:?}");
    let code = app.next_code().await;
    let r = answer(&anon, &challenge, json!({"code": code})).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["status"], "signed_in");
    let signed_in = anon.with_session_of(&r);
    assert_eq!(signed_in.get("/api/v1/me").await.status, 200);

    // A challenge is single use, and its code cannot open another.
    let r = answer(&anon, &challenge, json!({"recovery_code": recovery[3]})).await;
    assert_eq!(r.status, 401, "a used challenge is gone");
    let challenge = password_step(&anon, email).await;
    let r = answer(&anon, &challenge, json!({"code": code})).await;
    assert_eq!(r.status, 401, "a code works once");

    // Recovery codes: any case and spacing, each once.
    let typed = recovery[0].replace('-', " ").to_uppercase();
    let r = answer(&anon, &challenge, json!({"recovery_code": typed})).await;
    assert_eq!(r.status, 200, "{r:?}");
    let challenge = password_step(&anon, email).await;
    let r = answer(&anon, &challenge, json!({"recovery_code": recovery[0]})).await;
    assert_eq!(r.status, 401, "a recovery code works once");
    assert_eq!(
        owner.get("/api/v1/me/second-factors").await.body["recovery_codes_left"],
        9
    );

    // Neither or both proofs is a clear error; a forged or foreign challenge is refused.
    let r = answer(&anon, &challenge, json!({})).await;
    assert_eq!(
        (r.status, r.body["errors"][0]["code"].as_str()),
        (400, Some("one_of_required"))
    );
    for forged in ["rpc_nope", "rss_nothing", ""] {
        let r = answer(&anon, forged, json!({"code": "123456"})).await;
        assert_eq!(r.status, 401, "{forged}");
    }
    let default_owner = server.owner("default").await;
    let (mut default_app, _) = enrol(&default_owner).await;
    let default_challenge = password_step(&server.client("default"), "owner@default.test").await;
    let r = answer(
        &anon,
        &default_challenge,
        json!({"code": default_app.next_code().await}),
    )
    .await;
    assert_eq!(
        r.status, 401,
        "a challenge of another tenant is unknown here"
    );

    // Wrong codes: the challenge dies after five tries, and a right code no longer helps.
    // (From another address: this one has failed often enough to be backing off.)
    // A success first clears the wrong answers counted so far.
    let elsewhere = anon.from_loopback(9);
    let challenge = password_step(&elsewhere, email).await;
    let r = answer(
        &elsewhere,
        &challenge,
        json!({"recovery_code": recovery[4]}),
    )
    .await;
    assert_eq!(r.status, 200);
    let challenge = password_step(&elsewhere, email).await;
    for _ in 0..5 {
        let r = answer(&elsewhere, &challenge, json!({"code": app.wrong_code()})).await;
        assert_eq!(r.status, 401);
    }
    let r = answer(
        &elsewhere,
        &challenge,
        json!({"recovery_code": recovery[2]}),
    )
    .await;
    assert_eq!(
        r.code(),
        "login_throttled",
        "five failures from one address"
    );
    let third = anon.from_loopback(10);
    let r = answer(&third, &challenge, json!({"recovery_code": recovery[2]})).await;
    assert_eq!((r.status, r.code()), (401, "invalid_credentials"), "{r:?}");
    let r = anon
        .post(LOGIN, json!({"email": email, "password": PASSWORD}))
        .await;
    assert_eq!((r.status, r.code()), (429, "login_throttled"), "{r:?}");
    server.stop().await;
}

async fn changing_second_factors_needs_a_recent_password(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let (_, old_codes) = enrol(&owner).await;
    server
        .backdate("acme", "UPDATE sessions SET authenticated_at = ")
        .await;

    for r in [
        owner.delete("/api/v1/me/second-factors/totp").await,
        owner
            .post("/api/v1/me/second-factors/recovery-codes", json!({}))
            .await,
        owner
            .post("/api/v1/tokens", json!({"name": "t", "expires_in_days": 1}))
            .await,
    ] {
        assert_eq!(
            (r.status, r.code()),
            (403, "reauthentication_required"),
            "{r:?}"
        );
    }
    let r = owner
        .post(
            "/api/v1/auth/reauth",
            json!({"password": "not the password"}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["code"].as_str()),
        (400, Some("wrong_password"))
    );
    assert_eq!(
        owner.get("/api/v1/me").await.status,
        200,
        "a wrong password keeps the session"
    );
    let r = owner
        .post("/api/v1/auth/reauth", json!({"password": PASSWORD}))
        .await;
    assert_eq!(r.status, 204);

    let r = owner
        .post("/api/v1/me/second-factors/recovery-codes", json!({}))
        .await;
    assert_eq!(r.status, 200);
    let new_codes = r.body["recovery_codes"].as_array().unwrap().clone();
    assert_eq!(new_codes.len(), 10);
    let anon = server.client("acme");
    let challenge = password_step(&anon, "owner@acme.test").await;
    let r = answer(&anon, &challenge, json!({"recovery_code": old_codes[1]})).await;
    assert_eq!(r.status, 401, "old recovery codes stop working");
    let r = answer(&anon, &challenge, json!({"recovery_code": new_codes[1]})).await;
    assert_eq!(r.status, 200);

    let r = owner.delete("/api/v1/me/second-factors/totp").await;
    assert_eq!(r.status, 204);
    let r = owner.delete("/api/v1/me/second-factors/totp").await;
    assert_eq!((r.status, r.code()), (409, "not_enrolled"));
    let r = anon
        .post(
            LOGIN,
            json!({"email": "owner@acme.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        r.body["status"], "signed_in",
        "without TOTP the password suffices again"
    );

    // Re-authentication is throttled like a login.
    for _ in 0..5 {
        owner
            .post("/api/v1/auth/reauth", json!({"password": "still not it"}))
            .await;
    }
    let r = owner
        .post("/api/v1/auth/reauth", json!({"password": PASSWORD}))
        .await;
    assert_eq!((r.status, r.code()), (429, "login_throttled"));
    assert!(r.headers.contains_key("retry-after"));
    server.stop().await;
}

async fn a_tenant_can_require_a_second_factor(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let member = server
        .user(&owner, "acme", "member@acme.test", "member")
        .await;
    let member_token = member
        .post("/api/v1/tokens", json!({"name": "t", "expires_in_days": 1}))
        .await
        .body["secret"]
        .as_str()
        .unwrap()
        .to_owned();

    let require = json!({"require_second_factor": true});
    let r = owner
        .patch("/api/v1/settings/security", require.clone())
        .await;
    assert_eq!((r.status, r.code()), (409, "second_factor_required_first"));
    let r = member
        .patch("/api/v1/settings/security", require.clone())
        .await;
    assert_eq!(r.status, 403, "members do not change tenant settings");
    enrol(&owner).await;
    let r = owner.patch("/api/v1/settings/security", require).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["require_second_factor"], true);

    // The member, signed in before and after, is held at enrolment.
    let fresh = server
        .client("acme")
        .login("member@acme.test", PASSWORD)
        .await;
    for client in [&member, &fresh, &member.with_token(&member_token)] {
        let r = client.get("/api/v1/projects").await;
        assert_eq!(
            (r.status, r.code()),
            (403, "second_factor_enrolment_required")
        );
        let me = client.get("/api/v1/me").await;
        assert_eq!(me.status, 200);
        assert_eq!(me.body["second_factor_required"], true);
        assert_eq!(me.body["second_factor"], false);
    }
    let r = member
        .post(
            "/api/v1/tokens",
            json!({"name": "t2", "expires_in_days": 1}),
        )
        .await;
    assert_eq!(r.code(), "second_factor_enrolment_required");
    enrol(&fresh).await;
    assert_eq!(fresh.get("/api/v1/projects").await.status, 200);
    assert_eq!(
        member
            .with_token(&member_token)
            .get("/api/v1/projects")
            .await
            .status,
        200
    );

    // The owner with TOTP is not held.
    assert_eq!(owner.get("/api/v1/projects").await.status, 200);
    server.stop().await;
}

async fn a_project_can_require_a_second_factor(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let member = server.user(&owner, "acme", "m@acme.test", "member").await;
    let outsider = server.user(&owner, "acme", "o@acme.test", "member").await;
    let member_id = member.get("/api/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secure = owner
        .post("/api/v1/projects", json!({"name": "Payroll"}))
        .await;
    let open = owner
        .post("/api/v1/projects", json!({"name": "Wiki"}))
        .await;
    let (secure, open) = (
        secure.body["id"].as_str().unwrap().to_owned(),
        open.body["id"].as_str().unwrap().to_owned(),
    );
    for p in [&secure, &open] {
        let r = owner
            .put(
                &format!("/api/v1/projects/{p}/members/{member_id}"),
                json!({"role": "editor"}),
            )
            .await;
        assert!(r.status < 300, "{r:?}");
    }
    let table = owner
        .post(
            &format!("/api/v1/projects/{secure}/tables"),
            json!({"name": "Salaries", "fields": [{"name": "who", "type": "text"}]}),
        )
        .await;
    assert_eq!(table.status, 201, "{table:?}");
    let records = format!(
        "/api/v1/tables/{}/records",
        table.body["id"].as_str().unwrap()
    );
    assert_eq!(member.get(&records).await.status, 200);

    // Requiring it needs a second factor of one's own.
    let path = format!("/api/v1/projects/{secure}");
    let r = owner
        .patch(&path, json!({"require_second_factor": true}))
        .await;
    assert_eq!((r.status, r.code()), (409, "second_factor_required_first"));
    enrol(&owner).await;
    let r = owner
        .patch(&path, json!({"require_second_factor": true}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["require_second_factor"], true);
    // An editor may not change it.
    let r = member
        .patch(
            &format!("/api/v1/projects/{open}"),
            json!({"require_second_factor": false}),
        )
        .await;
    assert_eq!(r.status, 403, "{r:?}");

    // A member without a second factor is told why, for the project and its records; other
    // projects still work; someone with no access still sees nothing.
    let r = member.get(&path).await;
    assert_eq!(
        (r.status, r.code()),
        (403, "second_factor_enrolment_required")
    );
    let r = member.get(&records).await;
    assert_eq!(
        (r.status, r.code()),
        (403, "second_factor_enrolment_required")
    );
    let r = member
        .post(&records, json!({"fields": {"who": "me"}}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (403, "second_factor_enrolment_required")
    );
    assert_eq!(
        member.get(&format!("/api/v1/projects/{open}")).await.status,
        200
    );
    assert_eq!(outsider.get(&path).await.status, 404);
    assert_eq!(outsider.get(&records).await.status, 404);
    assert_eq!(owner.get(&records).await.status, 200);

    // Once enrolled, the member is back in.
    enrol(&member).await;
    assert_eq!(member.get(&path).await.status, 200);
    let r = member
        .post(&records, json!({"fields": {"who": "me"}}))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    server.stop().await;
}
