//! Fields marked `encrypted`: values sealed at rest and bound to their record, read back
//! transparently; with a blind index, equality filters, `in`, uniqueness and equality rules
//! work and every other use is refused with a clear error; a DEK rotation re-seals them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_store::{Tx, encryption};
use rampart_tests::{Backend, Client, TestServer, backend_tests};
use serde_json::{Value, json};

backend_tests!(
    encrypted_values_are_sealed_at_rest_and_read_back,
    equality_filters_go_through_the_blind_index_and_nothing_else_is_allowed,
    encrypted_fields_can_be_unique_and_stay_unique_in_batches,
    rules_compare_encrypted_fields_for_equality,
    encryption_options_are_validated,
    a_data_key_rotation_reseals_encrypted_values,
);

const SSN: &str = "078-05-1120";

async fn people(owner: &Client) -> (String, String) {
    let p = owner.post("/api/v1/projects", json!({"name": "HR"})).await;
    let project = p.body["id"].as_str().unwrap().to_owned();
    let t = owner
        .post(
            &format!("/api/v1/projects/{project}/tables"),
            json!({"name": "People", "fields": [
                {"name": "name", "type": "text"},
                {"name": "ssn", "type": "text", "encrypted": true, "blind_index": true, "unique": true},
                {"name": "salary", "type": "decimal", "options": {"scale": 2}, "encrypted": true},
                {"name": "born", "type": "date", "encrypted": true, "blind_index": true},
                {"name": "email", "type": "email", "encrypted": true, "blind_index": true},
            ]}),
        )
        .await;
    assert_eq!(t.status, 201, "{t:?}");
    let fields = t.body["fields"].as_array().unwrap();
    let ssn = fields.iter().find(|f| f["name"] == "ssn").unwrap();
    assert_eq!(
        (ssn["encrypted"].clone(), ssn["blind_index"].clone()),
        (json!(true), json!(true))
    );
    (project, t.body["id"].as_str().unwrap().to_owned())
}

async fn create(c: &Client, table: &str, fields: Value) -> rampart_tests::Resp {
    c.post(
        &format!("/api/v1/tables/{table}/records"),
        json!({ "fields": fields }),
    )
    .await
}

async fn list(c: &Client, table: &str, filter: &str) -> rampart_tests::Resp {
    c.send(
        c.raw(
            reqwest::Method::GET,
            &format!("/api/v1/tables/{table}/records"),
        )
        .query(&[("filter", filter)]),
    )
    .await
}

