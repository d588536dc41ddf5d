//! Measures what the foundation promises on a large table: bulk insert throughput, and that a
//! keyset page deep in a table costs the same as the first page.
//!
//!     cargo run --release -p rampart-tests --example list_depth -- [rows]
//!
//! Prints a Markdown table per backend (PostgreSQL when reachable). Figures are medians of
//! repeated runs; compare ratios, not absolute times, on a shared machine.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use rampart_core::record::{InputMode, parse_input};
use rampart_core::{FieldKind, FieldType, GlobalRole, RecordId, TableDef, UserId};
use rampart_rules::sort::{SortKey, SortTarget};
use rampart_sql::{Ident, Param};
use rampart_store::identity::{self, NewUser};
use rampart_store::records::{self, After, ListQuery};
use rampart_store::schema::{self, NewField};
use rampart_store::{TenantStore, Tx, projects};
use rampart_tests::{Backend, test_store};
use serde_json::json;

const PAGE: u32 = 50;
const DEEP_PAGE: u64 = 10_000;
const BATCH: usize = 5_000;
const RUNS: usize = 200;

fn field(name: &str, kind: FieldKind, indexed: bool) -> NewField {
    NewField {
        name: name.into(),
        field_type: FieldType::from_parts(kind, None).unwrap(),
        required: false,
        unique: false,
        indexed,
        default: None,
    }
}

async fn setup(ts: &TenantStore) -> (TableDef, UserId) {
    ts.write(|tx: &mut Tx| {
        Box::pin(async move {
            let user = identity::insert_user(
                tx,
                NewUser {
                    email: "bench@x.test".into(),
                    display_name: "bench".into(),
                    role: GlobalRole::Owner,
                    password_hash: None,
                },
            )
            .await?;
            let p = projects::create_project(tx, "bench".into(), user.id).await?;
            let t = schema::create_table(
                tx,
                p.id,
                "notes".into(),
                vec![
                    field("title", FieldKind::Text, false),
                    field("n", FieldKind::Integer, true),
                    field("is_published", FieldKind::Boolean, false),
                ],
            )
            .await?;
            Ok((t, user.id))
        })
    })
    .await
    .unwrap()
}

async fn seed(ts: &TenantStore, table: &TableDef, user: UserId, rows: usize) -> Duration {
    let started = Instant::now();
    let mut done = 0;
    while done < rows {
        let n = BATCH.min(rows - done);
        let table = table.clone();
        let start = done;
        ts.write(move |tx: &mut Tx| {
            Box::pin(async move {
                let batch = (start..start + n)
                    .map(|i| {
                        let body = json!({"title": format!("note {i}"), "n": (i * 7919) % 1_000_003, "is_published": i % 100 == 0});
                        let values = parse_input(&table, body.as_object().unwrap(), InputMode::Create, "fields").unwrap();
                        (format!("create[{i}]"), values)
                    })
                    .collect();
                records::create_many(tx, &table, batch, user).await.map(|_| ())
            })
        })
        .await
        .unwrap();
        done += n;
    }
    started.elapsed()
}

/// The id and `n` of the record after which page `page` (1-based) starts, in `order`.
async fn boundary(ts: &TenantStore, table: &TableDef, by_n: bool, page: u64) -> (RecordId, i64) {
    let storage = Ident::new(table.storage.clone()).unwrap();
    let n_col = Ident::new(table.field_by_name("n").unwrap().column.clone()).unwrap();
    ts.read(move |tx: &mut Tx| {
        Box::pin(async move {
            let mut q = tx.sql();
            q.push("SELECT id, ")
                .ident(&n_col)
                .push(" FROM ")
                .ident(&storage);
            if by_n {
                q.push(" ORDER BY ")
                    .ident(&n_col)
                    .push(" ASC NULLS LAST, id ASC");
            } else {
                q.push(" ORDER BY id");
            }
            q.push(" LIMIT 1 OFFSET ")
                .param(Param::I64(((page - 1) * u64::from(PAGE) - 1) as i64));
            let row = tx.fetch_one(q).await?;
            Ok((RecordId(row.uuid(0)?), row.i64(1)?))
        })
    })
    .await
    .unwrap()
}

async fn time_list(
    ts: &TenantStore,
    table: &TableDef,
    sort: Vec<SortKey>,
    after: Option<After>,
) -> Duration {
    let mut samples = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let (table, sort, after) = (table.clone(), sort.clone(), after.clone());
        let started = Instant::now();
        let n = ts
            .read(move |tx: &mut Tx| {
                Box::pin(async move {
                    let page = records::list(
                        tx,
                        &table,
                        ListQuery {
                            flags: vec![],
                            filter: None,
                            sort,
                            id_descending: false,
                            after,
                            limit: PAGE,
                        },
                    )
                    .await?;
                    Ok(page.records.len())
                })
            })
            .await
            .unwrap();
        samples.push(started.elapsed());
        assert_eq!(n, PAGE as usize);
    }
    samples.sort();
    samples[samples.len() / 2]
}

