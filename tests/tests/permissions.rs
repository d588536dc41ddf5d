//! Permission sets: record rules pushed into SQL, field access per record, groups, user
//! attributes, `access via`, validation when saved, and denial on every operation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_tests::{Backend, Client, Resp, TestServer, backend_tests};
use serde_json::{Value, json};

backend_tests!(
    owner_write_lets_a_user_give_a_record_away,
    sets_grant_records_and_fields_by_rule,
    field_visibility_combines_per_record,
    groups_and_user_attributes_grant_access,
    access_via_follows_links,
    rules_are_validated_when_saved,
    every_operation_is_denied_without_a_grant,
    an_admin_of_one_project_has_nothing_in_another,
    a_filter_through_a_link_reads_only_what_the_caller_may_read,
    a_hidden_field_in_a_body_answers_like_a_missing_one,
    rules_may_consult_only_what_their_set_reads,
);

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn me(c: &Client) -> String {
    c.get("/api/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

struct Notes {
    project: String,
    table: String,
}

async fn notes(owner: &Client) -> Notes {
    let p = owner.post("/api/v1/projects", json!({"name": "P"})).await;
    let project = id(&p.body);
    let t = owner
        .post(
            &format!("/api/v1/projects/{project}/tables"),
            json!({"name": "notes", "fields": [
                {"name": "title", "type": "text"},
                {"name": "body", "type": "long_text"},
                {"name": "secret", "type": "text"},
                {"name": "team", "type": "text"},
                {"name": "is_published", "type": "boolean", "default": false}
            ]}),
        )
        .await;
    assert_eq!(t.status, 201, "{t:?}");
    Notes {
        project,
        table: id(&t.body),
    }
}

async fn set(owner: &Client, project: &str, name: &str, tables: Value) -> Resp {
    owner
        .post(
            &format!("/api/v1/projects/{project}/permission-sets"),
            json!({"name": name, "tables": tables}),
        )
        .await
}

async fn grant(owner: &Client, set_id: &str, user: &str) {
    let r = owner
        .put(
            &format!("/api/v1/permission-sets/{set_id}/users/{user}"),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
}

fn titles(r: &Resp) -> Vec<String> {
    let mut t: Vec<String> = r.body["records"]
        .as_array()
        .unwrap_or_else(|| panic!("{r:?}"))
        .iter()
        .map(|r| r["fields"]["title"].as_str().unwrap_or("?").to_owned())
        .collect();
    t.sort();
    t
}

async fn create(c: &Client, table: &str, fields: Value) -> Resp {
    c.post(
        &format!("/api/v1/tables/{table}/records"),
        json!({"fields": fields}),
    )
    .await
}

async fn sets_grant_records_and_fields_by_rule(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let alice = server
        .user(&owner, "acme", "alice@acme.test", "member")
        .await;
    let n = notes(&owner).await;
    let t = &n.table;
    let s = set(
        &owner,
        &n.project,
        "Authors",
        json!({ t.clone(): {
            "create": true, "read": true, "update": true,
            "fields": {"secret": "none", "body": "read"},
            "rules": {"read": "owner = @user.id || is_published = true", "update": "owner = @user.id"}
        }}),
    )
    .await;
    assert_eq!(s.status, 201, "{s:?}");
    assert_eq!(
        s.body["tables"][t]["rules"]["read"],
        "owner = @user.id || is_published = true"
    );
    grant(&owner, &id(&s.body), &me(&alice).await).await;

    let published = create(
        &owner,
        t,
        json!({"title": "published", "is_published": true, "secret": "s1"}),
    )
    .await;
    let hidden = create(&owner, t, json!({"title": "hidden", "secret": "s2"})).await;
    let mine = create(&alice, t, json!({"title": "mine"})).await;
    assert_eq!(mine.status, 201, "{mine:?}");
    assert!(mine.body["fields"].get("secret").is_none(), "{mine:?}");

    let list = alice
        .get(&format!("/api/v1/tables/{t}/records?count=exact"))
        .await;
    assert_eq!(titles(&list), vec!["mine", "published"]);
    assert_eq!(list.body["count"], 2, "counts only what the caller may see");
    for r in list.body["records"].as_array().unwrap() {
        assert!(
            r["fields"].get("secret").is_none(),
            "a hidden field is absent: {r}"
        );
        assert!(r["fields"].get("title").is_some());
    }
    // The table's description omits the hidden field too.
    let desc = alice.get(&format!("/api/v1/tables/{t}")).await;
    let names: Vec<&str> = desc.body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"secret"), "{names:?}");

    // Explain and simulate, for project admins.
    let alice_id = me(&alice).await;
    let ex = owner
        .get(&format!(
            "/api/v1/tables/{t}/records/{}/explain?user_id={alice_id}",
            id(&published.body)
        ))
        .await;
    assert_eq!(ex.status, 200, "{ex:?}");
    assert_eq!(ex.body["allowed"], true);
    let set_grant = ex.body["grants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["source"].as_str().unwrap().contains("Authors"))
        .unwrap();
    assert_eq!(
        set_grant["clauses"],
        json!([{"clause": "owner = @user.id", "matched": false}, {"clause": "is_published = true", "matched": true}])
    );
    assert!(
        ex.body["reason"].as_str().unwrap().contains("is_published"),
        "{ex:?}"
    );
    assert!(
        !ex.body["visible_fields"]
            .as_array()
            .unwrap()
            .contains(&json!("secret"))
    );
    let ex = owner
        .get(&format!(
            "/api/v1/tables/{t}/records/{}/explain?user_id={alice_id}&operation=update",
            id(&published.body)
        ))
        .await;
    assert_eq!(ex.body["allowed"], false, "{ex:?}");
    let ex = owner
        .get(&format!(
            "/api/v1/tables/{t}/records/{}/explain?user_id={alice_id}",
            id(&hidden.body)
        ))
        .await;
    assert_eq!(ex.body["allowed"], false);
    assert_eq!(ex.body["visible_fields"], json!([]));
    let sim = owner
        .get(&format!("/api/v1/tables/{t}/simulate?user_id={alice_id}"))
        .await;
    assert_eq!(titles(&sim), vec!["mine", "published"]);
    assert!(sim.body["records"][0]["fields"].get("secret").is_none());
    // Looking through someone's eyes is recorded in the audit chain, about them.
    for action in ["access.simulate", "access.explain"] {
        let trail = owner.get(&format!("/api/v1/audit?action={action}")).await;
        assert_eq!(
            trail.body["items"][0]["subject"],
            alice_id.as_str(),
            "{trail:?}"
        );
    }
    assert_eq!(
        alice
            .get(&format!("/api/v1/tables/{t}/simulate?user_id={alice_id}"))
            .await
            .status,
        403
    );

    // A record the caller may not read looks exactly like one that does not exist.
    let denied = alice
        .get(&format!("/api/v1/tables/{t}/records/{}", id(&hidden.body)))
        .await;
    let missing = alice
        .get(&format!(
            "/api/v1/tables/{t}/records/{}",
            uuid::Uuid::now_v7()
        ))
        .await;
    assert_eq!(
        (denied.status, denied.code()),
        (missing.status, missing.code())
    );
    assert_eq!(denied.body["title"], missing.body["title"]);

    // A hidden field cannot be probed by filtering or sorting on it.
    for q in [
        "filter=secret%20%3D%20%22s2%22",
        "filter=secret%20!%3D%20null",
        "sort=secret",
    ] {
        let r = alice.get(&format!("/api/v1/tables/{t}/records?{q}")).await;
        assert_eq!(r.status, 400, "{q}");
        assert_eq!(r.body["errors"][0]["code"], "unknown_field", "{q}");
    }
    let r = alice
        .get(&format!(
            "/api/v1/tables/{t}/records?filter=nothere%20%3D%20%22s2%22"
        ))
        .await;
    assert_eq!(
        r.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .replace("nothere", "X"),
        alice
            .get(&format!(
                "/api/v1/tables/{t}/records?filter=secret%20%3D%20%22s2%22"
            ))
            .await
            .body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .replace("secret", "X")
    );

    // Updates: own record yes; a readable record of someone else: 403; a read-only field: 403
    // naming it; a hidden field: unknown; the owner: 403.
    let own = format!("/api/v1/tables/{t}/records/{}", id(&mine.body));
    assert_eq!(
        alice
            .patch(&own, json!({"version": 1, "fields": {"title": "mine!"}}))
            .await
            .status,
        200
    );
    let r = alice
        .patch(
            &format!("/api/v1/tables/{t}/records/{}", id(&published.body)),
            json!({"version": 1, "fields": {"title": "x"}}),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden"));
    let r = alice
        .patch(&own, json!({"version": 2, "fields": {"body": "x"}}))
        .await;
    assert_eq!((r.status, r.code()), (403, "field_not_writable"), "{r:?}");
    assert_eq!(r.body["errors"][0]["field"], "fields.body");
    let r = alice
        .patch(&own, json!({"version": 2, "fields": {"secret": "x"}}))
        .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["code"].as_str()),
        (400, Some("unknown_field"))
    );
    let owner_id = me(&owner).await;
    let r = alice
        .patch(&own, json!({"version": 2, "owner": owner_id}))
        .await;
    assert_eq!((r.status, r.code()), (403, "field_not_writable"));
    // None of that changed anything; deletes are not granted at all.
    let now = alice.get(&own).await;
    assert_eq!(
        (
            now.body["version"].as_i64(),
            now.body["fields"]["title"].as_str()
        ),
        (Some(2), Some("mine!"))
    );
    assert_eq!(alice.delete(&format!("{own}?version=2")).await.status, 403);
    // Another owner's hidden record is "not found" for writes as well.
    let r = alice
        .patch(
            &format!("/api/v1/tables/{t}/records/{}", id(&hidden.body)),
            json!({"version": 1, "fields": {"title": "x"}}),
        )
        .await;
    assert_eq!(r.status, 404);
    // A batch is refused as a whole when one operation is not allowed.
    let r = alice
        .post(&format!("/api/v1/tables/{t}/records/batch"), json!({"create": [{"fields": {"title": "b1"}}], "update": [{"id": id(&published.body), "version": 1, "fields": {"title": "y"}}]}))
        .await;
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(
        titles(&alice.get(&format!("/api/v1/tables/{t}/records")).await),
        vec!["mine!", "published"]
    );
    server.stop().await;
}

async fn field_visibility_combines_per_record(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let alice = server
        .user(&owner, "acme", "alice@acme.test", "member")
        .await;
    let n = notes(&owner).await;
    let t = &n.table;
    let public = set(&owner, &n.project, "Public", json!({ t.clone(): {"read": true, "fields": {"secret": "none"}, "rules": {"read": "is_published = true"}}})).await;
    let own = set(
        &owner,
        &n.project,
        "Own",
        json!({ t.clone(): {"read": true, "create": true, "rules": {"read": "owner = @user.id"}}}),
    )
    .await;
    let a = me(&alice).await;
    grant(&owner, &id(&public.body), &a).await;
    grant(&owner, &id(&own.body), &a).await;
    create(
        &owner,
        t,
        json!({"title": "theirs", "is_published": true, "secret": "x"}),
    )
    .await;
    create(&alice, t, json!({"title": "mine", "secret": "y"})).await;
    let list = alice.get(&format!("/api/v1/tables/{t}/records")).await;
    assert_eq!(titles(&list), vec!["mine", "theirs"]);
    for r in list.body["records"].as_array().unwrap() {
        let shows_secret = r["fields"].get("secret").is_some();
        match r["fields"]["title"].as_str().unwrap() {
            "mine" => assert!(shows_secret, "the set admitting my record reads secret"),
            _ => assert!(
                !shows_secret,
                "only the public set admits theirs, and it hides secret"
            ),
        }
    }
    // Filtering on secret needs it in every read set.
    let r = alice
        .get(&format!(
            "/api/v1/tables/{t}/records?filter=secret%20%3D%20%22y%22"
        ))
        .await;
    assert_eq!(r.body["errors"][0]["code"], "unknown_field");
    server.stop().await;
}

async fn groups_and_user_attributes_grant_access(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let bob = server.user(&owner, "acme", "bob@acme.test", "member").await;
    let n = notes(&owner).await;
    let t = &n.table;
    let r = owner
        .put(
            "/api/v1/user-attributes",
            json!([{"name": "team"}, {"name": "teams", "multiple": true}]),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let b = me(&bob).await;
    let r = owner
        .patch(
            &format!("/api/v1/users/{b}"),
            json!({"attributes": {"team": "red", "teams": ["red", "green"]}}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = owner
        .patch(
            &format!("/api/v1/users/{b}"),
            json!({"attributes": {"teams": "red"}}),
        )
        .await;
    assert_eq!(r.body["errors"][0]["field"], "attributes.teams");
    let g = owner
        .post("/api/v1/groups", json!({"name": "Readers"}))
        .await;
    let gid = id(&g.body);
    assert_eq!(
        owner
            .put(&format!("/api/v1/groups/{gid}/members/{b}"), json!({}))
            .await
            .status,
        204
    );
    for (team, title) in [("red", "r"), ("green", "g"), ("blue", "b")] {
        create(&owner, t, json!({"title": title, "team": team})).await;
    }
    let single = set(
        &owner,
        &n.project,
        "Team",
        json!({ t.clone(): {"read": true, "rules": {"read": "team = @user.team"}}}),
    )
    .await;
    assert_eq!(single.status, 201, "{single:?}");
    let r = owner
        .put(
            &format!("/api/v1/permission-sets/{}/groups/{gid}", id(&single.body)),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        titles(&bob.get(&format!("/api/v1/tables/{t}/records")).await),
        vec!["r"]
    );
    // A multiple attribute, and a rule on group membership.
    let r = owner
        .put(&format!("/api/v1/permission-sets/{}", id(&single.body)), json!({"name": "Team", "tables": { t.clone(): {"read": true, "rules": {"read": "team in @user.teams || (\"Readers\" in @user.groups && team = \"blue\")"}}}}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        titles(&bob.get(&format!("/api/v1/tables/{t}/records")).await),
        vec!["b", "g", "r"]
    );
    // Leaving the group takes the access away.
    owner
        .delete(&format!("/api/v1/groups/{gid}/members/{b}"))
        .await;
    let r = bob.get(&format!("/api/v1/tables/{t}/records")).await;
    assert_eq!(
        r.status, 404,
        "no grant left: the table does not exist for bob"
    );
    server.stop().await;
}

async fn access_via_follows_links(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let alice = server
        .user(&owner, "acme", "alice@acme.test", "member")
        .await;
    owner
        .put(
            "/api/v1/user-attributes",
            json!([{"name": "teams", "multiple": true}]),
        )
        .await;
    let a = me(&alice).await;
    owner
        .patch(
            &format!("/api/v1/users/{a}"),
            json!({"attributes": {"teams": ["red"]}}),
        )
        .await;
    let p = id(&owner
        .post("/api/v1/projects", json!({"name": "Chat"}))
        .await
        .body);
    let rooms = id(&owner
        .post(
            &format!("/api/v1/projects/{p}/tables"),
            json!({"name": "rooms", "fields": [{"name": "team", "type": "text"}]}),
        )
        .await
        .body);
    let threads = id(&owner
        .post(&format!("/api/v1/projects/{p}/tables"), json!({"name": "threads", "fields": [{"name": "title", "type": "text"}, {"name": "room", "type": "link", "options": {"table_id": rooms}}]}))
        .await
        .body);
    let messages = id(&owner
        .post(&format!("/api/v1/projects/{p}/tables"), json!({"name": "messages", "fields": [{"name": "title", "type": "text"}, {"name": "thread", "type": "link", "options": {"table_id": threads}}]}))
        .await
        .body);
    let red = id(&create(&owner, &rooms, json!({"team": "red"})).await.body);
    let blue = id(&create(&owner, &rooms, json!({"team": "blue"})).await.body);
    let t_red = id(
        &create(&owner, &threads, json!({"title": "t-red", "room": red}))
            .await
            .body,
    );
    let t_blue = id(
        &create(&owner, &threads, json!({"title": "t-blue", "room": blue}))
            .await
            .body,
    );
    create(
        &owner,
        &messages,
        json!({"title": "m-red", "thread": t_red}),
    )
    .await;
    create(
        &owner,
        &messages,
        json!({"title": "m-blue", "thread": t_blue}),
    )
    .await;
    create(&owner, &messages, json!({"title": "m-none"})).await;
    let s = set(
        &owner,
        &p,
        "Members",
        json!({
            rooms.clone(): {"read": true, "rules": {"read": "team in @user.teams"}},
            threads.clone(): {"read": true, "rules": {"read": "access via room"}},
            messages.clone(): {"read": true, "rules": {"read": "access via thread"}}
        }),
    )
    .await;
    assert_eq!(s.status, 201, "{s:?}");
    grant(&owner, &id(&s.body), &a).await;
    assert_eq!(
        titles(
            &alice
                .get(&format!("/api/v1/tables/{messages}/records"))
                .await
        ),
        vec!["m-red"]
    );
    assert_eq!(
        titles(
            &alice
                .get(&format!("/api/v1/tables/{threads}/records"))
                .await
        ),
        vec!["t-red"]
    );
    // Moving the thread to the blue room moves the message out of reach.
    owner
        .patch(
            &format!("/api/v1/tables/{threads}/records/{t_red}"),
            json!({"version": 1, "fields": {"room": blue}}),
        )
        .await;
    assert!(
        titles(
            &alice
                .get(&format!("/api/v1/tables/{messages}/records"))
                .await
        )
        .is_empty()
    );
    // A chain that returns to a table already on it is refused when saved.
    let r = owner
        .put(
            &format!("/api/v1/permission-sets/{}", id(&s.body)),
            json!({"name": "Members", "tables": {
                threads.clone(): {"read": true, "rules": {"read": "access via room"}},
                rooms.clone(): {"read": true, "rules": {"read": "team in @user.teams"}}
            }}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    owner
        .post(
            &format!("/api/v1/tables/{rooms}/fields"),
            json!({"name": "main", "type": "link", "options": {"table_id": threads}}),
        )
        .await;
    let r = owner
        .put(
            &format!("/api/v1/permission-sets/{}", id(&s.body)),
            json!({"name": "Members", "tables": {
                threads.clone(): {"read": true, "rules": {"read": "access via room"}},
                rooms.clone(): {"read": true, "rules": {"read": "access via main"}}
            }}),
        )
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.body["errors"][0]["code"], "access_cycle", "{r:?}");
    server.stop().await;
}

async fn rules_are_validated_when_saved(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let n = notes(&owner).await;
    let t = &n.table;
    let cases = [
        (
            json!({"read": true, "rules": {"read": "owner = "}}),
            "invalid_rule",
            Some(8),
        ),
        (
            json!({"read": true, "rules": {"read": "nope = 1"}}),
            "unknown_field",
            Some(0),
        ),
        (
            json!({"read": true, "fields": {"secret": "none"}, "rules": {"read": "secret = \"x\""}}),
            "unknown_field",
            Some(0),
        ),
        (
            json!({"read": true, "rules": {"read": "title = 3"}}),
            "type_mismatch",
            Some(8),
        ),
        (
            json!({"read": true, "rules": {"read": "team = @user.unknown"}}),
            "unknown_attribute",
            Some(7),
        ),
        (
            json!({"read": true, "rules": {"read": "access via title"}}),
            "type_mismatch",
            Some(0),
        ),
        (
            json!({"read": true, "fields": {"nope": "read"}}),
            "unknown_field",
            None,
        ),
    ];
    for (grant, code, position) in cases {
        let r = set(&owner, &n.project, "S", json!({ t.clone(): grant.clone() })).await;
        assert_eq!(r.status, 400, "{grant}: {r:?}");
        assert_eq!(r.body["errors"][0]["code"], code, "{grant}: {r:?}");
        if let Some(p) = position {
            assert_eq!(r.body["errors"][0]["position"], p, "{grant}: {r:?}");
        }
    }
    let r = set(
        &owner,
        &n.project,
        "S",
        json!({ uuid::Uuid::now_v7().to_string(): {"read": true}}),
    )
    .await;
    assert_eq!(r.body["errors"][0]["code"], "unknown_table");
    let r = owner
        .get(&format!("/api/v1/projects/{}/permission-sets", n.project))
        .await;
    assert_eq!(r.body.as_array().unwrap().len(), 0, "nothing was saved");
    // Stored by id: renaming a field keeps the rule's meaning and shows the new name.
    let s = set(
        &owner,
        &n.project,
        "S",
        json!({ t.clone(): {"read": true, "rules": {"read": "team = \"red\""}}}),
    )
    .await;
    assert_eq!(s.status, 201);
    let team = owner.get(&format!("/api/v1/tables/{t}")).await.body["fields"][3]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    owner
        .patch(
            &format!("/api/v1/tables/{t}/fields/{team}"),
            json!({"name": "squad"}),
        )
        .await;
    let r = owner
        .get(&format!("/api/v1/permission-sets/{}", id(&s.body)))
        .await;
    assert_eq!(
        r.body["tables"][t]["rules"]["read"], "squad = \"red\"",
        "{r:?}"
    );
    server.stop().await;
}

async fn every_operation_is_denied_without_a_grant(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let eve = server.user(&owner, "acme", "eve@acme.test", "member").await;
    let n = notes(&owner).await;
    let t = &n.table;
    let rec = create(&owner, t, json!({"title": "x"})).await;
    let one = format!("/api/v1/tables/{t}/records/{}", id(&rec.body));
    // No grant at all: everything is "not found".
    assert_eq!(
        eve.get(&format!("/api/v1/projects/{}", n.project))
            .await
            .status,
        404
    );
    assert_eq!(eve.get(&format!("/api/v1/tables/{t}")).await.status, 404);
    assert_eq!(
        eve.get(&format!("/api/v1/tables/{t}/records")).await.status,
        404
    );
    assert_eq!(eve.get(&one).await.status, 404);
    assert_eq!(create(&eve, t, json!({"title": "y"})).await.status, 404);
    assert_eq!(
        eve.patch(&one, json!({"version": 1, "fields": {"title": "z"}}))
            .await
            .status,
        404
    );
    assert_eq!(eve.delete(&format!("{one}?version=1")).await.status, 404);
    // Read only: every write is 403.
    let s = set(
        &owner,
        &n.project,
        "Read",
        json!({ t.clone(): {"read": true}}),
    )
    .await;
    grant(&owner, &id(&s.body), &me(&eve).await).await;
    assert_eq!(eve.get(&one).await.status, 200);
    assert_eq!(create(&eve, t, json!({"title": "y"})).await.status, 403);
    assert_eq!(
        eve.patch(&one, json!({"version": 1, "fields": {"title": "z"}}))
            .await
            .status,
        403
    );
    assert_eq!(eve.delete(&format!("{one}?version=1")).await.status, 403);
    let r = eve
        .post(
            &format!("/api/v1/tables/{t}/fields"),
            json!({"name": "f", "type": "text"}),
        )
        .await;
    assert_eq!(r.status, 403, "permission sets never grant schema changes");
    // Create only, with a rule on the new record: a form that cannot read back.
    let s2 = set(
        &owner,
        &n.project,
        "Form",
        json!({ t.clone(): {"create": true, "rules": {"create": "team = \"inbox\""}}}),
    )
    .await;
    let mallory = server
        .user(&owner, "acme", "mallory@acme.test", "member")
        .await;
    grant(&owner, &id(&s2.body), &me(&mallory).await).await;
    let r = create(&mallory, t, json!({"title": "ok", "team": "inbox"})).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        r.body["fields"],
        json!({}),
        "the creator may not read it back"
    );
    let r = create(&mallory, t, json!({"title": "no", "team": "other"})).await;
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(
        mallory
            .get(&format!("/api/v1/tables/{t}/records"))
            .await
            .status,
        403
    );
    let count = owner
        .get(&format!("/api/v1/tables/{t}/records?count=exact"))
        .await
        .body["count"]
        .as_u64()
        .unwrap();
    assert_eq!(count, 2, "the refused create left nothing behind");
    assert_eq!(owner.get(&one).await.body["fields"]["title"], "x");
    server.stop().await;
}

async fn an_admin_of_one_project_has_nothing_in_another(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let carol = server
        .user(&owner, "acme", "carol@acme.test", "member")
        .await;
    let a = id(&carol
        .post("/api/v1/projects", json!({"name": "A"}))
        .await
        .body);
    let b = notes(&owner).await;
    let rec = create(&owner, &b.table, json!({"title": "b"})).await;
    assert_eq!(
        carol.get(&format!("/api/v1/projects/{a}")).await.status,
        200
    );
    for url in [
        format!("/api/v1/projects/{}", b.project),
        format!("/api/v1/projects/{}/tables", b.project),
        format!("/api/v1/projects/{}/permission-sets", b.project),
        format!("/api/v1/tables/{}", b.table),
        format!("/api/v1/tables/{}/records", b.table),
        format!("/api/v1/tables/{}/records/{}", b.table, id(&rec.body)),
    ] {
        assert_eq!(carol.get(&url).await.status, 404, "{url}");
    }
    let r = carol
        .post(
            &format!("/api/v1/projects/{}/permission-sets", b.project),
            json!({"name": "x", "tables": {}}),
        )
        .await;
    assert_eq!(r.status, 404);
    let projects = carol.get("/api/v1/projects").await;
    assert_eq!(projects.body.as_array().unwrap().len(), 1);
    server.stop().await;
}

async fn owner_write_lets_a_user_give_a_record_away(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let alice = server
        .user(&owner, "acme", "alice@acme.test", "member")
        .await;
    let bob = server.user(&owner, "acme", "bob@acme.test", "member").await;
    let n = notes(&owner).await;
    let t = &n.table;
    let s = set(
        &owner,
        &n.project,
        "Own",
        json!({ t.clone(): {"read": true, "create": true, "update": true, "fields": {"owner": "write"},
            "rules": {"read": "owner = @user.id", "update": "owner = @user.id"}}}),
    )
    .await;
    assert_eq!(s.status, 201, "{s:?}");
    let (a, b) = (me(&alice).await, me(&bob).await);
    grant(&owner, &id(&s.body), &a).await;
    grant(&owner, &id(&s.body), &b).await;
    let rec = create(&alice, t, json!({"title": "gift"})).await;
    let url = format!("/api/v1/tables/{t}/records/{}", id(&rec.body));
    let r = alice.patch(&url, json!({"version": 1, "owner": b})).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["owner"], b);
    assert_eq!(
        r.body["fields"],
        json!({}),
        "alice no longer reads what she gave away"
    );
    assert_eq!(alice.get(&url).await.status, 404);
    assert_eq!(bob.get(&url).await.body["fields"]["title"], "gift");
    // An owner that is not a user of the tenant is refused.
    let r = bob
        .patch(
            &url,
            json!({"version": 2, "owner": uuid::Uuid::now_v7().to_string()}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["errors"][0]["code"].as_str()),
        (400, Some("unknown_user"))
    );
    server.stop().await;
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn without_request_id(r: &Resp) -> Value {
    let mut b = r.body.clone();
    b.as_object_mut().unwrap().remove("request_id");
    b
}

/// `people.pay` links to `secrets`; a member reads `people` and, depending on the case,
/// nothing, some fields, or some records of `secrets`. A twin pair of tables without the
/// guarded fields says what "does not exist" answers.
struct Payroll {
    people: String,
    bare_people: String,
    member: Client,
    owner: Client,
    project: String,
    secrets: String,
}

async fn payroll(server: &TestServer) -> Payroll {
    let owner = server.owner("acme").await;
    let member = server.user(&owner, "acme", "m@acme.test", "member").await;
    let member_id = me(&member).await;
    let project = id(&owner
        .post("/api/v1/projects", json!({"name": "HR"}))
        .await
        .body);
    let table = |name: &str, fields: Value| {
        let owner = owner.clone();
        let url = format!("/api/v1/projects/{project}/tables");
        let name = name.to_owned();
        async move {
            let r = owner
                .post(&url, json!({"name": name, "fields": fields}))
                .await;
            assert_eq!(r.status, 201, "{r:?}");
            id(&r.body)
        }
    };
    let secrets = table(
        "secrets",
        json!([{"name": "label", "type": "text"}, {"name": "salary", "type": "integer"},
               {"name": "notes", "type": "json"}]),
    )
    .await;
    let people = table(
        "people",
        json!([{"name": "name", "type": "text"}, {"name": "rating", "type": "json"},
               {"name": "pay", "type": "link", "options": {"table_id": secrets, "on_delete": "clear"}}]),
    )
    .await;
    let bare_secrets = table("bare secrets", json!([{"name": "label", "type": "text"}])).await;
    let bare_people = table(
        "bare people",
        json!([{"name": "name", "type": "text"},
               {"name": "pay", "type": "link", "options": {"table_id": bare_secrets, "on_delete": "clear"}}]),
    )
    .await;
    for (i, salary) in [50_000, 150_000, 250_000].into_iter().enumerate() {
        let s = owner
            .post(
                &format!("/api/v1/tables/{secrets}/records"),
                json!({"fields": {"label": format!("s{i}"), "salary": salary}}),
            )
            .await;
        owner
            .post(
                &format!("/api/v1/tables/{people}/records"),
                json!({"fields": {"name": format!("p{i}"), "pay": id(&s.body)}}),
            )
            .await;
    }
    let r = set(
        &owner,
        &project,
        "Bare",
        json!({&bare_people: {"read": true}, &bare_secrets: {"read": true}}),
    )
    .await;
    grant(&owner, &id(&r.body), &member_id).await;
    Payroll {
        people,
        bare_people,
        member,
        owner,
        project,
        secrets,
    }
}

impl Payroll {
    async fn list(&self, table: &str, query: &str) -> Resp {
        self.member
            .get(&format!("/api/v1/tables/{table}/records?{query}"))
            .await
    }

    /// Gives the member a set reading `people` (without its `rating`) and, if given, this
    /// grant on `secrets`; returns the set's id.
    async fn member_set(&self, name: &str, secrets: Option<Value>) -> String {
        let mut tables = serde_json::Map::new();
        tables.insert(
            self.people.clone(),
            json!({"read": true, "fields": {"rating": "none"}}),
        );
        if let Some(g) = secrets {
            tables.insert(self.secrets.clone(), g);
        }
        let r = set(&self.owner, &self.project, name, Value::Object(tables)).await;
        assert_eq!(r.status, 201, "{r:?}");
        let sid = id(&r.body);
        grant(&self.owner, &sid, &me(&self.member).await).await;
        sid
    }

    /// Asserts that `query` is refused on people exactly as on the twin without the fields.
    async fn refused_like_missing(&self, query: &str) {
        let hidden = self.list(&self.people, query).await;
        let missing = self.list(&self.bare_people, query).await;
        assert_eq!(hidden.status, 400, "{query}: {hidden:?}");
        assert_eq!(hidden.body["errors"][0]["code"], "unknown_field", "{query}");
        assert_eq!(
            without_request_id(&hidden),
            without_request_id(&missing),
            "{query}"
        );
        assert_eq!(
            hidden.headers.get("content-length"),
            missing.headers.get("content-length")
        );
    }
}

async fn a_filter_through_a_link_reads_only_what_the_caller_may_read(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = payroll(&server).await;
    let salary_over = |n: u32| format!("filter={}", enc(&format!("pay.salary > {n}")));

    // No grant at all on secrets: every column of it is unknown, system columns included.
    let set_id = p.member_set("People", None).await;
    assert_eq!(
        p.list(&p.people, "").await.body["records"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    for q in [
        salary_over(100_000),
        format!("filter={}", enc("pay.salary = null")),
        format!("filter={}", enc("!(pay.notes != null)")),
        format!("filter={}&count=exact", enc("pay.salary > 1")),
        "sort=rating".to_owned(),
        "sort=-rating".to_owned(),
        format!("filter={}", enc("rating = null")),
    ] {
        p.refused_like_missing(&q).await;
    }
    let r = p
        .list(&p.people, &format!("filter={}", enc("pay.owner != null")))
        .await;
    assert_eq!(r.body["errors"][0]["code"], "unknown_field", "{r:?}");
    let r = p
        .list(&p.people, &format!("filter={}", enc("pay.id != null")))
        .await;
    assert_eq!(r.body["errors"][0]["code"], "unknown_field", "{r:?}");
    // A simulated list is held to the simulated user's grants too.
    let member_id = me(&p.member).await;
    let r = p
        .owner
        .get(&format!(
            "/api/v1/tables/{}/simulate?user_id={member_id}&{}",
            p.people,
            salary_over(100_000)
        ))
        .await;
    assert_eq!(r.body["errors"][0]["code"], "unknown_field", "{r:?}");
    p.owner
        .delete(&format!("/api/v1/permission-sets/{set_id}"))
        .await;

    // Secrets readable, but its salary set to none.
    let set_id = p
        .member_set(
            "Labels",
            Some(json!({"read": true, "fields": {"salary": "none"}})),
        )
        .await;
    p.refused_like_missing(&salary_over(100_000)).await;
    let r = p
        .list(&p.people, &format!("filter={}", enc("pay.label = \"s1\"")))
        .await;
    assert_eq!(titles_of(&r, "name"), vec!["p1"]);
    p.owner
        .delete(&format!("/api/v1/permission-sets/{set_id}"))
        .await;

    // Salary readable, but only on the secrets the member owns (none): a filter through the
    // link sees no linked record, so it matches nobody; its negation matches everybody.
    let set_id = p
        .member_set(
            "Own secrets",
            Some(json!({"read": true, "rules": {"read": "owner = @user.id"}})),
        )
        .await;
    let r = p.list(&p.people, &salary_over(100_000)).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(titles_of(&r, "name").is_empty(), "{r:?}");
    let r = p
        .list(
            &p.people,
            &format!("filter={}", enc("!(pay.salary > 100000)")),
        )
        .await;
    assert_eq!(titles_of(&r, "name"), vec!["p0", "p1", "p2"]);
    let r = p
        .list(&p.people, &format!("{}&count=exact", salary_over(100_000)))
        .await;
    assert_eq!(r.body["count"], 0, "{r:?}");
    p.owner
        .delete(&format!("/api/v1/permission-sets/{set_id}"))
        .await;

    // Everything readable: the filter works as written.
    p.member_set("All secrets", Some(json!({"read": true})))
        .await;
    let r = p.list(&p.people, &salary_over(100_000)).await;
    assert_eq!(titles_of(&r, "name"), vec!["p1", "p2"]);
    let r = p.list(&p.people, "sort=rating").await;
    assert_eq!(r.body["errors"][0]["code"], "unknown_field", "{r:?}");
    server.stop().await;
}

fn titles_of(r: &Resp, field: &str) -> Vec<String> {
    let mut t: Vec<String> = r.body["records"]
        .as_array()
        .unwrap_or_else(|| panic!("{r:?}"))
        .iter()
        .map(|x| x["fields"][field].as_str().unwrap_or_default().to_owned())
        .collect();
    t.sort();
    t
}

async fn a_hidden_field_in_a_body_answers_like_a_missing_one(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = payroll(&server).await;
    let member_id = me(&p.member).await;
    // The member writes people's name and pay, but cannot know `rating`; on the twin there
    // is no `rating` at all.
    let r = set(
        &p.owner,
        &p.project,
        "Writers",
        json!({&p.people: {"read": true, "create": true, "update": true, "default_access": "write",
                            "fields": {"rating": "none"}},
               &p.bare_people: {"read": true, "create": true, "update": true, "default_access": "write"}}),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    grant(&p.owner, &id(&r.body), &member_id).await;
    for body in [
        json!({"fields": {"rating": 1}}),
        json!({"fields": {"rating": 1, "name": 7}}),
        json!({"fields": {"name": 7, "rating": 1, "nothere": 2}}),
        json!({"fields": {"rating": {"deep": [1]}, "pay": "not an id"}}),
    ] {
        let hidden = p
            .member
            .post(
                &format!("/api/v1/tables/{}/records", p.people),
                body.clone(),
            )
            .await;
        let missing = p
            .member
            .post(
                &format!("/api/v1/tables/{}/records", p.bare_people),
                body.clone(),
            )
            .await;
        assert_eq!(hidden.status, 400, "{body}: {hidden:?}");
        assert_eq!(
            without_request_id(&hidden),
            without_request_id(&missing),
            "{body}"
        );
        // The same on update and in a batch.
        let one = p
            .member
            .post(
                &format!("/api/v1/tables/{}/records", p.people),
                json!({"fields": {"name": "x"}}),
            )
            .await;
        let twin = p
            .member
            .post(
                &format!("/api/v1/tables/{}/records", p.bare_people),
                json!({"fields": {"name": "x"}}),
            )
            .await;
        let mut patch = body.clone();
        patch["version"] = json!(1);
        let hidden = p
            .member
            .patch(
                &format!("/api/v1/tables/{}/records/{}", p.people, id(&one.body)),
                patch.clone(),
            )
            .await;
        let missing = p
            .member
            .patch(
                &format!(
                    "/api/v1/tables/{}/records/{}",
                    p.bare_people,
                    id(&twin.body)
                ),
                patch,
            )
            .await;
        assert_eq!(
            without_request_id(&hidden),
            without_request_id(&missing),
            "{body}"
        );
        let batch = json!({"create": [{"fields": {"name": "ok"}}, body.clone()]});
        let hidden = p
            .member
            .post(
                &format!("/api/v1/tables/{}/records/batch", p.people),
                batch.clone(),
            )
            .await;
        let missing = p
            .member
            .post(
                &format!("/api/v1/tables/{}/records/batch", p.bare_people),
                batch,
            )
            .await;
        assert_eq!(hidden.status, 400, "{hidden:?}");
        assert_eq!(
            without_request_id(&hidden),
            without_request_id(&missing),
            "{body}"
        );
    }
    // A required field the member cannot know: creating is refused without naming it.
    let forms = id(&p
        .owner
        .post(
            &format!("/api/v1/projects/{}/tables", p.project),
            json!({"name": "forms", "fields": [{"name": "name", "type": "text"},
                   {"name": "passcode", "type": "text", "required": true}]}),
        )
        .await
        .body);
    let r = set(
        &p.owner,
        &p.project,
        "Form fillers",
        json!({&forms: {"read": true, "create": true, "default_access": "write", "fields": {"passcode": "none"}}}),
    )
    .await;
    grant(&p.owner, &id(&r.body), &member_id).await;
    let r = p
        .member
        .post(
            &format!("/api/v1/tables/{forms}/records"),
            json!({"fields": {"name": "y"}}),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden"), "{r:?}");
    assert!(!r.text.contains("passcode"), "{r:?}");
    server.stop().await;
}

async fn rules_may_consult_only_what_their_set_reads(backend: Backend) {
    let server = TestServer::start(backend).await;
    let p = payroll(&server).await;
    let people = &p.people;
    let secrets = &p.secrets;
    for (tables, what) in [
        (
            json!({people: {"read": true, "rules": {"read": "pay.salary > 1"}}}),
            "no grant on secrets",
        ),
        (
            json!({people: {"read": true, "rules": {"read": "pay.owner = @user.id"}}}),
            "a system column of an unreadable table",
        ),
        (
            json!({people: {"read": true, "rules": {"read": "pay.salary > 1"}},
                secrets: {"read": true, "fields": {"salary": "none"}}}),
            "salary set to none",
        ),
        (
            json!({people: {"read": true, "rules": {"read": "pay.salary > 1"}},
                secrets: {"read": false, "create": true}}),
            "secrets granted without read",
        ),
    ] {
        let r = set(&p.owner, &p.project, "S", tables).await;
        assert_eq!(r.status, 400, "{what}: {r:?}");
        assert_eq!(
            r.body["errors"][0]["code"], "unknown_field",
            "{what}: {r:?}"
        );
    }
    // Its own table's columns need no read grant (another set may give it).
    let r = set(
        &p.owner,
        &p.project,
        "Updaters",
        json!({people: {"read": false, "update": true, "rules": {"update": "owner = @user.id"}}}),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    let r = set(
        &p.owner,
        &p.project,
        "Readers",
        json!({people: {"read": true, "rules": {"read": "pay.salary > 1"}}, secrets: {"read": true}}),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    server.stop().await;
}
