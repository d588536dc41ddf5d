//! The reference rule `owner = @user.id || is_published = true` lists by index range scans:
//! one per disjunct for the ids of its first page, the ids merged without copies, then only
//! the page's rows read by primary key; at the first page and at a deep cursor. No full scan
//! of the table, on SQLite (`EXPLAIN QUERY PLAN`) and PostgreSQL (`EXPLAIN`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_auth::Principal;
use rampart_auth::authz::access::{table_access, user_facts};
use rampart_auth::authz::definition::Op;
use rampart_core::record::{InputMode, parse_input};
use rampart_core::{FieldKind, FieldType, GlobalRole, RecordId, TableDef, UserId};
use rampart_sql::{Ident, Param};
use rampart_store::identity::{self, NewUser};
use rampart_store::records::{self, After, ListQuery};
use rampart_store::schema::{self, NewField};
use rampart_store::{Tx, permission_sets, projects};
use rampart_tests::{Backend, backend_tests, test_store};
use serde_json::json;

backend_tests!(the_reference_rule_lists_by_index_range_scans);

const USERS: usize = 20;
const ROWS: usize = 20_000;

async fn the_reference_rule_lists_by_index_range_scans(backend: Backend) {
    let (store, _dir) = test_store(&backend).await;
    let tenant = store.create_tenant("plans", "plans").await.unwrap();
    let ts = store.tenant_store(&tenant).await.unwrap();
    let (table, users) = ts
        .write(|tx: &mut Tx| {
            Box::pin(async move {
                let mut users = Vec::new();
                for i in 0..USERS {
                    let u = identity::insert_user(
                        tx,
                        NewUser {
                            email: format!("u{i}@x.test"),
                            display_name: format!("u{i}"),
                            role: GlobalRole::Member,
                            password_hash: None,
                        },
                    )
                    .await?;
                    users.push(u);
                }
                let p = projects::create_project(tx, "bench".into(), users[0].id).await?;
                let field = |name: &str, kind| NewField {
                    name: name.into(),
                    field_type: FieldType::from_parts(kind, None).unwrap(),
                    required: false,
                    unique: false,
                    indexed: false,
                    default: None,
                    protection: Default::default(),
                };
                let t = schema::create_table(
                    tx,
                    p.id,
                    "notes".into(),
                    vec![
                        field("title", FieldKind::Text),
                        field("is_published", FieldKind::Boolean),
                    ],
                )
                .await?;
                let published = t.field_by_name("is_published").unwrap().id;
                let def = json!({"tables": { t.id.to_string(): {
                    "read": true,
                    "rules": {"read": format!("(owner = @user.id) || (`#{published}` = true)")}
                }}});
                let set = permission_sets::create(tx, p.id, "Readers".into(), def).await?;
                for u in &users {
                    permission_sets::assign_user(tx, set.id, u.id).await?;
                }
                schema::ensure_rule_index(tx, &t, t.field(published).unwrap()).await?;
                Ok((t, users))
            })
        })
        .await
        .unwrap();
    // Owners spread evenly, about 1% published.
    for chunk in 0..(ROWS / 2000) {
        let t = table.clone();
        let actor = users[chunk % USERS].id;
        ts.write(move |tx: &mut Tx| {
            Box::pin(async move {
                let rows: Vec<_> = (0..2000)
                    .map(|i| {
                        let n = chunk * 2000 + i;
                        let body = json!({"title": format!("n{n}"), "is_published": n % 100 == 0});
                        (
                            format!("create[{n}]"),
                            parse_input(&t, body.as_object().unwrap(), InputMode::Create, "fields")
                                .unwrap(),
                        )
                    })
                    .collect();
                records::create_many(tx, &t, &rows, actor, records::BulkAudit::PerRecord)
                    .await
                    .map(|_| ())
            })
        })
        .await
        .unwrap();
    }
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

    let deep: RecordId = {
        let storage = Ident::new(table.storage.clone()).unwrap();
        ts.read(move |tx: &mut Tx| {
            Box::pin(async move {
                let mut q = tx.sql();
                q.push("SELECT id FROM ")
                    .ident(&storage)
                    .push(" ORDER BY id LIMIT 1 OFFSET ")
                    .param(Param::I64((ROWS / 2) as i64));
                Ok(RecordId(tx.fetch_one(q).await?.uuid(0)?))
            })
        })
        .await
        .unwrap()
    };
    // users[1]'s first page ends inside its own records, published ones among them: it has
    // records both branches return, each of which must come once.
    for (user, after) in [
        (&users[1], None),
        (&users[3], None),
        (&users[3], Some(deep)),
    ] {
        let (t, u) = (table.clone(), user.clone());
        let (plan, visible, expected) = ts
            .read(move |tx: &mut Tx| {
                Box::pin(async move {
                    let principal = Principal::for_simulation(u, false);
                    let facts = user_facts(tx, &principal).await?;
                    let access = table_access(tx, &facts, t.id).await?.unwrap();
                    let branches = access
                        .read_branches()
                        .expect("the reference rule splits into branches")
                        .iter()
                        .map(|p| rampart_rules::compile(p, &facts.ctx, tx.dialect()).unwrap())
                        .collect::<Vec<_>>();
                    assert_eq!(branches.len(), 2);
                    let query = |branches, filter| ListQuery {
                        filter,
                        flags: vec![],
                        branches,
                        sort: vec![],
                        id_descending: false,
                        after: after.map(|id| After { values: vec![], id }),
                        limit: 50,
                    };
                    let plan = records::plan(tx, &t, query(branches.clone(), None)).await?;
                    let page = records::list(tx, &t, query(branches, None)).await?;
                    // The same page from one scan filtering the whole rule.
                    let whole = access.predicate_sql(Op::Read, &facts, tx.dialect())?;
                    let reference = records::list(tx, &t, query(vec![], whole)).await?;
                    Ok((plan, page.records, reference.records))
                })
            })
            .await
            .unwrap();
        let text = plan.join("\n");
        match backend {
            Backend::Sqlite => {
                assert!(
                    !plan.iter().any(|l| l.starts_with("SCAN t")),
                    "a full scan:\n{text}"
                );
                let (rows, searches): (Vec<&String>, Vec<&String>) = plan
                    .iter()
                    .filter(|l| l.starts_with("SEARCH t USING"))
                    .partition(|l| l.contains("sqlite_autoindex"));
                assert_eq!(searches.len(), 2, "one index search per branch:\n{text}");
                assert!(
                    searches.iter().all(|l| l.contains("COVERING INDEX")),
                    "a branch reads only its index:\n{text}"
                );
                assert_eq!(rows.len(), 1, "the page's rows by primary key:\n{text}");
                if after.is_some() {
                    assert!(
                        searches.iter().all(|l| l.contains("id>?")),
                        "the cursor bounds each range:\n{text}"
                    );
                }
                // The only sorting is of the ids the branches returned (at most 2 x 51),
                // never of what a branch selects: each temporary B-tree sorts a co-routine's
                // output.
                for (i, l) in plan.iter().enumerate() {
                    if l.contains("TEMP B-TREE") {
                        assert_eq!(plan[i - 1], "SCAN b", "a sort inside a branch:\n{text}");
                    }
                }
            }
            Backend::Postgres(_) => {
                assert!(!text.contains("Seq Scan"), "a full scan:\n{text}");
                assert!(
                    text.matches("Index").count() >= 2,
                    "one index scan per branch:\n{text}"
                );
            }
        }
        // And the page is right: the user's own and the published, in id order.
        assert_eq!(visible.len(), 50);
        let published = table.field_by_name("is_published").unwrap().id;
        for r in &visible {
            let mine = r.owner == Some(UserId(user.id.0));
            let public = r.value(published) == &rampart_core::Value::Boolean(true);
            assert!(mine || public);
            if let Some(d) = after {
                assert!(r.id > d);
            }
        }
        assert!(visible.windows(2).all(|w| w[0].id < w[1].id));
        let ids = |rs: &[rampart_core::Record]| rs.iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(&visible), ids(&expected));
    }
    let _: &TableDef = &table;
    store.destroy_postgres_instance().await.unwrap();
}
