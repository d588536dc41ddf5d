//! The OpenAPI document matches what the server does: every documented operation is
//! exercised here, and every response's status, content type and body are checked against
//! the document's schema for that operation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use rampart_tests::{
    Authenticator, Backend, Client, PASSWORD, PasskeyDevice, Resp, TestServer, backend_tests,
};
use serde_json::{Value, json};

backend_tests!(every_operation_answers_as_documented);

struct Conformance {
    doc: Value,
    covered: BTreeSet<(String, String)>,
}

impl Conformance {
    fn check(&mut self, method: &str, template: &str, r: &Resp) -> Value {
        let op = &self.doc["paths"][template][method];
        assert!(op.is_object(), "{method} {template} is not documented");
        let status = r.status.to_string();
        let range = format!("{}XX", &status[..1]);
        let documented = op["responses"]
            .get(&status)
            .or_else(|| op["responses"].get(&range));
        let documented = documented
            .unwrap_or_else(|| panic!("{method} {template} answered undocumented {status}: {r:?}"));
        let content_type = r
            .headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
        match (&documented.get("content"), content_type) {
            (None, None) => assert!(
                r.text.is_empty(),
                "{method} {template} {status} has an undocumented body"
            ),
            (Some(content), Some(ct)) => {
                let schema = &content[&ct]["schema"];
                assert!(
                    schema.is_object(),
                    "{method} {template} {status}: {ct} is not documented"
                );
                let root = json!({
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "components": self.doc["components"],
                    "allOf": [schema],
                });
                let validator = jsonschema::validator_for(&root).unwrap();
                // A body that is not JSON (CSV, a workbook) is checked as the string it is.
                let instance = if ct.ends_with("json") {
                    r.body.clone()
                } else {
                    Value::String(r.text.clone())
                };
                let errors: Vec<String> = validator
                    .iter_errors(&instance)
                    .map(|e| format!("{} at {}", e, e.instance_path()))
                    .collect();
                assert!(
                    errors.is_empty(),
                    "{method} {template} {status} does not match its schema: {errors:?}\n{}",
                    r.text
                );
            }
            (documented, actual) => {
                panic!("{method} {template} {status}: documented {documented:?}, sent {actual:?}")
            }
        }
        self.covered
            .insert((method.to_owned(), template.to_owned()));
        r.body.clone()
    }

