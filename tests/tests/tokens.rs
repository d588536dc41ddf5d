//! API tokens from the attacker's side: scopes that only narrow (projects, reading, one
//! permission set), rotation with a grace period, last use recorded, and tokens that die
//! with their user's access.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_tests::{Backend, Client, TestServer, backend_tests};
use serde_json::{Value, json};

backend_tests!(
    tokens_can_be_limited_to_projects_and_to_reading,
    a_token_bound_to_a_permission_set_acts_with_that_set_alone,
    rotation_keeps_the_old_token_for_a_grace_period,
    disabling_a_user_kills_their_tokens_for_good,
);

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// A project with a `notes` table (title, status) and one record; returns (project, table).
async fn project(owner: &Client, name: &str) -> (String, String) {
    let p = id(&owner
        .post("/api/v1/projects", json!({"name": name}))
        .await
        .body);
    let t = owner
        .post(
            &format!("/api/v1/projects/{p}/tables"),
            json!({"name": "notes", "fields": [
                {"name": "title", "type": "text"},
                {"name": "status", "type": "text"}
            ]}),
        )
        .await;
    assert_eq!(t.status, 201, "{t:?}");
    let t = id(&t.body);
    let r = owner
        .post(
            &format!("/api/v1/tables/{t}/records"),
            json!({"fields": {"title": "first", "status": "open"}}),
        )
        .await;
    assert_eq!(r.status, 201);
    (p, t)
}

async fn token(client: &Client, body: Value) -> (Value, Client) {
    let r = client.post("/api/v1/tokens", body).await;
    assert_eq!(r.status, 201, "{r:?}");
    let api = client.with_token(r.body["secret"].as_str().unwrap());
    (r.body["token"].clone(), api)
}

fn note(title: &str) -> Value {
    json!({"fields": {"title": title, "status": "open"}})
}

