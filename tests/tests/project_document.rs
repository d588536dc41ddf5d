//! The per-project OpenAPI document: it describes each table the caller may see with bodies
//! typed by its fields, the server accepts exactly the values the schemas allow, responses
//! match the schemas, and the document follows the caller's grants.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_tests::{Backend, Client, TestServer, backend_tests};
use serde_json::{Value, json};

backend_tests!(
    documents_each_table_with_typed_bodies,
    schemas_accept_exactly_what_the_server_accepts,
    follows_the_callers_grants,
);

async fn setup(owner: &Client) -> (String, Value) {
    let r = owner
        .post("/api/v1/projects", json!({"name": "Shop"}))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let project = r.body["id"].as_str().unwrap().to_owned();
    let r = owner
        .post(
            &format!("/api/v1/projects/{project}/tables"),
            json!({"name": "Orders", "fields": [
                {"name": "title", "type": "text", "required": true, "options": {"max_length": 20}},
                {"name": "notes", "type": "long_text"},
                {"name": "qty", "type": "integer", "options": {"min": 0, "max": 100}},
                {"name": "price", "type": "decimal", "options": {"scale": 2}},
                {"name": "paid", "type": "boolean"},
                {"name": "due", "type": "date"},
                {"name": "at", "type": "datetime"},
                {"name": "status", "type": "single_select", "options": {"choices": ["new", "done"]}},
                {"name": "tags", "type": "multi_select", "options": {"choices": ["a", "b"]}},
                {"name": "contact", "type": "email"},
                {"name": "secret", "type": "text"},
            ]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    (project, r.body)
}

fn validator(doc: &Value, schema: &Value) -> jsonschema::Validator {
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"],
        "allOf": [schema],
    });
    jsonschema::options()
        .should_validate_formats(true)
        .build(&root)
        .unwrap()
}

fn assert_matches(doc: &Value, schema: &Value, body: &Value, what: &str) {
    let v = validator(doc, schema);
    let errors: Vec<String> = v.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{what}: {errors:?}\n{body}");
}

fn component<'a>(doc: &'a Value, table_id: &str, kind: &str) -> &'a Value {
    &doc["components"]["schemas"][format!("t{}_{kind}", table_id.replace('-', ""))]
}