fn names(r: &rampart_tests::Resp) -> Vec<String> {
    let mut v: Vec<String> = r.body["records"]
        .as_array()
        .unwrap_or_else(|| panic!("{r:?}"))
        .iter()
        .map(|rec| rec["fields"]["name"].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

async fn encrypted_values_are_sealed_at_rest_and_read_back(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let (_, table) = people(&owner).await;
    let r = create(
        &owner,
        &table,
        json!({"name": "Ada", "ssn": SSN, "salary": "98765.43", "born": "1815-12-10", "email": "ada@example.com"}),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["fields"]["ssn"], SSN);
    assert_eq!(r.body["fields"]["salary"], "98765.43");
    let id = r.body["id"].as_str().unwrap().to_owned();
    let got = owner
        .get(&format!("/api/v1/tables/{table}/records/{id}"))
        .await;
    assert_eq!(got.body["fields"]["born"], "1815-12-10");
    assert_eq!(got.body["fields"]["email"], "ada@example.com");

    // Nothing of the values is in the table as stored.
    let (_, ts) = server.tenant("acme").await;
    let storage = ts
        .read(|tx: &mut Tx| {
            Box::pin(async move {
                let mut q = tx.sql();
                q.push("SELECT storage FROM data_tables");
                tx.fetch_one(q).await?.text(0)
            })
        })
        .await
        .unwrap();
    let dump: Vec<Vec<u8>> = {
        let storage = storage.clone();
        let (_, ts) = server.tenant("acme").await;
        ts.read(move |tx: &mut Tx| {
            Box::pin(async move {
                let table = rampart_sql::Ident::new(storage).unwrap();
                let mut q = tx.sql();
                q.push("SELECT * FROM ").ident(&table);
                let rows = tx.fetch_all(q).await?;
                let mut out = Vec::new();
                for row in &rows {
                    // Every column, as whatever bytes or text it holds.
                    for i in 0..16 {
                        if let Ok(Some(b)) = row.opt_bytes(i) {
                            out.push(b);
                        } else if let Ok(Some(t)) = row.opt_text(i) {
                            out.push(t.into_bytes());
                        }
                    }
                }
                Ok(out)
            })
        })
        .await
        .unwrap()
    };
    for secret in [SSN, "98765", "1815-12-10", "ada@example.com"] {
        assert!(
            !dump
                .iter()
                .any(|b| b.windows(secret.len()).any(|w| w == secret.as_bytes())),
            "{secret} is stored in the clear"
        );
    }
    assert!(
        dump.iter().any(|b| b == b"Ada"),
        "the plain field is stored as is"
    );
    server.stop().await;
}

async fn equality_filters_go_through_the_blind_index_and_nothing_else_is_allowed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let (_, table) = people(&owner).await;
    for (name, ssn, email) in [
        ("Ada", "111-11-1111", "ada@example.com"),
        ("Bob", "222-22-2222", "bob@example.com"),
        ("Cy", "333-33-3333", "cy@example.com"),
    ] {
        let r = create(
            &owner,
            &table,
            json!({"name": name, "ssn": ssn, "email": email, "salary": "10.00"}),
        )
        .await;
        assert_eq!(r.status, 201, "{r:?}");
    }
    create(&owner, &table, json!({"name": "Dee"})).await;

    assert_eq!(
        names(&list(&owner, &table, r#"ssn = "222-22-2222""#).await),
        ["Bob"]
    );
    assert_eq!(
        names(&list(&owner, &table, r#"ssn != "222-22-2222""#).await),
        ["Ada", "Cy"],
        "!= is false where the value is null, as everywhere"
    );
    assert_eq!(
        names(
            &list(
                &owner,
                &table,
                r#"email in ["ada@example.com", "cy@example.com"]"#
            )
            .await
        ),
        ["Ada", "Cy"]
    );
    assert_eq!(names(&list(&owner, &table, "ssn = null").await), ["Dee"]);
    assert_eq!(
        names(&list(&owner, &table, "salary != null").await).len(),
        3
    );
    assert_eq!(
        names(&list(&owner, &table, r#"!(ssn = "111-11-1111") && name != "Dee""#).await),
        ["Bob", "Cy"]
    );

    for (filter, why) in [
        (r#"ssn ~ "222""#, "contains"),
        (r#"ssn > "1""#, "order"),
        (r#"salary = "10.00""#, "no blind index"),
        ("ssn = name", "field to field"),
    ] {
        let r = list(&owner, &table, filter).await;
        assert_eq!(r.status, 400, "{why}: {r:?}");
        assert_eq!(
            r.body["errors"][0]["code"], "encrypted_field",
            "{why}: {r:?}"
        );
        assert_eq!(r.body["errors"][0]["field"], "filter");
    }
    let r = owner
        .get(&format!("/api/v1/tables/{table}/records?sort=ssn"))
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.body["errors"][0]["code"], "unsortable_field");

    // An update moves the index with the value.
    let bob = list(&owner, &table, r#"name = "Bob""#).await.body["records"][0].clone();
    let r = owner
        .patch(
            &format!(
                "/api/v1/tables/{table}/records/{}",
                bob["id"].as_str().unwrap()
            ),
            json!({"version": 1, "fields": {"ssn": "999-99-9999"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(names(&list(&owner, &table, r#"ssn = "222-22-2222""#).await).is_empty());
    assert_eq!(
        names(&list(&owner, &table, r#"ssn = "999-99-9999""#).await),
        ["Bob"]
    );
    server.stop().await;
}

async fn encrypted_fields_can_be_unique_and_stay_unique_in_batches(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let (_, table) = people(&owner).await;
    assert_eq!(
        create(&owner, &table, json!({"name": "A", "ssn": SSN}))
            .await
            .status,
        201
    );
    let r = create(&owner, &table, json!({"name": "B", "ssn": SSN})).await;
    assert_eq!(r.status, 409, "{r:?}");
    assert!(r.text.contains("ssn"), "the error names the field: {r:?}");
    let r = owner
        .post(
            &format!("/api/v1/tables/{table}/records/batch"),
            json!({"create": [
                {"fields": {"name": "C", "ssn": "555-55-5555"}},
                {"fields": {"name": "D", "ssn": SSN}},
            ]}),
        )
        .await;
    assert_eq!(r.status, 409, "{r:?}");
    assert!(
        r.text.contains("create[1]"),
        "the error names the row: {r:?}"
    );
    assert!(
        names(&list(&owner, &table, r#"name = "C""#).await).is_empty(),
        "all or nothing"
    );
    server.stop().await;
}

async fn rules_compare_encrypted_fields_for_equality(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let (project, table) = people(&owner).await;
    let member = server
        .user(&owner, "acme", "bob@example.com", "member")
        .await;
    let member_id = member.get("/api/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    create(
        &owner,
        &table,
        json!({"name": "Ada", "email": "ada@example.com"}),
    )
    .await;
    create(
        &owner,
        &table,
        json!({"name": "Bob", "email": "bob@example.com"}),
    )
    .await;

    let bad = owner
        .post(
            &format!("/api/v1/projects/{project}/permission-sets"),
            json!({"name": "Self", "tables": {table.clone(): {"read": true,
                "rules": {"read": "email ~ @user.email"}}}}),
        )
        .await;
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(bad.text.contains("encrypted"), "{bad:?}");
    let set = owner
        .post(
            &format!("/api/v1/projects/{project}/permission-sets"),
            json!({"name": "Self", "tables": {table.clone(): {"read": true,
                "rules": {"read": "email = @user.email"}}}}),
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
    let r = member.get(&format!("/api/v1/tables/{table}/records")).await;
    assert_eq!(
        names(&r),
        ["Bob"],
        "the rule went through the blind index: {r:?}"
    );
    server.stop().await;
}

async fn encryption_options_are_validated(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let (project, table) = people(&owner).await;
    for (field, code_field) in [
        (
            json!({"name": "x", "type": "user", "encrypted": true}),
            "encrypted",
        ),
        (
            json!({"name": "x", "type": "text", "blind_index": true}),
            "blind_index",
        ),
        (
            json!({"name": "x", "type": "text", "encrypted": true, "indexed": true}),
            "indexed",
        ),
        (
            json!({"name": "x", "type": "text", "encrypted": true, "unique": true}),
            "unique",
        ),
    ] {
        let r = owner
            .post(&format!("/api/v1/tables/{table}/fields"), field.clone())
            .await;
        assert_eq!(r.status, 400, "{field}: {r:?}");
        assert_eq!(r.body["errors"][0]["field"], code_field, "{r:?}");
    }
    let fields = owner.get(&format!("/api/v1/tables/{table}")).await.body["fields"].clone();
    let salary = fields
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "salary")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = owner
        .patch(
            &format!("/api/v1/tables/{table}/fields/{salary}"),
            json!({"type": "text"}),
        )
        .await;
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.body["errors"][0]["code"], "unsupported_conversion");
    // A new encrypted field on a table with records gets its default sealed per record.
    create(&owner, &table, json!({"name": "Ada"})).await;
    let r = owner
        .post(
            &format!("/api/v1/tables/{table}/fields"),
            json!({"name": "badge", "type": "text", "encrypted": true, "blind_index": true, "required": true, "default": "none"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        names(&list(&owner, &table, r#"badge = "none""#).await),
        ["Ada"]
    );
    let _ = project;
    server.stop().await;
}

async fn a_data_key_rotation_reseals_encrypted_values(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let (_, table) = people(&owner).await;
    create(
        &owner,
        &table,
        json!({"name": "Ada", "ssn": SSN, "salary": "1.00"}),
    )
    .await;
    let (tenant, ts) = server.tenant("acme").await;
    assert_eq!(server.store.keys().rotate_dek(tenant.id).await.unwrap(), 2);
    // Before re-sealing, old values open with the retired key and filters still match
    // (the blind index keeps the key version it was made with).
    assert_eq!(
        names(&list(&owner, &table, &format!(r#"ssn = "{SSN}""#)).await),
        ["Ada"]
    );
    let resealed = encryption::reseal_all(&ts).await.unwrap();
    assert_eq!(resealed, 2, "ssn and salary");
    assert_eq!(encryption::reseal_all(&ts).await.unwrap(), 0, "resumable");
    let r = create(&owner, &table, json!({"name": "Bob", "ssn": "222-22-2222"})).await;
    assert_eq!(r.status, 201);
    assert_eq!(
        names(&list(&owner, &table, &format!(r#"ssn = "{SSN}""#)).await),
        ["Ada"]
    );
    let got = list(&owner, &table, r#"name = "Ada""#).await;
    assert_eq!(got.body["records"][0]["fields"]["salary"], "1.00");
    server.stop().await;
}
