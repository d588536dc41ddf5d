//! Projects, tables, fields and records end to end, on both backends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_tests::{Backend, Client, TestServer, backend_tests};
use serde_json::{Value, json};

backend_tests!(
    every_field_type_round_trips,
    bad_input_is_refused_and_changes_nothing,
    versions_guard_updates_and_deletes,
    unique_required_and_defaults,
    renames_keep_data_and_type_changes_convert_or_refuse,
    link_delete_policies_restrict_and_clear,
    lists_page_by_cursor_filter_and_sort,
    cursors_are_bound_to_their_list,
    batches_are_all_or_nothing,
    project_roles_are_enforced_on_every_table_operation,
    a_table_names_its_records_by_its_primary_field,
);

async fn project(c: &Client, name: &str) -> String {
    let r = c.post("/api/v1/projects", json!({"name": name})).await;
    assert_eq!(r.status, 201, "{r:?}");
    r.body["id"].as_str().unwrap().to_owned()
}

async fn table(c: &Client, project: &str, name: &str, fields: Value) -> Value {
    let r = c
        .post(
            &format!("/api/v1/projects/{project}/tables"),
            json!({"name": name, "fields": fields}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    r.body
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn create(c: &Client, table: &str, fields: Value) -> Value {
    let r = c
        .post(
            &format!("/api/v1/tables/{table}/records"),
            json!({"fields": fields}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    r.body
}

async fn count(c: &Client, table: &str) -> u64 {
    let r = c
        .get(&format!(
            "/api/v1/tables/{table}/records?count=exact&limit=1"
        ))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body["count"].as_u64().unwrap()
}

async fn every_field_type_round_trips(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let p = project(&owner, "CRM").await;
    let people = table(
        &owner,
        &p,
        "People",
        json!([{"name": "name", "type": "text"}]),
    )
    .await;
    let person = create(&owner, &id(&people), json!({"name": "Ada"})).await;
    let me = owner.get("/api/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = table(
        &owner,
        &p,
        "Deals",
        json!([
            {"name": "title", "type": "text", "options": {"max_length": 50}},
            {"name": "notes", "type": "long_text"},
            {"name": "seats", "type": "integer", "options": {"min": 0}},
            {"name": "amount", "type": "decimal", "options": {"scale": 2}},
            {"name": "won", "type": "boolean"},
            {"name": "close on", "type": "date"},
            {"name": "signed_at", "type": "datetime"},
            {"name": "stage", "type": "single_select", "options": {"choices": ["lead", "won", "lost"]}},
            {"name": "tags", "type": "multi_select", "options": {"choices": ["a", "b", "c"]}},
            {"name": "contact", "type": "email"},
            {"name": "site", "type": "url"},
            {"name": "extra", "type": "json"},
            {"name": "people", "type": "link", "options": {"table_id": id(&people), "multiple": true}},
            {"name": "lead", "type": "link", "options": {"table_id": id(&people)}},
            {"name": "rep", "type": "user"}
        ]),
    )
    .await;
    assert_eq!(t["fields"].as_array().unwrap().len(), 15);
    let values = json!({
        "title": "Big deal ✓", "notes": "line 1\nline 2", "seats": 12, "amount": "1234.50",
        "won": true, "close on": "2026-12-31", "signed_at": "2026-11-23T10:00:00.123456+01:00",
        "stage": "won", "tags": ["b", "a"], "contact": "ceo@example.com", "site": "https://example.com/x",
        "extra": {"nested": [1, 2, {"k": null}]}, "people": [id(&person)], "lead": id(&person), "rep": me
    });
    let rec = create(&owner, &id(&t), values.clone()).await;
    assert_eq!(rec["version"], 1);
    assert_eq!(rec["owner"], me);
    assert_eq!(rec["created_by"], me);
    let got = owner
        .get(&format!("/api/v1/tables/{}/records/{}", id(&t), id(&rec)))
        .await;
    assert_eq!(got.status, 200);
    let f = &got.body["fields"];
    for key in [
        "title", "notes", "seats", "won", "close on", "stage", "tags", "contact", "site", "extra",
        "people", "lead", "rep",
    ] {
        assert_eq!(f[key], values[key], "field {key}");
    }
    assert_eq!(f["amount"], "1234.50");
    assert_eq!(f["signed_at"], "2026-11-23T09:00:00.123456Z");
    // Empty values read back as null / [].
    let empty = create(&owner, &id(&t), json!({})).await;
    assert_eq!(empty["fields"]["people"], json!([]));
    assert_eq!(empty["fields"]["tags"], json!([]));
    assert_eq!(empty["fields"]["lead"], Value::Null);
    server.stop().await;
}

async fn bad_input_is_refused_and_changes_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let p = project(&owner, "P").await;
    let t = table(
        &owner,
        &p,
        "T",
        json!([
            {"name": "title", "type": "text", "options": {"max_length": 5}},
            {"name": "n", "type": "integer", "options": {"min": 0, "max": 10}},
            {"name": "d", "type": "decimal", "options": {"scale": 1}},
            {"name": "when", "type": "date"},
            {"name": "s", "type": "single_select", "options": {"choices": ["x"]}},
            {"name": "e", "type": "email"},
            {"name": "u", "type": "url"},
            {"name": "who", "type": "user"}
        ]),
    )
    .await;
    let tid = id(&t);
    let rec = create(&owner, &tid, json!({"title": "ok", "n": 1})).await;
    let path = format!("/api/v1/tables/{tid}/records");
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"title": 5}), "fields.title", "invalid_type"),
        (json!({"title": "too long"}), "fields.title", "too_long"),
        (json!({"n": 11}), "fields.n", "out_of_range"),
        (json!({"n": "3"}), "fields.n", "invalid_type"),
        (json!({"n": 1.5}), "fields.n", "invalid_type"),
        (json!({"d": "1.25"}), "fields.d", "too_precise"),
        (json!({"when": "31/12/2026"}), "fields.when", "invalid_type"),
        (json!({"s": "y"}), "fields.s", "invalid_choice"),
        (json!({"e": "not-an-email"}), "fields.e", "invalid_email"),
        (
            json!({"u": "javascript:alert(1)"}),
            "fields.u",
            "invalid_url",
        ),
        (json!({"nope": 1}), "fields.nope", "unknown_field"),
        (json!({"owner": "x"}), "fields.owner", "read_only_field"),
        (
            json!({"who": "00000000-0000-7000-8000-000000000000"}),
            "fields.who",
            "unknown_user",
        ),
    ];
    for (fields, field, code) in cases {
        let r = owner.post(&path, json!({"fields": fields.clone()})).await;
        assert_eq!(r.status, 400, "{fields}: {r:?}");
        assert_eq!(r.code(), "validation_failed");
        assert_eq!(r.body["errors"][0]["field"], field, "{fields}");
        assert_eq!(r.body["errors"][0]["code"], code, "{fields}");
        let r = owner
            .patch(
                &format!("{path}/{}", id(&rec)),
                json!({"version": 1, "fields": fields.clone()}),
            )
            .await;
        assert_eq!(r.status, 400, "update {fields}: {r:?}");
    }
    // Several problems are reported at once.
    let r = owner
        .post(&path, json!({"fields": {"title": 5, "n": -1}}))
        .await;
    assert_eq!(r.body["errors"].as_array().unwrap().len(), 2);
    // Unknown top-level keys, malformed JSON, bad names.
    let r = owner.post(&path, json!({"fields": {}, "extra": 1})).await;
    assert_eq!(r.body["errors"][0]["code"], "unknown_field");
    let r = owner
        .send(
            owner
                .raw(reqwest::Method::POST, &path)
                .header("content-type", "application/json")
                .body("{\"fields\":"),
        )
        .await;
    assert_eq!(r.code(), "malformed_json");
    let r = owner
        .post(&format!("/api/v1/projects/{p}/tables"), json!({"name": ""}))
        .await;
    assert_eq!(r.body["errors"][0]["field"], "name");
    let r = owner
        .post(&format!("/api/v1/projects/{p}/tables"), json!({"name": "X", "fields": [{"name": "id", "type": "text"}, {"name": "a", "type": "wat"}]}))
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    let r = owner
        .post(
            &format!("/api/v1/projects/{p}/tables"),
            json!({"name": "X", "fields": [{"name": "id", "type": "text"}]}),
        )
        .await;
    assert_eq!(r.body["errors"][0]["code"], "reserved_name", "{r:?}");
    let r = owner
        .post(&format!("/api/v1/projects/{p}/tables"), json!({"name": "X", "fields": [{"name": "a", "type": "decimal", "options": {"scale": 99}}]}))
        .await;
    assert_eq!(
        r.body["errors"][0]["field"], "fields[0].options.scale",
        "{r:?}"
    );
    // Nothing changed: one record, still at version 1, and no table X.
    assert_eq!(count(&owner, &tid).await, 1);
    let got = owner.get(&format!("{path}/{}", id(&rec))).await;
    assert_eq!(got.body["version"], 1);
    assert_eq!(got.body["fields"]["title"], "ok");
    let tables = owner.get(&format!("/api/v1/projects/{p}/tables")).await;
    assert_eq!(tables.body.as_array().unwrap().len(), 1);
    server.stop().await;
}

