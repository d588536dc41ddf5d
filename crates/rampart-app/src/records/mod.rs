//! Records under the caller's access: the one path by which anything reads or writes records.
//! Reads push the caller's read predicate into SQL and project only the fields their grants
//! show for each record; writes check the operation, the record's rule, every written field
//! and the owner, inside the transaction that writes.
//!
//! [`Scoped`] is a table as one caller may use it; its methods are the single-record use
//! cases ([`write`] holds the writes), [`list`] the lists (own, simulated, counted), [`batch`]
//! atomic batches, [`explain`] the "why may (not)" answers for builders, and [`export`] whole
//! tables as files ([`encode`] writes the formats, [`cells`] the cell forms import reads back),
//! and [`import`] reads files in.

pub mod batch;
pub mod cells;
pub mod encode;
pub mod explain;
pub mod export;
pub mod import;
pub mod list;
mod write;

use std::collections::BTreeSet;
use std::sync::Arc;

use rampart_auth::Principal;
use rampart_auth::authz::access::{TableAccess, UserFacts, WriteDenied};
use rampart_auth::authz::cache::AccessCache;
use rampart_auth::authz::definition::Op;
use rampart_core::{FieldError, FieldId, Record, RecordId, TableDef, TableId, UserId};
use rampart_sql::Sql;
use rampart_store::{Tx, records};

use crate::AppError;

/// A record's API form (`Record::api_form`), serialized once where it is projected.
pub type RecordJson = Box<serde_json::value::RawValue>;

/// The fields of a record to create or change, by field name as a client writes them.
pub type FieldValues = serde_json::Map<String, serde_json::Value>;

/// A record to create.
#[derive(Debug, Clone, Default)]
pub struct NewRecord {
    pub fields: FieldValues,
    /// Another owner than the caller (needs write access to `owner`).
    pub owner: Option<UserId>,
}

/// A change to a record at a version.
#[derive(Debug, Clone)]
pub struct Change {
    pub id: RecordId,
    pub version: Option<i64>,
    pub fields: FieldValues,
    pub owner: Option<UserId>,
}

/// A deletion at a version.
#[derive(Debug, Clone, Copy)]
pub struct Deletion {
    pub id: RecordId,
    pub version: Option<i64>,
}

fn serialize(
    record: &Record,
    table: &TableDef,
    visible: impl Fn(FieldId) -> bool,
) -> Result<RecordJson, AppError> {
    serde_json::value::to_raw_value(&record.api_form(table, visible))
        .map_err(|e| AppError::internal(&e))
}

/// A table as one caller may use it.
#[derive(Debug)]
pub struct Scoped {
    pub access: Arc<TableAccess>,
    pub facts: Arc<UserFacts>,
}

/// Loads the caller's access to a table; a table they may not know about is "not found".
pub async fn scoped(
    tx: &mut Tx,
    cache: &AccessCache,
    principal: &Principal,
    table: TableId,
) -> Result<Scoped, AppError> {
    let (facts, access) = cache.get(tx, principal, table).await?;
    let access = access.ok_or(AppError::NotFound)?;
    if !access.visible() {
        if rampart_auth::authz::blocked_by_second_factor(tx, principal, access.table.project_id)
            .await?
        {
            return Err(AppError::SecondFactorRequired);
        }
        return Err(AppError::NotFound);
    }
    Ok(Scoped { access, facts })
}

/// Why a write is refused, as the caller is told.
pub fn forbidden(denied: WriteDenied) -> AppError {
    match denied {
        WriteDenied::Operation(op) => AppError::forbidden(
            "forbidden",
            format!(
                "your permissions do not allow {} on this record",
                op.as_str()
            ),
        ),
        WriteDenied::Field(name) => AppError::Forbidden {
            code: "field_not_writable",
            detail: format!("your permissions do not allow writing the field {name:?}"),
            errors: vec![FieldError::new(
                if name == "owner" {
                    "owner".to_owned()
                } else {
                    format!("fields.{name}")
                },
                "field_not_writable",
                "you may not write this field",
            )],
        },
    }
}

fn true_sql(tx: &Tx) -> Sql {
    let mut s = tx.sql();
    s.push("TRUE");
    s
}

