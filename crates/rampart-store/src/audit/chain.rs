//! The chain itself: the canonical encoding an entry's hash is computed over, appending in
//! the caller's transaction, and signed checkpoints.
//!
//! `hash(n) = SHA-256("rampart/audit/v1" || seq || entry_id || at || actor || request_id || client_ip ||
//! action || table || record || subject || detail || hash(n-1))`, every field length-prefixed
//! (absent fields marked), `hash(0)` = 32 zero bytes. `detail` enters the hash sealed, so
//! destroying a subject's key leaves the chain verifiable.
//!
//! Details without a data subject are sealed, and checkpoints signed, with the tenant's
//! audit key (never re-sealed, so never retired); chains written before audit keys existed
//! used a data key version, which then stays pinned (see `keys_in_use`).

use chrono::{DateTime, Utc};
use rampart_crypto::keyring::{Key, TenantKeys, signing};
use rampart_sql::Param;
use uuid::Uuid;

use super::context::Snapshot;
use super::subjects;
use crate::db::{DbRow, Tx, dialect};
use crate::error::StoreError;

/// Checkpoints are written at least every this many entries (and by housekeeping).
pub const CHECKPOINT_EVERY: u64 = 256;

const SIGNING_PURPOSE: &[u8] = b"rampart/audit-checkpoint/v1";

/// One stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub seq: u64,
    /// A unique id (UUIDv7) fixed when the entry is written; its detail is sealed to it.
    pub entry_id: Uuid,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub request_id: Option<String>,
    pub client_ip: Option<String>,
    pub action: String,
    pub table: Option<Uuid>,
    pub record: Option<Uuid>,
    pub subject: Option<Uuid>,
    pub detail: Option<Vec<u8>>,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

/// What a change records about itself.
#[derive(Debug, Clone)]
pub struct Event {
    /// What happened, from the catalogue (`super::actions`).
    pub action: super::actions::Action,
    pub table: Option<Uuid>,
    pub record: Option<Uuid>,
    /// The person the detail's personal values are about (sealed with their key).
    pub subject: Option<Uuid>,
    /// What changed; sealed before it is stored.
    pub detail: Option<serde_json::Value>,
}

impl Event {
    pub fn new(action: super::actions::Action) -> Self {
        Self {
            action,
            table: None,
            record: None,
            subject: None,
            detail: None,
        }
    }

    pub fn table(mut self, table: Uuid) -> Self {
        self.table = Some(table);
        self
    }

    pub fn record(mut self, record: Uuid) -> Self {
        self.record = Some(record);
        self
    }

