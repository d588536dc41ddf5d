//! Differential property test of authorization: for generated records, users (attributes,
//! groups), permission sets (record rules with `access via`, field access) and assignments,
//! each user's list over HTTP — the SQL pushdown, UNION ALL branches, cursors and field
//! projection — holds exactly the records and fields the in-memory evaluator allows. Each
//! user also sends generated filters and sorts, some through the link to another table on
//! which their grants differ (no grant, hidden fields, record rules): the answer holds
//! exactly the evaluator's records, where a linked record counts only if the user may read
//! it, and a filter or sort naming a field the user may not read answers byte for byte (but
//! the request id) what the same request answers on twin tables without that field. On
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
/// Filtered and sorted lists per user and case.
const QUERIES: usize = 3;

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

/// Filters on docs, some through the `folder` link, some naming fields a user may not read.
fn filter() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        (0i64..5).prop_map(|n| format!("level >= {n}")),
        Just("title ~ \"a\"".to_owned()),
        Just("secret = \"s-a\"".to_owned()),
        Just("secret ~ \"b\"".to_owned()),
        prop::sample::select(TEAMS).prop_map(|t| format!("folder.team = \"{t}\"")),
        (0i64..5).prop_map(|n| format!("folder.budget > {n}")),
        Just("folder.budget = null".to_owned()),
        Just("folder.owner = @user.id".to_owned()),
        Just("folder = null".to_owned()),
    ];
    leaf.prop_recursive(2, 4, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} || {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} && {b})")),
            inner.prop_map(|a| format!("!({a})")),
        ]
    })
}

/// Sorts on docs: `secret` and `meta` (json) share the access the user has to secrets.
fn sort() -> impl Strategy<Value = Option<&'static str>> {
    prop::option::of(prop::sample::select(
        &["-level", "title", "secret", "-secret", "meta", "folder"][..],
    ))
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
    /// Access to the folders' `budget` field.
    budget: &'static str,
    holders: Vec<usize>,
    groups: Vec<usize>,
}

