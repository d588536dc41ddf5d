//! Differential property test of authorization: for generated records, users (attributes,
//! groups), permission sets (record rules with `access via`, field access) and assignments,
//! each user's list over HTTP — the SQL pushdown, UNION ALL branches, cursors and field
//! projection — holds exactly the records and fields the in-memory evaluator allows. On
//! SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, HashMap};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use rampart_core::field::SystemField;
use rampart_core::{FieldDef, Record, RecordId, TableDef, TableId, UserId, Value};
use rampart_rules::check::{AttrValue, AttributeDef, Col, Scope};
use rampart_rules::{Context, Pred, RecordView, UserContext};
use rampart_store::Tx;
use rampart_tests::{Backend, Client, TestServer, backend_tests};
use serde_json::{Value as Json, json};

backend_tests!(list_pushdown_matches_the_evaluator);

const TEAMS: &[&str] = &["red", "blue", "green"];
const CASES: usize = 24;

struct View<'a> {
    record: &'a Record,
    linked: Vec<View<'a>>,
}

impl RecordView for View<'_> {
    fn get(&self, col: &Col) -> Value {
        let r = self.record;
        match col {
            Col::System(SystemField::Id) => Value::User(UserId(r.id.0)),
            Col::System(SystemField::CreatedAt) => Value::Datetime(r.created_at),
            Col::System(SystemField::UpdatedAt) => Value::Datetime(r.updated_at),
            Col::System(SystemField::CreatedBy) => r.created_by.map_or(Value::Null, Value::User),
            Col::System(SystemField::Owner) => r.owner.map_or(Value::Null, Value::User),
            Col::System(SystemField::Version) => Value::Integer(r.version),
            Col::Field(f) => r.value(f.id).clone(),
        }
    }

    fn linked(&self, _: &FieldDef) -> Vec<&dyn RecordView> {
        self.linked.iter().map(|v| v as &dyn RecordView).collect()
    }
}

fn doc_rule() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("owner = @user.id".to_owned()),
        Just("public = true".to_owned()),
        Just("team = @user.team".to_owned()),
        Just("team in @user.teams".to_owned()),
        Just("\"g1\" in @user.groups".to_owned()),
        (0i64..4).prop_map(|n| format!("level >= {n}")),
        prop::sample::select(TEAMS).prop_map(|t| format!("team = \"{t}\"")),
        Just("access via folder".to_owned()),
        Just("folder.team = @user.team".to_owned()),
        Just("title ~ \"a\"".to_owned()),
    ];
    leaf.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} || {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} && {b})")),
            inner.prop_map(|a| format!("!({a})")),
        ]
    })
}

fn folder_rule() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("team = @user.team".to_owned())),
        Just(Some("team in @user.teams".to_owned())),
        Just(Some("owner = @user.id".to_owned())),
    ]
}

#[derive(Debug, Clone)]
struct SetSpec {
    doc_rule: Option<String>,
    folder_rule: Option<String>,
    folder_read: bool,
    secret: &'static str,
    holders: Vec<usize>,
    groups: Vec<usize>,
}

fn set_spec() -> impl Strategy<Value = SetSpec> {
    (
        prop::option::weighted(0.85, doc_rule()),
        folder_rule(),
        any::<bool>(),
        prop::sample::select(&["none", "read"][..]),
        prop::sample::subsequence(vec![0usize, 1, 2], 0..=2),
        prop::sample::subsequence(vec![0usize, 1], 0..=1),
    )
        .prop_map(
            |(doc_rule, folder_rule, folder_read, secret, holders, groups)| SetSpec {
                // A rule may traverse to a folder's field only if the set reads folders.
                folder_read: folder_read
                    || doc_rule.as_deref().is_some_and(|r| r.contains("folder.")),
                doc_rule,
                folder_rule,
                secret,
                holders,
                groups,
            },
        )
}

/// owner index, team, level, public, title, folder index
type DocSpec = (
    usize,
    Option<&'static str>,
    i64,
    bool,
    String,
    Option<usize>,
);

