//! A user's own account over HTTP: sessions listed and revoked, the password changed (which
//! ends every session), the password policy, and sensitive actions that need a recent password.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_tests::{Backend, Client, PASSWORD, Resp, TestServer, backend_tests};
use reqwest::Method;
use serde_json::json;

backend_tests!(
    sessions_can_be_listed_and_revoked,
    a_password_change_needs_the_current_password_and_ends_every_session,
    new_passwords_follow_the_policy,
    sensitive_actions_need_a_recent_password_and_a_session,
);

const NEW_PASSWORD: &str = "amber quiver tundra mosaic";

/// Signs in from another address with a given User-Agent.
async fn login_as_device(server: &TestServer, n: u8, agent: &str, password: &str) -> Client {
    let client = server.client("acme").from_loopback(n);
    let r = client
        .send(
            client
                .raw(Method::POST, "/api/v1/auth/login")
                .header("user-agent", agent)
                .json(&json!({"email": "owner@acme.test", "password": password})),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    client.with_session_of(&r)
}

fn field_error(r: &Resp) -> (u16, &str, &str) {
    (
        r.status,
        r.body["errors"][0]["field"].as_str().unwrap_or_default(),
        r.body["errors"][0]["code"].as_str().unwrap_or_default(),
    )
}

async fn sessions_can_be_listed_and_revoked(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let phone = login_as_device(&server, 5, "Phone/1.0", PASSWORD).await;

    let list = owner.get("/api/v1/me/sessions").await;
    assert_eq!(list.status, 200);
    let sessions = list.body.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let mine = sessions.iter().find(|s| s["current"] == true).unwrap();
    assert_eq!(mine["ip"], "127.0.0.1");
    let theirs = sessions.iter().find(|s| s["current"] == false).unwrap();
    assert_eq!(theirs["ip"], "127.0.0.5");
    assert_eq!(theirs["user_agent"], "Phone/1.0");
    assert!(
        !list.text.contains("rss_"),
        "session secrets are never listed"
    );

    // Another user cannot end someone else's session, even knowing its id.
    let member = server
        .user(&owner, "acme", "member@acme.test", "member")
        .await;
    let path = format!("/api/v1/me/sessions/{}", theirs["id"].as_str().unwrap());
    assert_eq!(member.delete(&path).await.status, 404);
    assert_eq!(phone.get("/api/v1/me").await.status, 200);

    assert_eq!(owner.delete(&path).await.status, 204);
    assert_eq!(
        phone.get("/api/v1/me").await.status,
        401,
        "a revoked session is dead"
    );
    assert_eq!(owner.delete(&path).await.status, 404);
    assert_eq!(
        owner
            .delete("/api/v1/me/sessions/not-a-session")
            .await
            .status,
        404
    );

    // Revoke all the others at once.
    let a = login_as_device(&server, 6, "A", PASSWORD).await;
    let b = login_as_device(&server, 7, "B", PASSWORD).await;
    let r = owner.delete("/api/v1/me/sessions").await;
    assert_eq!(r.body["revoked"], 2);
    assert_eq!(a.get("/api/v1/me").await.status, 401);
    assert_eq!(b.get("/api/v1/me").await.status, 401);
    assert_eq!(
        owner.get("/api/v1/me").await.status,
        200,
        "the current one stays"
    );
    assert_eq!(
        member.get("/api/v1/me").await.status,
        200,
        "other users are untouched"
    );
    assert_eq!(
        owner
            .get("/api/v1/me/sessions")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    server.stop().await;
}

async fn a_password_change_needs_the_current_password_and_ends_every_session(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let laptop = login_as_device(&server, 5, "Laptop", PASSWORD).await;
    let secret = owner
        .post(
            "/api/v1/tokens",
            json!({"name": "ci", "expires_in_days": 1}),
        )
        .await
        .body["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let api = owner.with_token(&secret);
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});

    let r = owner
        .post("/api/v1/me/password", change("not it at all", NEW_PASSWORD))
        .await;
    assert_eq!(field_error(&r), (400, "current_password", "wrong_password"));
    let r = owner
        .post("/api/v1/me/password", change(PASSWORD, PASSWORD))
        .await;
    assert_eq!(field_error(&r), (400, "new_password", "password_unchanged"));
    let r = api
        .post("/api/v1/me/password", change(PASSWORD, NEW_PASSWORD))
        .await;
    assert_eq!((r.status, r.code()), (403, "session_required"));
    assert_eq!(
        laptop.get("/api/v1/me").await.status,
        200,
        "nothing changed yet"
    );

    let r = owner
        .post("/api/v1/me/password", change(PASSWORD, NEW_PASSWORD))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["status"], "signed_in");
    let renewed = owner.with_session_of(&r);
    assert_ne!(renewed.session, owner.session);
    assert_eq!(renewed.get("/api/v1/me").await.status, 200);
    assert_eq!(
        owner.get("/api/v1/me").await.status,
        401,
        "the old session ended"
    );
    assert_eq!(
        laptop.get("/api/v1/me").await.status,
        401,
        "every other session ended"
    );
    assert_eq!(
        api.get("/api/v1/me").await.status,
        200,
        "API tokens are revoked separately"
    );

    let anon = server.client("acme").from_loopback(8);
    let r = anon
        .post(
            "/api/v1/auth/login",
            json!({"email": "owner@acme.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 401, "the old password is gone");
    anon.login("owner@acme.test", NEW_PASSWORD).await;
    server.stop().await;
}

async fn new_passwords_follow_the_policy(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.setup_token("acme").await;
    let anon = server.client("acme");
    let r = anon
        .post(
            "/api/v1/setup",
            json!({"token": token, "email": "owner@acme.test", "password": "Password1234!"}),
        )
        .await;
    assert_eq!(field_error(&r), (400, "password", "password_common"));
    let r = anon
        .post(
            "/api/v1/setup",
            json!({"token": token, "email": "owner@acme.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        r.status, 201,
        "a refused password does not spend the setup token"
    );
    let owner = anon.login("owner@acme.test", PASSWORD).await;

    let create = |password: &str| json!({"email": "new@acme.test", "display_name": "Jordan Example", "password": password});
    for (password, code) in [
        ("tiny pw", "password_too_short"),
        ("qwertyqwerty", "password_common"),
        ("aaaaaaaaaaaaaaaa", "password_weak"),
        ("new@acme.test123", "password_weak"),
        ("jordanexample1", "password_weak"),
    ] {
        let r = owner.post("/api/v1/users", create(password)).await;
        assert_eq!(
            field_error(&r),
            (400, "password", code),
            "{password}: {r:?}"
        );
        assert!(
            !r.text.contains(password),
            "a refused password is not echoed back"
        );
    }
    // No composition rules: a long passphrase of lowercase words and spaces is fine.
    let r = owner
        .post("/api/v1/users", create("walnut prism cobalt harvest"))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let users = owner.get("/api/v1/users").await;
    assert_eq!(
        users.body.as_array().unwrap().len(),
        2,
        "refusals created nobody"
    );
    server.stop().await;
}

async fn sensitive_actions_need_a_recent_password_and_a_session(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let member = server
        .user(&owner, "acme", "member@acme.test", "member")
        .await;
    let member_id = member.get("/api/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let project = owner
        .post("/api/v1/projects", json!({"name": "P"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = owner
        .post(
            "/api/v1/tokens",
            json!({"name": "ci", "expires_in_days": 1}),
        )
        .await
        .body["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let api = owner.with_token(&secret);
    server
        .backdate("acme", "UPDATE sessions SET authenticated_at = ")
        .await;

    let user_path = format!("/api/v1/users/{member_id}");
    let member_path = format!("/api/v1/projects/{project}/members/{member_id}");
    async fn attempts(c: &Client, user_path: &str, member_path: &str) -> Vec<Resp> {
        vec![
            c.patch(user_path, json!({"role": "admin"})).await,
            c.patch(user_path, json!({"disabled": true})).await,
            c.put(member_path, json!({"role": "editor"})).await,
            c.post("/api/v1/tokens", json!({"name": "x", "expires_in_days": 1}))
                .await,
            c.post(
                "/api/v1/users",
                json!({"email": "a@acme.test", "display_name": "A", "password": PASSWORD, "role": "admin"}),
            )
            .await,
        ]
    }
    for r in attempts(&owner, &user_path, &member_path).await {
        assert_eq!(
            (r.status, r.code()),
            (403, "reauthentication_required"),
            "{r:?}"
        );
    }
    for r in attempts(&api, &user_path, &member_path).await {
        assert_eq!((r.status, r.code()), (403, "session_required"), "{r:?}");
    }
    let r = api
        .post("/api/v1/auth/reauth", json!({"password": PASSWORD}))
        .await;
    assert_eq!((r.status, r.code()), (403, "session_required"));
    // Harmless changes need no re-authentication.
    let r = owner
        .patch(&user_path, json!({"display_name": "Member M"}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(member.get("/api/v1/me").await.body["role"], "member");

    let r = owner
        .post("/api/v1/auth/reauth", json!({"password": PASSWORD}))
        .await;
    assert_eq!(r.status, 204);
    let r = owner.patch(&user_path, json!({"role": "admin"})).await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = owner.put(&member_path, json!({"role": "editor"})).await;
    assert_eq!(r.status, 204, "{r:?}");
    server.stop().await;
}