fn set_spec() -> impl Strategy<Value = SetSpec> {
    (
        prop::option::weighted(0.85, doc_rule()),
        folder_rule(),
        any::<bool>(),
        prop::sample::select(&["none", "read"][..]),
        prop::sample::select(&["none", "read"][..]),
        prop::sample::subsequence(vec![0usize, 1, 2], 0..=2),
        prop::sample::subsequence(vec![0usize, 1], 0..=1),
    )
        .prop_map(
            |(doc_rule, folder_rule, folder_read, secret, budget, holders, groups)| SetSpec {
                // A rule may traverse to a folder's field only if the set reads folders.
                folder_read: folder_read
                    || doc_rule.as_deref().is_some_and(|r| r.contains("folder.")),
                doc_rule,
                folder_rule,
                secret,
                budget,
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
    /// owner index, team, budget
    folders: Vec<(usize, Option<&'static str>, Option<i64>)>,
    /// Filters and sorts each user lists docs with.
    queries: Vec<(Option<String>, Option<&'static str>)>,
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
        prop::collection::vec((0usize..4, team.clone(), prop::option::of(0i64..5)), 4),
        prop::collection::vec(team, 3),
        prop::collection::vec(prop::sample::subsequence(TEAMS.to_vec(), 0..=2), 3),
        prop::collection::vec(prop::sample::subsequence(vec![0usize, 1], 0..=2), 3),
        prop::collection::vec((prop::option::weighted(0.8, filter()), sort()), QUERIES),
    )
        .prop_map(
            |(sets, docs, folders, user_team, user_teams, memberships, queries)| Case {
                sets,
                docs,
                folders,
                queries,
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
    list_query(c, table, limit, None, None)
        .await
        .unwrap_or_default()
}

/// Every page of a filtered and sorted list, or the refusal of its first page (a list the
/// caller may not see at all is an empty one).
async fn list_query(
    c: &Client,
    table: &str,
    limit: u32,
    filter: Option<&str>,
    sort: Option<&str>,
) -> Result<Vec<Json>, rampart_tests::Resp> {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let mut base = format!("/api/v1/tables/{table}/records?limit={limit}");
    if let Some(f) = filter {
        base.push_str(&format!("&filter={}", enc(f)));
    }
    if let Some(s) = sort {
        base.push_str(&format!("&sort={}", enc(s)));
    }
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = base.clone();
        if let Some(cur) = &cursor {
            url.push_str(&format!("&cursor={cur}"));
        }
        let r = c.get(&url).await;
        if r.status == 404 || r.status == 403 {
            return Ok(Vec::new());
        }
        if r.status != 200 && cursor.is_none() {
            return Err(r);
        }
        assert_eq!(r.status, 200, "{r:?}");
        out.extend(r.body["records"].as_array().unwrap().iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => return Ok(out),
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
                json!({"name": "folders", "fields": [
                    {"name": "team", "type": "text"}, {"name": "budget", "type": "integer"}]}),
            )
            .await
            .body);
        let docs_t = id(&owner
            .post(&format!("/api/v1/projects/{p}/tables"), json!({"name": "docs", "fields": [
                {"name": "title", "type": "text"}, {"name": "team", "type": "text"}, {"name": "level", "type": "integer"},
                {"name": "public", "type": "boolean"}, {"name": "secret", "type": "text"},
                {"name": "folder", "type": "link", "options": {"table_id": folders_t, "on_delete": "clear"}},
                {"name": "meta", "type": "json"}
            ]}))
            .await
            .body);
        // Twins without the fields a user may be refused (docs' `secret` and `meta`, folders'
        // `budget`), readable by everyone: a refusal of a hidden field must read exactly like
        // the twin's refusal of a field that is not there.
        let bare_folders_t = id(&owner
            .post(
                &format!("/api/v1/projects/{p}/tables"),
                json!({"name": "bare folders", "fields": [{"name": "team", "type": "text"}]}),
            )
            .await
            .body);
        let bare_docs_t = id(&owner
            .post(&format!("/api/v1/projects/{p}/tables"), json!({"name": "bare docs", "fields": [
                {"name": "title", "type": "text"}, {"name": "team", "type": "text"}, {"name": "level", "type": "integer"},
                {"name": "public", "type": "boolean"},
                {"name": "folder", "type": "link", "options": {"table_id": bare_folders_t, "on_delete": "clear"}}
            ]}))
            .await
            .body);
        let r = owner
            .post(
                &format!("/api/v1/projects/{p}/permission-sets"),
                json!({"name": "Bare", "tables": {&bare_docs_t: {"read": true}, &bare_folders_t: {"read": true}}}),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        let bare_set = id(&r.body);
        for (_, uid) in &users {
            owner
                .put(
                    &format!("/api/v1/permission-sets/{bare_set}/users/{uid}"),
                    json!({}),
                )
                .await;
        }
        let folder_creates: Vec<Json> = case
            .folders
            .iter()
            .map(|(o, team, budget)| json!({"owner": all_users[*o], "fields": {"team": team, "budget": budget}}))
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
                    "meta": {"n": level},
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
            let mut docs_grant =
                json!({"read": true, "fields": {"secret": spec.secret, "meta": spec.secret}});
            if let Some(rule) = &spec.doc_rule {
                docs_grant["rules"] = json!({"read": rule});
            }
            let mut tables = serde_json::Map::new();
            tables.insert(docs_t.clone(), docs_grant);
            if spec.folder_read {
                let mut g = json!({"read": true, "fields": {"budget": spec.budget}});
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
            // Filtered and sorted lists.
            let folder_readers: Vec<&&SetSpec> = held.iter().filter(|s| s.folder_read).collect();
            let readable = Readable {
                docs: !held.is_empty(),
                secret: !held.is_empty() && held.iter().all(|s| s.secret == "read"),
                folders: !folder_readers.is_empty(),
                budget: !folder_readers.is_empty()
                    && folder_readers.iter().all(|s| s.budget == "read"),
            };
            for (filter, sort) in &case.queries {
                let want = expected_answer(filter.as_deref(), *sort, &readable);
                let got = list_query(client, &docs_t, 5, filter.as_deref(), *sort).await;
                let what = format!("case {case_no}, user {u}, filter {filter:?}, sort {sort:?}");
                match (want, got) {
                    (_, Ok(_)) | (Err(_), _) if !readable.docs => {}
                    (Ok(()), Ok(got)) => {
                        let pred = filter.as_deref().map(|f| {
                            let p = rampart_rules::check(
                                &rampart_rules::parse(f).unwrap(),
                                &docs_def,
                                &scope,
                                "filter",
                            )
                            .unwrap();
                            only_readable_links(p, &folder_pred)
                        });
                        let want: BTreeSet<RecordId> = views
                            .iter()
                            .filter(|v| expected.contains_key(&v.record.id))
                            .filter(|v| {
                                pred.as_ref()
                                    .is_none_or(|p| rampart_rules::eval(p, *v, &ctx))
                            })
                            .map(|v| v.record.id)
                            .collect();
                        let got: BTreeSet<RecordId> = got
                            .iter()
                            .map(|j| RecordId(id(j).parse().unwrap()))
                            .collect();
                        assert_eq!(got, want, "{what}: records differ\n{case:#?}");
                    }
                    (Err(code), Err(r)) => {
                        let field_code = r.body["errors"][0]["code"].as_str().unwrap_or_default();
                        assert_eq!(
                            (r.status, field_code),
                            (400, code),
                            "{what}: {r:?}\n{case:#?}"
                        );
                        if code == "unknown_field"
                            && readable.refused_like_the_twin(filter.as_deref(), *sort)
                        {
                            let twin =
                                list_query(client, &bare_docs_t, 5, filter.as_deref(), *sort)
                                    .await
                                    .expect_err("the twin refuses it too");
                            assert_eq!(
                                without_request_id(&r.body),
                                without_request_id(&twin.body),
                                "{what}: a hidden field answers unlike a missing one"
                            );
                        }
                    }
                    (want, got) => panic!(
                        "{what}: expected {want:?}, got {:?}\n{case:#?}",
                        got.map(|g| g.len())
                    ),
                }
            }
            compared += 1;
        }
        owner.delete(&format!("/api/v1/projects/{p}")).await;
    }
    assert_eq!(compared, CASES * 3);
    server.stop().await;
}

/// What one user may read, as the test's sets decide it.
struct Readable {
    docs: bool,
    /// docs' `secret` and `meta`
    secret: bool,
    folders: bool,
    budget: bool,
}

impl Readable {
    /// Whether every field the request names that the twin tables lack is hidden from this
    /// user, and it names nothing else they may not read: then both refuse it at the same
    /// place, with the same words.
    fn refused_like_the_twin(&self, filter: Option<&str>, sort: Option<&str>) -> bool {
        let f = filter.unwrap_or_default();
        let s = sort.unwrap_or_default();
        let uses_secret = f.contains("secret") || s.contains("secret") || s == "meta";
        let uses_budget = f.contains("folder.budget");
        let uses_folder_fields = f.contains("folder.team") || f.contains("folder.owner");
        (!uses_secret || !self.secret)
            && (!uses_budget || !self.budget)
            && (!uses_folder_fields || self.folders)
    }
}

/// The list's answer: `Ok` with the records, or the problem code.
fn expected_answer(
    filter: Option<&str>,
    sort: Option<&str>,
    r: &Readable,
) -> Result<(), &'static str> {
    match sort {
        Some("secret" | "-secret" | "meta") if !r.secret => return Err("unknown_field"),
        Some("meta" | "folder") => return Err("unsortable_field"),
        _ => {}
    }
    let f = filter.unwrap_or_default();
    if (f.contains("secret") && !r.secret)
        || (f.contains("folder.budget") && !r.budget)
        || ((f.contains("folder.team") || f.contains("folder.owner")) && !r.folders)
    {
        return Err("unknown_field");
    }
    Ok(())
}

/// A filter as the user may apply it: a record linked through a link counts only if the
/// user may read it.
fn only_readable_links(p: Pred, readable: &Pred) -> Pred {
    match p {
        Pred::And(ps) => Pred::And(
            ps.into_iter()
                .map(|q| only_readable_links(q, readable))
                .collect(),
        ),
        Pred::Or(ps) => Pred::Or(
            ps.into_iter()
                .map(|q| only_readable_links(q, readable))
                .collect(),
        ),
        Pred::Not(q) => Pred::Not(Box::new(only_readable_links(*q, readable))),
        Pred::Link {
            field,
            target,
            inner,
        } => Pred::Link {
            field,
            target,
            inner: Box::new(Pred::And(vec![*inner, readable.clone()])),
        },
        other => other,
    }
}

fn without_request_id(body: &Json) -> Json {
    let mut b = body.clone();
    if let Some(o) = b.as_object_mut() {
        o.remove("request_id");
    }
    b
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
