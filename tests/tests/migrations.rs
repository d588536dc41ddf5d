//! Migrations: several nodes may start together; a database newer than the build, or an
//! edited migration, is refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_store::{Store, StoreConfig, StoreError};
use rampart_tests::{Backend, backend_tests, unique_prefix};
use sqlx::{AssertSqlSafe, Connection};

backend_tests!(
    nodes_starting_together_migrate_once,
    a_newer_or_edited_schema_is_refused,
    an_instance_secret_stored_in_the_clear_is_wrapped_on_first_use
);

fn config(backend: &Backend, dir: &std::path::Path, prefix: &str) -> StoreConfig {
    match backend {
        Backend::Sqlite => StoreConfig::Sqlite {
            data_dir: dir.to_path_buf(),
            readers: 2,
        },
        Backend::Postgres(url) => StoreConfig::Postgres {
            url: url.clone(),
            prefix: prefix.to_owned(),
            max_connections: 4,
        },
    }
}

/// Runs a statement on the instance schema behind the store's back.
async fn tamper(backend: &Backend, dir: &std::path::Path, prefix: &str, sql: &str) {
    match backend {
        Backend::Sqlite => {
            let c = rusqlite::Connection::open(dir.join("instance.db")).unwrap();
            c.execute_batch(sql).unwrap();
        }
        Backend::Postgres(url) => {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            let sql = format!("SET search_path TO \"{prefix}instance\"; {sql}");
            sqlx::raw_sql(AssertSqlSafe(sql))
                .execute(&mut c)
                .await
                .unwrap();
        }
    }
}

async fn nodes_starting_together_migrate_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique_prefix();
    let cfg = config(&backend, dir.path(), &prefix);
    let opens = (0..4).map(|_| {
        let cfg = cfg.clone();
        tokio::spawn(async move { Store::open(&cfg).await })
    });
    let stores: Vec<Store> = join_all(opens).await;
    // Nodes of one instance share its key-encryption key.
    let ring = rampart_tests::test_kek_ring();
    for s in &stores {
        s.keys().set_ring(ring.clone());
    }
    stores[0].create_tenant("t1", "T1").await.unwrap();
    for s in &stores {
        s.migrate_tenants().await.unwrap();
        assert_eq!(s.list_tenants().await.unwrap().len(), 1);
    }
    for s in stores.into_iter().skip(1) {
        s.close().await;
    }
    let last = Store::open(&cfg).await.unwrap();
    last.destroy_postgres_instance().await.unwrap();
}

async fn join_all(
    handles: impl Iterator<Item = tokio::task::JoinHandle<Result<Store, StoreError>>>,
) -> Vec<Store> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap().unwrap());
    }
    out
}

async fn a_newer_or_edited_schema_is_refused(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique_prefix();
    let cfg = config(&backend, dir.path(), &prefix);
    Store::open(&cfg).await.unwrap().close().await;

    tamper(
        &backend,
        dir.path(),
        &prefix,
        "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1",
    )
    .await;
    match Store::open(&cfg).await {
        Err(StoreError::MigrationChanged { version: 1 }) => {}
        other => panic!("an edited migration was accepted: {other:?}"),
    }

    let newer = match backend {
        Backend::Sqlite => {
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (999, 'future', 'x', 0)"
        }
        Backend::Postgres(_) => {
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (999, 'future', 'x', now())"
        }
    };
    tamper(
        &backend,
        dir.path(),
        &prefix,
        "DELETE FROM schema_migrations WHERE version = 1",
    )
    .await;
    tamper(&backend, dir.path(), &prefix, newer).await;
    match Store::open(&cfg).await {
        Err(StoreError::SchemaTooNew { found: 999, .. }) => {}
        other => panic!("a newer schema was accepted: {other:?}"),
    }
    if let Backend::Postgres(url) = &backend {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        let sql = format!("DROP SCHEMA \"{prefix}instance\" CASCADE");
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut c)
            .await
            .unwrap();
    }
}

/// Versions before the KEK wrapped instance secrets stored them in the clear: such a value is
/// kept (cursors already handed out stay valid) and wrapped the first time it is read.
async fn an_instance_secret_stored_in_the_clear_is_wrapped_on_first_use(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique_prefix();
    let cfg = config(&backend, dir.path(), &prefix);
    let store = Store::open(&cfg).await.unwrap();
    store.keys().set_ring(rampart_tests::test_kek_ring());
    let plain = [7u8; 32];
    let literal = match backend {
        Backend::Sqlite => format!("X'{}'", "07".repeat(32)),
        Backend::Postgres(_) => format!("'\\x{}'::bytea", "07".repeat(32)),
    };
    tamper(
        &backend,
        dir.path(),
        &prefix,
        &format!("INSERT INTO instance_secrets (name, value) VALUES ('cursor_hmac', {literal})"),
    )
    .await;
    assert_eq!(store.instance_secret("cursor_hmac").await.unwrap(), plain);
    // Now wrapped: the same value under the same KEK, and nothing without it.
    assert_eq!(store.instance_secret("cursor_hmac").await.unwrap(), plain);
    let other =
        rampart_crypto::keyring::KekRing::from_keks(vec![rampart_crypto::keyring::Kek::new(
            rampart_crypto::keyring::Key::generate(),
        )])
        .unwrap();
    store.keys().set_ring(other);
    assert!(store.instance_secret("cursor_hmac").await.is_err());
    // A secret made now is never in the clear either.
    assert!(store.instance_secret("passkey_decoy").await.is_ok());
    store.keys().set_ring(rampart_tests::test_kek_ring());
    assert!(store.instance_secret("passkey_decoy").await.is_err());
    store.destroy_postgres_instance().await.unwrap();
}
