//! The bulk path: many records with multi-row INSERTs.

use std::collections::BTreeMap;

use rampart_core::field::FieldType;
use rampart_core::{FieldDef, FieldId, Record, RecordId, TableDef, UserId, Value};
use rampart_rules::params::to_param;
use rampart_sql::Param;

use crate::db::Tx;
use crate::error::StoreError;
use crate::schema::ident;
use crate::storage_types::from_row;

use super::*;

/// Most parameters in one statement (SQLite allows 32766, PostgreSQL 65535).
pub(crate) const MAX_PARAMS: usize = 30_000;

/// How a bulk create is audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkAudit {
    /// One `record.create` entry per record, with its values (a batch of the API).
    PerRecord,
    /// One `record.import` entry for all of them: the job, the records' ids and a SHA-256 of
    /// their values in order, so the chain proves what the import created without an entry
    /// (and a sealed detail) per row.
    Batch { job: uuid::Uuid },
}

/// A row of the bulk path: its name in errors (`create[3]`) and its values, as `parse_input`
/// in create mode gave them.
pub trait NewRow: Sync {
    fn op(&self) -> &str;
    fn values(&self) -> &BTreeMap<FieldId, Value>;
}

impl NewRow for (String, BTreeMap<FieldId, Value>) {
    fn op(&self) -> &str {
        &self.0
    }
    fn values(&self) -> &BTreeMap<FieldId, Value> {
        &self.1
    }
}

/// Creates many records with multi-row INSERTs: the bulk path of batches and imports; returns
/// their ids in the order of `rows` (callers that show the records read them back).
/// Each row is named (`create[3]`) so that an error says which one failed; rows come from
/// `parse_input` in create mode with the path `<name>.fields`.
pub async fn create_many(
    tx: &mut Tx,
    table: &TableDef,
    rows: &[impl NewRow],
    actor: UserId,
    audit: BulkAudit,
) -> Result<Vec<RecordId>, StoreError> {
    let in_row = |op: &str, e: StoreError| StoreError::InBatch {
        op: op.to_owned(),
        source: Box::new(e),
    };
    for row in rows {
        check_references(tx, table, row.values(), &format!("{}.fields", row.op()))
            .await
            .map_err(|e| in_row(row.op(), e))?;
    }
    check_unique_among(tx, table, rows).await?;
    let now = crate::now();
    let columns: Vec<&FieldDef> = table
        .fields
        .iter()
        .filter(|f| !matches!(f.field_type, FieldType::Link(_)))
        .collect();
    let per_row = 6 + columns
        .iter()
        .map(|f| 1 + usize::from(f.blind_index.is_some()))
        .sum::<usize>();
    let rows_per_statement = (MAX_PARAMS / per_row).max(1);
    let ids: Vec<RecordId> = rows.iter().map(|_| RecordId::generate()).collect();
    let t = ident(&table.storage)?;
    let keys = tx.keys().ok();
    for (chunk_no, chunk) in rows.chunks(rows_per_statement).enumerate() {
        let mut q = tx.sql();
        q.push("INSERT INTO ")
            .ident(&t)
            .push(" (id, created_at, updated_at, created_by, owner, version");
        for f in &columns {
            for column in super::stored_columns(f)? {
                q.push(", ").ident(&column);
            }
        }
        q.push(") VALUES ");
        for (i, row) in chunk.iter().enumerate() {
            let values = row.values();
            let id = ids[chunk_no * rows_per_statement + i];
            q.push(if i == 0 { "(" } else { ", (" }).param_list([
                Param::Uuid(id.0),
                Param::Timestamp(now),
                Param::Timestamp(now),
                Param::Uuid(actor.0),
                Param::Uuid(actor.0),
                Param::I64(1),
            ]);
            for f in &columns {
                let value = values.get(&f.id).unwrap_or(&Value::Null);
                for (_, param) in super::stored_params(&keys, f, id, value)? {
                    q.push(", ").param(param);
                }
            }
            q.push(")");
        }
        tx.execute(q).await.map_err(|e| duplicate(table, e))?;
    }
    for (row, id) in rows.iter().zip(&ids) {
        let values = row.values();
        for f in &table.fields {
            if let (FieldType::Link(_), Some(Value::Links(links))) =
                (&f.field_type, values.get(&f.id))
            {
                write_links(tx, f, *id, links, false).await?;
            }
        }
    }
    match audit {
        BulkAudit::PerRecord => {
            for (row, id) in rows.iter().zip(&ids) {
                super::audit_change(
                    tx,
                    crate::audit::Action::RecordCreate,
                    table,
                    (*id, Some(actor)),
                    Some(super::changed_detail(table, row.values(), None)),
                )
                .await?;
            }
        }
        BulkAudit::Batch { job } => {
            let mut contents = Vec::new();
            for (row, id) in rows.iter().zip(&ids) {
                contents.extend_from_slice(id.0.as_bytes());
                let detail = super::changed_detail(table, row.values(), None).to_string();
                contents.extend_from_slice(&(detail.len() as u64).to_be_bytes());
                contents.extend_from_slice(detail.as_bytes());
            }
            let event = crate::audit::Event::new(crate::audit::Action::RecordImport)
                .table(table.id.0)
                .detail(serde_json::json!({
                    "job": job,
                    "records": ids.iter().map(|id| id.0).collect::<Vec<_>>(),
                    "sha256": hex::encode(rampart_crypto::sha256(&contents)),
                }));
            crate::audit::record(tx, event).await?;
        }
    }
    Ok(ids)
}