#[derive(Debug, Clone)]
struct Case {
    sets: Vec<SetSpec>,
    docs: Vec<DocSpec>,
    folders: Vec<(usize, Option<&'static str>)>,
    user_team: Vec<Option<&'static str>>,
    user_teams: Vec<Vec<&'static str>>,
    memberships: Vec<Vec<usize>>,
}

fn case() -> impl Strategy<Value = Case> {
    let team = prop::option::of(prop::sample::select(TEAMS));
    (
        prop::collection::vec(set_spec(), 1..=3),
        prop::collection::vec(
            (
                0usize..4,
                team.clone(),
                0i64..5,
                prop::bool::weighted(0.2),
                "[ab]{0,3}",
                prop::option::of(0usize..4),
            ),
            20..32,
        ),
        prop::collection::vec((0usize..4, team.clone()), 4),
        prop::collection::vec(team, 3),
        prop::collection::vec(prop::sample::subsequence(TEAMS.to_vec(), 0..=2), 3),
        prop::collection::vec(prop::sample::subsequence(vec![0usize, 1], 0..=2), 3),
    )
        .prop_map(
            |(sets, docs, folders, user_team, user_teams, memberships)| Case {
                sets,
                docs,
                folders,
                user_team,
                user_teams,
                memberships,
            },
        )
}

fn id(v: &Json) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// Every page of a list, following cursors.
async fn list_all(c: &Client, table: &str, limit: u32) -> Vec<Json> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("/api/v1/tables/{table}/records?limit={limit}");
        if let Some(cur) = &cursor {
            url.push_str(&format!("&cursor={cur}"));
        }
        let r = c.get(&url).await;
        if r.status == 404 || r.status == 403 {
            return Vec::new();
        }
        assert_eq!(r.status, 200, "{r:?}");
        out.extend(r.body["records"].as_array().unwrap().iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => return out,
        }
    }
}

