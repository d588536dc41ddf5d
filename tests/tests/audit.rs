//! The audit chain end to end: record changes appended with who, when, from where and what;
//! the database tampered with directly in every way an attacker might (edit, delete, insert,
//! reorder, rewrite, cut off the end) and the first bad entry reported; concurrent writers
//! never fork the chain; erasing a person's key leaves the chain verifiable.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_sql::Param;
use rampart_store::audit::{self, Problem};
use rampart_store::{TenantStore, Tx};
use rampart_tests::{Backend, Client, TestServer, backend_tests};
use serde_json::{Value, json};

backend_tests!(
    record_changes_are_chained_with_who_when_where_and_what,
    an_edited_entry_is_reported,
    a_deleted_entry_is_reported,
    an_inserted_entry_is_reported,
    reordered_entries_are_reported,
    a_consistently_rewritten_chain_fails_its_signed_checkpoint,
    entries_cut_off_the_end_are_caught_by_an_anchor,
    concurrent_writers_never_fork_the_chain,
    erasing_a_subject_keeps_the_chain_verifiable,
    the_audit_api_filters_exports_and_is_for_admins_only,
    sign_ins_tokens_permissions_and_schema_changes_are_recorded,
    entries_left_unlinked_by_a_crash_are_linked_later,
    an_entry_appended_past_the_head_is_reported,
    a_clean_shutdown_signs_the_head_and_an_anchor_is_kept_with_the_chain,
);

async fn notes_table(owner: &Client) -> String {
    let p = owner.post("/api/v1/projects", json!({"name": "P"})).await;
    let t = owner
        .post(
            &format!("/api/v1/projects/{}/tables", p.body["id"].as_str().unwrap()),
            json!({"name": "Notes", "fields": [{"name": "title", "type": "text"}, {"name": "n", "type": "integer"}]}),
        )
        .await;
    assert_eq!(t.status, 201, "{t:?}");
    t.body["id"].as_str().unwrap().to_owned()
}

