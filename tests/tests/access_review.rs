//! People over time: the access review an admin runs (roles, last sign-in, second factors,
//! tokens, project roles), accounts disabled after the tenant's inactivity limit, and users
//! deleted with their records handed to a successor.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use rampart_tests::{Backend, Client, PasskeyDevice, TestServer, backend_tests};
use serde_json::{Value, json};

backend_tests!(
    the_access_review_shows_roles_sign_ins_factors_and_projects,
    inactive_accounts_are_disabled_when_the_tenant_asks,
    deleting_a_user_hands_their_records_to_a_successor,
);

fn by_email<'a>(review: &'a Value, email: &str) -> &'a Value {
    review
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == email)
        .unwrap_or_else(|| panic!("{email} missing from {review}"))
}

async fn the_access_review_shows_roles_sign_ins_factors_and_projects(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let member = server.user(&owner, "acme", "m@acme.test", "member").await;
    let mut device = PasskeyDevice::new();
    device.register(&member, "laptop").await;
    let r = owner
        .post(
            "/api/v1/users",
            json!({"email": "never@acme.test", "display_name": "Never", "password": rampart_tests::PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 201);
    let project = owner.post("/api/v1/projects", json!({"name": "CRM"})).await;
    let project_id = project.body["id"].as_str().unwrap().to_owned();
    let member_id = member.get("/api/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = owner
        .put(
            &format!("/api/v1/projects/{project_id}/members/{member_id}"),
            json!({"role": "editor"}),
        )
        .await;
    assert!(r.status < 300, "{r:?}");
    let r = owner
        .post(
            "/api/v1/tokens",
            json!({"name": "ci", "expires_in_days": 1}),
        )
        .await;
    assert_eq!(r.status, 201);

    let review = owner.get("/api/v1/users/access-review").await;
    assert_eq!(review.status, 200, "{review:?}");
    let o = by_email(&review.body, "owner@acme.test");
    assert_eq!(o["role"], "owner");
    assert!(o["last_login_at"].is_string());
    assert_eq!(
        (o["second_factor"].clone(), o["live_tokens"].clone()),
        (json!(false), json!(1))
    );
    assert_eq!(o["projects"][0]["role"], "owner", "{o}");
    let m = by_email(&review.body, "m@acme.test");
    assert_eq!(m["second_factor"], true);
    assert_eq!(m["passkeys"], 1);
    assert_eq!(
        m["projects"],
        json!([{"project_id": project_id, "project_name": "CRM", "role": "editor"}])
    );
    let n = by_email(&review.body, "never@acme.test");
    assert!(n.get("last_login_at").is_none(), "{n}");
    assert!(
        !review.text.contains("password"),
        "no secrets in the review"
    );

    // Only tenant admins review access.
    let r = member.get("/api/v1/users/access-review").await;
    assert_eq!(r.status, 403, "{r:?}");
    server.stop().await;
}

/// Moves every trace of a user's activity 60 days into the past; `who` is a static
/// `WHERE` clause on `users` and `sessions` respectively.
async fn age(server: &TestServer, who: (&'static str, &'static str)) {
    let when = chrono::Utc::now() - chrono::Duration::days(60);
    server
        .set_time("acme", "UPDATE users SET last_login_at = ", when, who.0)
        .await;
    server
        .set_time("acme", "UPDATE users SET created_at = ", when, who.0)
        .await;
    server
        .set_time("acme", "UPDATE sessions SET last_seen_at = ", when, who.1)
        .await;
}

macro_rules! who {
    ($email:literal) => {
        (
            concat!(" WHERE email = '", $email, "'"),
            concat!(
                " WHERE user_id = (SELECT id FROM users WHERE email = '",
                $email,
                "')"
            ),
        )
    };
}

async fn disabled(owner: &Client, email: &str) -> bool {
    let users = owner.get("/api/v1/users").await;
    by_email(&users.body, email)["disabled"].as_bool().unwrap()
}

async fn inactive_accounts_are_disabled_when_the_tenant_asks(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.auth.housekeeping_interval_secs = 1).await;
    let owner = server.owner("acme").await;
    let stale = server
        .user(&owner, "acme", "stale@acme.test", "member")
        .await;
    let token_user = server
        .user(&owner, "acme", "tokens@acme.test", "member")
        .await;
    server
        .user(&owner, "acme", "fresh@acme.test", "member")
        .await;
    server
        .user(&owner, "acme", "owner2@acme.test", "owner")
        .await;
    let secret = token_user
        .post(
            "/api/v1/tokens",
            json!({"name": "sync", "expires_in_days": 30}),
        )
        .await
        .body["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    age(&server, who!("stale@acme.test")).await;
    age(&server, who!("tokens@acme.test")).await;
    age(&server, who!("owner2@acme.test")).await;
    // The token is in daily use, though its user has not signed in for long.
    assert_eq!(
        token_user
            .with_token(&secret)
            .get("/api/v1/me")
            .await
            .status,
        200
    );

    // Off by default: several housekeeping rounds change nothing.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!disabled(&owner, "stale@acme.test").await);
    let settings = owner.get("/api/v1/settings/security").await;
    assert!(
        settings.body.get("disable_inactive_after_days").is_none(),
        "{settings:?}"
    );

    // A bad value anywhere in a change refuses all of it: the valid setting next to it is
    // not written either.
    let r = owner
        .patch(
            "/api/v1/settings/security",
            json!({"self_registration": true, "disable_inactive_after_days": 5000}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "disable_inactive_after_days");
    let settings = owner.get("/api/v1/settings/security").await;
    assert_eq!(settings.body["self_registration"], false, "{settings:?}");
    let r = owner
        .patch(
            "/api/v1/settings/security",
            json!({"disable_inactive_after_days": 30}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["disable_inactive_after_days"], 30);

    let deadline = Instant::now() + Duration::from_secs(20);
    while !disabled(&owner, "stale@acme.test").await {
        assert!(
            Instant::now() < deadline,
            "the stale account was never disabled"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        stale.get("/api/v1/me").await.status,
        401,
        "its session ended"
    );
    assert!(
        !disabled(&owner, "tokens@acme.test").await,
        "token use is activity"
    );
    assert!(!disabled(&owner, "fresh@acme.test").await);
    assert!(
        !disabled(&owner, "owner2@acme.test").await,
        "owners are never disabled"
    );

    // Turning it off again stops it.
    let r = owner
        .patch(
            "/api/v1/settings/security",
            json!({"disable_inactive_after_days": 0}),
        )
        .await;
    assert!(r.body.get("disable_inactive_after_days").is_none(), "{r:?}");
    server.stop().await;
}

async fn deleting_a_user_hands_their_records_to_a_successor(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let owner_id = owner.get("/api/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let member = server
        .user(&owner, "acme", "leaver@acme.test", "member")
        .await;
    let member_id = member.get("/api/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = server
        .user(&owner, "acme", "admin@acme.test", "admin")
        .await;
    server
        .user(&owner, "acme", "owner2@acme.test", "owner")
        .await;
    let project = owner.post("/api/v1/projects", json!({"name": "CRM"})).await;
    let project_id = project.body["id"].as_str().unwrap().to_owned();
    let r = owner
        .put(
            &format!("/api/v1/projects/{project_id}/members/{member_id}"),
            json!({"role": "editor"}),
        )
        .await;
    assert!(r.status < 300, "{r:?}");
    let table = owner
        .post(
            &format!("/api/v1/projects/{project_id}/tables"),
            json!({"name": "Deals", "fields": [{"name": "title", "type": "text"}, {"name": "rep", "type": "user"}]}),
        )
        .await;
    let records = format!(
        "/api/v1/tables/{}/records",
        table.body["id"].as_str().unwrap()
    );
    for title in ["a", "b"] {
        let r = member
            .post(
                &records,
                json!({"fields": {"title": title, "rep": member_id}}),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
    }
    let r = owner
        .post(&records, json!({"fields": {"title": "c"}}))
        .await;
    assert_eq!(r.status, 201);
    let token = member
        .post("/api/v1/tokens", json!({"name": "t", "expires_in_days": 1}))
        .await
        .body["secret"]
        .as_str()
        .unwrap()
        .to_owned();

    let path = format!("/api/v1/users/{member_id}");
    // A successor is required, must be someone else, and must exist.
    let r = owner.delete(&path).await;
    assert_eq!(r.status, 400, "{r:?}");
    let r = owner
        .delete(&format!("{path}?reassign_to={member_id}"))
        .await;
    assert_eq!(r.body["errors"][0]["field"], "reassign_to", "{r:?}");
    let r = owner
        .delete(&format!("{path}?reassign_to={}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(r.body["errors"][0]["field"], "reassign_to", "{r:?}");
    assert_eq!(
        member.get("/api/v1/me").await.status,
        200,
        "nothing changed"
    );
    // No one deletes themselves; admins delete members only.
    let r = owner
        .delete(&format!("/api/v1/users/{owner_id}?reassign_to={member_id}"))
        .await;
    assert_eq!((r.status, r.code()), (409, "cannot_delete_self"));
    let r = admin
        .delete(&format!("/api/v1/users/{owner_id}?reassign_to={member_id}"))
        .await;
    assert_eq!(r.status, 403, "{r:?}");

    let r = owner
        .delete(&format!("{path}?reassign_to={owner_id}"))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body,
        json!({"records_reassigned": 2, "user_fields_reassigned": 2})
    );
    let list = owner.get(&records).await;
    let rows = list.body["records"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    for row in rows {
        assert_eq!(row["owner"], owner_id.as_str(), "{row}");
    }
    assert_eq!(
        rows.iter()
            .filter(|r| r["fields"]["rep"] == owner_id.as_str())
            .count(),
        2,
        "{rows:?}"
    );
    assert_eq!(member.get("/api/v1/me").await.status, 401);
    assert_eq!(
        member.with_token(&token).get("/api/v1/me").await.status,
        401
    );
    assert_eq!(owner.get(&path).await.status, 404);
    let review = owner.get("/api/v1/users/access-review").await;
    assert!(!review.text.contains("leaver@acme.test"));

    // Deleting needs a recent password.
    server
        .backdate("acme", "UPDATE sessions SET authenticated_at = ")
        .await;
    let admin_id = admin.get("/api/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = owner
        .delete(&format!("/api/v1/users/{admin_id}?reassign_to={owner_id}"))
        .await;
    assert_eq!((r.status, r.code()), (403, "reauthentication_required"));
    server.stop().await;
}
