//! The expression language's SQL and its in-memory evaluator agree: for generated records
//! (nulls, non-ASCII text, extreme numbers, links) and generated filters, the records a
//! compiled filter selects in the database are exactly those the evaluator accepts — on
//! SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap};

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use rampart_core::field::{FieldType, SystemField};
use rampart_core::record::{InputMode, parse_input};
use rampart_core::{FieldDef, GlobalRole, ProjectId, Record, RecordId, TableDef, UserId, Value};
use rampart_rules::check::Col;
use rampart_rules::{Context, RecordView, UserContext};
use rampart_store::identity::{self, NewUser};
use rampart_store::records::{self, ListQuery};
use rampart_store::{TenantStore, Tx, projects, schema};
use rampart_tests::{Backend, backend_tests, test_store};
use serde_json::{Value as Json, json};

backend_tests!(sql_and_evaluator_select_the_same_records);

const WORDS: &[&str] = &[
    "",
    "apple",
    "Apple",
    "APPLE pie",
    "éclair",
    "Éclair",
    "straße",
    "50%_off",
    "a\"b",
    "zz",
    "naïve",
    "日本",
    // Case in other scripts: `~` folds them all alike on both backends and in memory.
    "ÄPFEL",
    "äpfel",
    "STRASSE",
    "ẞ",
    "ΟΔΟΣ",
    "οδός",
    "Σίσυφος",
    "İstanbul",
    "ЁЛКА",
    "ёлка",
    "ǅemal",
    "ﬁle",
    "Ǆ",
];
const CHOICES: &[&str] = &["a", "b", "c"];

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

    fn linked(&self, _field: &FieldDef) -> Vec<&dyn RecordView> {
        self.linked.iter().map(|v| v as &dyn RecordView).collect()
    }
}

fn word() -> impl Strategy<Value = String> {
    prop::sample::select(WORDS).prop_map(str::to_owned)
}

fn maybe<T: std::fmt::Debug + Clone + 'static>(
    s: impl Strategy<Value = T> + 'static,
) -> impl Strategy<Value = Option<T>> {
    prop_oneof![1 => Just(None), 3 => s.prop_map(Some)]
}

fn record_body(users: Vec<String>, targets: Vec<String>) -> impl Strategy<Value = Json> {
    (
        maybe(word()),
        maybe(word()),
        maybe(prop_oneof![
            Just(i64::MIN),
            Just(i64::MAX),
            -5i64..5,
            any::<i64>()
        ]),
        maybe(-100_000i64..100_000),
        maybe(any::<bool>()),
        maybe(0u32..60),
        maybe(0i64..5_000_000),
        maybe(prop::sample::select(CHOICES)),
        maybe(prop::sample::subsequence(CHOICES.to_vec(), 0..=3)),
        maybe(prop::sample::select(users)),
        prop::sample::subsequence(targets.clone(), 0..=targets.len().min(3)),
    )
        .prop_map(|(s, s2, n, d, b, day, micros, sel, multi, u, links)| {
            let mut m = serde_json::Map::new();
            let mut put = |k: &str, v: Option<Json>| {
                if let Some(v) = v {
                    m.insert(k.to_owned(), v);
                }
            };
            put("s", s.map(Json::from));
            put("s2", s2.map(Json::from));
            put("n", n.map(Json::from));
            put(
                "d",
                d.map(|d| Json::from(format!("{}.{:02}", d / 100, (d % 100).abs())).to_owned())
                    .map(|j| {
                        // Negative values below one need their sign on the whole number.
                        let text = j.as_str().unwrap().to_owned();
                        if text.starts_with('0') || text.starts_with("0.") {
                            j
                        } else {
                            Json::from(text)
                        }
                    }),
            );
            put("b", b.map(Json::from));
            put(
                "day",
                day.map(|d| json!(format!("2024-01-{:02}", d % 28 + 1))),
            );
            put(
                "at",
                micros.map(|m| {
                    json!(format!(
                        "2024-06-01T00:00:{:02}.{:06}Z",
                        m / 1_000_000 % 60,
                        m % 1_000_000
                    ))
                }),
            );
            put("sel", sel.map(Json::from));
            put("multi", multi.map(|c| json!(c)));
            put("u", u.map(Json::from));
            put("links", Some(json!(links)));
            Json::Object(m)
        })
}

fn str_lit() -> impl Strategy<Value = String> {
    prop_oneof![
        word(),
        Just("pp".to_owned()),
        Just("ÉCLAIR".to_owned()),
        Just("äp".to_owned()),
        Just("ÄP".to_owned()),
        Just("σ".to_owned()),
        Just("ΟΣ".to_owned()),
        Just("i".to_owned()),
        Just("ß".to_owned()),
        Just("Ё".to_owned()),
        Just("ǆ".to_owned()),
        Just("%".to_owned()),
        Just("_".to_owned()),
        Just("E".to_owned()),
    ]
    .prop_map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
}

fn op_all() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&["=", "!=", "<", "<=", ">", ">="][..])
}