async fn versions_guard_updates_and_deletes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let p = project(&owner, "P").await;
    let t = id(&table(
        &owner,
        &p,
        "T",
        json!([{"name": "a", "type": "integer"}, {"name": "b", "type": "text"}]),
    )
    .await);
    let rec = create(&owner, &t, json!({"a": 1, "b": "x"})).await;
    let url = format!("/api/v1/tables/{t}/records/{}", id(&rec));
    let r = owner.patch(&url, json!({"fields": {"a": 2}})).await;
    assert_eq!((r.status, r.code()), (428, "version_required"));
    let r = owner
        .patch(&url, json!({"version": 1, "fields": {"a": 2}}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["version"], 2);
    assert_eq!(
        r.body["fields"]["b"], "x",
        "a partial update keeps other fields"
    );
    let stale = owner
        .patch(&url, json!({"version": 1, "fields": {"a": 3}}))
        .await;
    assert_eq!((stale.status, stale.code()), (409, "version_conflict"));
    assert_eq!(owner.get(&url).await.body["fields"]["a"], 2);
    assert_eq!(owner.delete(&url).await.status, 428);
    assert_eq!(owner.delete(&format!("{url}?version=1")).await.status, 409);
    assert_eq!(owner.delete(&format!("{url}?version=2")).await.status, 204);
    assert_eq!(owner.get(&url).await.status, 404);
    assert_eq!(owner.delete(&format!("{url}?version=2")).await.status, 404);
    server.stop().await;
}

