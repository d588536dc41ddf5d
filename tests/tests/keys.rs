//! Envelope encryption end to end: TOTP seeds are sealed at rest with the tenant's data key,
//! bound to their row; KEK rotation re-wraps without touching data; DEK rotation re-seals;
//! deleting a tenant destroys its keys, so an earlier copy of its data cannot be opened with
//! anything the instance still holds (crypto-shredding).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_crypto::keyring::{Kek, KekRing, Key, TenantKeys, sealed_version};
use rampart_sql::Param;
use rampart_store::{Store, TenantStore, Tx};
use rampart_tests::authenticator::Authenticator;
use rampart_tests::{Backend, Client, PASSWORD, TestServer, backend_tests};
use serde_json::json;

backend_tests!(
    totp_seeds_are_sealed_at_rest_and_bound_to_their_user,
    deleting_a_tenant_shreds_its_keys_so_old_copies_stay_sealed,
    a_kek_rotation_rewraps_every_data_key_and_the_old_kek_can_leave,
    a_dek_rotation_reseals_and_sign_in_keeps_working,
);

/// Enrols TOTP; returns the authenticator and the raw seed the app was given.
async fn enrol(client: &Client) -> (Authenticator, Vec<u8>) {
    let r = client
        .post("/api/v1/me/second-factors/totp", json!({}))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let seed = totp_rs::Secret::Encoded(r.body["secret"].as_str().unwrap().to_owned())
        .to_bytes()
        .unwrap();
    let mut app = Authenticator::from_uri(r.body["uri"].as_str().unwrap());
    let r = client
        .post(
            "/api/v1/me/second-factors/totp/confirm",
            json!({"code": app.next_code().await}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    (app, seed)
}

async fn stored_seeds(ts: &TenantStore) -> Vec<(uuid::Uuid, Vec<u8>)> {
    ts.read(|tx: &mut Tx| {
        Box::pin(async move {
            let mut q = tx.sql();
            q.push("SELECT user_id, seed FROM user_totp ORDER BY user_id");
            tx.fetch_all(q)
                .await?
                .iter()
                .map(|r| Ok((r.uuid(0)?, r.bytes(1)?)))
                .collect()
        })
    })
    .await
    .unwrap()
}

async fn sign_in_with_totp(anon: &Client, email: &str, app: &mut Authenticator) -> u16 {
    let r = anon
        .post(
            "/api/v1/auth/login",
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.body["status"], "second_factor_required", "{r:?}");
    anon.post(
        "/api/v1/auth/login/second-factor",
        json!({"challenge": r.body["challenge"], "code": app.next_code().await}),
    )
    .await
    .status
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn totp_seeds_are_sealed_at_rest_and_bound_to_their_user(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let member = server
        .user(&owner, "acme", "member@acme.test", "member")
        .await;
    let (mut owner_app, owner_seed) = enrol(&owner).await;
    enrol(&member).await;
    let (_, ts) = server.tenant("acme").await;
    let stored = stored_seeds(&ts).await;
    assert_eq!(stored.len(), 2);
    for (_, sealed) in &stored {
        assert_eq!(sealed_version(sealed), Some(1), "sealed with data key 1");
        assert!(
            !contains(sealed, &owner_seed),
            "the seed is not stored in the clear"
        );
    }

    // A sealed seed copied onto another user's row does not open there: sign-in fails
    // closed instead of accepting the other user's codes.
    let owner_id = owner.get("/api/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .parse::<uuid::Uuid>()
        .unwrap();
    let (member_id, member_sealed) = stored
        .iter()
        .find(|(u, _)| *u != owner_id)
        .cloned()
        .unwrap();
    let swapped = member_sealed.clone();
    ts.write(move |tx: &mut Tx| {
        Box::pin(async move {
            let mut q = tx.sql();
            q.push("UPDATE user_totp SET seed = ")
                .param(Param::Bytes(swapped))
                .push(" WHERE user_id = ")
                .param(Param::Uuid(owner_id));
            tx.execute(q).await
        })
    })
    .await
    .unwrap();
    let status = sign_in_with_totp(&server.client("acme"), "owner@acme.test", &mut owner_app).await;
    assert!(
        status >= 400,
        "a seed moved from user {member_id} must not open for the owner"
    );
    server.stop().await;
}

/// Every key the instance still holds, unwrapped with its KEKs.
async fn everything_the_instance_holds(store: &Store) -> Vec<Key> {
    let ring = store.keys().ring().unwrap();
    let mut keys = Vec::new();
    for row in store.keys().status().await.unwrap() {
        let tenant_keys = store.keys().reload(row.tenant).await.unwrap();
        keys.extend(tenant_keys.key(row.version).cloned());
    }
    assert!(!ring.ids().is_empty());
    keys
}

fn opens_with_any(keys: &[Key], user: uuid::Uuid, sealed: &[u8]) -> bool {
    let version = sealed_version(sealed).unwrap();
    keys.iter().any(|k| {
        let mut t = TenantKeys::new();
        t.insert(version, k.clone(), true);
        t.open(format!("totp-seed/{user}").as_bytes(), sealed)
            .is_ok()
    })
}

/// A backup of the tenant's data: on SQLite its database files, on PostgreSQL the rows.
async fn backup_of_seeds(server: &TestServer, slug: &str) -> Vec<(uuid::Uuid, Vec<u8>)> {
    let (tenant, ts) = server.tenant(slug).await;
    let rows = stored_seeds(&ts).await;
    if server.store.dialect() == rampart_sql::Dialect::Sqlite {
        // Copy the files as a file-level backup would, then read the copy.
        let dir = tempfile::tempdir().unwrap();
        let source = server
            .config
            .data_dir
            .join("tenants")
            .join(format!("{}.db", tenant.storage));
        for suffix in ["", "-wal", "-shm"] {
            let from = format!("{}{suffix}", source.display());
            if std::path::Path::new(&from).exists() {
                std::fs::copy(&from, dir.path().join(format!("copy.db{suffix}"))).unwrap();
            }
        }
        let c = rusqlite::Connection::open_with_flags(
            dir.path().join("copy.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let mut stmt = c
            .prepare("SELECT user_id, seed FROM user_totp ORDER BY user_id")
            .unwrap();
        let copied: Vec<(String, Vec<u8>)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let copied: Vec<(uuid::Uuid, Vec<u8>)> = copied
            .into_iter()
            .map(|(u, s)| (u.parse().unwrap(), s))
            .collect();
        assert_eq!(copied, rows, "the file copy holds the same sealed rows");
        return copied;
    }
    rows
}

async fn deleting_a_tenant_shreds_its_keys_so_old_copies_stay_sealed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    enrol(&owner).await;
    let other = server.owner("default").await;
    enrol(&other).await;
    let backup = backup_of_seeds(&server, "acme").await;
    assert_eq!(backup.len(), 1);
    let (user, sealed) = backup[0].clone();

    // Control: while the tenant lives, the instance can open its backup.
    let before = everything_the_instance_holds(&server.store).await;
    assert!(
        opens_with_any(&before, user, &sealed),
        "the control must open"
    );

    let (acme, _) = server.tenant("acme").await;
    server.store.delete_tenant("acme").await.unwrap();
    let rows = server.store.keys().status().await.unwrap();
    assert!(
        rows.iter().all(|r| r.tenant != acme.id),
        "the deleted tenant's keys are gone"
    );
    assert!(!rows.is_empty(), "other tenants keep theirs");
    let after = everything_the_instance_holds(&server.store).await;
    assert!(
        !opens_with_any(&after, user, &sealed),
        "no key the instance still holds opens the deleted tenant's old copy"
    );
    // Asking for the deleted tenant's keys does not resurrect the old ones either: a new,
    // unrelated key would be created for a new tenant with that id, and it does not open.
    let fresh = server.store.keys().reload(acme.id).await.unwrap();
    let fresh_key = fresh.key(1).cloned().unwrap();
    assert!(!opens_with_any(&[fresh_key], user, &sealed));
    server.store.keys().destroy(acme.id).await.unwrap();
    server.stop().await;
}

async fn a_kek_rotation_rewraps_every_data_key_and_the_old_kek_can_leave(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let (mut app, _) = enrol(&owner).await;
    let old_ring = server.store.keys().ring().unwrap();
    let old = old_ring.current().clone();
    let new = Kek::new(Key::generate());

    // The operator puts the new KEK first and keeps the old one after it.
    server
        .store
        .keys()
        .set_ring(KekRing::from_keks(vec![new.clone(), old.clone()]).unwrap());
    let cursor_key = server.store.instance_secret("cursor_hmac").await.unwrap();
    let done = server.store.keys().rotate_kek().await.unwrap();
    assert_eq!(done.rewrapped, 2, "both tenants' keys were re-wrapped");
    assert_eq!(done.secrets, 2, "the cursor and decoy keys were re-wrapped");
    let again = server.store.keys().rotate_kek().await.unwrap();
    assert_eq!(
        (again.rewrapped, again.already_current),
        (0, 2),
        "idempotent"
    );
    assert!(
        server
            .store
            .keys()
            .status()
            .await
            .unwrap()
            .iter()
            .all(|r| r.kek_id == new.id)
    );

    // The old KEK leaves the source: every key still unwraps, and data still opens.
    server
        .store
        .keys()
        .set_ring(KekRing::from_keks(vec![new.clone()]).unwrap());
    let (acme, _) = server.tenant("acme").await;
    server.store.keys().reload(acme.id).await.unwrap();
    assert_eq!(
        server.store.instance_secret("cursor_hmac").await.unwrap(),
        cursor_key,
        "the instance secrets open under the new KEK alone, unchanged"
    );
    assert_eq!(
        sign_in_with_totp(&server.client("acme"), "owner@acme.test", &mut app).await,
        200
    );

    // Only the old KEK: the keys no longer unwrap, with an error naming the missing KEK.
    server
        .store
        .keys()
        .set_ring(KekRing::from_keks(vec![old.clone()]).unwrap());
    let err = server.store.keys().reload(acme.id).await.unwrap_err();
    assert!(err.to_string().contains(&new.id.0), "{err}");
    // The instance secrets are stored wrapped too: without their KEK they do not open.
    let err = server
        .store
        .instance_secret("cursor_hmac")
        .await
        .unwrap_err();
    assert!(err.to_string().contains(&new.id.0), "{err}");
    server
        .store
        .keys()
        .set_ring(KekRing::from_keks(vec![new]).unwrap());
    server.stop().await;
}

async fn a_dek_rotation_reseals_and_sign_in_keeps_working(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let (mut app, _) = enrol(&owner).await;
    let (acme, ts) = server.tenant("acme").await;
    let version = server.store.keys().rotate_dek(acme.id).await.unwrap();
    assert_eq!(version, 2);
    // Until re-sealed, the old value opens with the retired key.
    assert_eq!(sealed_version(&stored_seeds(&ts).await[0].1), Some(1));
    assert_eq!(
        sign_in_with_totp(&server.client("acme"), "owner@acme.test", &mut app).await,
        200
    );
    let resealed = rampart_auth::authn::second_factor::seal_unsealed_seeds(&ts)
        .await
        .unwrap();
    assert_eq!(resealed, 1);
    assert_eq!(sealed_version(&stored_seeds(&ts).await[0].1), Some(2));
    assert_eq!(
        rampart_auth::authn::second_factor::seal_unsealed_seeds(&ts)
            .await
            .unwrap(),
        0,
        "resumable: nothing left to do"
    );
    let rows = server.store.keys().status().await.unwrap();
    let acme_rows: Vec<_> = rows.iter().filter(|r| r.tenant == acme.id).collect();
    assert_eq!(acme_rows.len(), 2, "the retired key is kept for backups");
    assert!(
        acme_rows
            .iter()
            .any(|r| r.version == 1 && !r.active && r.retired_at.is_some())
    );
    assert!(acme_rows.iter().any(|r| r.version == 2 && r.active));
    assert_eq!(
        sign_in_with_totp(&server.client("acme"), "owner@acme.test", &mut app).await,
        200
    );
    server.stop().await;
}
