//! Adding, changing (including type conversion) and deleting fields, with their indexes
//! and link tables.

use rampart_core::field::{FieldKind, FieldType, LinkOptions};
use rampart_core::{FieldDef, FieldId, Invalid, RecordId, TableDef, Value};
use rampart_rules::params::to_param;
use rampart_sql::{Param, ParamType};

use crate::db::Tx;
use crate::db::dialect;
use crate::error::StoreError;
use crate::storage_types::from_row;

use super::*;

pub(crate) async fn create_indexes(
    tx: &mut Tx,
    table: &TableDef,
    field: &FieldDef,
) -> Result<(), StoreError> {
    let t = ident(&table.storage)?;
    // An encrypted field is indexed through its blind index (always, so equality filters
    // never scan); a plain field through its own column when asked.
    let c = ident(&field.index_column())?;
    if field.unique {
        let mut q = tx.sql();
        q.push("CREATE UNIQUE INDEX ")
            .ident(&unique_index(&table.storage, &field.column)?)
            .push(" ON ")
            .ident(&t)
            .push(" (")
            .ident(&c)
            .push(")");
        if let Err(e) = tx.execute(q).await {
            return Err(if crate::db::unique_violation(&e).is_some() {
                Invalid::one(
                    "unique",
                    "duplicate_values",
                    "existing records have duplicate values",
                )
                .into()
            } else {
                e
            });
        }
    }
    if field.indexed || field.blind_index.is_some() {
        let mut q = tx.sql();
        q.push("CREATE INDEX IF NOT EXISTS ")
            .ident(&plain_index(&table.storage, &field.column)?)
            .push(" ON ")
            .ident(&t)
            .push(" (")
            .ident(&c)
            .push(", id)");
        tx.execute(q).await?;
    }
    Ok(())
}

pub(crate) async fn drop_indexes(
    tx: &mut Tx,
    table: &TableDef,
    field: &FieldDef,
) -> Result<(), StoreError> {
    for (on, name) in [
        (field.unique, unique_index(&table.storage, &field.column)?),
        (
            field.indexed || field.blind_index.is_some(),
            plain_index(&table.storage, &field.column)?,
        ),
    ] {
        if on {
            let mut q = tx.sql();
            q.push("DROP INDEX IF EXISTS ").ident(&name);
            tx.execute(q).await?;
        }
    }
    let mut q = tx.sql();
    q.push("DROP INDEX IF EXISTS ")
        .ident(&rule_index(&table.storage, &field.column)?);
    tx.execute(q).await?;
    Ok(())
}

pub(crate) async fn create_link_table(
    tx: &mut Tx,
    table: &TableDef,
    storage: &str,
    target: &TableDef,
    options: &LinkOptions,
) -> Result<(), StoreError> {
    let l = ident(storage)?;
    let key_type = crate::db::dialect::uuid_type(tx.dialect());
    let mut q = tx.sql();
    q.push("CREATE TABLE ")
        .ident(&l)
        .push(" (src ")
        .push(key_type)
        .push(" NOT NULL REFERENCES ")
        .ident(&ident(&table.storage)?)
        .push(" (id) ON DELETE CASCADE, dst ")
        .push(key_type)
        .push(" NOT NULL REFERENCES ")
        .ident(&ident(&target.storage)?)
        .push(" (id) ON DELETE CASCADE, pos INTEGER NOT NULL, PRIMARY KEY (src, dst))");
    tx.execute(q).await?;
    let mut q = tx.sql();
    q.push("CREATE INDEX ")
        .ident(&ident(&format!("{storage}_dst"))?)
        .push(" ON ")
        .ident(&l)
        .push(" (dst, src)");
    tx.execute(q).await?;
    if !options.multiple {
        single_link_index(tx, storage, true).await?;
    }
    Ok(())
}

