//! Export then import gives back the same values: generated records of every field type, in
//! every format (CSV, TSV, JSON, NDJSON, XLSX), on both backends, through the real server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use rampart_tests::{Backend, Client, TestServer, backend_tests};
use serde_json::{Map, Value, json};

backend_tests!(every_value_survives_an_export_and_an_import_in_every_format);

/// Cases per backend; each is a fresh pair of tables.
const CASES: usize = 6;
const FORMATS: [&str; 5] = ["csv", "tsv", "json", "ndjson", "xlsx"];
const STAGES: [&str; 3] = ["new", "won, lost", "'=odd"];
const TAGS: [&str; 4] = ["a", "b, c", "\"q\"", "@x"];

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// Text as people type it: commas, quotes, apostrophes, what a spreadsheet reads as a
/// formula, letters beyond ASCII, spaces at either end.
fn text() -> impl Strategy<Value = String> {
    "[ a-zA-Z0-9,;\"'=+@#&<é漢😀-]{1,14}"
}

/// A JSON value a JSON field holds (never a bare null: that is "no value").
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        text().prop_map(Value::from),
        Just(Value::Null),
    ];
    let nested = leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            proptest::collection::btree_map("[a-z]{1,4}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    nested.prop_filter("a value", |v| !v.is_null())
}

/// A subset of `0..n` in some order.
fn picks(n: usize) -> impl Strategy<Value = Vec<usize>> {
    Just((0..n).collect::<Vec<_>>())
        .prop_shuffle()
        .prop_flat_map(move |all| (0..=n).prop_map(move |k| all[..k].to_vec()))
}

/// One record's values by field name (absent: no value), `people` as indexes of the linked
/// records, `rep` as whether the owner is the rep.
fn record() -> impl Strategy<Value = Map<String, Value>> {
    let a = (
        proptest::option::of(text()),
        proptest::option::of("[a-z ,\"'=\n]{1,30}"),
        proptest::option::of(any::<i64>()),
        proptest::option::of(-1_000_000_000_000_i64..1_000_000_000_000),
        proptest::option::of(any::<bool>()),
        proptest::option::of(-25_000_i64..60_000),
        proptest::option::of(-2_000_000_000_000_000_i64..4_000_000_000_000_000),
    );
    let b = (
        proptest::option::of(0..STAGES.len()),
        picks(TAGS.len()),
        proptest::option::of("[a-z0-9]{1,8}@[a-z]{1,8}\\.test"),
        proptest::option::of("https://[a-z]{1,8}\\.test/[a-z0-9?=&]{0,10}"),
        proptest::option::of(json_value()),
        picks(2),
        any::<bool>(),
    );
    (a, b).prop_map(
        |((name, notes, n, price, ok, day, at), (stage, tags, mail, site, meta, people, rep))| {
            let mut m = Map::new();
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    m.insert(k.to_owned(), v);
                }
            };
            put("name", name.map(Value::from));
            put("notes", notes.map(Value::from));
            put("n", n.map(Value::from));
            put("price", price.map(|units| Value::from(decimal(units, 3))));
            put("ok", ok.map(Value::from));
            put(
                "day",
                day.map(|d| {
                    let day = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()
                        + chrono::Duration::days(d);
                    Value::from(day.format("%Y-%m-%d").to_string())
                }),
            );
            put(
                "at",
                at.map(|micros| {
                    let t = chrono::DateTime::from_timestamp_micros(micros).unwrap();
                    Value::from(t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
                }),
            );
            put("stage", stage.map(|i| Value::from(STAGES[i])));
            put(
                "tags",
                Some(Value::from(
                    tags.iter().map(|&i| TAGS[i]).collect::<Vec<_>>(),
                )),
            );
            put("mail", mail.map(Value::from));
            put("site", site.map(Value::from));
            put("meta", meta);
            put(
                "people",
                Some(Value::from(
                    people.iter().map(|&i| i as u64).collect::<Vec<_>>(),
                )),
            );
            put("rep", Some(Value::from(rep)));
            m
        },
    )
}

/// `units / 10^scale` as the API writes a decimal.
fn decimal(units: i64, scale: u32) -> String {
    let p = 10_i64.pow(scale);
    let sign = if units < 0 { "-" } else { "" };
    let (whole, frac) = (
        units.unsigned_abs() / p as u64,
        units.unsigned_abs() % p as u64,
    );
    format!("{sign}{whole}.{frac:0width$}", width = scale as usize)
}