/// Finds the first row whose unique value repeats an earlier row's or a stored record's,
/// so the error can name it (the unique index stays the final guard).
pub(crate) async fn check_unique_among(
    tx: &mut Tx,
    table: &TableDef,
    rows: &[impl NewRow],
) -> Result<(), StoreError> {
    for f in table.fields.iter().filter(|f| f.unique) {
        let mut seen: Vec<&Value> = Vec::new();
        for row in rows {
            if let Some(v) = row.values().get(&f.id).filter(|v| !v.is_null()) {
                if seen.contains(&v) {
                    return Err(StoreError::InBatch {
                        op: row.op().to_owned(),
                        source: Box::new(StoreError::Duplicate {
                            field: f.name.clone(),
                        }),
                    });
                }
                seen.push(v);
            }
        }
        if let Some(version) = f.blind_index {
            // Compared through the blind index, one value at a time (the tag names it).
            for v in &seen {
                let mut q = tx.sql();
                q.push("SELECT 1 FROM ")
                    .ident(&ident(&table.storage)?)
                    .push(" WHERE ")
                    .ident(&ident(&f.index_column())?)
                    .push(" = ")
                    .param(Param::Blind {
                        key_version: version,
                        field: f.id.0,
                        canonical: crate::encryption::canonical(f, v),
                    })
                    .push(" LIMIT 1");
                if tx.fetch_optional(q).await?.is_some() {
                    let op = rows
                        .iter()
                        .find(|r| r.values().get(&f.id) == Some(*v))
                        .map_or_else(String::new, |r| r.op().to_owned());
                    return Err(StoreError::InBatch {
                        op,
                        source: Box::new(StoreError::Duplicate {
                            field: f.name.clone(),
                        }),
                    });
                }
            }
            continue;
        }
        for chunk in seen.chunks(500) {
            let mut q = tx.sql();
            let c = ident(&f.column)?;
            q.push("SELECT ")
                .ident(&c)
                .push(" FROM ")
                .ident(&ident(&table.storage)?)
                .push(" WHERE ")
                .ident(&c)
                .push(" IN (")
                .param_list(chunk.iter().map(|v| to_param(&f.field_type, v)))
                .push(") LIMIT 1");
            if let Some(row) = tx.fetch_optional(q).await? {
                let taken = from_row(&f.field_type, &row, 0)?;
                let op = rows
                    .iter()
                    .find(|r| r.values().get(&f.id) == Some(&taken))
                    .map_or_else(String::new, |r| r.op().to_owned());
                return Err(StoreError::InBatch {
                    op,
                    source: Box::new(StoreError::Duplicate {
                        field: f.name.clone(),
                    }),
                });
            }
        }
    }
    Ok(())
}

/// Reads records by id, in the order of `ids`.
pub async fn get_many(
    tx: &mut Tx,
    table: &TableDef,
    ids: &[RecordId],
) -> Result<Vec<Record>, StoreError> {
    let mut found: BTreeMap<RecordId, Record> = BTreeMap::new();
    let keys = tx.keys().ok();
    for chunk in ids.chunks(1000) {
        let mut q = tx.sql();
        push_select(&mut q, table)?;
        q.push(" WHERE t.id IN (")
            .param_list(chunk.iter().map(|id| Param::Uuid(id.0)))
            .push(")");
        for row in tx.fetch_all(q).await? {
            let r = record_from_row(table, &row, keys.as_deref())?;
            found.insert(r.id, r);
        }
    }
    Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
}
