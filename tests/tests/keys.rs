//! Envelope encryption end to end: TOTP seeds are sealed at rest with the tenant's data key,
//! bound to their row; KEK rotation re-wraps without touching data; DEK rotation re-seals;
//! deleting a tenant destroys its keys, so an earlier copy of its data cannot be opened with
//! anything the instance still holds (crypto-shredding).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_crypto::keyring::{AUDIT_VERSIONS, Kek, KekRing, Key, TenantKeys, sealed_version};
use rampart_sql::Param;
use rampart_store::keys::KeyState;
use rampart_store::keys::purge::TenantPurge;
use rampart_store::{Store, TenantStore, Tx};
use rampart_tests::authenticator::Authenticator;
use rampart_tests::{Backend, Client, PASSWORD, TestServer, backend_tests};
use serde_json::json;

backend_tests!(
    totp_seeds_are_sealed_at_rest_and_bound_to_their_user,
    deleting_a_tenant_shreds_its_keys_so_old_copies_stay_sealed,
    a_kek_rotation_rewraps_every_data_key_and_the_old_kek_can_leave,
    a_dek_rotation_reseals_and_sign_in_keeps_working,
    an_interrupted_rotation_is_finished_by_the_servers,
    retired_keys_are_destroyed_only_past_retention_and_once_nothing_needs_them,
    every_binary_column_is_known_to_the_key_scan,
    a_chain_that_sealed_with_a_data_key_keeps_that_key,
    a_tenant_that_cannot_be_scanned_keeps_its_keys_and_stops_no_other,
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
    assert_eq!(
        done.rewrapped, 4,
        "both tenants' data and audit keys were re-wrapped"
    );
    assert_eq!(done.secrets, 2, "the cursor and decoy keys were re-wrapped");
    let again = server.store.keys().rotate_kek().await.unwrap();
    assert_eq!(
        (again.rewrapped, again.already_current),
        (0, 4),
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
    let states: Vec<_> = acme_rows.iter().map(|r| (r.version, r.state)).collect();
    assert_eq!(
        states,
        [
            (1, KeyState::Retired),
            (2, KeyState::Active),
            (AUDIT_VERSIONS + 1, KeyState::Audit),
            (AUDIT_VERSIONS + 2, KeyState::Audit),
        ],
        "the retired key is kept for backups; the rotation added an audit key too"
    );
    assert!(acme_rows[0].retired_at.is_some());
    assert_eq!(
        sign_in_with_totp(&server.client("acme"), "owner@acme.test", &mut app).await,
        200
    );
    server.stop().await;
}

/// `rotate-dek` stopped before its re-seal (a crash): the servers' housekeeping finishes it,
/// but only once the rotation is old enough that its own command is not still running.
async fn an_interrupted_rotation_is_finished_by_the_servers(backend: Backend) {
    use rampart_app::keys::rotation::{SettledRotations, finish_interrupted};
    use std::time::Duration;
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let (mut app, _) = enrol(&owner).await;
    let r = owner
        .post(
            "/api/v1/identity-providers",
            json!({"name": "SSO", "issuer": "https://sso.acme.test",
                   "client_id": "rampart", "client_secret": "s3cret"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let (acme, ts) = server.tenant("acme").await;
    let version = server.store.keys().rotate_dek(acme.id).await.unwrap();

    let grace = Duration::from_secs(600);
    let mut settled = SettledRotations::default();
    let none = finish_interrupted(&server.store, &mut settled, grace, Duration::ZERO)
        .await
        .unwrap();
    assert!(none.is_empty(), "a fresh rotation is left to its command");
    assert_eq!(sealed_version(&stored_seeds(&ts).await[0].1), Some(1));

    age_retired_keys(&server, 1).await;
    let done = finish_interrupted(&server.store, &mut settled, grace, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0].0, "acme");
    assert_eq!(done[0].1.totp_seeds, 1);
    assert_eq!(done[0].1.identity_provider_secrets, 1);
    assert_eq!(sealed_version(&stored_seeds(&ts).await[0].1), Some(version));
    assert!(
        finish_interrupted(&server.store, &mut settled, grace, Duration::ZERO)
            .await
            .unwrap()
            .is_empty(),
        "a settled rotation is not looked at again"
    );
    let mut fresh = SettledRotations::default();
    assert!(
        finish_interrupted(&server.store, &mut fresh, grace, Duration::ZERO)
            .await
            .unwrap()
            .is_empty(),
        "and a full look finds nothing left to do"
    );
    let trail = owner
        .get("/api/v1/audit/export?action=keys.dek_reseal")
        .await;
    assert_eq!(trail.text.lines().count(), 1, "{}", trail.text);
    assert_eq!(
        sign_in_with_totp(&server.client("acme"), "owner@acme.test", &mut app).await,
        200
    );
    server.stop().await;
}

/// Moves every retirement back by `days`, as if that much time had passed.
async fn age_retired_keys(server: &TestServer, days: i64) {
    match server.store.dialect() {
        rampart_sql::Dialect::Sqlite => {
            let c = rusqlite::Connection::open(server.config.data_dir.join("instance.db")).unwrap();
            c.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
            c.execute(
                "UPDATE tenant_keys SET retired_at = retired_at - ?1 WHERE retired_at IS NOT NULL",
                [days * 86_400_000_000],
            )
            .unwrap();
        }
        rampart_sql::Dialect::Postgres => {
            use secrecy::ExposeSecret;
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(server.config.database.url.expose_secret())
                .await
                .unwrap();
            let schema = format!("{}instance", server.config.database.postgres_prefix);
            // The schema name is the test's own prefix; the value is bound.
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE \"{schema}\".tenant_keys SET retired_at = retired_at - make_interval(days => $1) \
                 WHERE retired_at IS NOT NULL"
            )))
            .bind(i32::try_from(days).unwrap())
            .execute(&mut c)
            .await
            .unwrap();
        }
    }
}