async fn table(c: &Client, project: &str, name: &str, fields: &Value) -> String {
    let r = c
        .post(
            &format!("/api/v1/projects/{project}/tables"),
            json!({"name": name, "fields": fields}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    id(&r.body)
}

async fn records(c: &Client, table: &str) -> Vec<Value> {
    let r = c
        .get(&format!("/api/v1/tables/{table}/records?sort=k&limit=1000"))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body["records"].as_array().unwrap().clone()
}

async fn import(c: &Client, table: &str, format: &str, body: Vec<u8>) -> Value {
    let started = c
        .send(
            c.raw(
                reqwest::Method::POST,
                &format!("/api/v1/tables/{table}/imports?format={format}"),
            )
            .body(body),
        )
        .await;
    assert_eq!(started.status, 202, "{started:?}");
    let path = format!("/api/v1/imports/{}", id(&started.body));
    loop {
        let r = c.get(&path).await;
        if r.body["state"] != "running" {
            let rejects = c.get(&format!("{path}/rejects")).await;
            return json!({"job": r.body, "rejects": rejects.text});
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

async fn every_value_survives_an_export_and_an_import_in_every_format(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let owner_id = id(&owner.get("/api/v1/me").await.body);
    let p = id(&owner
        .post("/api/v1/projects", json!({"name": "Round trip"}))
        .await
        .body);
    let people_t = table(
        &owner,
        &p,
        "People",
        &json!([{"name": "name", "type": "text"}]),
    )
    .await;
    let mut people = Vec::new();
    for name in ["Ada", "Bob, Jr."] {
        let r = owner
            .post(
                &format!("/api/v1/tables/{people_t}/records"),
                json!({"fields": {"name": name}}),
            )
            .await;
        people.push(id(&r.body));
    }
    let fields = json!([
        {"name": "k", "type": "integer"},
        {"name": "name", "type": "text"},
        {"name": "notes", "type": "long_text"},
        {"name": "n", "type": "integer"},
        {"name": "price", "type": "decimal", "options": {"scale": 3}},
        {"name": "ok", "type": "boolean"},
        {"name": "day", "type": "date"},
        {"name": "at", "type": "datetime"},
        {"name": "stage", "type": "single_select", "options": {"choices": STAGES}},
        {"name": "tags", "type": "multi_select", "options": {"choices": TAGS}},
        {"name": "mail", "type": "email"},
        {"name": "site", "type": "url"},
        {"name": "meta", "type": "json"},
        {"name": "people", "type": "link", "options": {"table_id": people_t, "multiple": true}},
        {"name": "rep", "type": "user"},
    ]);
    let mut runner = TestRunner::new(Config::default());
    let batch = proptest::collection::vec(record(), 1..6);
    for case in 0..CASES {
        let generated = batch.new_tree(&mut runner).unwrap().current();
        let source = table(&owner, &p, &format!("Source {case}"), &fields).await;
        let create: Vec<Value> = generated
            .iter()
            .enumerate()
            .map(|(k, values)| {
                let mut values = values.clone();
                values.insert("k".into(), Value::from(k as u64));
                let linked: Vec<Value> = values["people"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| Value::from(people[i.as_u64().unwrap() as usize].clone()))
                    .collect();
                values.insert("people".into(), Value::from(linked));
                let rep = values["rep"].as_bool().unwrap();
                values.insert(
                    "rep".into(),
                    if rep {
                        Value::from(owner_id.clone())
                    } else {
                        Value::Null
                    },
                );
                json!({"fields": values})
            })
            .collect();
        let r = owner
            .post(
                &format!("/api/v1/tables/{source}/records/batch"),
                json!({"create": create}),
            )
            .await;
        assert_eq!(r.status, 200, "{r:?}");
        let original = records(&owner, &source).await;
        for format in FORMATS {
            let exported = owner
                .raw(
                    reqwest::Method::GET,
                    &format!("/api/v1/tables/{source}/export?format={format}&sort=k"),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(exported.status(), 200, "{format}");
            let file = exported.bytes().await.unwrap().to_vec();
            let target = table(&owner, &p, &format!("Target {case} {format}"), &fields).await;
            let outcome = import(&owner, &target, format, file.clone()).await;
            assert_eq!(
                outcome["job"]["state"],
                "done",
                "{format}: {outcome}\nthe file: {}\nthe records: {original:?}",
                String::from_utf8_lossy(&file)
            );
            let back = records(&owner, &target).await;
            assert_eq!(back.len(), original.len(), "{format}");
            for (b, o) in back.iter().zip(&original) {
                assert_eq!(
                    b["fields"],
                    o["fields"],
                    "{format}: the file: {}",
                    String::from_utf8_lossy(&file)
                );
            }
        }
    }
    server.stop().await;
}