fn leaf(users: Vec<String>, targets: Vec<String>) -> impl Strategy<Value = String> {
    let user_lit = prop::sample::select(users).prop_map(|u| format!("\"{u}\""));
    let target = prop::sample::select(targets).prop_map(|t| format!("\"{t}\""));
    prop_oneof![
        (
            prop::sample::select(&["=", "!=", "<", ">=", "~", "!~"][..]),
            str_lit()
        )
            .prop_map(|(o, l)| format!("s {o} {l}")),
        op_all().prop_map(|o| format!("s {o} s2")),
        prop::collection::vec(str_lit(), 0..3).prop_map(|l| format!("s in [{}]", l.join(", "))),
        (
            op_all(),
            prop_oneof![Just(i64::MIN), Just(i64::MAX), -6i64..6]
        )
            .prop_map(|(o, n)| format!("n {o} {n}")),
        (op_all(), -2000i64..2000).prop_map(|(o, n)| format!(
            "d {o} {}.{:02}",
            n / 100,
            (n % 100).abs()
        )),
        prop::collection::vec(-6i64..6, 1..4).prop_map(|l| format!(
            "n in [{}]",
            l.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
        (prop::sample::select(&["=", "!="][..]), any::<bool>())
            .prop_map(|(o, b)| format!("b {o} {b}")),
        Just("b".to_owned()),
        (op_all(), 1u32..29).prop_map(|(o, d)| format!("day {o} \"2024-01-{d:02}\"")),
        (op_all(), 0u32..60).prop_map(|(o, s)| format!("at {o} \"2024-06-01T00:00:{s:02}.5Z\"")),
        (
            prop::sample::select(&["=", "!=", "~"][..]),
            prop::sample::select(CHOICES)
        )
            .prop_map(|(o, c)| format!("sel {o} \"{c}\"")),
        prop::sample::select(CHOICES).prop_map(|c| format!("\"{c}\" in multi")),
        prop::sample::select(
            &[
                "s", "s2", "n", "d", "b", "day", "at", "sel", "multi", "u", "links"
            ][..]
        )
        .prop_flat_map(
            |f| prop::sample::select(&["=", "!="][..]).prop_map(move |o| format!("{f} {o} null"))
        ),
        (prop::sample::select(&["=", "!="][..]), user_lit).prop_map(|(o, u)| format!("u {o} {u}")),
        prop::sample::select(
            &[
                "u = @user.id",
                "owner = @user.id",
                "u != @user.id",
                "created_by = @user.id"
            ][..]
        )
        .prop_map(str::to_owned),
        (prop::sample::select(&["=", "!=", "~", "<"][..]), str_lit())
            .prop_map(|(o, l)| format!("links.label {o} {l}")),
        Just("links.label = null".to_owned()),
        target.prop_map(|t| format!("links = {t}")),
        Just("version >= 1".to_owned()),
    ]
}

fn filter(users: Vec<String>, targets: Vec<String>) -> impl Strategy<Value = String> {
    leaf(users, targets).prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} && {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} || {b})")),
            inner.prop_map(|e| format!("!({e})")),
        ]
    })
}

async fn setup(ts: &TenantStore) -> (TableDef, TableDef, Vec<UserId>) {
    ts.write(|tx: &mut Tx| {
        Box::pin(async move {
            let mut users = Vec::new();
            for email in ["u1@x.test", "u2@x.test"] {
                let u = identity::insert_user(
                    tx,
                    NewUser {
                        email: email.into(),
                        display_name: email.into(),
                        role: GlobalRole::Member,
                        password_hash: None,
                    },
                )
                .await?;
                users.push(u.id);
            }
            let p = projects::create_project(tx, "P".into(), users[0]).await?;
            let target = schema::create_table(
                tx,
                p.id,
                "Targets".into(),
                vec![new_field(
                    "label",
                    FieldType::from_parts(rampart_core::FieldKind::Text, None).unwrap(),
                )],
            )
            .await?;
            let ty = |k, o: Option<Json>| FieldType::from_parts(k, o).unwrap();
            use rampart_core::FieldKind as K;
            let main = schema::create_table(
                tx,
                p.id,
                "Main".into(),
                vec![
                    new_field("s", ty(K::Text, None)),
                    new_field("s2", ty(K::Text, None)),
                    new_field("n", ty(K::Integer, None)),
                    new_field("d", ty(K::Decimal, Some(json!({"scale": 2})))),
                    new_field("b", ty(K::Boolean, None)),
                    new_field("day", ty(K::Date, None)),
                    new_field("at", ty(K::Datetime, None)),
                    new_field(
                        "sel",
                        ty(K::SingleSelect, Some(json!({"choices": CHOICES}))),
                    ),
                    new_field(
                        "multi",
                        ty(K::MultiSelect, Some(json!({"choices": CHOICES}))),
                    ),
                    new_field("u", ty(K::User, None)),
                    new_field(
                        "links",
                        ty(
                            K::Link,
                            Some(json!({"table_id": target.id, "multiple": true})),
                        ),
                    ),
                ],
            )
            .await?;
            let _: ProjectId = p.id;
            Ok((main, target, users))
        })
    })
    .await
    .unwrap()
}

