//! Tenant isolation is physical: each tenant's data lives in its own database file (SQLite)
//! or its own schema owned by its own role (PostgreSQL), and a tenant's transactions cannot
//! reach another tenant's data even with hand-written SQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_core::GlobalRole;
use rampart_sql::Ident;
use rampart_store::identity::{self, NewUser};
use rampart_store::{StoreError, Tx};
use rampart_tests::{Backend, backend_tests, test_store};

backend_tests!(
    tenants_see_only_their_own_rows,
    a_tenant_role_cannot_read_another_schema
);

fn user(email: &str) -> NewUser {
    NewUser {
        email: email.into(),
        display_name: email.into(),
        role: GlobalRole::Member,
        password_hash: None,
    }
}

async fn tenants_see_only_their_own_rows(backend: Backend) {
    let (store, _dir) = test_store(&backend).await;
    let a = store.create_tenant("alpha", "Alpha").await.unwrap();
    let b = store.create_tenant("beta", "Beta").await.unwrap();
    let ta = store.tenant_store(&a).await.unwrap();
    let tb = store.tenant_store(&b).await.unwrap();
    ta.write(|tx: &mut Tx| Box::pin(identity::insert_user(tx, user("a@x.test"))))
        .await
        .unwrap();
    for e in ["b1@x.test", "b2@x.test"] {
        let e = e.to_owned();
        tb.write(move |tx: &mut Tx| {
            Box::pin(async move { identity::insert_user(tx, user(&e)).await })
        })
        .await
        .unwrap();
    }
    let count = |ts: rampart_store::TenantStore| async move {
        ts.read(|tx: &mut Tx| Box::pin(identity::count_users(tx)))
            .await
            .unwrap()
    };
    assert_eq!(count(ta.clone()).await, 1);
    assert_eq!(count(tb.clone()).await, 2);
    // The same email may exist in two tenants: they are different accounts.
    ta.write(|tx: &mut Tx| Box::pin(identity::insert_user(tx, user("b1@x.test"))))
        .await
        .unwrap();
    store.destroy_postgres_instance().await.unwrap();
}

async fn a_tenant_role_cannot_read_another_schema(backend: Backend) {
    let Backend::Postgres(_) = backend else {
        // On SQLite each tenant is a separate file: there is no other tenant to name in SQL.
        return;
    };
    let (store, _dir) = test_store(&backend).await;
    let a = store.create_tenant("alpha", "Alpha").await.unwrap();
    let b = store.create_tenant("beta", "Beta").await.unwrap();
    let ta = store.tenant_store(&a).await.unwrap();
    let other = Ident::new(b.storage.clone()).unwrap();
    // Tenant storage is named `<prefix>t<n>`; the instance schema is `<prefix>instance`.
    let prefix = b.storage.rsplit_once('t').unwrap().0.to_owned();
    let instance = Ident::new(format!("{prefix}instance")).unwrap();
    let attempt = ta
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let mut q = tx.sql();
                q.push("SELECT COUNT(*) FROM ").ident(&other).push(".users");
                tx.fetch_one(q).await.map(|_| ())
            })
        })
        .await;
    match attempt {
        Err(StoreError::Database(e)) => assert!(e.to_string().contains("permission denied"), "{e}"),
        other => panic!("tenant alpha read tenant beta's users: {other:?}"),
    }
    {
        let attempt = ta
            .read(move |tx: &mut Tx| {
                Box::pin(async move {
                    let mut q = tx.sql();
                    q.push("SELECT COUNT(*) FROM ")
                        .ident(&instance)
                        .push(".tenants");
                    tx.fetch_one(q).await.map(|_| ())
                })
            })
            .await;
        match attempt {
            Err(StoreError::Database(e)) => {
                assert!(e.to_string().contains("permission denied"), "{e}")
            }
            other => panic!("a tenant role read the instance's tenant list: {other:?}"),
        }
    }
    // The role is dropped at the end of each transaction: the next one is back to normal.
    let n = ta
        .read(|tx: &mut Tx| Box::pin(identity::count_users(tx)))
        .await
        .unwrap();
    assert_eq!(n, 0);
    store.destroy_postgres_instance().await.unwrap();
}