pub(crate) async fn single_link_index(
    tx: &mut Tx,
    storage: &str,
    create: bool,
) -> Result<(), StoreError> {
    let name = ident(&format!("{storage}_one"))?;
    let mut q = tx.sql();
    if create {
        q.push("CREATE UNIQUE INDEX ")
            .ident(&name)
            .push(" ON ")
            .ident(&ident(storage)?)
            .push(" (src)");
    } else {
        q.push("DROP INDEX IF EXISTS ").ident(&name);
    }
    tx.execute(q).await?;
    Ok(())
}

pub(crate) async fn count_records(tx: &mut Tx, table: &TableDef) -> Result<i64, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT COUNT(*) FROM ")
        .ident(&ident(&table.storage)?);
    tx.fetch_one(q).await?.i64(0)
}

/// Adds a field. A required field added to a table with records needs a default, which is
/// written into the existing records.
pub async fn add_field(
    tx: &mut Tx,
    table: &TableDef,
    new: NewField,
) -> Result<TableDef, StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::SchemaFieldAdd,
        None,
        Some(serde_json::json!({"table": table.id, "name": new.name})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    if table.name_taken(&new.name, None) {
        return Err(StoreError::NameTaken { what: "field name" });
    }
    let flag_errors = rampart_core::schema::check_field_flags(
        &new.field_type,
        new.unique,
        new.indexed,
        new.default.as_ref(),
        new.protection,
    );
    if !flag_errors.is_empty() {
        return Err(Invalid {
            errors: flag_errors,
        }
        .into());
    }
    // A blind index keeps the data key version current at its making for good.
    let blind_index = if new.protection.blind_index {
        Some(
            tx.keys()?
                .current_version()
                .ok_or_else(|| StoreError::Keys("the tenant has no current data key".into()))?,
        )
    } else {
        None
    };
    let mut link_target = None;
    if let FieldType::Link(o) = &new.field_type {
        let target = load_table(tx, o.table_id)
            .await?
            .filter(|t| t.project_id == table.project_id)
            .ok_or_else(|| {
                Invalid::one(
                    "options.table_id",
                    "unknown_table",
                    "no such table in this project",
                )
            })?;
        link_target = Some((target, o.clone()));
    }
    let has_records = count_records(tx, table).await? > 0;
    let default = new.default.clone().filter(|d| !d.is_null());
    if new.required && has_records && default.is_none() {
        return Err(Invalid::one(
            "required",
            "default_needed",
            "a required field added to a table with records needs a default for them",
        )
        .into());
    }
    let storage = next_storage(tx, if link_target.is_some() { "l" } else { "c" }).await?;
    let field = FieldDef {
        id: FieldId::generate(),
        name: new.name,
        field_type: new.field_type,
        required: new.required,
        unique: new.unique,
        indexed: new.indexed,
        default,
        column: storage.clone(),
        encrypted: new.protection.encrypted,
        blind_index,
    };
    match &link_target {
        Some((target, options)) => {
            let target = if target.id == table.id { table } else { target };
            create_link_table(tx, table, &storage, target, options).await?;
        }
        None => {
            add_columns(tx, table, &field).await?;
            if let (true, Some(d)) = (has_records, &field.default) {
                fill_nulls(tx, table, &field, d).await?;
            }
            create_indexes(tx, table, &field).await?;
        }
    }
    insert_field_row(tx, table, &field).await?;
    bump_version(tx, table.id).await?;
    load_table(tx, table.id).await?.ok_or(StoreError::NotFound)
}

/// Adds a field's column (and its blind index column).
async fn add_columns(tx: &mut Tx, table: &TableDef, field: &FieldDef) -> Result<(), StoreError> {
    let mut columns = vec![field.column.clone()];
    if field.blind_index.is_some() {
        columns.push(field.index_column());
    }
    for (i, column) in columns.iter().enumerate() {
        let mut q = tx.sql();
        q.push("ALTER TABLE ")
            .ident(&ident(&table.storage)?)
            .push(" ADD COLUMN ")
            .ident(&ident(column)?)
            .push(" ");
        if field.encrypted || i > 0 {
            q.push(crate::db::dialect::bytes_type(tx.dialect()));
        } else {
            q.push(dialect::column_type(q.dialect(), &field.field_type));
        }
        tx.execute(q).await?;
    }
    Ok(())
}