impl Scoped {
    fn dialect_sql(&self, tx: &Tx, op: Op) -> Result<Option<Sql>, AppError> {
        Ok(self.access.predicate_sql(op, &self.facts, tx.dialect())?)
    }

    /// The caller's read predicate, or `TRUE`.
    pub fn visible_sql(&self, tx: &Tx) -> Result<Option<Sql>, AppError> {
        self.dialect_sql(tx, Op::Read)
    }

    pub fn read_flags(&self, tx: &Tx) -> Result<Vec<Sql>, AppError> {
        Ok(self.access.read_flags(&self.facts, tx.dialect())?)
    }

    /// A record as this caller sees it.
    pub fn project(&self, record: &Record, flags: &[bool]) -> Result<RecordJson, AppError> {
        let visible = self.access.visible_fields(flags);
        serialize(record, &self.access.table, |f| visible.contains(&f))
    }

    /// Records as this caller sees them, each with its flag answers. Records with the same
    /// answers show the same fields, so those are worked out once per distinct answer.
    pub fn project_all(
        &self,
        records: &[Record],
        flags: &[Vec<bool>],
    ) -> Result<Vec<RecordJson>, AppError> {
        let mut seen: Vec<(&[bool], BTreeSet<FieldId>)> = Vec::new();
        let mut out = Vec::with_capacity(records.len());
        for (record, answers) in records.iter().zip(flags) {
            let at = match seen.iter().position(|(a, _)| *a == answers.as_slice()) {
                Some(i) => i,
                None => {
                    seen.push((answers, self.access.visible_fields(answers)));
                    seen.len() - 1
                }
            };
            let visible = &seen[at].1;
            out.push(serialize(record, &self.access.table, |f| {
                visible.contains(&f)
            })?);
        }
        Ok(out)
    }

    /// Reads one record the caller may read.
    pub async fn get(&self, tx: &mut Tx, id: RecordId) -> Result<RecordJson, AppError> {
        if !self.access.allows(Op::Read) {
            return Err(AppError::NotFound);
        }
        let visible = self.visible_sql(tx)?;
        let flags = self.read_flags(tx)?;
        let (record, answers) = records::get_visible(tx, &self.access.table, id, visible, &flags)
            .await?
            .ok_or(AppError::NotFound)?;
        self.project(&record, &answers)
    }
}

/// Reads one record (the use case `GET /tables/{t}/records/{r}`).
pub async fn get(
    tx: &mut Tx,
    cache: &AccessCache,
    principal: &Principal,
    table: TableId,
    id: RecordId,
) -> Result<RecordJson, AppError> {
    scoped(tx, cache, principal, table).await?.get(tx, id).await
}

/// Creates one record, owned by the caller unless they may give it to `owner`.
pub async fn create(
    tx: &mut Tx,
    cache: &AccessCache,
    principal: &Principal,
    table: TableId,
    fields: &FieldValues,
    owner: Option<UserId>,
) -> Result<RecordJson, AppError> {
    scoped(tx, cache, principal, table)
        .await?
        .create(tx, fields, owner, "fields")
        .await
}

/// Changes the given fields of a record at its `version` (`None`: refused, the version is how
/// concurrent changes are told apart).
pub async fn update(
    tx: &mut Tx,
    cache: &AccessCache,
    principal: &Principal,
    table: TableId,
    change: Change,
) -> Result<RecordJson, AppError> {
    let version = change.version.ok_or_else(version_required)?;
    scoped(tx, cache, principal, table)
        .await?
        .update(
            tx,
            change.id,
            version,
            &change.fields,
            change.owner,
            "fields",
        )
        .await
}

/// Deletes a record at `version`; links pointing at it follow their field's policy.
pub async fn delete(
    tx: &mut Tx,
    cache: &AccessCache,
    principal: &Principal,
    table: TableId,
    id: RecordId,
    version: Option<i64>,
) -> Result<(), AppError> {
    let version = version.ok_or_else(version_required)?;
    scoped(tx, cache, principal, table)
        .await?
        .delete(tx, id, version)
        .await
}

fn version_required() -> AppError {
    AppError::VersionRequired {
        detail: "send the record's current version to change or delete it".into(),
    }
}
