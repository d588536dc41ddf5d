//! Transactions: a closure that refuses after writing leaves nothing behind, and in SQLite's
//! group commit one job's failure does not touch the jobs committed with it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_core::GlobalRole;
use rampart_store::identity::{self, NewUser};
use rampart_store::{StoreError, Tx};
use rampart_tests::{Backend, backend_tests, test_store};

backend_tests!(
    a_refusal_after_writing_rolls_back,
    failing_jobs_do_not_disturb_their_batch
);

#[derive(Debug, PartialEq)]
enum Refused {
    No,
    Store,
}

impl From<StoreError> for Refused {
    fn from(_: StoreError) -> Self {
        Self::Store
    }
}

fn user(email: String) -> NewUser {
    NewUser {
        email: email.clone(),
        display_name: email,
        role: GlobalRole::Member,
        password_hash: None,
    }
}

async fn a_refusal_after_writing_rolls_back(backend: Backend) {
    let (store, _dir) = test_store(&backend).await;
    let t = store.create_tenant("tx", "tx").await.unwrap();
    let ts = store.tenant_store(&t).await.unwrap();
    let r: Result<(), Refused> = ts
        .write_with(|tx: &mut Tx| {
            Box::pin(async move {
                identity::insert_user(tx, user("a@x.test".into())).await?;
                Err(Refused::No)
            })
        })
        .await;
    assert_eq!(r, Err(Refused::No));
    assert_eq!(
        ts.read(|tx: &mut Tx| Box::pin(identity::count_users(tx)))
            .await
            .unwrap(),
        0
    );
    store.destroy_postgres_instance().await.unwrap();
}

async fn failing_jobs_do_not_disturb_their_batch(backend: Backend) {
    let (store, _dir) = test_store(&backend).await;
    let t = store.create_tenant("tx", "tx").await.unwrap();
    let ts = store.tenant_store(&t).await.unwrap();
    let jobs = (0..64).map(|i| {
        let ts = ts.clone();
        tokio::spawn(async move {
            ts.write_with(move |tx: &mut Tx| {
                Box::pin(async move {
                    identity::insert_user(tx, user(format!("u{i}@x.test"))).await?;
                    if i % 2 == 1 { Err(Refused::No) } else { Ok(i) }
                })
            })
            .await
        })
    });
    let mut ok = 0;
    for j in jobs {
        if j.await.unwrap().is_ok() {
            ok += 1;
        }
    }
    assert_eq!(ok, 32);
    let users = ts
        .read(|tx: &mut Tx| Box::pin(identity::list_users(tx)))
        .await
        .unwrap();
    assert_eq!(users.len(), 32);
    assert!(users.iter().all(|u| {
        u.email[1..]
            .trim_end_matches("@x.test")
            .parse::<u32>()
            .unwrap()
            % 2
            == 0
    }));
    store.destroy_postgres_instance().await.unwrap();
}