async fn unique_required_and_defaults(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let p = project(&owner, "P").await;
    let t = id(&table(
        &owner,
        &p,
        "T",
        json!([
            {"name": "code", "type": "text", "unique": true, "required": true},
            {"name": "status", "type": "single_select", "options": {"choices": ["new", "old"]}, "default": "new", "indexed": true}
        ]),
    )
    .await);
    let r = owner
        .post(
            &format!("/api/v1/tables/{t}/records"),
            json!({"fields": {}}),
        )
        .await;
    assert_eq!(r.body["errors"][0]["code"], "required");
    let a = create(&owner, &t, json!({"code": "A"})).await;
    assert_eq!(a["fields"]["status"], "new");
    let r = owner
        .post(
            &format!("/api/v1/tables/{t}/records"),
            json!({"fields": {"code": "A"}}),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "duplicate_value"));
    assert_eq!(r.body["errors"][0]["field"], "fields.code");
    let r = owner
        .patch(
            &format!("/api/v1/tables/{t}/records/{}", id(&a)),
            json!({"version": 1, "fields": {"code": null}}),
        )
        .await;
    assert_eq!(r.body["errors"][0]["code"], "required");
    assert_eq!(count(&owner, &t).await, 1);
    // A required field added to a non-empty table needs a default, which existing records get.
    let r = owner
        .post(
            &format!("/api/v1/tables/{t}/fields"),
            json!({"name": "n", "type": "integer", "required": true}),
        )
        .await;
    assert_eq!(r.body["errors"][0]["code"], "default_needed");
    let r = owner
        .post(
            &format!("/api/v1/tables/{t}/fields"),
            json!({"name": "n", "type": "integer", "required": true, "default": 7}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        owner
            .get(&format!("/api/v1/tables/{t}/records/{}", id(&a)))
            .await
            .body["fields"]["n"],
        7
    );
    // Making a field unique with duplicates present is refused.
    create(&owner, &t, json!({"code": "B", "status": "old"})).await;
    create(&owner, &t, json!({"code": "C", "status": "old"})).await;
    let status_id = owner.get(&format!("/api/v1/tables/{t}")).await.body["fields"][1]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = owner
        .patch(
            &format!("/api/v1/tables/{t}/fields/{status_id}"),
            json!({"unique": true}),
        )
        .await;
    assert_eq!(r.body["errors"][0]["code"], "duplicate_values", "{r:?}");
    server.stop().await;
}

