//! Tables and fields: metadata rows (with the names people chose) and the physical tables and
//! columns behind them (with names Rampart generates: `t<n>`, `c<n>`, `l<n>`). Renames touch
//! metadata only; a type change converts the data or refuses, naming the records that do not
//! convert.

mod fields;
mod tables;

pub use fields::*;
pub use tables::*;

use std::collections::BTreeMap;

use rampart_core::field::FieldType;
use rampart_core::{FieldDef, FieldId, ProjectId, RecordId, TableDef, TableId, Value};
use rampart_sql::{Ident, Param};

use crate::db::{DbRow, Tx};
use crate::error::StoreError;

/// Most record ids named in one error.
pub const MAX_LISTED: usize = 20;

/// A field to create.
#[derive(Debug, Clone)]
pub struct NewField {
    pub name: String,
    pub field_type: FieldType,
    pub required: bool,
    pub unique: bool,
    pub indexed: bool,
    pub default: Option<Value>,
    pub protection: rampart_core::schema::Protection,
}

/// Changes to a field; `None` leaves a property as it is.
#[derive(Debug, Clone, Default)]
pub struct FieldChange {
    pub name: Option<String>,
    pub field_type: Option<FieldType>,
    pub required: Option<bool>,
    pub unique: Option<bool>,
    pub indexed: Option<bool>,
    /// `Some(None)` removes the default.
    pub default: Option<Option<Value>>,
}

pub(crate) fn key(name: &str) -> String {
    name.to_lowercase()
}

pub(crate) fn ident(name: &str) -> Result<Ident, StoreError> {
    Ok(Ident::new(name)?)
}

pub(crate) fn unique_index(table: &str, column: &str) -> Result<Ident, StoreError> {
    ident(&format!("{table}_u_{column}"))
}

pub(crate) fn plain_index(table: &str, column: &str) -> Result<Ident, StoreError> {
    ident(&format!("{table}_i_{column}"))
}

/// The next number for a storage name in this tenant.
pub(crate) async fn next_storage(tx: &mut Tx, letter: &'static str) -> Result<String, StoreError> {
    let mut q = tx.sql();
    q.push("UPDATE counters SET value = value + 1 WHERE name = 'storage' RETURNING value");
    let n = tx.fetch_one(q).await?.i64(0)?;
    Ok(format!("{letter}{n}"))
}

pub(crate) async fn bump_version(tx: &mut Tx, table: TableId) -> Result<(), StoreError> {
    let mut q = tx.sql();
    q.push("UPDATE data_tables SET schema_version = schema_version + 1 WHERE id = ")
        .param(Param::Uuid(table.0));
    tx.execute(q).await?;
    Ok(())
}

pub(crate) fn field_from_row(row: &DbRow) -> Result<FieldDef, StoreError> {
    let field_type: FieldType = serde_json::from_str(&row.text(2)?)
        .map_err(|e| StoreError::internal(format!("stored field type: {e}")))?;
    let default = match row.opt_text(6)? {
        None => None,
        Some(text) => {
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| StoreError::internal(format!("stored default: {e}")))?;
            Some(
                Value::from_json(&field_type, &json, "default")
                    .map_err(|e| StoreError::internal(e.message))?,
            )
        }
    };
    Ok(FieldDef {
        id: FieldId(row.uuid(0)?),
        name: row.text(1)?,
        field_type,
        required: row.bool(3)?,
        unique: row.bool(4)?,
        indexed: row.bool(5)?,
        default,
        column: row.text(7)?,
        encrypted: row.bool(8)?,
        blind_index: row
            .opt_i64(9)?
            .map(|v| u32::try_from(v).map_err(|_| StoreError::internal("blind index key version")))
            .transpose()?,
    })
}

/// Loads a table with its fields.
pub async fn load_table(tx: &mut Tx, id: TableId) -> Result<Option<TableDef>, StoreError> {
    let mut q = tx.sql();
    q.push(
        "SELECT id, project_id, name, storage, schema_version, primary_field FROM data_tables \
         WHERE id = ",
    )
    .param(Param::Uuid(id.0));
    let Some(row) = tx.fetch_optional(q).await? else {
        return Ok(None);
    };
    let mut table = TableDef {
        id: TableId(row.uuid(0)?),
        project_id: ProjectId(row.uuid(1)?),
        name: row.text(2)?,
        storage: row.text(3)?,
        schema_version: row.i64(4)?,
        fields: Vec::new(),
        primary_field: row.opt_uuid(5)?.map(FieldId),
    };
    let mut q = tx.sql();
    q.push(
        "SELECT id, name, field_type, required, is_unique, indexed, default_value, storage, \
         encrypted, blind_index_key FROM data_fields WHERE table_id = ",
    )
    .param(Param::Uuid(id.0))
    .push(" ORDER BY position, id");
    table.fields = tx
        .fetch_all(q)
        .await?
        .iter()
        .map(field_from_row)
        .collect::<Result<_, _>>()?;
    Ok(Some(table))
}

/// Tables of a project, by name.
pub async fn list_tables(tx: &mut Tx, project: ProjectId) -> Result<Vec<TableDef>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT id FROM data_tables WHERE project_id = ")
        .param(Param::Uuid(project.0))
        .push(" ORDER BY name_key, id");
    let ids: Vec<TableId> = tx
        .fetch_all(q)
        .await?
        .iter()
        .map(|r| r.uuid(0).map(TableId))
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(t) = load_table(tx, id).await? {
            out.push(t);
        }
    }
    Ok(out)
}

pub(crate) fn listed(ids: &[RecordId], total: usize) -> String {
    let shown: Vec<String> = ids
        .iter()
        .take(MAX_LISTED)
        .map(ToString::to_string)
        .collect();
    let more = total.saturating_sub(shown.len());
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// Field values keyed by id; used by records.
pub type Values = BTreeMap<FieldId, Value>;