    pub fn subject(mut self, subject: Uuid) -> Self {
        self.subject = Some(subject);
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

fn put_bytes(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => out.push(0),
        Some(b) => {
            out.push(1);
            out.extend_from_slice(&(b.len() as u64).to_be_bytes());
            out.extend_from_slice(b);
        }
    }
}

/// The hash of an entry with these fields.
pub fn entry_hash(e: &Entry) -> [u8; 32] {
    let mut out = Vec::with_capacity(256 + e.detail.as_ref().map_or(0, Vec::len));
    out.extend_from_slice(b"rampart/audit/v1");
    out.extend_from_slice(&e.seq.to_be_bytes());
    out.extend_from_slice(e.entry_id.as_bytes());
    out.extend_from_slice(&e.at.timestamp_micros().to_be_bytes());
    put_bytes(&mut out, Some(e.actor.as_bytes()));
    put_bytes(&mut out, e.request_id.as_deref().map(str::as_bytes));
    put_bytes(&mut out, e.client_ip.as_deref().map(str::as_bytes));
    put_bytes(&mut out, Some(e.action.as_bytes()));
    put_bytes(&mut out, e.table.as_ref().map(|u| u.as_bytes().as_slice()));
    put_bytes(&mut out, e.record.as_ref().map(|u| u.as_bytes().as_slice()));
    put_bytes(
        &mut out,
        e.subject.as_ref().map(|u| u.as_bytes().as_slice()),
    );
    put_bytes(&mut out, e.detail.as_deref());
    out.extend_from_slice(&e.prev_hash);
    rampart_crypto::sha256(&out)
}

/// Where an entry's detail belongs: a detail moved to another entry does not open.
pub fn detail_context(entry_id: Uuid) -> Vec<u8> {
    format!("audit-detail/{entry_id}").into_bytes()
}

fn hash32(v: Vec<u8>) -> Result<[u8; 32], StoreError> {
    v.try_into()
        .map_err(|_| StoreError::internal("a stored audit hash is not 32 bytes"))
}

pub const ENTRY_COLUMNS: &str = "SELECT seq, at, actor, request_id, client_ip, action, \
     target_table, target_record, subject, detail, prev_hash, hash, entry_id FROM audit_log";

pub fn entry_from_row(r: &DbRow) -> Result<Entry, StoreError> {
    Ok(Entry {
        seq: u64::try_from(r.i64(0)?).map_err(|_| StoreError::internal("negative audit seq"))?,
        at: r.timestamp(1)?,
        actor: r.text(2)?,
        request_id: r.opt_text(3)?,
        client_ip: r.opt_text(4)?,
        action: r.text(5)?,
        table: r.opt_uuid(6)?,
        record: r.opt_uuid(7)?,
        subject: r.opt_uuid(8)?,
        detail: r.opt_bytes(9)?,
        prev_hash: hash32(r.bytes(10)?)?,
        hash: hash32(r.bytes(11)?)?,
        entry_id: r.uuid(12)?,
    })
}

/// An entry written but not yet linked: everything but its number and hashes.
#[derive(Debug, Clone)]
pub(crate) struct Unlinked {
    entry_id: Uuid,
    at: DateTime<Utc>,
    actor: String,
    request_id: Option<String>,
    client_ip: Option<String>,
    action: String,
    table: Option<Uuid>,
    record: Option<Uuid>,
    subject: Option<Uuid>,
    detail: Option<Vec<u8>>,
}

/// Seals the event's detail and fixes who, when and where.
async fn prepare(
    tx: &mut Tx,
    keys: &TenantKeys,
    who: &Snapshot,
    event: Event,
) -> Result<Unlinked, StoreError> {
    // Time-ordered, so its unique index grows at the end instead of dirtying a random page
    // per entry (random ids cost a third of the create rate on SQLite). Its job is to be
    // unique and fixed, binding the sealed detail to this entry; it is no secret.
    let entry_id = Uuid::now_v7();
    let detail = match &event.detail {
        None => None,
        Some(d) => {
            let plain = serde_json::to_vec(d)
                .map_err(|e| StoreError::internal(format!("audit detail: {e}")))?;
            let context = detail_context(entry_id);
            Some(match event.subject {
                Some(subject) => subjects::seal(tx, keys, subject, &context, &plain).await?,
                None => keys
                    .seal_audit(&context, &plain)
                    .map_err(|e| StoreError::Keys(e.to_string()))?,
            })
        }
    };
    Ok(Unlinked {
        entry_id,
        at: crate::now(),
        actor: who.actor.as_text(),
        request_id: who.request_id.clone(),
        client_ip: who.client_ip.clone(),
        action: event.action.as_str().to_owned(),
        table: event.table,
        record: event.record,
        subject: event.subject,
        detail,
    })
}

fn opt_uuid(u: Option<Uuid>) -> Param {
    u.map_or(Param::Null(rampart_sql::ParamType::Uuid), Param::Uuid)
}

fn opt_text(t: Option<String>) -> Param {
    t.map_or(Param::Null(rampart_sql::ParamType::Text), Param::Text)
}

fn opt_bytes(b: Option<Vec<u8>>) -> Param {
    b.map_or(Param::Null(rampart_sql::ParamType::Bytes), Param::Bytes)
}

fn seq_param(seq: u64) -> Result<Param, StoreError> {
    i64::try_from(seq)
        .map(Param::I64)
        .map_err(|_| StoreError::internal("audit seq out of range"))
}

/// Links entries into the chain after the head, in the given order. The head row is locked
/// first, so chainers never fork the chain or number an entry twice.
async fn link(tx: &mut Tx, keys: &TenantKeys, entries: Vec<Unlinked>) -> Result<(), StoreError> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut q = tx.sql();
    q.push("SELECT seq, hash FROM audit_head WHERE id = 1")
        .push(dialect::for_update(tx.dialect()));
    let head = tx.fetch_one(q).await?;
    let mut seq = u64::try_from(head.i64(0)?).map_err(|_| StoreError::internal("audit seq"))?;
    let mut prev_hash = hash32(head.bytes(1)?)?;
    let mut checkpoint_due = false;
    for u in entries {
        seq += 1;
        let mut entry = Entry {
            seq,
            entry_id: u.entry_id,
            at: u.at,
            actor: u.actor,
            request_id: u.request_id,
            client_ip: u.client_ip,
            action: u.action,
            table: u.table,
            record: u.record,
            subject: u.subject,
            detail: u.detail,
            prev_hash,
            hash: [0; 32],
        };
        entry.hash = entry_hash(&entry);
        prev_hash = entry.hash;
        checkpoint_due |= seq % CHECKPOINT_EVERY == 0;
        let mut q = tx.sql();
        q.push(
            "INSERT INTO audit_log (seq, entry_id, at, actor, request_id, client_ip, action, \
             target_table, target_record, subject, detail, prev_hash, hash) VALUES (",
        )
        .param_list([
            seq_param(seq)?,
            Param::Uuid(entry.entry_id),
            Param::Timestamp(entry.at),
            Param::Text(entry.actor),
            opt_text(entry.request_id),
            opt_text(entry.client_ip),
            Param::Text(entry.action),
            opt_uuid(entry.table),
            opt_uuid(entry.record),
            opt_uuid(entry.subject),
            opt_bytes(entry.detail),
            Param::Bytes(entry.prev_hash.to_vec()),
            Param::Bytes(entry.hash.to_vec()),
        ])
        .push(")");
        tx.execute(q).await?;
    }
    let mut q = tx.sql();
    q.push("UPDATE audit_head SET seq = ")
        .param(seq_param(seq)?)
        .push(", hash = ")
        .param(Param::Bytes(prev_hash.to_vec()))
        .push(" WHERE id = 1");
    tx.execute(q).await?;
    if checkpoint_due {
        checkpoint(tx, keys).await?;
        index_pending(tx).await?;
    }
    Ok(())
}