/// Sets `value` where the field is null: one statement for a plain field, and a value sealed
/// for each record (bound to it) for an encrypted one.
async fn fill_nulls(
    tx: &mut Tx,
    table: &TableDef,
    field: &FieldDef,
    value: &Value,
) -> Result<(), StoreError> {
    let t = ident(&table.storage)?;
    let c = ident(&field.column)?;
    if !field.encrypted {
        let mut q = tx.sql();
        q.push("UPDATE ")
            .ident(&t)
            .push(" SET ")
            .ident(&c)
            .push(" = ")
            .param(to_param(&field.field_type, value))
            .push(" WHERE ")
            .ident(&c)
            .push(" IS NULL");
        tx.execute(q).await?;
        return Ok(());
    }
    let keys = tx.keys()?;
    let mut q = tx.sql();
    q.push("SELECT id FROM ")
        .ident(&t)
        .push(" WHERE ")
        .ident(&c)
        .push(" IS NULL");
    let ids: Vec<RecordId> = tx
        .fetch_all(q)
        .await?
        .iter()
        .map(|r| r.uuid(0).map(RecordId))
        .collect::<Result<_, _>>()?;
    for id in ids {
        let (sealed, tag) = crate::encryption::params(&keys, field, id, value)?;
        let mut q = tx.sql();
        q.push("UPDATE ")
            .ident(&t)
            .push(" SET ")
            .ident(&c)
            .push(" = ")
            .param(sealed);
        if let Some(tag) = tag {
            q.push(", ")
                .ident(&ident(&field.index_column())?)
                .push(" = ")
                .param(tag);
        }
        q.push(" WHERE id = ").param(Param::Uuid(id.0));
        tx.execute(q).await?;
    }
    Ok(())
}

pub(crate) fn type_json(ty: &FieldType) -> Result<String, StoreError> {
    serde_json::to_string(ty).map_err(|e| StoreError::internal(e.to_string()))
}

pub(crate) fn default_json(field: &FieldDef) -> Param {
    match &field.default {
        Some(v) if !v.is_null() => Param::Text(v.to_json(&field.field_type).to_string()),
        _ => Param::Null(ParamType::Text),
    }
}

pub(crate) async fn insert_field_row(
    tx: &mut Tx,
    table: &TableDef,
    field: &FieldDef,
) -> Result<(), StoreError> {
    let link_table = match &field.field_type {
        FieldType::Link(o) => Param::Uuid(o.table_id.0),
        _ => Param::Null(ParamType::Uuid),
    };
    let mut q = tx.sql();
    q.push(
        "INSERT INTO data_fields (id, table_id, name, name_key, field_type, required, is_unique, indexed, \
         default_value, storage, encrypted, blind_index_key, position, link_table_id, created_at) VALUES (",
    )
    .param_list([
        Param::Uuid(field.id.0),
        Param::Uuid(table.id.0),
        Param::Text(field.name.clone()),
        Param::Text(key(&field.name)),
        Param::Text(type_json(&field.field_type)?),
        Param::Bool(field.required),
        Param::Bool(field.unique),
        Param::Bool(field.indexed),
        default_json(field),
        Param::Text(field.column.clone()),
        Param::Bool(field.encrypted),
        field
            .blind_index
            .map_or(Param::Null(ParamType::I64), |v| Param::I64(i64::from(v))),
    ])
    .push(", (SELECT COALESCE(MAX(position), 0) + 1 FROM data_fields WHERE table_id = ")
    .param(Param::Uuid(table.id.0))
    .push("), ")
    .param(link_table)
    .push(", ")
    .param(Param::Timestamp(crate::now()))
    .push(")");
    match tx.execute(q).await {
        Ok(_) => Ok(()),
        Err(e) if crate::db::unique_violation(&e).is_some() => {
            Err(StoreError::NameTaken { what: "field name" })
        }
        Err(e) => Err(e),
    }
}