async fn documents_each_table_with_typed_bodies(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let (project, table) = setup(&owner).await;
    let table_id = table["id"].as_str().unwrap();
    let doc = owner
        .get(&format!("/api/v1/projects/{project}/openapi.json"))
        .await;
    assert_eq!(doc.status, 200, "{doc:?}");
    let doc = doc.body;
    assert_eq!(doc["info"]["title"], "Rampart project Shop");
    let records = format!("/api/v1/tables/{table_id}/records");
    let item = format!("{records}/{{record_id}}");
    for (path, method) in [
        (&records, "get"),
        (&records, "post"),
        (&item, "get"),
        (&item, "patch"),
        (&item, "delete"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    let create = component(&doc, table_id, "create");
    assert_eq!(create["properties"]["fields"]["required"], json!(["title"]));
    let fields = &create["properties"]["fields"]["properties"];
    assert_eq!(fields["title"]["maxLength"], 20);
    assert_eq!(fields["qty"]["anyOf"][0]["maximum"], 100);
    assert_eq!(fields["status"]["anyOf"][0]["enum"], json!(["new", "done"]));
    let update = component(&doc, table_id, "update");
    assert_eq!(update["required"], json!(["version"]));

    // A record made from the document reads back as the document says.
    let body = json!({"fields": {
        "title": "first", "notes": "two\nlines", "qty": 3, "price": "9.99", "paid": true,
        "due": "2026-11-26", "at": "2026-11-26T10:00:00.123456+01:00", "status": "new",
        "tags": ["a", "b"], "contact": "buyer@example.com",
    }});
    assert_matches(&doc, create, &body, "the request");
    let created = owner.post(&records, body).await;
    assert_eq!(created.status, 201, "{created:?}");
    let record_schema = &doc["paths"][&records]["post"]["responses"]["201"]["content"]["application/json"]
        ["schema"];
    assert_matches(&doc, record_schema, &created.body, "the created record");
    let page = owner.get(&records).await;
    let page_schema =
        &doc["paths"][&records]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    assert_matches(&doc, page_schema, &page.body, "a page");
    let empty = owner
        .post(&records, json!({"fields": {"title": "bare"}}))
        .await;
    assert_eq!(empty.status, 201, "{empty:?}");
    assert_matches(&doc, record_schema, &empty.body, "a record of nulls");

    // Without authentication there is no document.
    let anon = server.client("acme");
    let r = anon
        .get(&format!("/api/v1/projects/{project}/openapi.json"))
        .await;
    assert_eq!(r.status, 401, "{r:?}");
}

/// For each field, values on both sides of its schema: the server accepts a value exactly
/// when the document's schema for that field does.
async fn schemas_accept_exactly_what_the_server_accepts(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let (project, table) = setup(&owner).await;
    let table_id = table["id"].as_str().unwrap();
    let doc = owner
        .get(&format!("/api/v1/projects/{project}/openapi.json"))
        .await
        .body;
    let create = component(&doc, table_id, "create").clone();
    let records = format!("/api/v1/tables/{table_id}/records");
    let candidates: Vec<(&str, Vec<Value>)> = vec![
        (
            "title",
            vec![
                json!("ok"),
                json!(""),
                json!("x".repeat(20)),
                json!("x".repeat(21)),
                json!("a\nb"),
                json!("nul\u{0}"),
                json!(null),
                json!(5),
            ],
        ),
        (
            "notes",
            vec![json!("a\nb"), json!("nul\u{0}"), json!(null), json!([])],
        ),
        (
            "qty",
            vec![
                json!(0),
                json!(100),
                json!(7.0),
                json!(101),
                json!(-1),
                json!(1.5),
                json!("3"),
            ],
        ),
        (
            "price",
            vec![
                json!("1.50"),
                json!("1.505"),
                json!(2),
                json!(2.25),
                json!("abc"),
                json!("1."),
                json!("-0.01"),
                json!("+2"),
                json!(".5"),
                json!("0000000000000000001.10"),
                json!("9999999999999999.99"),
                json!("10000000000000000"),
                json!(1e15),
                json!(1e16),
                json!(-1e20),
            ],
        ),
        ("paid", vec![json!(false), json!("true"), json!(0)]),
        (
            "due",
            vec![
                json!("2024-02-29"),
                json!("2023-02-29"),
                json!("2024-1-1"),
                json!("+2024-01-01"),
                json!("x"),
            ],
        ),
        (
            "at",
            vec![
                json!("2024-05-01T00:00:00Z"),
                json!("2024-05-01T00:00:00.123456789Z"),
                json!("2024-05-01T00:00:00"),
                json!("2024-05-01 00:00:00Z"),
                json!("2024-05-01t00:00:00z"),
                json!("2024-05-01T00:00:00.5+14:00"),
                json!("2024-05-01"),
            ],
        ),
        ("status", vec![json!("done"), json!("other"), json!("")]),
        (
            "tags",
            vec![
                json!([]),
                json!(["a"]),
                json!(["a", "a"]),
                json!(["c"]),
                json!("a"),
            ],
        ),
        (
            "contact",
            vec![
                json!("a@b.co"),
                json!("a@b"),
                json!("a b@c.de"),
                json!("@x.y"),
                json!("ü@bücher.de"),
            ],
        ),
        ("nope", vec![json!("unknown field")]),
    ];
    let v = validator(&doc, &create);
    for (field, values) in candidates {
        for value in values {
            let mut body = json!({"fields": {"title": "t"}});
            body["fields"][field] = value.clone();
            let by_schema = v.is_valid(&body);
            let r = owner.post(&records, body).await;
            assert_eq!(
                r.status == 201,
                by_schema,
                "{field} = {value}: the schema says {by_schema}, the server answered {r:?}"
            );
        }
    }
}

async fn follows_the_callers_grants(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let (project, table) = setup(&owner).await;
    let table_id = table["id"].as_str().unwrap();
    let hidden = owner
        .post(
            &format!("/api/v1/projects/{project}/tables"),
            json!({"name": "Internal", "fields": [{"name": "x", "type": "text"}]}),
        )
        .await;
    assert_eq!(hidden.status, 201);
    let hidden_id = hidden.body["id"].as_str().unwrap();

    // A member who may only read Orders, without the field `secret`.
    let member = server
        .user(&owner, "acme", "reader@acme.test", "member")
        .await;
    let member_id = member.get("/api/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let set = owner
        .post(
            &format!("/api/v1/projects/{project}/permission-sets"),
            json!({"name": "Readers", "tables": {table_id: {
                "read": true, "fields": {"secret": "none"}
            }}}),
        )
        .await;
    assert_eq!(set.status, 201, "{set:?}");
    let r = owner
        .put(
            &format!(
                "/api/v1/permission-sets/{}/users/{member_id}",
                set.body["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert!(r.status < 300, "{r:?}");

    let doc = member
        .get(&format!("/api/v1/projects/{project}/openapi.json"))
        .await;
    assert_eq!(doc.status, 200, "{doc:?}");
    let doc = doc.body;
    let records = format!("/api/v1/tables/{table_id}/records");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths[&records]["get"].is_object());
    assert!(paths[&records].get("post").is_none(), "no create grant");
    assert!(
        paths[&format!("{records}/{{record_id}}")]
            .get("patch")
            .is_none()
    );
    assert!(
        !paths.keys().any(|p| p.contains(hidden_id)),
        "a table without grants is not described"
    );
    let read = component(&doc, table_id, "record");
    let fields = read["properties"]["fields"]["properties"]
        .as_object()
        .unwrap();
    assert!(fields.contains_key("title"));
    assert!(
        !fields.contains_key("secret"),
        "an unreadable field is not described"
    );

    // Someone outside the project gets no document at all.
    let outsider = server
        .user(&owner, "acme", "outsider@acme.test", "member")
        .await;
    let r = outsider
        .get(&format!("/api/v1/projects/{project}/openapi.json"))
        .await;
    assert_eq!(r.status, 404, "{r:?}");
}