async fn renames_keep_data_and_type_changes_convert_or_refuse(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let p = project(&owner, "P").await;
    let tdef = table(&owner, &p, "T", json!([{"name": "qty", "type": "text"}])).await;
    let t = id(&tdef);
    let f = tdef["fields"][0]["id"].as_str().unwrap().to_owned();
    let good = create(&owner, &t, json!({"qty": "42"})).await;
    let bad = create(&owner, &t, json!({"qty": "many"})).await;
    let r = owner
        .patch(&format!("/api/v1/tables/{t}"), json!({"name": "Stock"}))
        .await;
    assert_eq!(r.body["name"], "Stock");
    let r = owner
        .patch(
            &format!("/api/v1/tables/{t}/fields/{f}"),
            json!({"name": "quantity"}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let got = owner
        .get(&format!("/api/v1/tables/{t}/records/{}", id(&good)))
        .await;
    assert_eq!(
        got.body["fields"]["quantity"], "42",
        "renames do not touch data"
    );

    let r = owner
        .patch(
            &format!("/api/v1/tables/{t}/fields/{f}"),
            json!({"type": "integer"}),
        )
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.body["errors"][0]["code"], "conversion_failed");
    assert!(
        r.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(&id(&bad)),
        "{r:?}"
    );
    assert_eq!(
        owner
            .get(&format!("/api/v1/tables/{t}/records/{}", id(&good)))
            .await
            .body["fields"]["quantity"],
        "42"
    );

    owner
        .delete(&format!(
            "/api/v1/tables/{t}/records/{}?version=1",
            id(&bad)
        ))
        .await;
    let r = owner
        .patch(
            &format!("/api/v1/tables/{t}/fields/{f}"),
            json!({"type": "integer"}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let got = owner
        .get(&format!("/api/v1/tables/{t}/records/{}", id(&good)))
        .await;
    assert_eq!(got.body["fields"]["quantity"], 42);
    let r = owner
        .get(&format!(
            "/api/v1/tables/{t}/records?filter=quantity%20%3E%2040"
        ))
        .await;
    assert_eq!(r.body["records"].as_array().unwrap().len(), 1, "{r:?}");
    let r = owner
        .patch(
            &format!("/api/v1/tables/{t}/fields/{f}"),
            json!({"type": "decimal", "options": {"scale": 2}}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let got = owner
        .get(&format!("/api/v1/tables/{t}/records/{}", id(&good)))
        .await;
    assert_eq!(got.body["fields"]["quantity"], "42.00");
    server.stop().await;
}

async fn link_delete_policies_restrict_and_clear(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let p = project(&owner, "P").await;
    let threads = id(&table(
        &owner,
        &p,
        "Threads",
        json!([{"name": "title", "type": "text"}]),
    )
    .await);
    let messages = id(&table(
        &owner,
        &p,
        "Messages",
        json!([
            {"name": "body", "type": "text"},
            {"name": "thread", "type": "link", "options": {"table_id": threads, "on_delete": "restrict"}},
            {"name": "mentions", "type": "link", "options": {"table_id": threads, "multiple": true, "on_delete": "clear"}}
        ]),
    )
    .await);
    let t1 = create(&owner, &threads, json!({"title": "one"})).await;
    let t2 = create(&owner, &threads, json!({"title": "two"})).await;
    let r = owner
        .post(
            &format!("/api/v1/tables/{messages}/records"),
            json!({"fields": {"thread": "01a20000-0000-7000-8000-000000000000"}}),
        )
        .await;
    assert_eq!(r.body["errors"][0]["code"], "unknown_record", "{r:?}");
    let m = create(
        &owner,
        &messages,
        json!({"body": "hi", "thread": id(&t1), "mentions": [id(&t2), id(&t1)]}),
    )
    .await;
    assert_eq!(m["fields"]["mentions"], json!([id(&t2), id(&t1)]));

    // Filter through the link, one level deep.
    let r = owner
        .get(&format!(
            "/api/v1/tables/{messages}/records?filter=thread.title%20%3D%20%22one%22"
        ))
        .await;
    assert_eq!(r.body["records"].as_array().unwrap().len(), 1, "{r:?}");
    let r = owner
        .get(&format!(
            "/api/v1/tables/{messages}/records?filter=thread.title%20%3D%20%22two%22"
        ))
        .await;
    assert_eq!(r.body["records"].as_array().unwrap().len(), 0);

    // restrict: t1 is the thread of m.
    let r = owner
        .delete(&format!(
            "/api/v1/tables/{threads}/records/{}?version=1",
            id(&t1)
        ))
        .await;
    assert_eq!((r.status, r.code()), (409, "record_referenced"), "{r:?}");
    assert!(
        r.body["detail"]
            .as_str()
            .unwrap()
            .contains("Messages.thread")
    );
    // clear: t2 is only mentioned; deleting it clears the mention.
    let r = owner
        .delete(&format!(
            "/api/v1/tables/{threads}/records/{}?version=1",
            id(&t2)
        ))
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let got = owner
        .get(&format!("/api/v1/tables/{messages}/records/{}", id(&m)))
        .await;
    assert_eq!(got.body["fields"]["mentions"], json!([id(&t1)]));
    // A table others link to cannot be dropped.
    let r = owner.delete(&format!("/api/v1/tables/{threads}")).await;
    assert_eq!((r.status, r.code()), (409, "table_referenced"));
    // Deleting the whole project takes everything with it.
    assert_eq!(
        owner.delete(&format!("/api/v1/projects/{p}")).await.status,
        204
    );
    assert_eq!(
        owner
            .get(&format!("/api/v1/tables/{messages}"))
            .await
            .status,
        404
    );
    server.stop().await;
}

async fn lists_page_by_cursor_filter_and_sort(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let p = project(&owner, "P").await;
    let t = id(&table(
        &owner,
        &p,
        "T",
        json!([{"name": "n", "type": "integer"}, {"name": "name", "type": "text"}]),
    )
    .await);
    let creates: Vec<Value> = (0..57)
        .map(|i| json!({"fields": {"n": i % 10, "name": if i % 7 == 0 { Value::Null } else { json!(format!("r{i:02}")) }}}))
        .collect();
    let r = owner
        .post(
            &format!("/api/v1/tables/{t}/records/batch"),
            json!({"create": creates}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");

    // Every record exactly once, in id order, 10 at a time.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("/api/v1/tables/{t}/records?limit=10&cursor={c}"),
            None => format!("/api/v1/tables/{t}/records?limit=10"),
        };
        let r = owner.get(&url).await;
        assert_eq!(r.status, 200, "{r:?}");
        seen.extend(r.body["records"].as_array().unwrap().iter().map(id));
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => {
                assert_eq!(r.body["has_more"], false);
                break;
            }
        }
    }
    assert_eq!(seen.len(), 57);
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted);

    // Sorted by n descending then name, with nulls last, across pages.
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let base = format!("/api/v1/tables/{t}/records?limit=7&sort=-n,name&filter=n%20%3E%3D%203");
        let url = match &cursor {
            Some(c) => format!("{base}&cursor={c}"),
            None => base,
        };
        let r = owner.get(&url).await;
        assert_eq!(r.status, 200, "{r:?}");
        rows.extend(
            r.body["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["fields"].clone()),
        );
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(rows.len(), (0..57).filter(|i| i % 10 >= 3).count());
    for w in rows.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let (na, nb) = (a["n"].as_i64().unwrap(), b["n"].as_i64().unwrap());
        assert!(na >= nb, "{a} before {b}");
        if na == nb {
            match (a["name"].as_str(), b["name"].as_str()) {
                (Some(x), Some(y)) => assert!(x <= y, "{a} before {b}"),
                (None, Some(_)) => panic!("null sorted before a value: {a} {b}"),
                _ => {}
            }
        }
    }
    // One key (the fast two-phase path) and mixed directions (the general path), with nulls:
    // every record once, values in order, nulls last.
    for (sort, desc) in [("name", false), ("-name", true), ("name,-id", false)] {
        let mut names: Vec<Option<String>> = Vec::new();
        let mut ids = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("/api/v1/tables/{t}/records?limit=4&sort={sort}");
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let r = owner.get(&url).await;
            assert_eq!(r.status, 200, "{r:?}");
            for rec in r.body["records"].as_array().unwrap() {
                names.push(rec["fields"]["name"].as_str().map(str::to_owned));
                ids.push(id(rec));
            }
            match r.body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(ids.len(), 57, "{sort}");
        let unique: std::collections::BTreeSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), 57, "{sort}: a record appeared twice");
        let first_null = names.iter().position(Option::is_none).unwrap();
        assert!(
            names[first_null..].iter().all(Option::is_none),
            "{sort}: nulls are last"
        );
        let present: Vec<&String> = names[..first_null].iter().flatten().collect();
        let mut expected = present.clone();
        expected.sort();
        if desc {
            expected.reverse();
        }
        assert_eq!(present, expected, "{sort}");
    }

    // Filter errors point at the problem.
    let r = owner
        .get(&format!("/api/v1/tables/{t}/records?filter=n%20%3E%3D"))
        .await;
    assert_eq!(r.body["errors"][0]["code"], "invalid_filter");
    assert_eq!(r.body["errors"][0]["position"], 4);
    let r = owner
        .get(&format!("/api/v1/tables/{t}/records?filter=nope%20%3D%201"))
        .await;
    assert_eq!(r.body["errors"][0]["code"], "unknown_field");
    assert_eq!(r.body["errors"][0]["position"], 0);
    let r = owner
        .get(&format!(
            "/api/v1/tables/{t}/records?filter=n%20%3D%20%22x%22"
        ))
        .await;
    assert_eq!(r.body["errors"][0]["code"], "type_mismatch");
    assert_eq!(r.body["errors"][0]["position"], 4);
    let r = owner
        .get(&format!("/api/v1/tables/{t}/records?sort=nope"))
        .await;
    assert_eq!(r.body["errors"][0]["code"], "unknown_field");
    let r = owner
        .get(&format!("/api/v1/tables/{t}/records?limit=0"))
        .await;
    assert_eq!(r.body["errors"][0]["field"], "limit");
    server.stop().await;
}

async fn cursors_are_bound_to_their_list(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let p = project(&owner, "P").await;
    let t = id(&table(&owner, &p, "T", json!([{"name": "n", "type": "integer"}])).await);
    let creates: Vec<Value> = (0..5).map(|i| json!({"fields": {"n": i}})).collect();
    owner
        .post(
            &format!("/api/v1/tables/{t}/records/batch"),
            json!({"create": creates}),
        )
        .await;
    let r = owner
        .get(&format!("/api/v1/tables/{t}/records?limit=2&sort=n"))
        .await;
    let cursor = r.body["next_cursor"].as_str().unwrap().to_owned();
    let ok = owner
        .get(&format!(
            "/api/v1/tables/{t}/records?limit=2&sort=n&cursor={cursor}"
        ))
        .await;
    assert_eq!(ok.status, 200);
    for other in [
        format!("/api/v1/tables/{t}/records?limit=2&sort=-n&cursor={cursor}"),
        format!("/api/v1/tables/{t}/records?limit=2&sort=n&filter=n%20%3E%200&cursor={cursor}"),
    ] {
        let r = owner.get(&other).await;
        assert_eq!(r.body["errors"][0]["code"], "invalid_cursor", "{other}");
    }
    // Tampered payloads fail the HMAC.
    let mut tampered = cursor.clone().into_bytes();
    tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let r = owner
        .get(&format!(
            "/api/v1/tables/{t}/records?limit=2&sort=n&cursor={tampered}"
        ))
        .await;
    assert_eq!(r.body["errors"][0]["code"], "invalid_cursor");
    // Another user cannot replay it.
    let admin = server
        .user(&owner, "acme", "admin@acme.test", "admin")
        .await;
    let r = admin
        .get(&format!(
            "/api/v1/tables/{t}/records?limit=2&sort=n&cursor={cursor}"
        ))
        .await;
    assert_eq!(r.body["errors"][0]["code"], "invalid_cursor");
    // A schema change retires old cursors.
    owner
        .post(
            &format!("/api/v1/tables/{t}/fields"),
            json!({"name": "x", "type": "text"}),
        )
        .await;
    let r = owner
        .get(&format!(
            "/api/v1/tables/{t}/records?limit=2&sort=n&cursor={cursor}"
        ))
        .await;
    assert_eq!(r.body["errors"][0]["code"], "invalid_cursor");
    server.stop().await;
}

async fn batches_are_all_or_nothing(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.limits.max_batch = 20).await;
    let owner = server.owner("acme").await;
    let p = project(&owner, "P").await;
    let t = id(&table(
        &owner,
        &p,
        "T",
        json!([{"name": "code", "type": "text", "unique": true}]),
    )
    .await);
    let a = create(&owner, &t, json!({"code": "a"})).await;
    let url = format!("/api/v1/tables/{t}/records/batch");
    let r = owner
        .post(&url, json!({
            "create": [{"fields": {"code": "b"}}, {"fields": {"code": "c"}}, {"fields": {"code": 3}}],
            "update": [{"id": id(&a), "version": 1, "fields": {"code": "a2"}}]
        }))
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.body["errors"][0]["field"], "create[2].fields.code");
    assert_eq!(
        count(&owner, &t).await,
        1,
        "nothing of a failed batch is written"
    );
    let r = owner
        .post(
            &url,
            json!({"create": [{"fields": {"code": "b"}}, {"fields": {"code": "b"}}]}),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "duplicate_value"));
    assert!(
        r.body["detail"].as_str().unwrap().starts_with("create[1]"),
        "{r:?}"
    );
    let r = owner
        .post(
            &url,
            json!({"update": [{"id": id(&a), "version": 9, "fields": {"code": "z"}}]}),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "version_conflict"));
    let r = owner.post(&url, json!({"delete": [{"id": id(&a)}]})).await;
    assert_eq!(r.status, 428);
    let too_many: Vec<Value> = (0..21)
        .map(|i| json!({"fields": {"code": format!("x{i}")}}))
        .collect();
    let r = owner.post(&url, json!({"create": too_many})).await;
    assert_eq!(r.body["errors"][0]["code"], "batch_too_large");
    assert_eq!(count(&owner, &t).await, 1);
    let r = owner
        .post(
            &url,
            json!({
                "create": [{"fields": {"code": "b"}}],
                "update": [{"id": id(&a), "version": 1, "fields": {"code": "a2"}}],
                "delete": []
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["created"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["updated"][0]["version"], 2);
    assert_eq!(count(&owner, &t).await, 2);
    server.stop().await;
}

async fn project_roles_are_enforced_on_every_table_operation(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let editor = server
        .user(&owner, "acme", "editor@acme.test", "member")
        .await;
    let viewer = server
        .user(&owner, "acme", "viewer@acme.test", "member")
        .await;
    let outsider = server.user(&owner, "acme", "out@acme.test", "member").await;
    let p = project(&owner, "P").await;
    for (c, role) in [(&editor, "editor"), (&viewer, "viewer")] {
        let uid = c.get("/api/v1/me").await.body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = owner
            .put(
                &format!("/api/v1/projects/{p}/members/{uid}"),
                json!({"role": role}),
            )
            .await;
        assert_eq!(r.status, 204, "{r:?}");
    }
    let t = id(&table(&owner, &p, "T", json!([{"name": "a", "type": "text"}])).await);
    let rec = create(&owner, &t, json!({"a": "x"})).await;
    let rec_url = format!("/api/v1/tables/{t}/records/{}", id(&rec));

    // Viewer: reads only.
    assert_eq!(viewer.get(&rec_url).await.status, 200);
    assert_eq!(
        viewer
            .get(&format!("/api/v1/tables/{t}/records"))
            .await
            .status,
        200
    );
    let r = viewer
        .post(
            &format!("/api/v1/tables/{t}/records"),
            json!({"fields": {"a": "y"}}),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden"));
    assert_eq!(
        viewer
            .patch(&rec_url, json!({"version": 1, "fields": {"a": "y"}}))
            .await
            .status,
        403
    );
    assert_eq!(
        viewer.delete(&format!("{rec_url}?version=1")).await.status,
        403
    );
    // Editor: records, not schema.
    let r = editor
        .patch(&rec_url, json!({"version": 1, "fields": {"a": "y"}}))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        editor
            .post(
                &format!("/api/v1/tables/{t}/fields"),
                json!({"name": "b", "type": "text"})
            )
            .await
            .status,
        403
    );
    assert_eq!(
        editor.delete(&format!("/api/v1/tables/{t}")).await.status,
        403
    );
    assert_eq!(
        editor
            .post(
                &format!("/api/v1/projects/{p}/tables"),
                json!({"name": "U"})
            )
            .await
            .status,
        403
    );
    // Outsider: the project and everything in it do not exist.
    for url in [
        format!("/api/v1/projects/{p}"),
        format!("/api/v1/tables/{t}"),
        rec_url.clone(),
        format!("/api/v1/tables/{t}/records"),
    ] {
        let r = outsider.get(&url).await;
        assert_eq!((r.status, r.code()), (404, "not_found"), "{url}");
    }
    let r = outsider
        .patch(&rec_url, json!({"version": 2, "fields": {"a": "z"}}))
        .await;
    assert_eq!(r.status, 404);
    let missing = format!("/api/v1/tables/{t}/records/{}", uuid::Uuid::now_v7());
    let a = outsider.get(&rec_url).await;
    let b = owner.get(&missing).await;
    assert_eq!(
        (a.status, a.code()),
        (b.status, b.code()),
        "denied and missing look the same"
    );
    assert_eq!(owner.get(&rec_url).await.body["fields"]["a"], "y");
    let projects = outsider.get("/api/v1/projects").await;
    assert_eq!(projects.body.as_array().unwrap().len(), 0);
    server.stop().await;
}

async fn a_table_names_its_records_by_its_primary_field(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let p = project(&owner, "P").await;
    let people = table(&owner, &p, "People", json!([{"name": "n", "type": "text"}])).await;
    let tdef = table(
        &owner,
        &p,
        "Orders",
        json!([
            {"name": "qty", "type": "integer"},
            {"name": "buyer", "type": "link", "options": {"table_id": id(&people)}},
            {"name": "meta", "type": "json"},
            {"name": "ref", "type": "text"},
            {"name": "note", "type": "long_text"},
        ]),
    )
    .await;
    let t = id(&tdef);
    let field = |name: &str| {
        tdef["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .map(id)
            .unwrap()
    };
    // By default the first text-like field, not the first field.
    assert_eq!(tdef["primary_field"], field("ref").as_str(), "{tdef}");

    let path = format!("/api/v1/tables/{t}");
    let r = owner.patch(&path, json!({"primary_field": "note"})).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["primary_field"], field("note").as_str());
    let r = owner
        .patch(&path, json!({"primary_field": field("qty")}))
        .await;
    assert_eq!(r.body["primary_field"], field("qty").as_str(), "by id too");

    // What cannot name a record, or is not there, is refused and changes nothing.
    for (named, code) in [
        ("buyer", "unsuitable_field"),
        ("meta", "unsuitable_field"),
        ("nope", "unknown_field"),
    ] {
        let r = owner
            .patch(&path, json!({"primary_field": named, "name": "Renamed"}))
            .await;
        assert_eq!(r.status, 400, "{named}: {r:?}");
        assert_eq!(r.body["errors"][0]["field"], "primary_field");
        assert_eq!(r.body["errors"][0]["code"], code, "{named}");
    }
    let now = owner.get(&path).await.body;
    assert_eq!(now["name"], "Orders");
    assert_eq!(now["primary_field"], field("qty").as_str());

    // Deleting the chosen field falls back to the default; null returns to it as well.
    let r = owner
        .delete(&format!("{path}/fields/{}", field("qty")))
        .await;
    assert!(r.status < 300, "{r:?}");
    assert_eq!(
        owner.get(&path).await.body["primary_field"],
        field("ref").as_str()
    );
    owner.patch(&path, json!({"primary_field": "note"})).await;
    let r = owner.patch(&path, json!({"primary_field": null})).await;
    assert_eq!(r.body["primary_field"], field("ref").as_str(), "{r:?}");

    // Each choice is in the audit chain.
    let r = owner
        .get("/api/v1/audit?action=schema.table_primary_field")
        .await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(4), "{r:?}");

    // A member cannot choose it.
    let member = server.user(&owner, "acme", "m@acme.test", "member").await;
    let r = member.patch(&path, json!({"primary_field": "note"})).await;
    assert_eq!(r.status, 404, "{r:?}");

    // A reader who may not read the chosen field is not told its id: the table names its
    // records by the first text-like field they can read.
    owner.patch(&path, json!({"primary_field": "note"})).await;
    let me = member.get("/api/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let set = owner
        .post(
            &format!("/api/v1/projects/{p}/permission-sets"),
            json!({"name": "Readers", "tables": {t.clone(): {"read": true, "fields": {"note": "none"}}}}),
        )
        .await;
    assert_eq!(set.status, 201, "{set:?}");
    let r = owner
        .put(
            &format!("/api/v1/permission-sets/{}/users/{me}", id(&set.body)),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let seen = member.get(&path).await;
    assert_eq!(seen.status, 200, "{seen:?}");
    assert_eq!(
        seen.body["primary_field"],
        field("ref").as_str(),
        "{seen:?}"
    );
    assert!(!seen.body.to_string().contains(&field("note")), "{seen:?}");
    server.stop().await;
}
