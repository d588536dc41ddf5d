//! Measures what the foundation promises on a large table: bulk insert throughput, and that a
//! keyset page deep in a table costs the same as the first page.
//!
//!     cargo run --release -p rampart-tests --example list_depth -- [rows]
//!
//! Prints a Markdown table per backend (PostgreSQL when reachable). Figures are medians of
//! repeated runs; compare ratios, not absolute times, on a shared machine.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use rampart_auth::Principal;
use rampart_auth::authz::cache::AccessCache;
use rampart_core::record::{InputMode, parse_input};
use rampart_core::{FieldKind, FieldType, GlobalRole, RecordId, TableDef, UserId};
use rampart_rules::sort::{SortKey, SortTarget};
use rampart_sql::{Ident, Param};
use rampart_store::identity::{self, NewUser};
use rampart_store::records::{self, After, ListQuery};
use rampart_store::schema::{self, NewField};
use rampart_store::{TenantStore, Tx, permission_sets, projects};
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
        protection: Default::default(),
    }
}

/// Readers of the reference workload, each owning an equal share of the notes.
const READERS: usize = 100;

async fn setup(ts: &TenantStore) -> (TableDef, UserId, Vec<UserId>) {
    ts.write(|tx: &mut Tx| {
        Box::pin(async move {
            let mut readers = Vec::new();
            for i in 0..READERS {
                let u = identity::insert_user(
                    tx,
                    NewUser {
                        email: format!("reader{i}@x.test"),
                        display_name: format!("reader {i}"),
                        role: GlobalRole::Member,
                        password_hash: None,
                    },
                )
                .await?;
                readers.push(u.id);
            }
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
            // The reference rule, held by every reader.
            let published = t.field_by_name("is_published").unwrap();
            let def = json!({"tables": { t.id.to_string(): {
                "read": true,
                "rules": {"read": format!("(owner = @user.id) || (`#{}` = true)", published.id)}
            }}});
            let set = permission_sets::create(tx, p.id, "Readers".into(), def).await?;
            for r in &readers {
                permission_sets::assign_user(tx, set.id, *r).await?;
            }
            schema::ensure_rule_index(tx, &t, published).await?;
            Ok((t, user.id, readers))
        })
    })
    .await
    .unwrap()
}

async fn seed(ts: &TenantStore, table: &TableDef, owners: &[UserId], rows: usize) -> Duration {
    let started = Instant::now();
    let mut done = 0;
    while done < rows {
        let n = BATCH.min(rows - done);
        let table = table.clone();
        let start = done;
        let user = owners[(done / BATCH) % owners.len()];
        ts.write(move |tx: &mut Tx| {
            Box::pin(async move {
                let batch: Vec<_> = (start..start + n)
                    .map(|i| {
                        let body = json!({"title": format!("note {i}"), "n": (i * 7919) % 1_000_003, "is_published": i % 100 == 0});
                        let values = parse_input(&table, body.as_object().unwrap(), InputMode::Create, "fields").unwrap();
                        (format!("create[{i}]"), values)
                    })
                    .collect();
                records::create_many(tx, &table, &batch, user, records::BulkAudit::PerRecord).await.map(|_| ())
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

/// Median time of a page as `reader` sees it (decisions cached as the server caches them),
/// and the plan: under the reference rule for a reader, without a rule for the owner.
async fn time_list_as(
    ts: &TenantStore,
    table: &TableDef,
    reader: UserId,
    after: Option<RecordId>,
) -> (Duration, Vec<String>) {
    let cache = std::sync::Arc::new(AccessCache::default());
    let user = ts
        .read(move |tx: &mut Tx| Box::pin(async move { identity::user_by_id(tx, reader).await }))
        .await
        .unwrap()
        .unwrap();
    let principal = Principal::for_simulation(user, false);
    let mut samples = Vec::with_capacity(RUNS);
    let mut plan = Vec::new();
    for run in 0..RUNS {
        let (table, principal, cache) = (table.clone(), principal.clone(), cache.clone());
        let started = Instant::now();
        let (n, p) = ts
            .read(move |tx: &mut Tx| {
                Box::pin(async move {
                    let (facts, access) = cache.get(tx, &principal, table.id).await?;
                    let access = access.unwrap();
                    let branches: Vec<_> = access
                        .read_branches()
                        .unwrap_or_default()
                        .iter()
                        .map(|p| rampart_rules::compile(p, &facts.ctx, tx.dialect()).unwrap())
                        .collect();
                    let visible = access.predicate_sql(
                        rampart_auth::authz::definition::Op::Read,
                        &facts,
                        tx.dialect(),
                    )?;
                    let filter = if branches.is_empty() { visible } else { None };
                    let query = |branches| ListQuery {
                        flags: vec![],
                        branches,
                        filter: filter.clone(),
                        sort: vec![],
                        id_descending: false,
                        after: after.map(|id| After { values: vec![], id }),
                        limit: PAGE,
                    };
                    let plan = if run == 0 {
                        records::plan(tx, &table, query(branches.clone())).await?
                    } else {
                        vec![]
                    };
                    let page = records::list(tx, &table, query(branches)).await?;
                    Ok((page.records.len(), plan))
                })
            })
            .await
            .unwrap();
        samples.push(started.elapsed());
        if run == 0 {
            plan = p;
        }
        assert_eq!(n, PAGE as usize);
    }
    samples.sort();
    (samples[samples.len() / 2], plan)
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
                            branches: vec![],
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
    let (table, user, readers) = setup(&ts).await;
    let one_writer = single_writes(&ts, &table, user, 1, 500).await;
    let many_writers = single_writes(&ts, &table, user, 64, 40).await;
    let seeding = seed(&ts, &table, &readers, rows).await;
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
    let reader = readers[READERS / 2];
    let (owner_first, _) = time_list_as(&ts, &table, user, None).await;
    let (rule_first, plan_first) = time_list_as(&ts, &table, reader, None).await;
    let (rule_deep, plan_deep) = time_list_as(&ts, &table, reader, Some(deep_id)).await;
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
    println!(
        "| page 1 with the reference rule, as a reader | {} µs |",
        rule_first.as_micros()
    );
    println!(
        "| page {DEEP_PAGE} (by cursor) with the reference rule | {} µs |",
        rule_deep.as_micros()
    );
    println!(
        "| page 1 without a rule (the owner), same path | {} µs |",
        owner_first.as_micros()
    );
    println!(
        "| **list throughput with the rule / without a rule (page 1)** | **{:.2}** |",
        owner_first.as_secs_f64() / rule_first.as_secs_f64()
    );
    println!(
        "\nPlan, reference rule, page 1:\n```\n{}\n```",
        plan_first.join("\n")
    );
    println!(
        "Plan, reference rule, deep cursor:\n```\n{}\n```",
        plan_deep.join("\n")
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