fn to_record(table: &TableDef, j: &Json) -> Record {
    let parse_ts = |k: &str| {
        chrono::DateTime::parse_from_rfc3339(j[k].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let user = |k: &str| j[k].as_str().map(|s| UserId(s.parse().unwrap()));
    let mut values = BTreeMap::new();
    for f in &table.fields {
        let v = Value::from_json(&f.field_type, &j["fields"][&f.name], &f.name).unwrap();
        if !v.is_null() {
            values.insert(f.id, v);
        }
    }
    Record {
        id: RecordId(id(j).parse().unwrap()),
        created_at: parse_ts("created_at"),
        updated_at: parse_ts("updated_at"),
        created_by: user("created_by"),
        owner: user("owner"),
        version: j["version"].as_i64().unwrap(),
        values,
    }
}

async fn list_pushdown_matches_the_evaluator(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    owner
        .put(
            "/api/v1/user-attributes",
            json!([{"name": "team"}, {"name": "teams", "multiple": true}]),
        )
        .await;
    let mut users = Vec::new();
    for i in 0..3 {
        let c = server
            .user(&owner, "acme", &format!("u{i}@acme.test"), "member")
            .await;
        let uid = c.get("/api/v1/me").await.body["id"]
            .as_str()
            .unwrap()
            .to_owned();
        users.push((c, uid));
    }
    let owner_id = owner.get("/api/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let all_users: Vec<String> = users
        .iter()
        .map(|(_, u)| u.clone())
        .chain([owner_id.clone()])
        .collect();
    let mut groups = Vec::new();
    for g in ["g1", "g2"] {
        groups.push(id(&owner
            .post("/api/v1/groups", json!({"name": g}))
            .await
            .body));
    }
    let attributes = vec![
        AttributeDef {
            name: "team".into(),
            multiple: false,
        },
        AttributeDef {
            name: "teams".into(),
            multiple: true,
        },
    ];
    let (_, ts) = server.tenant("acme").await;
    let mut runner = TestRunner::new(Config {
        cases: 1,
        ..Config::default()
    });
    let mut compared = 0;
    for case_no in 0..CASES {
        let case = case().new_tree(&mut runner).unwrap().current();
        // Users' attributes and groups.
        for (u, (_, uid)) in users.iter().enumerate() {
            let team = case.user_team[u].map_or(Json::Null, Json::from);
            let r = owner
                .patch(
                    &format!("/api/v1/users/{uid}"),
                    json!({"attributes": {"team": team, "teams": case.user_teams[u]}}),
                )
                .await;
            assert_eq!(r.status, 200, "{r:?}");
            for (g, gid) in groups.iter().enumerate() {
                let url = format!("/api/v1/groups/{gid}/members/{uid}");
                if case.memberships[u].contains(&g) {
                    owner.put(&url, json!({})).await;
                } else {
                    owner.delete(&url).await;
                }
            }
        }
        // Tables and records.
        let p = id(&owner
            .post("/api/v1/projects", json!({"name": format!("P{case_no}")}))
            .await
            .body);
        let folders_t = id(&owner
            .post(
                &format!("/api/v1/projects/{p}/tables"),
                json!({"name": "folders", "fields": [{"name": "team", "type": "text"}]}),
            )
            .await
            .body);
        let docs_t = id(&owner
            .post(&format!("/api/v1/projects/{p}/tables"), json!({"name": "docs", "fields": [
                {"name": "title", "type": "text"}, {"name": "team", "type": "text"}, {"name": "level", "type": "integer"},
                {"name": "public", "type": "boolean"}, {"name": "secret", "type": "text"},
                {"name": "folder", "type": "link", "options": {"table_id": folders_t, "on_delete": "clear"}}
            ]}))
            .await
            .body);
        let folder_creates: Vec<Json> = case
            .folders
            .iter()
            .map(|(o, team)| json!({"owner": all_users[*o], "fields": {"team": team}}))
            .collect();
        let r = owner
            .post(
                &format!("/api/v1/tables/{folders_t}/records/batch"),
                json!({"create": folder_creates}),
            )
            .await;
        assert_eq!(r.status, 200, "{r:?}");
        let folder_ids: Vec<String> = r.body["created"]
            .as_array()
            .unwrap()
            .iter()
            .map(id)
            .collect();
        let doc_creates: Vec<Json> = case
            .docs
            .iter()
            .map(|(o, team, level, public, title, folder)| {
                json!({"owner": all_users[*o], "fields": {
                    "title": title, "team": team, "level": level, "public": public, "secret": format!("s-{title}"),
                    "folder": folder.map(|f| folder_ids[f].clone())
                }})
            })
            .collect();
        let r = owner
            .post(
                &format!("/api/v1/tables/{docs_t}/records/batch"),
                json!({"create": doc_creates}),
            )
            .await;
        assert_eq!(r.status, 200, "{r:?}");
        // Permission sets.
        for (i, spec) in case.sets.iter().enumerate() {
            let mut docs_grant = json!({"read": true, "fields": {"secret": spec.secret}});
            if let Some(rule) = &spec.doc_rule {
                docs_grant["rules"] = json!({"read": rule});
            }
            let mut tables = serde_json::Map::new();
            tables.insert(docs_t.clone(), docs_grant);
            if spec.folder_read {
                let mut g = json!({"read": true});
                if let Some(rule) = &spec.folder_rule {
                    g["rules"] = json!({"read": rule});
                }
                tables.insert(folders_t.clone(), g);
            }
            let r = owner
                .post(
                    &format!("/api/v1/projects/{p}/permission-sets"),
                    json!({"name": format!("S{i}"), "tables": tables}),
                )
                .await;
            assert_eq!(r.status, 201, "{spec:?}: {r:?}");
            let sid = id(&r.body);
            for u in &spec.holders {
                owner
                    .put(
                        &format!("/api/v1/permission-sets/{sid}/users/{}", users[*u].1),
                        json!({}),
                    )
                    .await;
            }
            for g in &spec.groups {
                owner
                    .put(
                        &format!("/api/v1/permission-sets/{sid}/groups/{}", groups[*g]),
                        json!({}),
                    )
                    .await;
            }
        }
        // The truth, computed in memory.
        let docs_def = load(&ts, &docs_t).await;
        let folders_def = load(&ts, &folders_t).await;
        let docs: Vec<Record> = list_all(&owner, &docs_t, 100)
            .await
            .iter()
            .map(|j| to_record(&docs_def, j))
            .collect();
        let folders: Vec<Record> = list_all(&owner, &folders_t, 100)
            .await
            .iter()
            .map(|j| to_record(&folders_def, j))
            .collect();
        let folder_link = docs_def.field_by_name("folder").unwrap().id;
        let secret = docs_def.field_by_name("secret").unwrap().id;
        let by_id: HashMap<RecordId, &Record> = folders.iter().map(|r| (r.id, r)).collect();
        let views: Vec<View<'_>> = docs
            .iter()
            .map(|r| View {
                record: r,
                linked: match r.value(folder_link) {
                    Value::Links(ids) => ids
                        .iter()
                        .map(|i| View {
                            record: by_id[i],
                            linked: vec![],
                        })
                        .collect(),
                    _ => vec![],
                },
            })
            .collect();
        let tables: HashMap<TableId, TableDef> = [(folders_def.id, folders_def.clone())]
            .into_iter()
            .collect();
        let lookup = |t: TableId| tables.get(&t).cloned();
        let scope = Scope {
            tables: &lookup,
            readable: None,
            attributes: &attributes,
            rule: true,
        };
        for (u, (client, uid)) in users.iter().enumerate() {
            let held: Vec<&SetSpec> = case
                .sets
                .iter()
                .filter(|s| {
                    s.holders.contains(&u)
                        || s.groups.iter().any(|g| case.memberships[u].contains(g))
                })
                .collect();
            let mut attrs = BTreeMap::new();
            if let Some(t) = case.user_team[u] {
                attrs.insert("team".to_owned(), AttrValue::One(t.to_owned()));
            }
            attrs.insert(
                "teams".to_owned(),
                AttrValue::Many(case.user_teams[u].iter().map(|s| (*s).to_owned()).collect()),
            );
            let ctx = Context {
                user: UserContext {
                    id: UserId(uid.parse().unwrap()),
                    email: format!("u{u}@acme.test"),
                    role: "member".into(),
                    groups: case.memberships[u]
                        .iter()
                        .map(|g| format!("g{}", g + 1))
                        .collect(),
                    attributes: attrs,
                },
            };
            // The user's folder predicate (for `access via folder`).
            let folder_pred = {
                let mut parts = Vec::new();
                let mut all = false;
                for s in held.iter().filter(|s| s.folder_read) {
                    match &s.folder_rule {
                        None => all = true,
                        Some(rule) => parts.push(
                            rampart_rules::check(
                                &rampart_rules::parse(rule).unwrap(),
                                &folders_def,
                                &scope,
                                "r",
                            )
                            .unwrap(),
                        ),
                    }
                }
                if all {
                    Pred::Const(true)
                } else {
                    Pred::Or(parts)
                }
            };
            let mut expected: BTreeMap<RecordId, bool> = BTreeMap::new();
            for s in &held {
                let pred = match &s.doc_rule {
                    None => Pred::Const(true),
                    Some(rule) => rampart_rules::check(
                        &rampart_rules::parse(rule).unwrap(),
                        &docs_def,
                        &scope,
                        "r",
                    )
                    .unwrap()
                    .resolve_access(1, &mut |_, _| {
                        Some((folders_def.clone(), folder_pred.clone()))
                    }),
                };
                for v in &views {
                    if rampart_rules::eval(&pred, v, &ctx) {
                        let shows = expected.entry(v.record.id).or_insert(false);
                        *shows |= s.secret == "read";
                    }
                }
            }
            let got = list_all(client, &docs_t, 5).await;
            let got_map: BTreeMap<RecordId, bool> = got
                .iter()
                .map(|j| {
                    (
                        RecordId(id(j).parse().unwrap()),
                        j["fields"].get("secret").is_some(),
                    )
                })
                .collect();
            assert_eq!(
                got.len(),
                got_map.len(),
                "a record appeared twice across pages"
            );
            assert_eq!(
                got_map.keys().collect::<BTreeSet<_>>(),
                expected.keys().collect::<BTreeSet<_>>(),
                "case {case_no}, user {u}: records differ\n{case:#?}"
            );
            assert_eq!(
                got_map, expected,
                "case {case_no}, user {u}: the secret field's visibility differs\n{case:#?}"
            );
            let _ = secret;
            compared += 1;
        }
        owner.delete(&format!("/api/v1/projects/{p}")).await;
    }
    assert_eq!(compared, CASES * 3);
    server.stop().await;
}

async fn load(ts: &rampart_store::TenantStore, table: &str) -> TableDef {
    let id: TableId = table.parse().unwrap();
    ts.read(move |tx: &mut Tx| {
        Box::pin(async move { rampart_store::schema::load_table(tx, id).await })
    })
    .await
    .unwrap()
    .unwrap()
}