/// Single-record creates per second with `writers` concurrent writers, `per_writer` each.
async fn single_writes(
    ts: &TenantStore,
    table: &TableDef,
    user: UserId,
    writers: usize,
    per_writer: usize,
) -> f64 {
    let started = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (ts, table) = (ts.clone(), table.clone());
            tokio::spawn(async move {
                for i in 0..per_writer {
                    let table = table.clone();
                    ts.write(move |tx: &mut Tx| {
                        Box::pin(async move {
                            let body = json!({"title": format!("w{w} {i}"), "n": i});
                            let values = parse_input(
                                &table,
                                body.as_object().unwrap(),
                                InputMode::Create,
                                "fields",
                            )
                            .unwrap();
                            records::create(tx, &table, values, user, "fields")
                                .await
                                .map(|_| ())
                        })
                    })
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (writers * per_writer) as f64 / started.elapsed().as_secs_f64()
}

async fn measure(backend: Backend, rows: usize) {
    let name = match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres(_) => "PostgreSQL",
    };
    let (store, _dir) = test_store(&backend).await;
    let tenant = store.create_tenant("bench", "bench").await.unwrap();
    let ts = store.tenant_store(&tenant).await.unwrap();
    let (table, user) = setup(&ts).await;
    let one_writer = single_writes(&ts, &table, user, 1, 500).await;
    let many_writers = single_writes(&ts, &table, user, 64, 40).await;
    let seeding = seed(&ts, &table, user, rows).await;
    if let Backend::Postgres(_) = backend {
        let storage = Ident::new(table.storage.clone()).unwrap();
        ts.write(move |tx: &mut Tx| {
            Box::pin(async move {
                let mut q = tx.sql();
                q.push("ANALYZE ").ident(&storage);
                tx.execute(q).await.map(|_| ())
            })
        })
        .await
        .unwrap();
    }
    let by_n = vec![SortKey {
        target: SortTarget::Field(table.field_by_name("n").unwrap().clone()),
        descending: false,
    }];
    let (deep_id, _) = boundary(&ts, &table, false, DEEP_PAGE).await;
    let (deep_n_id, deep_n) = boundary(&ts, &table, true, DEEP_PAGE).await;
    let first_by_id = time_list(&ts, &table, vec![], None).await;
    let deep_by_id = time_list(
        &ts,
        &table,
        vec![],
        Some(After {
            values: vec![],
            id: deep_id,
        }),
    )
    .await;
    let first_by_n = time_list(&ts, &table, by_n.clone(), None).await;
    let deep_by_n = time_list(
        &ts,
        &table,
        by_n,
        Some(After {
            values: vec![rampart_core::Value::Integer(deep_n)],
            id: deep_n_id,
        }),
    )
    .await;
    let ratio = |a: Duration, b: Duration| b.as_secs_f64() / a.as_secs_f64();
    println!("\n### {name}, {rows} records\n");
    println!("| measure | value |\n|---|---|");
    println!(
        "| bulk insert ({BATCH} per transaction) | {:.0} records/s |",
        rows as f64 / seeding.as_secs_f64()
    );
    println!("| single-record creates, 1 writer | {one_writer:.0} records/s |");
    println!("| single-record creates, 64 concurrent writers | {many_writers:.0} records/s |");
    println!(
        "| **64 writers / 1 writer (group commit)** | **{:.1}** |",
        many_writers / one_writer
    );
    println!(
        "| page 1, by id (median of {RUNS}) | {:.0} µs |",
        first_by_id.as_micros()
    );
    println!(
        "| page {DEEP_PAGE}, by id | {:.0} µs |",
        deep_by_id.as_micros()
    );
    println!(
        "| **page {DEEP_PAGE} / page 1, by id** | **{:.2}** |",
        ratio(first_by_id, deep_by_id)
    );
    println!(
        "| page 1, sorted by indexed integer | {:.0} µs |",
        first_by_n.as_micros()
    );
    println!(
        "| page {DEEP_PAGE}, sorted by indexed integer | {:.0} µs |",
        deep_by_n.as_micros()
    );
    println!(
        "| **page {DEEP_PAGE} / page 1, by indexed integer** | **{:.2}** |",
        ratio(first_by_n, deep_by_n)
    );
    store.destroy_postgres_instance().await.unwrap();
}

#[tokio::main]
async fn main() {
    let rows: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |a| a.parse().expect("rows must be a number"));
    assert!(
        rows as u64 >= DEEP_PAGE * u64::from(PAGE),
        "need at least {} rows",
        DEEP_PAGE * u64::from(PAGE)
    );
    measure(Backend::Sqlite, rows).await;
    if let Some(pg) = Backend::postgres() {
        measure(pg, rows).await;
    }
}
