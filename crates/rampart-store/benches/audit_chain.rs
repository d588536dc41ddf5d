//! What the audit chain costs a record create, below HTTP: one store write transaction that
//! creates a 3-field record (the load run's record) on SQLite, with the chain on and, in a
//! second store of the same run, with it switched off by the benchmark-only switch. The ratio
//! of the two is the chain's cost to the single writer; `scripts/bench-audit` measures the same
//! over HTTP with concurrent clients.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rampart_core::field::{FieldType, IntegerOptions, TextOptions};
use rampart_core::roles::GlobalRole;
use rampart_core::schema::Protection;
use rampart_core::value::Value;
use rampart_core::{TableDef, UserId};
use rampart_crypto::keyring::{Kek, KekRing, Key};
use rampart_store::identity::{self, NewUser};
use rampart_store::schema::{self, NewField};
use rampart_store::{Store, StoreConfig, TenantStore, Tx, projects, records};

struct Setup {
    ts: TenantStore,
    table: TableDef,
    user: UserId,
    _dir: tempfile::TempDir,
}

fn field(name: &str, field_type: FieldType) -> NewField {
    NewField {
        name: name.to_owned(),
        field_type,
        required: false,
        unique: false,
        indexed: false,
        default: None,
        protection: Protection::default(),
    }
}

async fn setup(audit: bool) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&StoreConfig::Sqlite {
        data_dir: dir.path().to_path_buf(),
        readers: 2,
    })
    .await
    .unwrap();
    store
        .keys()
        .set_ring(KekRing::from_keks(vec![Kek::new(Key::generate())]).unwrap());
    if !audit {
        store.disable_audit_for_benchmarks();
    }
    let tenant = store.create_tenant("bench", "Bench").await.unwrap();
    let ts = store.tenant_store(&tenant).await.unwrap();
    let (table, user) = ts
        .write(|tx: &mut Tx| {
            Box::pin(async move {
                let user = identity::insert_user(
                    tx,
                    NewUser {
                        email: "bench@example.com".into(),
                        display_name: "Bench".into(),
                        role: GlobalRole::Owner,
                        password_hash: None,
                    },
                )
                .await?;
                let project = projects::create_project(tx, "bench".into(), user.id).await?;
                let table = schema::create_table(
                    tx,
                    project.id,
                    "notes".into(),
                    vec![
                        field("title", FieldType::Text(TextOptions::default())),
                        field("body", FieldType::LongText),
                        field("n", FieldType::Integer(IntegerOptions::default())),
                    ],
                )
                .await?;
                Ok((table, user.id))
            })
        })
        .await
        .unwrap();
    Setup {
        ts,
        table,
        user,
        _dir: dir,
    }
}

fn values(table: &TableDef) -> BTreeMap<rampart_core::FieldId, Value> {
    let f = |name: &str| table.fields.iter().find(|f| f.name == name).unwrap().id;
    BTreeMap::from([
        (
            f("title"),
            Value::Text("A note about the quarterly plan".into()),
        ),
        (
            f("body"),
            Value::Text(
                "Some longer text that a person would write into a note, about two hundred \
                 bytes of it, to make the record look like a real one in a real table."
                    .into(),
            ),
        ),
        (f("n"), Value::Integer(42)),
    ])
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("record_create");
    g.throughput(Throughput::Elements(1))
        .sample_size(30)
        .measurement_time(Duration::from_secs(5));
    for (name, audit) in [("audit_off_baseline", false), ("audit_on", true)] {
        let s = rt.block_on(setup(audit));
        let values = values(&s.table);
        g.bench_function(name, |b| {
            b.iter(|| {
                let (table, values, user) = (s.table.clone(), values.clone(), s.user);
                rt.block_on(s.ts.write(move |tx: &mut Tx| {
                    Box::pin(
                        async move { records::create(tx, &table, values, user, "fields").await },
                    )
                }))
                .unwrap()
            });
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