/// Copies the filter columns of entries not yet in `audit_lookup` there, in one statement: the
/// admin API's indexes are written once per batch instead of in every change's commit. Runs
/// with the chain's head (a writer, or the head row lock) held, every [`CHECKPOINT_EVERY`]
/// entries and before every query.
pub(crate) async fn index_pending(tx: &mut Tx) -> Result<u64, StoreError> {
    if !dialect::links_audit_entries_inline(tx.dialect()) {
        let mut q = tx.sql();
        q.push("SELECT seq FROM audit_head WHERE id = 1")
            .push(dialect::for_update(tx.dialect()));
        tx.fetch_one(q).await?;
    }
    let mut q = tx.sql();
    q.push(
        "INSERT INTO audit_lookup (seq, at, actor, action, target_table, target_record) \
         SELECT seq, at, actor, action, target_table, target_record FROM audit_log \
         WHERE seq > (SELECT COALESCE(MAX(seq), 0) FROM audit_lookup) \
         ON CONFLICT (seq) DO NOTHING",
    );
    tx.execute(q).await
}

/// Writes an entry in `tx`, the transaction of the change it records. On SQLite (one writer
/// at a time anyway) it is linked at once; on PostgreSQL it is written unlinked and linked
/// right after commit by [`link_pending`], so concurrent writers of one tenant still commit
/// together. Returns whether linking is left to do.
pub(crate) async fn append(
    tx: &mut Tx,
    keys: &TenantKeys,
    who: &Snapshot,
    event: Event,
) -> Result<bool, StoreError> {
    let u = prepare(tx, keys, who, event).await?;
    if dialect::links_audit_entries_inline(tx.dialect()) {
        link(tx, keys, vec![u]).await?;
        return Ok(false);
    }
    let mut q = tx.sql();
    q.push(
        "INSERT INTO audit_pending (entry_id, at, actor, request_id, client_ip, action, \
         target_table, target_record, subject, detail) VALUES (",
    )
    .param_list([
        Param::Uuid(u.entry_id),
        Param::Timestamp(u.at),
        Param::Text(u.actor),
        opt_text(u.request_id),
        opt_text(u.client_ip),
        Param::Text(u.action),
        opt_uuid(u.table),
        opt_uuid(u.record),
        opt_uuid(u.subject),
        opt_bytes(u.detail),
    ])
    .push(")");
    tx.execute(q).await?;
    Ok(true)
}

/// Links every committed unlinked entry, in the order they were written, under the head row
/// lock. `wait`: queue for the lock (readers, verification, housekeeping, which must see
/// everything); otherwise leave the work to whoever holds it (writers, so that linking never
/// serializes them: the holder, or the next writer or reader, links their entries).
pub async fn link_pending(tx: &mut Tx, keys: &TenantKeys, wait: bool) -> Result<usize, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT seq FROM audit_head WHERE id = 1")
        .push(if wait {
            dialect::for_update(tx.dialect())
        } else {
            dialect::for_update_skip_locked(tx.dialect())
        });
    if tx.fetch_optional(q).await?.is_none() {
        return Ok(0);
    }
    let mut q = tx.sql();
    q.push(
        "SELECT pending_id, entry_id, at, actor, request_id, client_ip, action, target_table, \
         target_record, subject, detail FROM audit_pending ORDER BY pending_id LIMIT 10000",
    );
    let rows = tx.fetch_all(q).await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut ids = Vec::with_capacity(rows.len());
    let mut entries = Vec::with_capacity(rows.len());
    for r in &rows {
        ids.push(r.i64(0)?);
        entries.push(Unlinked {
            entry_id: r.uuid(1)?,
            at: r.timestamp(2)?,
            actor: r.text(3)?,
            request_id: r.opt_text(4)?,
            client_ip: r.opt_text(5)?,
            action: r.text(6)?,
            table: r.opt_uuid(7)?,
            record: r.opt_uuid(8)?,
            subject: r.opt_uuid(9)?,
            detail: r.opt_bytes(10)?,
        });
    }
    let n = entries.len();
    link(tx, keys, entries).await?;
    for chunk in ids.chunks(1000) {
        let mut q = tx.sql();
        q.push("DELETE FROM audit_pending WHERE pending_id IN (")
            .param_list(chunk.iter().map(|id| Param::I64(*id)))
            .push(")");
        tx.execute(q).await?;
    }
    Ok(n)
}