async fn create(c: &Client, table: &str, title: &str) -> Value {
    let r = c
        .post(
            &format!("/api/v1/tables/{table}/records"),
            json!({"fields": {"title": title}}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    r.body
}

/// A server whose tenant `acme` has a chain of at least `n` record entries.
async fn chain_of(backend: Backend, n: usize) -> (TestServer, Client, TenantStore) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let table = notes_table(&owner).await;
    for i in 0..n {
        create(&owner, &table, &format!("note {i}")).await;
    }
    let (_, ts) = server.tenant("acme").await;
    assert_eq!(
        verify(&ts, None).await.problem,
        None,
        "intact before tampering"
    );
    (server, owner, ts)
}

async fn verify(ts: &TenantStore, anchor: Option<audit::Checkpoint>) -> audit::Report {
    audit::verify_tenant(ts, anchor).await.unwrap()
}

/// Runs raw SQL against the tenant's database, as an attacker with database access would.
async fn tamper(ts: &TenantStore, sql: &'static str, params: Vec<Param>) {
    ts.write(move |tx: &mut Tx| {
        Box::pin(async move {
            let mut q = tx.sql();
            let mut parts = sql.split('?');
            q.push(parts.next().unwrap_or_default());
            for (p, rest) in params.into_iter().zip(parts) {
                q.param(p);
                q.push(rest);
            }
            tx.execute(q).await
        })
    })
    .await
    .unwrap();
}

async fn entries(ts: &TenantStore) -> Vec<audit::Entry> {
    ts.read(|tx: &mut Tx| {
        Box::pin(async move {
            let mut q = tx.sql();
            q.push(audit::chain::ENTRY_COLUMNS).push(" ORDER BY seq");
            tx.fetch_all(q)
                .await?
                .iter()
                .map(audit::chain::entry_from_row)
                .collect()
        })
    })
    .await
    .unwrap()
}

async fn record_changes_are_chained_with_who_when_where_and_what(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let me = owner.get("/api/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let table = notes_table(&owner).await;
    let created = owner
        .post(
            &format!("/api/v1/tables/{table}/records"),
            json!({"fields": {"title": "secret plans", "n": 7}}),
        )
        .await;
    let request_id = created.headers["x-request-id"].to_str().unwrap().to_owned();
    let record = created.body["id"].as_str().unwrap().to_owned();
    let r = owner
        .patch(
            &format!("/api/v1/tables/{table}/records/{record}"),
            json!({"version": 1, "fields": {"n": 8}}),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = owner
        .delete(&format!(
            "/api/v1/tables/{table}/records/{record}?version=2"
        ))
        .await;
    assert_eq!(r.status, 204);

    let page = owner
        .get(&format!("/api/v1/audit?record_id={record}"))
        .await;
    assert_eq!(page.status, 200, "{page:?}");
    let items = page.body["items"].as_array().unwrap();
    let actions: Vec<&str> = items
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["record.delete", "record.update", "record.create"]);
    let create_entry = &items[2];
    assert_eq!(create_entry["actor"], format!("user:{me}"));
    assert_eq!(create_entry["request_id"], request_id);
    assert_eq!(create_entry["client_ip"], "127.0.0.1");
    assert_eq!(create_entry["table_id"], table);
    assert_eq!(create_entry["subject"], me, "the owner is the data subject");
    let fields = create_entry["detail"]["fields"].as_object().unwrap();
    assert!(fields.values().any(|v| v == "secret plans"), "{fields:?}");
    let update_fields = items[1]["detail"]["fields"].as_object().unwrap();
    assert_eq!(
        update_fields.len(),
        1,
        "only the changed field: {update_fields:?}"
    );
    // Consecutive entries link by hash.
    assert_eq!(items[0]["prev_hash"], items[1]["hash"]);

    // Values are sealed at rest: the title is nowhere in the stored entries.
    let (_, ts) = server.tenant("acme").await;
    for e in entries(&ts).await {
        let raw = e.detail.unwrap_or_default();
        assert!(!raw.windows(12).any(|w| w == b"secret plans"));
    }
    let report = verify(&ts, None).await;
    assert_eq!(report.problem, None);
    assert!(report.entries >= 3);
    server.stop().await;
}

async fn an_edited_entry_is_reported(backend: Backend) {
    let (server, _, ts) = chain_of(backend, 6).await;
    tamper(
        &ts,
        "UPDATE audit_log SET action = 'record.read' WHERE seq = ?",
        vec![Param::I64(3)],
    )
    .await;
    assert_eq!(
        verify(&ts, None).await.problem,
        Some(Problem::Edited { seq: 3 })
    );
    server.stop().await;
}

async fn a_deleted_entry_is_reported(backend: Backend) {
    let (server, _, ts) = chain_of(backend, 6).await;
    tamper(
        &ts,
        "DELETE FROM audit_log WHERE seq = ?",
        vec![Param::I64(4)],
    )
    .await;
    assert_eq!(
        verify(&ts, None).await.problem,
        Some(Problem::Deleted {
            missing_from: 4,
            next_present: 5
        })
    );
    server.stop().await;
}

async fn an_inserted_entry_is_reported(backend: Backend) {
    let (server, _, ts) = chain_of(backend, 6).await;
    let all = entries(&ts).await;
    let last = all.last().unwrap().seq;
    // Make room at 3 (from the end, so numbers never collide) ...
    for seq in (3..=last).rev() {
        tamper(
            &ts,
            "UPDATE audit_log SET seq = ? WHERE seq = ?",
            vec![
                Param::I64(i64::try_from(seq + 1).unwrap()),
                Param::I64(i64::try_from(seq).unwrap()),
            ],
        )
        .await;
    }
    // ... and slip in a forged entry that links correctly to entry 2, with a valid hash.
    let mut forged = all[2].clone();
    forged.seq = 3;
    forged.entry_id = uuid::Uuid::new_v4();
    forged.action = "record.forged".into();
    forged.prev_hash = all[1].hash;
    forged.hash = audit::chain::entry_hash(&forged);
    insert_entry(&ts, &forged).await;
    assert_eq!(
        verify(&ts, None).await.problem,
        Some(Problem::NotLinked { seq: 4 }),
        "the entry after the forged one no longer follows"
    );
    server.stop().await;
}

async fn insert_entry(ts: &TenantStore, e: &audit::Entry) {
    let e = e.clone();
    ts.write(move |tx: &mut Tx| {
        Box::pin(async move {
            let mut q = tx.sql();
            q.push("INSERT INTO audit_log (seq, entry_id, at, actor, request_id, client_ip, action, target_table, target_record, subject, detail, prev_hash, hash) VALUES (")
                .param_list([
                    Param::I64(i64::try_from(e.seq).unwrap()),
                    Param::Uuid(e.entry_id),
                    Param::Timestamp(e.at),
                    Param::Text(e.actor),
                    e.request_id.map_or(Param::Null(rampart_sql::ParamType::Text), Param::Text),
                    e.client_ip.map_or(Param::Null(rampart_sql::ParamType::Text), Param::Text),
                    Param::Text(e.action),
                    e.table.map_or(Param::Null(rampart_sql::ParamType::Uuid), Param::Uuid),
                    e.record.map_or(Param::Null(rampart_sql::ParamType::Uuid), Param::Uuid),
                    e.subject.map_or(Param::Null(rampart_sql::ParamType::Uuid), Param::Uuid),
                    e.detail.map_or(Param::Null(rampart_sql::ParamType::Bytes), Param::Bytes),
                    Param::Bytes(e.prev_hash.to_vec()),
                    Param::Bytes(e.hash.to_vec()),
                ])
                .push(")");
            tx.execute(q).await
        })
    })
    .await
    .unwrap();
}

async fn reordered_entries_are_reported(backend: Backend) {
    let (server, _, ts) = chain_of(backend, 6).await;
    // Entries 4 and 5 trade places.
    for (from, to) in [(4, 1000), (5, 4), (1000, 5)] {
        tamper(
            &ts,
            "UPDATE audit_log SET seq = ? WHERE seq = ?",
            vec![Param::I64(to), Param::I64(from)],
        )
        .await;
    }
    assert_eq!(
        verify(&ts, None).await.problem,
        Some(Problem::NotLinked { seq: 4 })
    );
    server.stop().await;
}

/// Recomputes every hash from `from` on, as an attacker who knows the format would.
async fn rewrite_from(ts: &TenantStore, from: u64) {
    let mut all = entries(ts).await;
    for i in 0..all.len() {
        if all[i].seq < from {
            continue;
        }
        if i > 0 {
            all[i].prev_hash = all[i - 1].hash;
        }
        all[i].hash = audit::chain::entry_hash(&all[i]);
        let e = all[i].clone();
        tamper(
            ts,
            "UPDATE audit_log SET action = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            vec![
                Param::Text(e.action),
                Param::Bytes(e.prev_hash.to_vec()),
                Param::Bytes(e.hash.to_vec()),
                Param::I64(i64::try_from(e.seq).unwrap()),
            ],
        )
        .await;
    }
    let head = all.last().unwrap().clone();
    tamper(
        ts,
        "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1",
        vec![
            Param::I64(i64::try_from(head.seq).unwrap()),
            Param::Bytes(head.hash.to_vec()),
        ],
    )
    .await;
}

async fn a_consistently_rewritten_chain_fails_its_signed_checkpoint(backend: Backend) {
    let (server, _, ts) = chain_of(backend, 6).await;
    let cp = audit::anchor(&ts).await.unwrap().unwrap();
    tamper(
        &ts,
        "UPDATE audit_log SET action = 'record.read' WHERE seq = ?",
        vec![Param::I64(3)],
    )
    .await;
    rewrite_from(&ts, 3).await;
    assert_eq!(
        verify(&ts, None).await.problem,
        Some(Problem::CheckpointMismatch { checkpoint: cp.seq }),
        "every hash links again, but the signed checkpoint does not match"
    );
    // A forged signature on a new checkpoint is refused too.
    tamper(
        &ts,
        "UPDATE audit_checkpoints SET signature = ? WHERE seq = ?",
        vec![
            Param::Bytes(vec![7; 64]),
            Param::I64(i64::try_from(cp.seq).unwrap()),
        ],
    )
    .await;
    assert_eq!(
        verify(&ts, None).await.problem,
        Some(Problem::CheckpointSignature { checkpoint: cp.seq })
    );
    server.stop().await;
}

async fn entries_cut_off_the_end_are_caught_by_an_anchor(backend: Backend) {
    let (server, _, ts) = chain_of(backend, 6).await;
    let anchor = audit::anchor(&ts).await.unwrap().unwrap();
    // The operator kept the anchor outside, as JSON.
    let kept = serde_json::to_string(&anchor).unwrap();
    let all = entries(&ts).await;
    let keep = all[all.len() - 3].clone();
    tamper(
        &ts,
        "DELETE FROM audit_log WHERE seq > ?",
        vec![Param::I64(i64::try_from(keep.seq).unwrap())],
    )
    .await;
    tamper(
        &ts,
        "DELETE FROM audit_checkpoints WHERE seq > ?",
        vec![Param::I64(0)],
    )
    .await;
    tamper(
        &ts,
        "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1",
        vec![
            Param::I64(i64::try_from(keep.seq).unwrap()),
            Param::Bytes(keep.hash.to_vec()),
        ],
    )
    .await;
    assert_eq!(
        verify(&ts, None).await.problem,
        None,
        "from inside the database alone, a clean cut cannot be seen"
    );
    let anchor: audit::Checkpoint = serde_json::from_str(&kept).unwrap();
    assert_eq!(
        verify(&ts, Some(anchor.clone())).await.problem,
        Some(Problem::CutOff {
            last_present: keep.seq,
            expected: anchor.seq
        })
    );
    // A forged anchor is not believed.
    let mut forged = anchor;
    forged.seq = keep.seq;
    forged.hash = keep.hash;
    assert_eq!(
        verify(&ts, Some(forged)).await.problem,
        Some(Problem::AnchorSignature)
    );
    server.stop().await;
}

async fn concurrent_writers_never_fork_the_chain(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let table = notes_table(&owner).await;
    let (_, ts) = server.tenant("acme").await;
    let before = verify(&ts, None).await.entries;
    let writers = 16;
    let each = 15;
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (c, t) = (owner.clone(), table.clone());
            tokio::spawn(async move {
                for i in 0..each {
                    create(&c, &t, &format!("w{w} n{i}")).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let report = verify(&ts, None).await;
    assert_eq!(report.problem, None);
    assert_eq!(
        report.entries,
        before + writers * each,
        "one entry per acknowledged write, numbered without gaps"
    );
    server.stop().await;
}

async fn erasing_a_subject_keeps_the_chain_verifiable(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let table = notes_table(&owner).await;
    let member = server
        .user(&owner, "acme", "member@acme.test", "member")
        .await;
    let member_id: uuid::Uuid = member.get("/api/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // The member writes in the table (as an editor) and owns what they write.
    let project = owner.get("/api/v1/projects").await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = owner
        .put(
            &format!("/api/v1/projects/{project}/members/{member_id}"),
            json!({"role": "editor"}),
        )
        .await;
    assert!(r.status < 300, "{r:?}");
    let mine = create(&member, &table, "my private note").await;
    let theirs = create(&owner, &table, "owner's note").await;

    let shown = |r: &rampart_tests::Resp, record: &Value| {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["record_id"] == record["id"] && e["action"] == "record.create")
            .cloned()
            .unwrap()
    };
    let before = owner.get("/api/v1/audit?action=record.create").await;
    assert_eq!(shown(&before, &mine)["subject"], member_id.to_string());
    assert!(shown(&before, &mine)["detail"].is_object());

    // What the erasure feature will do: destroy the person's key.
    let (_, ts) = server.tenant("acme").await;
    let erased = ts
        .write(move |tx: &mut Tx| Box::pin(audit::subjects::erase(tx, member_id)))
        .await
        .unwrap();
    assert!(erased);

    let after = owner.get("/api/v1/audit?action=record.create").await;
    let gone = shown(&after, &mine);
    assert_eq!(gone["erased"], true);
    assert!(gone.get("detail").is_none(), "{gone}");
    assert_eq!(
        gone["hash"],
        shown(&before, &mine)["hash"],
        "the entry stays"
    );
    let kept = shown(&after, &theirs);
    assert_eq!(kept["erased"], false);
    assert!(
        kept["detail"].is_object(),
        "other people's values stay readable"
    );
    assert_eq!(
        verify(&ts, None).await.problem,
        None,
        "the chain still verifies"
    );
    server.stop().await;
}

async fn the_audit_api_filters_exports_and_is_for_admins_only(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let me = owner.get("/api/v1/me").await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let table = notes_table(&owner).await;
    for i in 0..5 {
        create(&owner, &table, &format!("n{i}")).await;
    }
    let r = owner
        .get(&format!(
            "/api/v1/audit?action=record.&actor=user:{me}&limit=2"
        ))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let first = r.body["items"].as_array().unwrap().clone();
    assert_eq!(first.len(), 2);
    let before = r.body["next_before"].as_u64().unwrap();
    let r = owner
        .get(&format!(
            "/api/v1/audit?action=record.&limit=10&before={before}"
        ))
        .await;
    let rest = r.body["items"].as_array().unwrap();
    assert_eq!(rest.len(), 3);
    assert!(rest.iter().all(|e| e["seq"].as_u64().unwrap() < before));
    let r = owner
        .get(&format!(
            "/api/v1/audit?table_id={table}&to=2000-01-01T00:00:00Z"
        ))
        .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 0);
    let r = owner.get("/api/v1/audit?limit=501").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["errors"][0]["field"], "limit");

    let export = owner.get("/api/v1/audit/export?action=record.").await;
    assert_eq!(export.status, 200);
    let lines: Vec<Value> = export
        .text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert!(
        lines
            .windows(2)
            .all(|w| w[0]["seq"].as_u64() < w[1]["seq"].as_u64())
    );
    let r = owner.get("/api/v1/audit?action=audit.export").await;
    assert_eq!(
        r.body["items"].as_array().unwrap().len(),
        1,
        "the export is itself recorded"
    );

    // An export longer than a page is streamed page after page, in order, none lost.
    let creates: Vec<Value> = (0..620)
        .map(|i| json!({"fields": {"title": format!("b{i}")}}))
        .collect();
    let r = owner
        .post(
            &format!("/api/v1/tables/{table}/records/batch"),
            json!({"create": creates}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let export = owner.get("/api/v1/audit/export?action=record.create").await;
    assert_eq!(export.status, 200);
    let seqs: Vec<u64> = export
        .text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs.len(), 625);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));

    let member = server
        .user(&owner, "acme", "member@acme.test", "member")
        .await;
    assert_eq!(member.get("/api/v1/audit").await.status, 403);
    assert_eq!(member.get("/api/v1/audit/export").await.status, 403);
    assert_eq!(server.client("acme").get("/api/v1/audit").await.status, 401);
    server.stop().await;
}

async fn actions(owner: &Client, area: &str) -> Vec<String> {
    let r = owner
        .get(&format!("/api/v1/audit?action={area}&limit=500"))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

async fn sign_ins_tokens_permissions_and_schema_changes_are_recorded(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.owner("acme").await;
    let anon = server.client("acme");
    let r = anon
        .post(
            "/api/v1/auth/login",
            json!({"email": "owner@acme.test", "password": "not the password"}),
        )
        .await;
    assert_eq!(r.status, 401);
    let t = owner
        .post(
            "/api/v1/tokens",
            json!({"name": "ci", "expires_in_days": 1}),
        )
        .await;
    let token_id = t.body["token"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        owner
            .delete(&format!("/api/v1/tokens/{token_id}"))
            .await
            .status,
        204
    );
    let g = owner.post("/api/v1/groups", json!({"name": "Staff"})).await;
    assert_eq!(g.status, 201, "{g:?}");
    let table = notes_table(&owner).await;
    let project = owner.get("/api/v1/projects").await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = owner
        .post(
            &format!("/api/v1/projects/{project}/permission-sets"),
            json!({"name": "Readers", "tables": {table.clone(): {"read": true}}}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let r = owner
        .post(
            &format!("/api/v1/tables/{table}/fields"),
            json!({"name": "extra", "type": "text"}),
        )
        .await;
    assert!(r.status < 300, "{r:?}");
    let member = server
        .user(&owner, "acme", "member@acme.test", "member")
        .await;
    let r = owner.post("/api/v1/auth/logout", json!({})).await;
    assert!(r.status < 300, "{r:?}");
    drop(member);

    let auth = actions(
        &owner
            .login("owner@acme.test", rampart_tests::PASSWORD)
            .await,
        "auth.",
    )
    .await;
    for want in ["auth.failure", "auth.session_start", "auth.session_end"] {
        assert!(
            auth.iter().any(|a| a == want),
            "{want} missing from {auth:?}"
        );
    }
    let owner = owner
        .login("owner@acme.test", rampart_tests::PASSWORD)
        .await;
    let tokens = actions(&owner, "token.").await;
    assert_eq!(tokens, ["token.revoke", "token.create"]);
    assert!(
        actions(&owner, "group.")
            .await
            .contains(&"group.create".to_owned())
    );
    assert!(
        actions(&owner, "permission_set.")
            .await
            .contains(&"permission_set.create".to_owned())
    );
    let schema = actions(&owner, "schema.").await;
    assert!(
        schema.contains(&"schema.table_create".to_owned()),
        "{schema:?}"
    );
    assert!(
        schema.contains(&"schema.field_add".to_owned()),
        "{schema:?}"
    );
    let users = actions(&owner, "user.").await;
    assert!(users.contains(&"user.create".to_owned()), "{users:?}");
    let projects = actions(&owner, "project.").await;
    assert!(
        projects.contains(&"project.create".to_owned()),
        "{projects:?}"
    );

    // The failed sign-in is attributed to nobody, from the client's address.
    let failure = owner.get("/api/v1/audit?action=auth.failure").await;
    let first = &failure.body["items"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(first["actor"], "anonymous");
    assert_eq!(first["client_ip"], "127.0.0.1");
    let (_, ts) = server.tenant("acme").await;
    assert_eq!(verify(&ts, None).await.problem, None);
    server.stop().await;
}

async fn pending_count(ts: &TenantStore) -> i64 {
    ts.read(|tx: &mut Tx| {
        Box::pin(async move {
            let mut q = tx.sql();
            q.push("SELECT COUNT(*) FROM audit_pending");
            tx.fetch_one(q).await?.i64(0)
        })
    })
    .await
    .unwrap()
}

async fn entries_left_unlinked_by_a_crash_are_linked_later(backend: Backend) {
    let (server, owner, ts) = chain_of(backend, 3).await;
    assert_eq!(
        pending_count(&ts).await,
        0,
        "acknowledged writes are linked"
    );
    if ts.dialect() == rampart_sql::Dialect::Sqlite {
        // SQLite links in the change's own transaction: nothing is ever left pending.
        server.stop().await;
        return;
    }
    // A process that died between committing a change and linking its entry leaves it
    // unlinked; the next reader of the trail links it.
    let before = verify(&ts, None).await.entries;
    tamper(
        &ts,
        "INSERT INTO audit_pending (entry_id, at, actor, action) VALUES (?, ?, 'system', 'record.create')",
        vec![
            Param::Uuid(uuid::Uuid::new_v4()),
            Param::Timestamp(chrono::Utc::now()),
        ],
    )
    .await;
    assert_eq!(pending_count(&ts).await, 1);
    let r = owner.get("/api/v1/audit?limit=1").await;
    assert_eq!(r.body["items"][0]["seq"].as_u64(), Some(before + 1));
    assert_eq!(pending_count(&ts).await, 0);
    let report = verify(&ts, None).await;
    assert_eq!((report.problem, report.entries), (None, before + 1));
    server.stop().await;
}

async fn head(ts: &TenantStore) -> (u64, Vec<u8>) {
    ts.read(|tx: &mut Tx| {
        Box::pin(async move {
            let mut q = tx.sql();
            q.push("SELECT seq, hash FROM audit_head WHERE id = 1");
            let r = tx.fetch_one(q).await?;
            Ok((u64::try_from(r.i64(0)?).unwrap(), r.bytes(1)?))
        })
    })
    .await
    .unwrap()
}

async fn an_entry_appended_past_the_head_is_reported(backend: Backend) {
    let (server, _, ts) = chain_of(backend, 4).await;
    let all = entries(&ts).await;
    let last = all.last().unwrap().clone();
    // A well-formed entry, hashed and linked correctly, added after the head by someone who
    // can write the database but did not move the head.
    let mut forged = last.clone();
    forged.seq = last.seq + 1;
    forged.entry_id = uuid::Uuid::now_v7();
    forged.action = "record.delete".into();
    forged.prev_hash = last.hash;
    forged.hash = audit::chain::entry_hash(&forged);
    tamper(
        &ts,
        "INSERT INTO audit_log (seq, entry_id, at, actor, request_id, client_ip, action, \
         target_table, target_record, subject, detail, prev_hash, hash) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        vec![
            Param::I64(i64::try_from(forged.seq).unwrap()),
            Param::Uuid(forged.entry_id),
            Param::Timestamp(forged.at),
            Param::Text(forged.actor.clone()),
            forged
                .request_id
                .clone()
                .map_or(Param::Null(rampart_sql::ParamType::Text), Param::Text),
            forged
                .client_ip
                .clone()
                .map_or(Param::Null(rampart_sql::ParamType::Text), Param::Text),
            Param::Text(forged.action.clone()),
            forged
                .table
                .map_or(Param::Null(rampart_sql::ParamType::Uuid), Param::Uuid),
            forged
                .record
                .map_or(Param::Null(rampart_sql::ParamType::Uuid), Param::Uuid),
            forged
                .subject
                .map_or(Param::Null(rampart_sql::ParamType::Uuid), Param::Uuid),
            forged
                .detail
                .clone()
                .map_or(Param::Null(rampart_sql::ParamType::Bytes), Param::Bytes),
            Param::Bytes(forged.prev_hash.to_vec()),
            Param::Bytes(forged.hash.to_vec()),
        ],
    )
    .await;
    assert_eq!(
        verify(&ts, None).await.problem,
        Some(Problem::PastHead {
            head: last.seq,
            last_present: forged.seq
        })
    );
    tamper(
        &ts,
        "DELETE FROM audit_log WHERE seq = ?",
        vec![Param::I64(i64::try_from(forged.seq).unwrap())],
    )
    .await;
    assert_eq!(verify(&ts, None).await.problem, None);
    // A head naming the last entry with another hash.
    tamper(
        &ts,
        "UPDATE audit_head SET hash = ? WHERE id = 1",
        vec![Param::Bytes(vec![9; 32])],
    )
    .await;
    assert_eq!(
        verify(&ts, None).await.problem,
        Some(Problem::HeadMismatch { seq: last.seq })
    );
    server.stop().await;
}

async fn a_clean_shutdown_signs_the_head_and_an_anchor_is_kept_with_the_chain(backend: Backend) {
    let (mut server, owner, ts) = chain_of(backend, 3).await;
    let report = verify(&ts, None).await;
    assert!(
        report.signed_through < report.entries,
        "a running server has an unsigned tail: {report:?}"
    );
    // An anchor is stored with the chain as the same signed checkpoint.
    let anchor = audit::anchor(&ts).await.unwrap().unwrap();
    let stored: Vec<audit::Checkpoint> = ts
        .read(|tx: &mut Tx| {
            Box::pin(async move {
                let mut q = tx.sql();
                q.push(audit::chain::CHECKPOINT_COLUMNS)
                    .push(" ORDER BY seq");
                tx.fetch_all(q)
                    .await?
                    .iter()
                    .map(audit::chain::checkpoint_from_row)
                    .collect()
            })
        })
        .await
        .unwrap();
    assert!(stored.contains(&anchor), "{stored:?} holds {anchor:?}");
    assert_eq!(verify(&ts, None).await.signed_through, anchor.seq);
    // More changes, then a clean stop: the server signs the new head on its way out.
    let r = owner
        .post("/api/v1/projects", json!({"name": "After"}))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    server.halt().await;
    let report = verify(&ts, None).await;
    assert_eq!(report.problem, None);
    assert!(report.entries > anchor.seq);
    assert_eq!(
        report.signed_through, report.entries,
        "no unsigned tail after a clean shutdown"
    );
    assert_eq!(head(&ts).await.0, report.entries);
    server.stop().await;
}