pub(crate) async fn update_field_row(tx: &mut Tx, field: &FieldDef) -> Result<(), StoreError> {
    let mut q = tx.sql();
    q.push("UPDATE data_fields SET name = ")
        .param(Param::Text(field.name.clone()))
        .push(", name_key = ")
        .param(Param::Text(key(&field.name)))
        .push(", field_type = ")
        .param(Param::Text(type_json(&field.field_type)?))
        .push(", required = ")
        .param(Param::Bool(field.required))
        .push(", is_unique = ")
        .param(Param::Bool(field.unique))
        .push(", indexed = ")
        .param(Param::Bool(field.indexed))
        .push(", default_value = ")
        .param(default_json(field))
        .push(", storage = ")
        .param(Param::Text(field.column.clone()))
        .push(" WHERE id = ")
        .param(Param::Uuid(field.id.0));
    match tx.execute(q).await {
        Ok(_) => Ok(()),
        Err(e) if crate::db::unique_violation(&e).is_some() => {
            Err(StoreError::NameTaken { what: "field name" })
        }
        Err(e) => Err(e),
    }
}

/// Records whose value of a (non-link) column is null.
pub(crate) async fn records_with_null(
    tx: &mut Tx,
    table: &TableDef,
    field: &FieldDef,
) -> Result<Vec<RecordId>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT id FROM ")
        .ident(&ident(&table.storage)?)
        .push(" t WHERE ");
    if let FieldType::Link(_) = field.field_type {
        q.push("NOT EXISTS (SELECT 1 FROM ")
            .ident(&ident(&field.column)?)
            .push(" l WHERE l.src = t.id)");
    } else {
        q.push("t.").ident(&ident(&field.column)?).push(" IS NULL");
    }
    q.push(" ORDER BY id LIMIT ")
        .param(Param::I64(MAX_LISTED as i64 + 1));
    tx.fetch_all(q)
        .await?
        .iter()
        .map(|r| r.uuid(0).map(RecordId))
        .collect()
}