async fn purge(server: &TestServer, retain_days: i64, dry_run: bool) -> Vec<TenantPurge> {
    let before = chrono::Utc::now() - chrono::Duration::days(retain_days);
    server
        .store
        .purge_retired_keys(before, dry_run)
        .await
        .unwrap()
}

async fn data_versions(server: &TestServer, tenant: rampart_core::TenantId) -> Vec<u32> {
    server
        .store
        .keys()
        .status()
        .await
        .unwrap()
        .iter()
        .filter(|r| {
            r.tenant == tenant
                && matches!(
                    r.state,
                    KeyState::Active | KeyState::Retired | KeyState::Pinned
                )
        })
        .map(|r| r.version)
        .collect()
}

const SSN: &str = "078-05-1120";

async fn retired_keys_are_destroyed_only_past_retention_and_once_nothing_needs_them(
    backend: Backend,
) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let (mut app, _) = enrol(&owner).await;
    let p = owner.post("/api/v1/projects", json!({"name": "HR"})).await;
    let project = p.body["id"].as_str().unwrap().to_owned();
    let r = owner
        .put(
            &format!("/api/v1/projects/{project}/secrets/STRIPE_KEY"),
            json!({"value": "sk_live_1"}),
        )
        .await;
    assert!(r.status < 300, "{r:?}");
    let t = owner
        .post(
            &format!("/api/v1/projects/{project}/tables"),
            json!({"name": "People", "fields": [
                {"name": "name", "type": "text"},
                {"name": "ssn", "type": "text", "encrypted": true, "blind_index": true},
            ]}),
        )
        .await;
    assert_eq!(t.status, 201, "{t:?}");
    let table = t.body["id"].as_str().unwrap().to_owned();
    let records = format!("/api/v1/tables/{table}/records");
    let r = owner
        .post(&records, json!({"fields": {"name": "Ada", "ssn": SSN}}))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let (acme, ts) = server.tenant("acme").await;
    let before_rotation = rampart_store::audit::anchor(&ts).await.unwrap().unwrap();
    // A backup taken now holds values sealed with data key version 1.
    let backup = backup_of_seeds(&server, "acme").await;
    let (user, old_seed) = backup[0].clone();
    let v1 = ts.data_keys().await.unwrap().key(1).cloned().unwrap();

    assert_eq!(server.store.keys().rotate_dek(acme.id).await.unwrap(), 2);
    // Within retention nothing is even looked at, whatever the retention says: a key retired
    // a moment ago may still be in a server's cache.
    assert!(purge(&server, 0, false).await.is_empty());
    assert_eq!(data_versions(&server, acme.id).await, [1, 2]);

    // Past retention, but values still name version 1: it is kept, and the report says why.
    age_retired_keys(&server, 30).await;
    let report = purge(&server, 8, false).await;
    assert_eq!(report.len(), 1, "{report:?}");
    assert!(report[0].purged.is_empty(), "{report:?}");
    let (version, places) = &report[0].kept[0];
    assert_eq!(*version, 1);
    for needed in [
        "user_totp.seed",
        "project_secrets.sealed",
        "encrypted field People.ssn",
        "blind index of People.ssn",
    ] {
        assert!(places.iter().any(|p| p == needed), "{needed}: {places:?}");
    }
    assert_eq!(data_versions(&server, acme.id).await, [1, 2]);

    // A data subject's audit key sealed with version 1 (as before audit keys existed) holds
    // it too, until re-sealing moves it.
    let subject = uuid::Uuid::new_v4();
    let legacy = rampart_crypto::keyring::seal_with(
        &v1,
        1,
        format!("audit-subject-key/{subject}").as_bytes(),
        Key::generate().expose(),
    );
    ts.write(move |tx: &mut Tx| {
        Box::pin(async move {
            let mut q = tx.sql();
            q.push("INSERT INTO audit_subject_keys (subject, sealed_key, created_at) VALUES (")
                .param_list([
                    Param::Uuid(subject),
                    Param::Bytes(legacy),
                    Param::Timestamp(chrono::Utc::now()),
                ])
                .push(")");
            tx.execute(q).await
        })
    })
    .await
    .unwrap();

    let done =
        rampart_app::keys::rotation::finish_rotation(&server.store, &ts, std::time::Duration::ZERO)
            .await
            .unwrap();
    assert_eq!(
        (
            done.totp_seeds,
            done.secrets,
            done.encrypted_values,
            done.blind_indexes_moved
        ),
        (1, 1, 1, 1),
        "{done:?}"
    );
    assert!(done.audit_subject_keys >= 1, "{done:?}");
    let again =
        rampart_app::keys::rotation::finish_rotation(&server.store, &ts, std::time::Duration::ZERO)
            .await
            .unwrap();
    assert_eq!(again.values() + again.blind_indexes_moved, 0, "resumable");

    // Nothing names version 1 now. The dry run says it would go and leaves it; until the real
    // purge the backup still opens with what the instance holds.
    let report = purge(&server, 8, true).await;
    assert_eq!(
        (report[0].purged.clone(), report[0].kept.clone()),
        (vec![1], vec![])
    );
    assert!(opens_with_any(
        &everything_the_instance_holds(&server.store).await,
        user,
        &old_seed
    ));
    let report = purge(&server, 8, false).await;
    assert_eq!(report[0].purged, [1], "{report:?}");
    assert_eq!(data_versions(&server, acme.id).await, [2]);
    assert!(
        purge(&server, 8, false).await.is_empty(),
        "nothing retired is left"
    );
    assert!(
        !opens_with_any(
            &everything_the_instance_holds(&server.store).await,
            user,
            &old_seed
        ),
        "a backup older than the retention no longer opens"
    );

    // Everything live still works without version 1.
    server.store.keys().reload(acme.id).await.unwrap();
    assert_eq!(
        sign_in_with_totp(&server.client("acme"), "owner@acme.test", &mut app).await,
        200
    );
    let r = owner
        .send(
            owner
                .raw(reqwest::Method::GET, &records)
                .query(&[("filter", format!(r#"ssn = "{SSN}""#))]),
        )
        .await;
    assert_eq!(r.body["records"][0]["fields"]["ssn"], SSN, "{r:?}");
    let r = owner
        .post(
            &records,
            json!({"fields": {"name": "Bob", "ssn": "222-22-2222"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let project_id = rampart_core::ProjectId(project.parse().unwrap());
    let keys = ts.data_keys().await.unwrap();
    let secret = ts
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                rampart_store::secrets::reveal(tx, &keys, project_id, "production", "STRIPE_KEY")
                    .await
            })
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(secret.as_str(), "sk_live_1");
    // Checkpoints from before and after the rotation name different audit keys; both verify.
    let after = rampart_store::audit::anchor(&ts).await.unwrap().unwrap();
    assert_eq!(after.key_version, AUDIT_VERSIONS + 2);
    assert_eq!(before_rotation.key_version, AUDIT_VERSIONS + 1);
    let report = rampart_store::audit::verify_tenant(&ts, Some(before_rotation))
        .await
        .unwrap();
    assert_eq!(report.problem, None);
    assert!(report.checkpoints >= 2);
    let entries = rampart_store::audit::read(
        &ts,
        rampart_store::audit::Filter {
            limit: 1000,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(entries.iter().any(|e| e.entry.action == "keys.dek_purge"));
    assert!(
        entries
            .iter()
            .filter(|e| e.entry.detail.is_some())
            .all(|e| e.detail.is_some() && !e.erased),
        "every audit detail still opens"
    );
    server.stop().await;
}

/// Binary columns of the tenant schema that hold no value sealed with a data key: hashes,
/// signatures, credential ids. Every other binary column must be one the key scan reads, so a
/// new sealed column cannot be forgotten by the purge (which would destroy a key it needs).
const NOT_SEALED: &[(&str, &str)] = &[
    ("sessions", "id_hash"),
    ("api_tokens", "token_hash"),
    ("setup_tokens", "token_hash"),
    ("recovery_codes", "code_hash"),
    ("login_challenges", "token_hash"),
    ("email_tokens", "token_hash"),
    ("passkeys", "credential_id"),
    ("audit_log", "prev_hash"),
    ("audit_log", "hash"),
    ("audit_head", "hash"),
    ("audit_checkpoints", "hash"),
    ("audit_checkpoints", "signature"),
];

/// Pairs of text read by a query written for each dialect.
async fn text_pairs(
    ts: &TenantStore,
    sqlite: &'static str,
    postgres: &'static str,
) -> Vec<(String, String)> {
    ts.read(move |tx: &mut Tx| {
        Box::pin(async move {
            let mut q = tx.sql();
            q.push(match tx.dialect() {
                rampart_sql::Dialect::Sqlite => sqlite,
                rampart_sql::Dialect::Postgres => postgres,
            });
            tx.fetch_all(q)
                .await?
                .iter()
                .map(|r| Ok((r.text(0)?, r.text(1)?)))
                .collect()
        })
    })
    .await
    .unwrap()
}

async fn every_binary_column_is_known_to_the_key_scan(backend: Backend) {
    let server = TestServer::start(backend).await;
    // A table with every kind of field, encrypted ones among them, and a link table.
    let owner = server.owner("default").await;
    let p = owner.post("/api/v1/projects", json!({"name": "P"})).await;
    let project = p.body["id"].as_str().unwrap().to_owned();
    let t = owner
        .post(
            &format!("/api/v1/projects/{project}/tables"),
            json!({"name": "People", "fields": [
                {"name": "name", "type": "text"},
                {"name": "ssn", "type": "text", "encrypted": true, "blind_index": true},
                {"name": "salary", "type": "decimal", "options": {"scale": 2}, "encrypted": true},
            ]}),
        )
        .await;
    assert_eq!(t.status, 201, "{t:?}");
    let (_, ts) = server.tenant("default").await;
    // Record tables may hold binary columns only for encrypted fields (sealed, scanned by
    // field) and their blind index tags.
    let encrypted = text_pairs(
        &ts,
        "SELECT t.storage, f.storage FROM data_fields f \
         JOIN data_tables t ON t.id = f.table_id WHERE f.encrypted = TRUE",
        "SELECT t.storage, f.storage FROM data_fields f \
         JOIN data_tables t ON t.id = f.table_id WHERE f.encrypted = TRUE",
    )
    .await;
    assert_eq!(encrypted.len(), 2);
    let columns = text_pairs(
        &ts,
        "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND upper(p.type) = 'BLOB'",
        "SELECT table_name, column_name FROM information_schema.columns \
         WHERE table_schema = current_schema() AND data_type = 'bytea'",
    )
    .await;
    assert!(columns.len() > 10, "{columns:?}");
    let known = |t: &str, c: &str| {
        rampart_store::keys::in_use::SEALED_COLUMNS
            .iter()
            .chain(NOT_SEALED)
            .any(|(kt, kc)| *kt == t && *kc == c)
    };
    let field_column = |t: &str, c: &str| {
        encrypted
            .iter()
            .any(|(et, ec)| et == t && (ec == c || format!("{ec}_bi") == c))
    };
    assert_eq!(
        columns.iter().filter(|(t, c)| field_column(t, c)).count(),
        3,
        "two sealed columns and one tag column: {columns:?}"
    );
    let unknown: Vec<_> = columns
        .iter()
        .filter(|(t, c)| !known(t, c) && !field_column(t, c))
        .collect();
    let listed_but_absent: Vec<_> = rampart_store::keys::in_use::SEALED_COLUMNS
        .iter()
        .chain(NOT_SEALED)
        .filter(|(t, c)| !columns.iter().any(|(ct, cc)| ct == t && cc == c))
        .collect();
    assert!(
        listed_but_absent.is_empty(),
        "listed columns that do not exist: {listed_but_absent:?}"
    );
    assert!(
        unknown.is_empty(),
        "binary columns neither scanned for key versions nor known to hold no sealed value: {unknown:?}"
    );
    server.stop().await;
}

/// Appends, behind the store's back but correctly linked, an entry whose detail is sealed with
/// data key version 1, as chains written before audit keys existed were.
async fn append_legacy_entry(ts: &TenantStore, v1: Key) {
    rampart_store::audit::link_pending(ts).await.unwrap();
    ts.write(move |tx: &mut Tx| {
        Box::pin(async move {
            let mut q = tx.sql();
            q.push("SELECT seq, hash FROM audit_head WHERE id = 1");
            let head = tx.fetch_one(q).await?;
            let entry_id = uuid::Uuid::new_v4();
            let mut e = rampart_store::audit::Entry {
                seq: u64::try_from(head.i64(0)?).unwrap() + 1,
                entry_id,
                at: chrono::Utc::now(),
                actor: "system".into(),
                request_id: None,
                client_ip: None,
                action: "legacy.note".into(),
                table: None,
                record: None,
                subject: None,
                detail: Some(rampart_crypto::keyring::seal_with(
                    &v1,
                    1,
                    &rampart_store::audit::chain::detail_context(entry_id),
                    br#"{"note":"written before audit keys"}"#,
                )),
                prev_hash: head.bytes(1)?.try_into().unwrap(),
                hash: [0; 32],
            };
            e.hash = rampart_store::audit::chain::entry_hash(&e);
            let seq = i64::try_from(e.seq).unwrap();
            let mut q = tx.sql();
            q.push(
                "INSERT INTO audit_log (seq, entry_id, at, actor, action, detail, prev_hash, hash) \
                 VALUES (",
            )
            .param_list([
                Param::I64(seq),
                Param::Uuid(e.entry_id),
                Param::Timestamp(e.at),
                Param::Text(e.actor.clone()),
                Param::Text(e.action.clone()),
                Param::Bytes(e.detail.clone().unwrap()),
                Param::Bytes(e.prev_hash.to_vec()),
                Param::Bytes(e.hash.to_vec()),
            ])
            .push(")");
            tx.execute(q).await?;
            let mut q = tx.sql();
            q.push("UPDATE audit_head SET seq = ")
                .param(Param::I64(seq))
                .push(", hash = ")
                .param(Param::Bytes(e.hash.to_vec()))
                .push(" WHERE id = 1");
            tx.execute(q).await
        })
    })
    .await
    .unwrap();
}

async fn a_chain_that_sealed_with_a_data_key_keeps_that_key(backend: Backend) {
    let server = TestServer::start(backend).await;
    let _owner = server.owner("acme").await;
    let (acme, ts) = server.tenant("acme").await;
    let v1 = ts.data_keys().await.unwrap().key(1).cloned().unwrap();
    append_legacy_entry(&ts, v1).await;
    assert_eq!(
        rampart_store::audit::verify_tenant(&ts, None)
            .await
            .unwrap()
            .problem,
        None
    );

    server.store.keys().rotate_dek(acme.id).await.unwrap();
    rampart_app::keys::rotation::finish_rotation(&server.store, &ts, std::time::Duration::ZERO)
        .await
        .unwrap();
    age_retired_keys(&server, 30).await;
    let report = purge(&server, 8, false).await;
    assert_eq!(
        report[0].kept,
        [(1, vec!["audit chain details".to_owned()])],
        "the chain cannot be re-sealed, so the key it names stays: {report:?}"
    );
    assert_eq!(report[0].pinned, [1]);
    assert_eq!(data_versions(&server, acme.id).await, [1, 2]);
    let states: Vec<_> = server
        .store
        .keys()
        .status()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.tenant == acme.id && r.version == 1)
        .map(|r| r.state)
        .collect();
    assert_eq!(states, [KeyState::Pinned]);
    assert!(
        purge(&server, 8, false).await.is_empty(),
        "a pinned key is not looked at again"
    );
    server.store.keys().reload(acme.id).await.unwrap();
    let entries = rampart_store::audit::read(
        &ts,
        rampart_store::audit::Filter {
            action: Some("legacy.note".into()),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(
        entries[0].detail,
        Some(json!({"note": "written before audit keys"}))
    );
    assert_eq!(
        rampart_store::audit::verify_tenant(&ts, None)
            .await
            .unwrap()
            .problem,
        None
    );
    server.stop().await;
}

async fn a_tenant_that_cannot_be_scanned_keeps_its_keys_and_stops_no_other(backend: Backend) {
    let server = TestServer::start(backend).await;
    let _acme = server.owner("acme").await;
    let _other = server.owner("default").await;
    let mut tenants = Vec::new();
    for slug in ["acme", "default"] {
        let (tenant, ts) = server.tenant(slug).await;
        server.store.keys().rotate_dek(tenant.id).await.unwrap();
        rampart_app::keys::rotation::finish_rotation(&server.store, &ts, std::time::Duration::ZERO)
            .await
            .unwrap();
        tenants.push((tenant, ts));
    }
    age_retired_keys(&server, 30).await;
    // The default tenant's storage is damaged: one of the places the scan must read is gone.
    tenants[1]
        .1
        .write(|tx: &mut Tx| {
            Box::pin(async move {
                let mut q = tx.sql();
                q.push("DROP TABLE audit_subject_keys");
                tx.execute(q).await
            })
        })
        .await
        .unwrap();
    let report = purge(&server, 8, false).await;
    let of = |slug: &str| report.iter().find(|t| t.slug == slug).unwrap().clone();
    assert_eq!(of("acme").purged, [1], "{report:?}");
    assert!(of("default").failed.is_some(), "{report:?}");
    assert!(of("default").purged.is_empty());
    assert_eq!(
        data_versions(&server, tenants[1].0.id).await,
        [1, 2],
        "a key is never destroyed on a scan that did not complete"
    );
    server.stop().await;
}