    fn uncovered(&self) -> Vec<(String, String)> {
        let mut all = Vec::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                let key = (method.clone(), path.clone());
                if !self.covered.contains(&key) {
                    all.push(key);
                }
            }
        }
        all
    }
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn every_operation_answers_as_documented(backend: Backend) {
    let server = TestServer::start(backend).await;
    let anon: Client = server.client("acme");
    let doc = anon.get("/api/v1/openapi.json").await;
    let mut c = Conformance {
        doc: doc.body.clone(),
        covered: BTreeSet::new(),
    };
    c.check("get", "/api/v1/openapi.json", &doc);

    // identity
    let token = server.setup_token("acme").await;
    let r = anon
        .post(
            "/api/v1/setup",
            json!({"token": "rps_x", "email": "o@acme.test", "password": PASSWORD}),
        )
        .await;
    c.check("post", "/api/v1/setup", &r);
    let r = anon
        .post(
            "/api/v1/setup",
            json!({"token": token, "email": "o@acme.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 201);
    c.check("post", "/api/v1/setup", &r);
    let r = anon
        .post(
            "/api/v1/auth/login",
            json!({"email": "o@acme.test", "password": "wrong password!"}),
        )
        .await;
    c.check("post", "/api/v1/auth/login", &r);
    let r = anon
        .post(
            "/api/v1/auth/login",
            json!({"email": "o@acme.test", "password": PASSWORD}),
        )
        .await;
    c.check("post", "/api/v1/auth/login", &r);
    let owner = anon.login("o@acme.test", PASSWORD).await;
    c.check("get", "/api/v1/me", &anon.get("/api/v1/me").await);
    c.check("get", "/api/v1/me", &owner.get("/api/v1/me").await);

    // users
    c.check("get", "/api/v1/users", &owner.get("/api/v1/users").await);
    let r = owner
        .post(
            "/api/v1/users",
            json!({"email": "m@acme.test", "display_name": "M", "password": PASSWORD}),
        )
        .await;
    let member = c.check("post", "/api/v1/users", &r);
    let r = owner
        .post(
            "/api/v1/users",
            json!({"email": "bad", "display_name": "M", "password": "x"}),
        )
        .await;
    c.check("post", "/api/v1/users", &r);
    let path = format!("/api/v1/users/{}", id(&member));
    c.check("get", "/api/v1/users/{user_id}", &owner.get(&path).await);
    c.check(
        "get",
        "/api/v1/users/{user_id}",
        &owner.get("/api/v1/users/not-an-id").await,
    );
    c.check(
        "patch",
        "/api/v1/users/{user_id}",
        &owner.patch(&path, json!({"display_name": "Member"})).await,
    );

    c.check(
        "get",
        "/api/v1/users/access-review",
        &owner.get("/api/v1/users/access-review").await,
    );
    let gone = owner
        .post(
            "/api/v1/users",
            json!({"email": "gone@acme.test", "display_name": "Gone", "password": PASSWORD}),
        )
        .await;
    let me_id = id(&owner.get("/api/v1/me").await.body);
    let gone_path = format!("/api/v1/users/{}", id(&gone.body));
    c.check(
        "delete",
        "/api/v1/users/{user_id}",
        &owner
            .delete(&format!("{gone_path}?reassign_to={}", id(&gone.body)))
            .await,
    );
    c.check(
        "delete",
        "/api/v1/users/{user_id}",
        &owner
            .delete(&format!("{gone_path}?reassign_to={me_id}"))
            .await,
    );

    // tokens
    let r = owner
        .post(
            "/api/v1/tokens",
            json!({"name": "ci", "expires_in_days": 1}),
        )
        .await;
    let created = c.check("post", "/api/v1/tokens", &r);
    c.check("get", "/api/v1/tokens", &owner.get("/api/v1/tokens").await);
    let old_api = owner.with_token(created["secret"].as_str().unwrap());
    let r = old_api
        .post(
            &format!("/api/v1/tokens/{}/rotate", id(&created["token"])),
            json!({}),
        )
        .await;
    let rotated = c.check("post", "/api/v1/tokens/{token_id}/rotate", &r);
    let api = owner.with_token(rotated["secret"].as_str().unwrap());
    let r = owner
        .delete(&format!("/api/v1/tokens/{}", id(&rotated["token"])))
        .await;
    c.check("delete", "/api/v1/tokens/{token_id}", &r);
    assert_eq!(api.get("/api/v1/me").await.status, 401);

    // projects and members
    let p = c.check(
        "post",
        "/api/v1/projects",
        &owner.post("/api/v1/projects", json!({"name": "P"})).await,
    );
    let pp = format!("/api/v1/projects/{}", id(&p));
    c.check(
        "get",
        "/api/v1/projects",
        &owner.get("/api/v1/projects").await,
    );
    c.check(
        "get",
        "/api/v1/projects/{project_id}",
        &owner.get(&pp).await,
    );
    c.check(
        "patch",
        "/api/v1/projects/{project_id}",
        &owner.patch(&pp, json!({"name": "Q"})).await,
    );
    let mp = format!("{pp}/members/{}", id(&member));
    c.check(
        "put",
        "/api/v1/projects/{project_id}/members/{user_id}",
        &owner.put(&mp, json!({"role": "viewer"})).await,
    );
    c.check(
        "get",
        "/api/v1/projects/{project_id}/members",
        &owner.get(&format!("{pp}/members")).await,
    );
    c.check(
        "delete",
        "/api/v1/projects/{project_id}/members/{user_id}",
        &owner.delete(&mp).await,
    );
    let sp = format!("{pp}/secrets");
    c.check(
        "put",
        "/api/v1/projects/{project_id}/secrets/{name}",
        &owner
            .put(
                &format!("{sp}/KEY"),
                json!({"value": "v", "kind": "config"}),
            )
            .await,
    );
    c.check(
        "put",
        "/api/v1/projects/{project_id}/secrets/{name}",
        &owner
            .put(&format!("{sp}/1BAD"), json!({"value": "v"}))
            .await,
    );
    c.check(
        "get",
        "/api/v1/projects/{project_id}/secrets",
        &owner.get(&sp).await,
    );
    c.check(
        "delete",
        "/api/v1/projects/{project_id}/secrets/{name}",
        &owner.delete(&format!("{sp}/KEY")).await,
    );

    // tables and fields
    let r = owner
        .post(&format!("{pp}/tables"), json!({"name": "T", "fields": [{"name": "a", "type": "text", "default": "x"}, {"name": "n", "type": "decimal"}]}))
        .await;
    let t = c.check("post", "/api/v1/projects/{project_id}/tables", &r);
    let tp = format!("/api/v1/tables/{}", id(&t));
    c.check(
        "get",
        "/api/v1/projects/{project_id}/tables",
        &owner.get(&format!("{pp}/tables")).await,
    );
    c.check("get", "/api/v1/tables/{table_id}", &owner.get(&tp).await);
    c.check(
        "patch",
        "/api/v1/tables/{table_id}",
        &owner.patch(&tp, json!({"name": "U"})).await,
    );
    let f = c.check(
        "post",
        "/api/v1/tables/{table_id}/fields",
        &owner
            .post(
                &format!("{tp}/fields"),
                json!({"name": "b", "type": "boolean"}),
            )
            .await,
    );
    let fp = format!("{tp}/fields/{}", id(&f));
    c.check(
        "patch",
        "/api/v1/tables/{table_id}/fields/{field_id}",
        &owner.patch(&fp, json!({"name": "flag"})).await,
    );
    c.check(
        "patch",
        "/api/v1/tables/{table_id}/fields/{field_id}",
        &owner.patch(&fp, json!({"type": "link"})).await,
    );

    let project_doc = c.check(
        "get",
        "/api/v1/projects/{project_id}/openapi.json",
        &owner.get(&format!("{pp}/openapi.json")).await,
    );
    assert_eq!(project_doc["openapi"], "3.1.0");

    // records
    let rp = format!("{tp}/records");
    let rec = c.check(
        "post",
        "/api/v1/tables/{table_id}/records",
        &owner
            .post(&rp, json!({"fields": {"a": "hello", "n": "1.5"}}))
            .await,
    );
    c.check(
        "post",
        "/api/v1/tables/{table_id}/records",
        &owner.post(&rp, json!({"fields": {"zzz": 1}})).await,
    );
    let one = format!("{rp}/{}", id(&rec));
    c.check(
        "get",
        "/api/v1/tables/{table_id}/records/{record_id}",
        &owner.get(&one).await,
    );
    c.check(
        "patch",
        "/api/v1/tables/{table_id}/records/{record_id}",
        &owner
            .patch(&one, json!({"version": 1, "fields": {"flag": true}}))
            .await,
    );
    c.check(
        "patch",
        "/api/v1/tables/{table_id}/records/{record_id}",
        &owner.patch(&one, json!({"version": 1, "fields": {}})).await,
    );
    c.check(
        "patch",
        "/api/v1/tables/{table_id}/records/{record_id}",
        &owner.patch(&one, json!({"fields": {}})).await,
    );
    let r = owner
        .post(
            &format!("{rp}/batch"),
            json!({"create": [{"fields": {"a": "b1"}}, {"fields": {}}]}),
        )
        .await;
    c.check("post", "/api/v1/tables/{table_id}/records/batch", &r);
    c.check(
        "get",
        "/api/v1/tables/{table_id}/records",
        &owner
            .get(&format!("{rp}?limit=1&sort=-a&count=exact"))
            .await,
    );
    c.check(
        "get",
        "/api/v1/tables/{table_id}/records",
        &owner.get(&format!("{rp}?filter=a%20%3D")).await,
    );
    let member_id = id(&member);
    c.check(
        "get",
        "/api/v1/tables/{table_id}/records/{record_id}/explain",
        &owner
            .get(&format!("{one}/explain?user_id={member_id}"))
            .await,
    );
    c.check(
        "get",
        "/api/v1/tables/{table_id}/simulate",
        &owner
            .get(&format!("{tp}/simulate?user_id={member_id}"))
            .await,
    );
    c.check(
        "get",
        "/api/v1/tables/{table_id}/export",
        &owner.get(&format!("{tp}/export?format=json")).await,
    );
    c.check(
        "post",
        "/api/v1/imports/preview",
        &owner
            .send(
                owner
                    .raw(reqwest::Method::POST, "/api/v1/imports/preview")
                    .body("a,b\n1,x\n"),
            )
            .await,
    );
    let started = owner
        .send(
            owner
                .raw(reqwest::Method::POST, &format!("{tp}/imports?dry_run=true"))
                .body("a\nimported\n"),
        )
        .await;
    c.check("post", "/api/v1/tables/{table_id}/imports", &started);
    c.check(
        "post",
        "/api/v1/projects/{project_id}/imports",
        &owner
            .send(
                owner
                    .raw(
                        reqwest::Method::POST,
                        &format!("{pp}/imports?name=Imported"),
                    )
                    .body("a,b\n1,x\n"),
            )
            .await,
    );
    let job_path = format!("/api/v1/imports/{}", started.body["id"].as_str().unwrap());
    let job = loop {
        let r = owner.get(&job_path).await;
        if r.body["state"] != "running" {
            break r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    c.check("get", "/api/v1/imports/{import_id}", &job);
    c.check(
        "post",
        "/api/v1/imports/{import_id}/cancel",
        &owner.post(&format!("{job_path}/cancel"), json!({})).await,
    );
    c.check(
        "get",
        "/api/v1/imports/{import_id}/rejects",
        &owner.get(&format!("{job_path}/rejects")).await,
    );
    let page = c.check(
        "get",
        "/api/v1/imports/{import_id}/rejects",
        &owner
            .get(&format!("{job_path}/rejects?format=json&limit=5"))
            .await,
    );
    assert!(page["items"].is_array(), "{page}");
    // groups, attributes, permission sets
    c.check(
        "get",
        "/api/v1/user-attributes",
        &owner.get("/api/v1/user-attributes").await,
    );
    c.check(
        "put",
        "/api/v1/user-attributes",
        &owner
            .put("/api/v1/user-attributes", json!([{"name": "team"}]))
            .await,
    );
    c.check(
        "put",
        "/api/v1/user-attributes",
        &owner
            .put("/api/v1/user-attributes", json!([{"name": "Bad Name"}]))
            .await,
    );
    let idp = json!({
        "name": "SSO",
        "issuer": "https://login.example.com",
        "client_id": "rampart",
        "client_secret": "s3cret",
    });
    let i = c.check(
        "post",
        "/api/v1/identity-providers",
        &owner.post("/api/v1/identity-providers", idp).await,
    );
    c.check(
        "post",
        "/api/v1/identity-providers",
        &owner
            .post("/api/v1/identity-providers", json!({"name": "Bad"}))
            .await,
    );
    let ip = format!("/api/v1/identity-providers/{}", id(&i));
    c.check(
        "get",
        "/api/v1/identity-providers",
        &owner.get("/api/v1/identity-providers").await,
    );
    c.check(
        "get",
        "/api/v1/identity-providers/{provider_id}",
        &owner.get(&ip).await,
    );
    c.check(
        "patch",
        "/api/v1/identity-providers/{provider_id}",
        &owner.patch(&ip, json!({"scopes": ["email"]})).await,
    );
    c.check(
        "patch",
        "/api/v1/identity-providers/{provider_id}",
        &owner.patch(&ip, json!({"client_secret": "n3w"})).await,
    );
    c.check(
        "delete",
        "/api/v1/identity-providers/{provider_id}",
        &owner.delete(&ip).await,
    );
    let g = c.check(
        "post",
        "/api/v1/groups",
        &owner.post("/api/v1/groups", json!({"name": "G"})).await,
    );
    let gp = format!("/api/v1/groups/{}", id(&g));
    c.check("get", "/api/v1/groups", &owner.get("/api/v1/groups").await);
    c.check(
        "patch",
        "/api/v1/groups/{group_id}",
        &owner.patch(&gp, json!({"name": "H"})).await,
    );
    let gm = format!("{gp}/members/{}", id(&member));
    c.check(
        "put",
        "/api/v1/groups/{group_id}/members/{user_id}",
        &owner.put(&gm, json!({})).await,
    );
    c.check(
        "delete",
        "/api/v1/groups/{group_id}/members/{user_id}",
        &owner.delete(&gm).await,
    );
    let sets = format!("{pp}/permission-sets");
    let r = owner.post(&sets, json!({"name": "S", "tables": {id(&t): {"read": true, "rules": {"read": "a = \"x\""}}}})).await;
    let s = c.check("post", "/api/v1/projects/{project_id}/permission-sets", &r);
    let bad = owner
        .post(
            &sets,
            json!({"name": "T", "tables": {id(&t): {"read": true, "rules": {"read": "a ="}}}}),
        )
        .await;
    c.check(
        "post",
        "/api/v1/projects/{project_id}/permission-sets",
        &bad,
    );
    c.check(
        "get",
        "/api/v1/projects/{project_id}/permission-sets",
        &owner.get(&sets).await,
    );
    let sp = format!("/api/v1/permission-sets/{}", id(&s));
    c.check(
        "get",
        "/api/v1/permission-sets/{set_id}",
        &owner.get(&sp).await,
    );
    c.check(
        "put",
        "/api/v1/permission-sets/{set_id}",
        &owner.put(&sp, json!({"name": "S2", "tables": {}})).await,
    );
    let su = format!("{sp}/users/{}", id(&member));
    c.check(
        "put",
        "/api/v1/permission-sets/{set_id}/users/{user_id}",
        &owner.put(&su, json!({})).await,
    );
    c.check(
        "delete",
        "/api/v1/permission-sets/{set_id}/users/{user_id}",
        &owner.delete(&su).await,
    );
    let sg = format!("{sp}/groups/{}", id(&g));
    c.check(
        "put",
        "/api/v1/permission-sets/{set_id}/groups/{group_id}",
        &owner.put(&sg, json!({})).await,
    );
    c.check(
        "delete",
        "/api/v1/permission-sets/{set_id}/groups/{group_id}",
        &owner.delete(&sg).await,
    );
    c.check(
        "delete",
        "/api/v1/permission-sets/{set_id}",
        &owner.delete(&sp).await,
    );
    c.check(
        "delete",
        "/api/v1/groups/{group_id}",
        &owner.delete(&gp).await,
    );

    c.check(
        "delete",
        "/api/v1/tables/{table_id}/records/{record_id}",
        &owner.delete(&format!("{one}?version=2")).await,
    );
    c.check(
        "delete",
        "/api/v1/tables/{table_id}/fields/{field_id}",
        &owner.delete(&fp).await,
    );
    c.check(
        "delete",
        "/api/v1/tables/{table_id}",
        &owner.delete(&tp).await,
    );
    c.check(
        "delete",
        "/api/v1/projects/{project_id}",
        &owner.delete(&pp).await,
    );
    let owner = account_operations(&mut c, &anon, owner).await;
    c.check(
        "post",
        "/api/v1/auth/logout",
        &owner.post("/api/v1/auth/logout", json!({})).await,
    );

    let missing = c.uncovered();
    assert!(
        missing.is_empty(),
        "operations not exercised against the document: {missing:?}"
    );
    server.stop().await;
}

/// Sessions, re-authentication, second factors, security settings and the password change
/// (last: it replaces the owner's session, which is returned).
async fn account_operations(c: &mut Conformance, anon: &Client, owner: Client) -> Client {
    let _other = anon.login("o@acme.test", PASSWORD).await;
    let sessions = c.check(
        "get",
        "/api/v1/me/sessions",
        &owner.get("/api/v1/me/sessions").await,
    );
    let other_id = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .map(id)
        .unwrap();
    c.check(
        "delete",
        "/api/v1/me/sessions/{session_id}",
        &owner
            .delete(&format!("/api/v1/me/sessions/{other_id}"))
            .await,
    );
    c.check(
        "delete",
        "/api/v1/me/sessions/{session_id}",
        &owner
            .delete(&format!("/api/v1/me/sessions/{other_id}"))
            .await,
    );
    c.check(
        "delete",
        "/api/v1/me/sessions",
        &owner.delete("/api/v1/me/sessions").await,
    );
    let r = owner
        .post(
            "/api/v1/auth/reauth",
            json!({"password": "not my password"}),
        )
        .await;
    assert_eq!(r.status, 400);
    c.check("post", "/api/v1/auth/reauth", &r);
    let r = owner
        .post("/api/v1/auth/reauth", json!({"password": PASSWORD}))
        .await;
    assert_eq!(r.status, 204);
    c.check("post", "/api/v1/auth/reauth", &r);

    c.check(
        "get",
        "/api/v1/me/second-factors",
        &owner.get("/api/v1/me/second-factors").await,
    );
    let r = owner
        .post("/api/v1/me/second-factors/totp", json!({}))
        .await;
    assert_eq!(r.status, 201);
    let enrolment = c.check("post", "/api/v1/me/second-factors/totp", &r);
    let mut app = Authenticator::from_uri(enrolment["uri"].as_str().unwrap());
    let confirm = "/api/v1/me/second-factors/totp/confirm";
    let r = owner.post(confirm, json!({"code": app.wrong_code()})).await;
    assert_eq!(r.status, 400);
    c.check("post", confirm, &r);
    let r = owner
        .post(confirm, json!({"code": app.next_code().await}))
        .await;
    assert_eq!(r.status, 200);
    c.check("post", confirm, &r);
    c.check(
        "post",
        "/api/v1/me/second-factors/recovery-codes",
        &owner
            .post("/api/v1/me/second-factors/recovery-codes", json!({}))
            .await,
    );
    c.check(
        "get",
        "/api/v1/settings/security",
        &owner.get("/api/v1/settings/security").await,
    );
    c.check(
        "patch",
        "/api/v1/settings/security",
        &owner
            .patch(
                "/api/v1/settings/security",
                json!({"require_second_factor": true}),
            )
            .await,
    );
    c.check(
        "patch",
        "/api/v1/settings/security",
        &owner
            .patch("/api/v1/settings/security", json!({"bogus": true}))
            .await,
    );
    c.check(
        "get",
        "/api/v1/settings/edge",
        &owner.get("/api/v1/settings/edge").await,
    );
    let page = c.check(
        "get",
        "/api/v1/audit",
        &owner.get("/api/v1/audit?limit=5").await,
    );
    assert!(!page["items"].as_array().unwrap().is_empty());
    c.check(
        "get",
        "/api/v1/audit",
        &owner.get("/api/v1/audit?limit=0").await,
    );
    c.check(
        "get",
        "/api/v1/audit/export",
        &owner.get("/api/v1/audit/export?action=Not%20Valid").await,
    );
    let actions = c.check(
        "get",
        "/api/v1/audit/actions",
        &owner.get("/api/v1/audit/actions").await,
    );
    let names: Vec<&str> = actions
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"record.create") && names.contains(&"access.simulate"));
    // Every entry the chain holds names an action of the catalogue.
    for item in page["items"].as_array().unwrap() {
        assert!(names.contains(&item["action"].as_str().unwrap()), "{item}");
    }
    let export = owner.get("/api/v1/audit/export").await;
    assert_eq!(export.status, 200);
    assert_eq!(export.headers["content-type"], "application/x-ndjson");
    assert!(export.text.lines().count() >= 1);
    c.check(
        "patch",
        "/api/v1/settings/edge",
        &owner
            .patch(
                "/api/v1/settings/edge",
                json!({"cors_origins": ["https://app.example.com"], "ip_deny": ["192.0.2.0/24"]}),
            )
            .await,
    );
    c.check(
        "patch",
        "/api/v1/settings/edge",
        &owner
            .patch("/api/v1/settings/edge", json!({"ip_allow": ["10.0.0.0/8"]}))
            .await,
    );

    let r = anon
        .post(
            "/api/v1/auth/login",
            json!({"email": "o@acme.test", "password": PASSWORD}),
        )
        .await;
    let challenge = c.check("post", "/api/v1/auth/login", &r)["challenge"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = "/api/v1/auth/login/second-factor";
    let r = anon
        .post(
            second,
            json!({"challenge": challenge, "code": app.wrong_code()}),
        )
        .await;
    assert_eq!(r.status, 401);
    c.check("post", second, &r);
    let r = anon
        .post(
            second,
            json!({"challenge": challenge, "code": app.next_code().await}),
        )
        .await;
    assert_eq!(r.status, 200);
    c.check("post", second, &r);
    c.check(
        "patch",
        "/api/v1/settings/security",
        &owner
            .patch(
                "/api/v1/settings/security",
                json!({"require_second_factor": false}),
            )
            .await,
    );
    c.check(
        "delete",
        "/api/v1/me/second-factors/totp",
        &owner.delete("/api/v1/me/second-factors/totp").await,
    );

    passkey_operations(c, anon, &owner).await;

    let password = "/api/v1/me/password";
    let r = owner
        .post(
            password,
            json!({"current_password": PASSWORD, "new_password": "password123456"}),
        )
        .await;
    assert_eq!(r.status, 400);
    c.check("post", password, &r);
    let r = owner
        .post(
            password,
            json!({"current_password": PASSWORD, "new_password": "amber quiver tundra mosaic"}),
        )
        .await;
    assert_eq!(r.status, 200);
    c.check("post", password, &r);
    owner.with_session_of(&r)
}

/// Passkeys: registration, list, rename, passwordless sign-in, the second factor, removal.
/// (And the password reset, which without mail configured answers `mail_unavailable`; the
/// mail itself is tested in `password_reset.rs`.)
async fn passkey_operations(c: &mut Conformance, anon: &Client, owner: &Client) {
    let reset = "/api/v1/auth/password-reset";
    let r = anon.post(reset, json!({"email": "o@acme.test"})).await;
    assert_eq!(r.status, 503);
    c.check("post", reset, &r);
    for (path, body) in [
        ("/api/v1/auth/register", json!({"email": "x@acme.test"})),
        (
            "/api/v1/auth/register/confirm",
            json!({"token": "rpe_x", "display_name": "X", "password": "x"}),
        ),
        (
            "/api/v1/invitations/accept",
            json!({"token": "rpe_x", "display_name": "X", "password": "x"}),
        ),
        (
            "/api/v1/auth/email-change/confirm",
            json!({"token": "rpe_x"}),
        ),
    ] {
        let r = anon.post(path, body).await;
        assert!(matches!(r.status, 400 | 403), "{path}: {r:?}");
        c.check("post", path, &r);
    }
    for (path, body) in [
        ("/api/v1/invitations", json!({"email": "x@acme.test"})),
        ("/api/v1/me/email", json!({"email": "x@acme.test"})),
    ] {
        let r = owner.post(path, body).await;
        assert_eq!(r.status, 503, "{path}: {r:?}");
        c.check("post", path, &r);
    }
    let confirm = "/api/v1/auth/password-reset/confirm";
    let r = anon
        .post(confirm, json!({"token": "rpr_x", "new_password": "x"}))
        .await;
    assert_eq!(r.status, 400);
    c.check("post", confirm, &r);

    let mut device = PasskeyDevice::new();
    let begin = "/api/v1/me/passkeys/registrations";
    let ceremony = c.check("post", begin, &owner.post(begin, json!({})).await);
    let credential = device.create(owner, &ceremony["options"]);
    let r = owner
        .post(
            "/api/v1/me/passkeys",
            json!({"ceremony_id": "x", "name": "laptop", "credential": credential}),
        )
        .await;
    assert_eq!(r.status, 400);
    c.check("post", "/api/v1/me/passkeys", &r);
    let r = owner
        .post(
            "/api/v1/me/passkeys",
            json!({"ceremony_id": ceremony["ceremony_id"], "name": "laptop", "credential": credential}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let passkey = c.check("post", "/api/v1/me/passkeys", &r)["passkey"].clone();
    c.check(
        "get",
        "/api/v1/me/passkeys",
        &owner.get("/api/v1/me/passkeys").await,
    );
    let path = format!("/api/v1/me/passkeys/{}", id(&passkey));
    c.check(
        "patch",
        "/api/v1/me/passkeys/{passkey_id}",
        &owner.patch(&path, json!({"name": "work laptop"})).await,
    );

    let options = "/api/v1/auth/passkey/options";
    let r = anon.post(options, json!({"email": "o@acme.test"})).await;
    let ceremony = c.check("post", options, &r);
    let credential = device.get(anon, &ceremony["options"]).unwrap();
    let r = anon
        .post(
            "/api/v1/auth/passkey",
            json!({"ceremony_id": ceremony["ceremony_id"], "credential": credential}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    c.check("post", "/api/v1/auth/passkey", &r);
    let r = anon
        .post(
            "/api/v1/auth/passkey",
            json!({"ceremony_id": ceremony["ceremony_id"], "credential": credential}),
        )
        .await;
    assert_eq!(r.status, 401);
    c.check("post", "/api/v1/auth/passkey", &r);

    let r = anon
        .post(
            "/api/v1/auth/login",
            json!({"email": "o@acme.test", "password": PASSWORD}),
        )
        .await;
    let challenge = r.body["challenge"].clone();
    let second_options = "/api/v1/auth/login/second-factor/passkey-options";
    let r = anon
        .post(second_options, json!({"challenge": challenge}))
        .await;
    let ceremony = c.check("post", second_options, &r);
    let credential = device.get(anon, &ceremony["options"]).unwrap();
    let r = anon
        .post(
            "/api/v1/auth/login/second-factor",
            json!({"challenge": challenge,
                   "passkey": {"ceremony_id": ceremony["ceremony_id"], "credential": credential}}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    c.check("post", "/api/v1/auth/login/second-factor", &r);

    c.check(
        "delete",
        "/api/v1/me/passkeys/{passkey_id}",
        &owner.delete(&path).await,
    );
}