/// Changes a field. Renames and flag changes touch metadata and indexes; a type change
/// converts every value, or refuses listing the records whose values do not convert.
pub async fn change_field(
    tx: &mut Tx,
    table: &TableDef,
    field_id: FieldId,
    change: FieldChange,
) -> Result<TableDef, StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::SchemaFieldChange,
        None,
        Some(serde_json::json!({"table": table.id, "field": field_id})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let old = table.field(field_id).ok_or(StoreError::NotFound)?.clone();
    let mut new = old.clone();
    if let Some(name) = change.name {
        if table.name_taken(&name, Some(field_id)) {
            return Err(StoreError::NameTaken { what: "field name" });
        }
        new.name = name;
    }
    if let Some(ty) = change.field_type {
        new.field_type = ty;
    }
    if let Some(v) = change.required {
        new.required = v;
    }
    if let Some(v) = change.unique {
        new.unique = v;
    }
    if let Some(v) = change.indexed {
        new.indexed = v;
    }
    let type_changed = new.field_type != old.field_type;
    match change.default {
        Some(d) => new.default = d.filter(|v| !v.is_null()),
        // Keep the old default only if it still fits the new type.
        None if type_changed => {
            new.default = old
                .default
                .as_ref()
                .and_then(|d| d.convert(&old.field_type, &new.field_type))
                .filter(|v| !v.is_null());
        }
        None => {}
    }
    if old.encrypted && type_changed {
        return Err(Invalid::one(
            "type",
            "unsupported_conversion",
            "an encrypted field keeps its type; create a new field and copy the values",
        )
        .into());
    }
    let flag_errors = rampart_core::schema::check_field_flags(
        &new.field_type,
        new.unique,
        new.indexed,
        new.default.as_ref(),
        rampart_core::schema::Protection {
            encrypted: new.encrypted,
            blind_index: new.blind_index.is_some(),
        },
    );
    if !flag_errors.is_empty() {
        return Err(Invalid {
            errors: flag_errors,
        }
        .into());
    }

    match (&old.field_type, &new.field_type) {
        (FieldType::Link(a), FieldType::Link(b)) => {
            if a.table_id != b.table_id {
                return Err(Invalid::one(
                    "options.table_id",
                    "unsupported_conversion",
                    "a link field cannot point at another table; create a new field",
                )
                .into());
            }
            if a.multiple && !b.multiple {
                let mut q = tx.sql();
                q.push("SELECT src FROM ")
                    .ident(&ident(&old.column)?)
                    .push(" GROUP BY src HAVING COUNT(*) > 1 ORDER BY src LIMIT ")
                    .param(Param::I64(MAX_LISTED as i64 + 1));
                let many: Vec<RecordId> = tx
                    .fetch_all(q)
                    .await?
                    .iter()
                    .map(|r| r.uuid(0).map(RecordId))
                    .collect::<Result<_, _>>()?;
                if !many.is_empty() {
                    return Err(Invalid::one(
                        "options.multiple",
                        "conversion_failed",
                        format!(
                            "these records link to several records: {}",
                            listed(&many, many.len())
                        ),
                    )
                    .into());
                }
                single_link_index(tx, &old.column, true).await?;
            } else if !a.multiple && b.multiple {
                single_link_index(tx, &old.column, false).await?;
            }
        }
        (FieldType::Link(_), _) | (_, FieldType::Link(_)) => {
            return Err(Invalid::one(
                "type",
                "unsupported_conversion",
                "fields cannot be converted to or from links; create a new field",
            )
            .into());
        }
        _ if type_changed => {
            drop_indexes(tx, table, &old).await?;
            new.column = convert_column(tx, table, &old, &new.field_type).await?;
            create_indexes(tx, table, &new).await?;
        }
        _ => {
            if old.unique != new.unique || old.indexed != new.indexed {
                let removed = FieldDef {
                    unique: old.unique && !new.unique,
                    indexed: old.indexed && !new.indexed,
                    ..old.clone()
                };
                drop_indexes(tx, table, &removed).await?;
                let added = FieldDef {
                    unique: new.unique && !old.unique,
                    indexed: new.indexed && !old.indexed,
                    ..new.clone()
                };
                create_indexes(tx, table, &added).await?;
            }
        }
    }

    if new.required && (!old.required || type_changed) {
        if let (Some(d), false) = (&new.default, matches!(new.field_type, FieldType::Link(_))) {
            fill_nulls(tx, table, &new, d).await?;
        }
        let missing = records_with_null(tx, table, &new).await?;
        if !missing.is_empty() {
            return Err(Invalid::one(
                "required",
                "missing_values",
                format!(
                    "these records have no value: {}",
                    listed(&missing, missing.len())
                ),
            )
            .into());
        }
    }
    update_field_row(tx, &new).await?;
    bump_version(tx, table.id).await?;
    load_table(tx, table.id).await?.ok_or(StoreError::NotFound)
}