fn new_field(name: &str, field_type: FieldType) -> schema::NewField {
    schema::NewField {
        name: name.into(),
        field_type,
        required: false,
        unique: false,
        indexed: false,
        default: None,
        protection: Default::default(),
    }
}

async fn insert(
    ts: &TenantStore,
    table: &TableDef,
    bodies: Vec<Json>,
    actor: UserId,
) -> Vec<Record> {
    let table = table.clone();
    ts.write(move |tx: &mut Tx| {
        Box::pin(async move {
            let mut out = Vec::new();
            for body in bodies {
                let values = parse_input(
                    &table,
                    body.as_object().unwrap(),
                    InputMode::Create,
                    "fields",
                )
                .unwrap_or_else(|e| panic!("generated body refused: {body} {e:?}"));
                out.push(records::create(tx, &table, values, actor, "fields").await?);
            }
            Ok(out)
        })
    })
    .await
    .unwrap()
}

async fn sql_and_evaluator_select_the_same_records(backend: Backend) {
    let (store, _dir) = test_store(&backend).await;
    let tenant = store.create_tenant("lang", "Lang").await.unwrap();
    let ts = store.tenant_store(&tenant).await.unwrap();
    let (main, target, users) = setup(&ts).await;
    let mut runner = TestRunner::new(Config {
        cases: 1,
        ..Config::default()
    });

    let labels: Vec<Json> = WORDS
        .iter()
        .take(6)
        .map(|w| json!({"label": w}))
        .chain([json!({})])
        .collect();
    let targets = insert(&ts, &target, labels, users[0]).await;
    let target_ids: Vec<String> = targets.iter().map(|r| r.id.to_string()).collect();
    let user_ids: Vec<String> = users.iter().map(ToString::to_string).collect();

    let bodies_strategy =
        prop::collection::vec(record_body(user_ids.clone(), target_ids.clone()), 60);
    let bodies = bodies_strategy.new_tree(&mut runner).unwrap().current();
    let mut all = insert(&ts, &main, bodies[..30].to_vec(), users[0]).await;
    all.extend(insert(&ts, &main, bodies[30..].to_vec(), users[1]).await);
    let by_id: HashMap<RecordId, &Record> = targets.iter().map(|r| (r.id, r)).collect();
    let links_field = main.field_by_name("links").unwrap().id;
    let views: Vec<View<'_>> = all
        .iter()
        .map(|r| View {
            record: r,
            linked: match r.value(links_field) {
                Value::Links(ids) => ids
                    .iter()
                    .map(|id| View {
                        record: by_id[id],
                        linked: vec![],
                    })
                    .collect(),
                _ => vec![],
            },
        })
        .collect();

    let tables: HashMap<_, _> = [(target.id, target.clone())].into_iter().collect();
    let filters = filter(user_ids, target_ids);
    let mut checked = 0;
    let mut informative = 0;
    for case in 0..400 {
        let text = filters.new_tree(&mut runner).unwrap().current();
        let expr = rampart_rules::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let lookup = |id| tables.get(&id).cloned();
        let scope = rampart_rules::check::Scope {
            tables: &lookup,
            readable: None,
            attributes: &[],
            rule: false,
        };
        let pred = match rampart_rules::check(&expr, &main, &scope, "filter") {
            Ok(p) => p,
            Err(e) => panic!("generated filter does not type-check: {text}: {e:?}"),
        };
        for (u, user) in users.iter().enumerate() {
            let ctx = Context {
                user: UserContext {
                    id: *user,
                    email: format!("u{}@x.test", u + 1),
                    role: "member".into(),
                    groups: vec![],
                    attributes: Default::default(),
                },
            };
            let expected: BTreeSet<RecordId> = views
                .iter()
                .filter(|v| rampart_rules::eval(&pred, *v, &ctx))
                .map(|v| v.record.id)
                .collect();
            let compiled = rampart_rules::compile(&pred, &ctx, store.dialect()).unwrap();
            let table = main.clone();
            let got: BTreeSet<RecordId> = ts
                .read(move |tx: &mut Tx| {
                    Box::pin(async move {
                        let page = records::list(
                            tx,
                            &table,
                            ListQuery {
                                filter: Some(compiled),
                                flags: vec![],
                                branches: vec![],
                                sort: vec![],
                                id_descending: false,
                                after: None,
                                limit: 1000,
                            },
                        )
                        .await?;
                        Ok(page.records.into_iter().map(|r| r.id).collect())
                    })
                })
                .await
                .unwrap_or_else(|e| panic!("case {case}: {text}: {e}"));
            assert_eq!(
                got, expected,
                "case {case}, user {u}: SQL and evaluator disagree on {text}"
            );
            if !expected.is_empty() && expected.len() < all.len() {
                informative += 1;
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 400);
    // Most filters must split the records, or the comparison proves little.
    assert!(
        informative > 400,
        "only {informative} of 800 evaluations selected a proper subset"
    );
    store.destroy_postgres_instance().await.unwrap();
}