async fn tokens_can_be_limited_to_projects_and_to_reading(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let (p1, t1) = project(&owner, "One").await;
    let (p2, t2) = project(&owner, "Two").await;

    let (meta, reader) = token(
        &owner,
        json!({"name": "reader", "projects": [p1], "access": "read"}),
    )
    .await;
    assert_eq!(meta["access"], "read");
    assert_eq!(meta["projects"], json!([p1]));
    let expires = chrono::DateTime::parse_from_rfc3339(meta["expires_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let days = (expires - chrono::Utc::now()).num_days();
    assert!(
        (89..=90).contains(&days),
        "tokens expire in 90 days by default: {days}"
    );

    let listed = reader.get("/api/v1/projects").await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert_eq!(listed.body[0]["id"], p1);
    assert_eq!(
        reader.get(&format!("/api/v1/projects/{p2}")).await.status,
        404
    );
    assert_eq!(
        reader
            .get(&format!("/api/v1/tables/{t2}/records"))
            .await
            .status,
        404,
        "another project does not exist for this token"
    );
    let records = reader.get(&format!("/api/v1/tables/{t1}/records")).await;
    assert_eq!(records.status, 200);
    let r = reader
        .post(&format!("/api/v1/tables/{t1}/records"), note("x"))
        .await;
    assert_eq!((r.status, r.code()), (403, "token_read_only"));
    let r = reader.get("/api/v1/users").await;
    assert_eq!((r.status, r.code()), (403, "token_scope"));

    let (_, writer) = token(&owner, json!({"name": "writer", "projects": [p1]})).await;
    let r = writer
        .post(&format!("/api/v1/tables/{t1}/records"), note("y"))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let r = writer
        .post(&format!("/api/v1/tables/{t2}/records"), note("z"))
        .await;
    assert_eq!(r.status, 404);
    let r = writer
        .post("/api/v1/projects", json!({"name": "Three"}))
        .await;
    assert_eq!((r.status, r.code()), (403, "token_scope"));
    let r = writer
        .patch(&format!("/api/v1/tables/{t2}"), json!({"name": "renamed"}))
        .await;
    assert_eq!(r.status, 404);

    // Read-only across all projects: every write refused, tenant administration too.
    let (_, all_reader) = token(&owner, json!({"name": "all", "access": "read"})).await;
    assert_eq!(
        all_reader
            .get(&format!("/api/v1/tables/{t2}/records"))
            .await
            .status,
        200
    );
    for r in [
        all_reader.delete(&format!("/api/v1/projects/{p2}")).await,
        all_reader
            .patch(&format!("/api/v1/tables/{t2}"), json!({"name": "x"}))
            .await,
    ] {
        assert_eq!((r.status, r.code()), (403, "token_read_only"));
    }

    // A scope cannot reach beyond the user: unknown projects, or projects the user cannot see.
    let member = server
        .user(&owner, "acme", "member@acme.test", "member")
        .await;
    for (client, projects) in [
        (&owner, json!(["01a20000-0000-7000-8000-000000000000"])),
        (&member, json!([p1])),
    ] {
        let r = client
            .post("/api/v1/tokens", json!({"name": "t", "projects": projects}))
            .await;
        assert_eq!(r.status, 400, "{r:?}");
        assert_eq!(r.body["errors"][0]["field"], "projects[0]");
        assert_eq!(r.body["errors"][0]["code"], "unknown_project");
    }
    let r = owner
        .post("/api/v1/tokens", json!({"name": "t", "projects": []}))
        .await;
    assert_eq!(r.body["errors"][0]["code"], "empty");
    let r = owner
        .post(
            "/api/v1/tokens",
            json!({"name": "t", "expires_in_days": 5000}),
        )
        .await;
    assert_eq!(r.body["errors"][0]["code"], "out_of_range");
    // A token cannot mint tokens, scoped or not.
    let (_, unscoped) = token(&owner, json!({"name": "unscoped"})).await;
    let r = unscoped
        .post("/api/v1/tokens", json!({"name": "child"}))
        .await;
    assert_eq!((r.status, r.code()), (403, "session_required"));
    server.stop().await;
}

async fn a_token_bound_to_a_permission_set_acts_with_that_set_alone(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let (p, t) = project(&owner, "P").await;
    owner
        .post(
            &format!("/api/v1/tables/{t}/records"),
            json!({"fields": {"title": "done one", "status": "done"}}),
        )
        .await;
    let member = server
        .user(&owner, "acme", "member@acme.test", "member")
        .await;
    let member_id = id(&member.get("/api/v1/me").await.body);
    let r = owner
        .put(
            &format!("/api/v1/projects/{p}/members/{member_id}"),
            json!({"role": "editor"}),
        )
        .await;
    assert_eq!(r.status, 204);
    let set = owner
        .post(
            &format!("/api/v1/projects/{p}/permission-sets"),
            json!({"name": "open only", "tables": {t.clone(): {"read": true, "rules": {"read": "status = \"open\""}}}}),
        )
        .await;
    assert_eq!(set.status, 201, "{set:?}");
    let set_id = id(&set.body);

    // The member neither holds the set nor administers the project.
    let r = member
        .post(
            "/api/v1/tokens",
            json!({"name": "t", "permission_set": set_id}),
        )
        .await;
    assert_eq!(
        r.body["errors"][0]["code"], "unknown_permission_set",
        "{r:?}"
    );
    let r = owner
        .put(
            &format!("/api/v1/permission-sets/{set_id}/users/{member_id}"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 204);
    let (meta, bound) = token(&member, json!({"name": "t", "permission_set": set_id})).await;
    assert_eq!(
        meta["projects"],
        json!([p]),
        "a set binds the token to its project"
    );

    // As an editor the member sees both records and writes; the token sees only open ones.
    let all = member.get(&format!("/api/v1/tables/{t}/records")).await;
    assert_eq!(all.body["records"].as_array().unwrap().len(), 2);
    let seen = bound.get(&format!("/api/v1/tables/{t}/records")).await;
    assert_eq!(seen.status, 200, "{seen:?}");
    let seen = seen.body["records"].as_array().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["fields"]["status"], "open");
    let r = bound
        .post(&format!("/api/v1/tables/{t}/records"), note("nope"))
        .await;
    assert_eq!(r.status, 403, "{r:?}");

    // Losing the set takes the token's access with it; deleting the set deletes the token.
    let r = owner
        .delete(&format!(
            "/api/v1/permission-sets/{set_id}/users/{member_id}"
        ))
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        bound
            .get(&format!("/api/v1/tables/{t}/records"))
            .await
            .status,
        404
    );
    assert_eq!(
        member
            .get(&format!("/api/v1/tables/{t}/records"))
            .await
            .status,
        200
    );
    let r = owner
        .delete(&format!("/api/v1/permission-sets/{set_id}"))
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(bound.get("/api/v1/me").await.status, 401);
    server.stop().await;
}

async fn rotation_keeps_the_old_token_for_a_grace_period(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let (p, _) = project(&owner, "P").await;
    let (first, first_api) = token(
        &owner,
        json!({"name": "deploy", "projects": [p], "access": "read", "expires_in_days": 30}),
    )
    .await;

    let r = owner
        .post(&format!("/api/v1/tokens/{}/rotate", id(&first)), json!({}))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let second = r.body["token"].clone();
    let second_api = owner.with_token(r.body["secret"].as_str().unwrap());
    assert_eq!(second["name"], "deploy");
    assert_eq!(second["projects"], json!([p]));
    assert_eq!(second["access"], "read");
    assert_ne!(second["id"], first["id"]);
    assert_eq!(
        first_api.get("/api/v1/me").await.status,
        200,
        "the old one still works"
    );
    assert_eq!(second_api.get("/api/v1/me").await.status, 200);

    let list = owner.get("/api/v1/tokens").await;
    let old = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == first["id"])
        .unwrap();
    assert!(old["rotated_at"].is_string());
    let grace_end = chrono::DateTime::parse_from_rfc3339(old["expires_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let hours = (grace_end - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!((23.0..=24.0).contains(&hours), "a day of grace: {hours}");

    let r = owner
        .post(&format!("/api/v1/tokens/{}/rotate", id(&first)), json!({}))
        .await;
    assert_eq!((r.status, r.code()), (409, "already_rotated"));

    // A token rotates itself (even a read-only one), but no other token.
    let r = second_api
        .post(&format!("/api/v1/tokens/{}/rotate", id(&second)), json!({}))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let third_api = owner.with_token(r.body["secret"].as_str().unwrap());
    let third = r.body["token"].clone();
    let r = second_api
        .post(&format!("/api/v1/tokens/{}/rotate", id(&third)), json!({}))
        .await;
    assert_eq!((r.status, r.code()), (403, "token_scope"));

    // The grace period ends: only the newest works.
    server
        .set_time(
            "acme",
            "UPDATE api_tokens SET expires_at = ",
            chrono::Utc::now() - chrono::Duration::minutes(1),
            " WHERE rotated_at IS NOT NULL",
        )
        .await;
    assert_eq!(first_api.get("/api/v1/me").await.status, 401);
    assert_eq!(second_api.get("/api/v1/me").await.status, 401);
    let far = third_api.from_loopback(7);
    assert_eq!(far.get("/api/v1/me").await.status, 200);

    // Last use: when and from where.
    let list = owner.get("/api/v1/tokens").await;
    let newest = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == third["id"])
        .unwrap();
    assert_eq!(newest["last_used_ip"], "127.0.0.7");
    assert!(newest["last_used_at"].is_string());
    let r = owner
        .post(&format!("/api/v1/tokens/{}/rotate", id(&first)), json!({}))
        .await;
    assert_eq!(
        r.status, 404,
        "an expired token cannot be rotated back to life"
    );
    server.stop().await;
}

async fn disabling_a_user_kills_their_tokens_for_good(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let member = server
        .user(&owner, "acme", "member@acme.test", "member")
        .await;
    let member_id = id(&member.get("/api/v1/me").await.body);
    let (_, api) = token(&member, json!({"name": "t"})).await;
    assert_eq!(api.get("/api/v1/me").await.status, 200);
    let path = format!("/api/v1/users/{member_id}");
    assert_eq!(
        owner.patch(&path, json!({"disabled": true})).await.status,
        200
    );
    assert_eq!(api.get("/api/v1/me").await.status, 401);
    assert_eq!(member.get("/api/v1/me").await.status, 401);
    assert_eq!(
        owner.patch(&path, json!({"disabled": false})).await.status,
        200
    );
    assert_eq!(
        api.get("/api/v1/me").await.status,
        401,
        "re-enabling revives nothing"
    );
    assert_eq!(member.get("/api/v1/me").await.status, 401);
    // A live token is worthless on another tenant.
    let (_, live) = token(&owner, json!({"name": "live"})).await;
    assert_eq!(live.get("/api/v1/me").await.status, 200);
    let other = server
        .client("default")
        .with_token(live.token.as_deref().unwrap());
    assert_eq!(other.get("/api/v1/me").await.status, 401);
    server.stop().await;
}