/// A signed statement that the chain had `hash` at `seq`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub seq: u64,
    #[serde(with = "hex_32")]
    pub hash: [u8; 32],
    pub at: DateTime<Utc>,
    pub key_version: u32,
    #[serde(with = "hex_vec")]
    pub signature: Vec<u8>,
}

mod hex_32 {
    pub fn serialize<S: serde::Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        hex::decode(text)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| serde::de::Error::custom("expected 64 hex digits"))
    }
}

mod hex_vec {
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text: String = serde::Deserialize::deserialize(d)?;
        hex::decode(text).map_err(serde::de::Error::custom)
    }
}

fn checkpoint_message(seq: u64, hash: &[u8; 32], at: DateTime<Utc>) -> Vec<u8> {
    let mut m = b"rampart/audit-checkpoint/v1".to_vec();
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(hash);
    m.extend_from_slice(&at.timestamp_micros().to_be_bytes());
    m
}

impl Checkpoint {
    /// Whether the signature holds, with the key the checkpoint names (an audit key; a data
    /// key version for checkpoints signed before audit keys existed).
    pub fn signature_valid(&self, keys: &TenantKeys) -> bool {
        keys.key(self.key_version).is_some_and(|k| {
            signing::verify(
                k,
                SIGNING_PURPOSE,
                &checkpoint_message(self.seq, &self.hash, self.at),
                &self.signature,
            )
        })
    }

    fn signed(key: &Key, key_version: u32, seq: u64, hash: [u8; 32]) -> Self {
        let at = crate::now();
        Self {
            seq,
            hash,
            at,
            key_version,
            signature: signing::sign(key, SIGNING_PURPOSE, &checkpoint_message(seq, &hash, at))
                .to_vec(),
        }
    }
}

pub fn checkpoint_from_row(r: &DbRow) -> Result<Checkpoint, StoreError> {
    Ok(Checkpoint {
        seq: u64::try_from(r.i64(0)?).map_err(|_| StoreError::internal("negative seq"))?,
        hash: hash32(r.bytes(1)?)?,
        at: r.timestamp(2)?,
        key_version: u32::try_from(r.i64(3)?)
            .map_err(|_| StoreError::internal("checkpoint key version"))?,
        signature: r.bytes(4)?,
    })
}

pub const CHECKPOINT_COLUMNS: &str =
    "SELECT seq, hash, at, key_version, signature FROM audit_checkpoints";

/// Signs the current head unless it is already signed; returns the latest checkpoint (none
/// for an empty chain).
pub async fn checkpoint(tx: &mut Tx, keys: &TenantKeys) -> Result<Option<Checkpoint>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT seq, hash FROM audit_head WHERE id = 1");
    let head = tx.fetch_one(q).await?;
    let seq = u64::try_from(head.i64(0)?).map_err(|_| StoreError::internal("audit seq"))?;
    if seq == 0 {
        return Ok(None);
    }
    let hash = hash32(head.bytes(1)?)?;
    let mut q = tx.sql();
    q.push(CHECKPOINT_COLUMNS)
        .push(" ORDER BY seq DESC LIMIT 1");
    if let Some(latest) = tx
        .fetch_optional(q)
        .await?
        .as_ref()
        .map(checkpoint_from_row)
    {
        let latest = latest?;
        if latest.seq == seq {
            return Ok(Some(latest));
        }
    }
    let version = keys
        .current_audit_version()
        .ok_or_else(|| StoreError::Keys("the tenant has no audit key".into()))?;
    let key = keys
        .key(version)
        .ok_or_else(|| StoreError::Keys("the tenant's current audit key is missing".into()))?;
    let cp = Checkpoint::signed(key, version, seq, hash);
    let mut q = tx.sql();
    q.push("INSERT INTO audit_checkpoints (seq, hash, at, key_version, signature) VALUES (")
        .param_list([
            Param::I64(i64::try_from(seq).map_err(|_| StoreError::internal("audit seq"))?),
            Param::Bytes(cp.hash.to_vec()),
            Param::Timestamp(cp.at),
            Param::I64(i64::from(version)),
            Param::Bytes(cp.signature.clone()),
        ])
        .push(") ON CONFLICT (seq) DO NOTHING");
    tx.execute(q).await?;
    Ok(Some(cp))
}