/// Moves a column's values into a new column of the new type; returns the new column's name.
pub(crate) async fn convert_column(
    tx: &mut Tx,
    table: &TableDef,
    old: &FieldDef,
    to: &FieldType,
) -> Result<String, StoreError> {
    let t = ident(&table.storage)?;
    let old_c = ident(&old.column)?;
    let mut q = tx.sql();
    q.push("SELECT id, ")
        .ident(&old_c)
        .push(" FROM ")
        .ident(&t)
        .push(" ORDER BY id");
    let rows = tx.fetch_all(q).await?;
    let mut converted: Vec<(RecordId, Value)> = Vec::with_capacity(rows.len());
    let mut failed: Vec<RecordId> = Vec::new();
    let mut failed_count = 0usize;
    for row in &rows {
        let id = RecordId(row.uuid(0)?);
        let value = from_row(&old.field_type, row, 1)?;
        match value.convert(&old.field_type, to) {
            Some(v) => {
                if !v.is_null() {
                    converted.push((id, v));
                }
            }
            None => {
                failed_count += 1;
                if failed.len() < MAX_LISTED {
                    failed.push(id);
                }
            }
        }
    }
    if failed_count > 0 {
        return Err(Invalid::one(
            "type",
            "conversion_failed",
            format!(
                "{failed_count} record(s) have values that do not convert: {}",
                listed(&failed, failed_count)
            ),
        )
        .into());
    }
    let storage = next_storage(tx, "c").await?;
    let new_c = ident(&storage)?;
    let mut q = tx.sql();
    q.push("ALTER TABLE ")
        .ident(&t)
        .push(" ADD COLUMN ")
        .ident(&new_c)
        .push(" ");
    q.push(dialect::column_type(q.dialect(), to));
    tx.execute(q).await?;
    for (id, value) in converted {
        let mut q = tx.sql();
        q.push("UPDATE ")
            .ident(&t)
            .push(" SET ")
            .ident(&new_c)
            .push(" = ")
            .param(to_param(to, &value))
            .push(" WHERE id = ")
            .param(Param::Uuid(id.0));
        tx.execute(q).await?;
    }
    let mut q = tx.sql();
    q.push("ALTER TABLE ")
        .ident(&t)
        .push(" DROP COLUMN ")
        .ident(&old_c);
    tx.execute(q).await?;
    Ok(storage)
}

/// Deletes a field and its data.
pub async fn delete_field(
    tx: &mut Tx,
    table: &TableDef,
    field_id: FieldId,
) -> Result<TableDef, StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::SchemaFieldDelete,
        None,
        Some(serde_json::json!({"table": table.id, "field": field_id})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let field = table.field(field_id).ok_or(StoreError::NotFound)?.clone();
    if field.field_type.kind() == FieldKind::Link {
        let mut q = tx.sql();
        q.push("DROP TABLE ").ident(&ident(&field.column)?);
        tx.execute(q).await?;
    } else {
        drop_indexes(tx, table, &field).await?;
        let mut columns = vec![field.column.clone()];
        if field.blind_index.is_some() {
            columns.push(field.index_column());
        }
        for column in columns {
            let mut q = tx.sql();
            q.push("ALTER TABLE ")
                .ident(&ident(&table.storage)?)
                .push(" DROP COLUMN ")
                .ident(&ident(&column)?);
            tx.execute(q).await?;
        }
    }
    let mut q = tx.sql();
    q.push("DELETE FROM data_fields WHERE id = ")
        .param(Param::Uuid(field.id.0));
    tx.execute(q).await?;
    bump_version(tx, table.id).await?;
    load_table(tx, table.id).await?.ok_or(StoreError::NotFound)
}

fn rule_index(table: &str, column: &str) -> Result<rampart_sql::Ident, StoreError> {
    ident(&format!("{table}_r_{column}"))
}

/// Creates, if missing, the `(column, id)` index a record rule comparing this field needs, so
/// that the rule's branch of a list is an index range scan.
pub async fn ensure_rule_index(
    tx: &mut Tx,
    table: &TableDef,
    field: &FieldDef,
) -> Result<(), StoreError> {
    // Encrypted fields are always indexed through their blind index already.
    if matches!(field.field_type, FieldType::Link(_))
        || !field.field_type.is_scalar_column()
        || field.encrypted
    {
        return Ok(());
    }
    let mut q = tx.sql();
    q.push("CREATE INDEX IF NOT EXISTS ")
        .ident(&rule_index(&table.storage, &field.column)?)
        .push(" ON ")
        .ident(&ident(&table.storage)?)
        .push(" (")
        .ident(&ident(&field.column)?)
        .push(", id)");
    tx.execute(q).await?;
    Ok(())
}
