//! Creating, renaming and dropping tables.

use rampart_core::field::FieldType;
use rampart_core::{FieldDef, FieldError, FieldId, Invalid, ProjectId, TableDef, TableId};
use rampart_sql::{Param, ParamType};

use crate::db::Tx;
use crate::error::StoreError;

use super::*;

/// Creates a table with its fields.
pub async fn create_table(
    tx: &mut Tx,
    project: ProjectId,
    name: String,
    fields: Vec<NewField>,
) -> Result<TableDef, StoreError> {
    crate::audit::note(tx, crate::audit::Action::SchemaTableCreate, None, Some(serde_json::json!({"project": project, "name": name, "fields": fields.iter().map(|f| f.name.clone()).collect::<Vec<_>>()}))).await?;
    crate::epoch::bump(tx).await?;
    let id = TableId::generate();
    let storage = next_storage(tx, "t").await?;
    let t = ident(&storage)?;
    let mut q = tx.sql();
    q.push("CREATE TABLE ")
        .ident(&t)
        .push(crate::db::dialect::record_table_columns(tx.dialect()));
    tx.execute(q).await?;
    let mut q = tx.sql();
    q.push("CREATE INDEX ")
        .ident(&ident(&format!("{storage}_owner"))?)
        .push(" ON ")
        .ident(&t)
        .push(" (owner, id)");
    tx.execute(q).await?;
    let mut q = tx.sql();
    q.push(
        "INSERT INTO data_tables (id, project_id, name, name_key, storage, schema_version, created_at) VALUES (",
    )
    .param_list([
        Param::Uuid(id.0),
        Param::Uuid(project.0),
        Param::Text(name.clone()),
        Param::Text(key(&name)),
        Param::Text(storage.clone()),
        Param::I64(1),
        Param::Timestamp(crate::now()),
    ])
    .push(")");
    match tx.execute(q).await {
        Ok(_) => {}
        Err(e) if crate::db::unique_violation(&e).is_some() => {
            return Err(StoreError::NameTaken { what: "table name" });
        }
        Err(e) => return Err(e),
    }
    let mut table = load_table(tx, id).await?.ok_or(StoreError::NotFound)?;
    let mut errors = Vec::new();
    for (i, f) in fields.into_iter().enumerate() {
        match add_field(tx, &table, f).await {
            Ok(t) => table = t,
            Err(StoreError::Invalid(inv)) => errors.extend(inv.errors.into_iter().map(|mut e| {
                e.field = format!("fields[{i}].{}", e.field);
                e
            })),
            Err(StoreError::NameTaken { .. }) => errors.push(FieldError::new(
                format!("fields[{i}].name"),
                "name_taken",
                "another field of this table has this name",
            )),
            Err(e) => return Err(e),
        }
    }
    if !errors.is_empty() {
        return Err(Invalid { errors }.into());
    }
    Ok(table)
}

pub async fn rename_table(
    tx: &mut Tx,
    table: &TableDef,
    name: String,
) -> Result<TableDef, StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::SchemaTableRename,
        None,
        Some(serde_json::json!({"table": table.id, "name": name})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let mut q = tx.sql();
    q.push("UPDATE data_tables SET name = ")
        .param(Param::Text(name.clone()))
        .push(", name_key = ")
        .param(Param::Text(key(&name)))
        .push(", schema_version = schema_version + 1 WHERE id = ")
        .param(Param::Uuid(table.id.0));
    match tx.execute(q).await {
        Ok(_) => {}
        Err(e) if crate::db::unique_violation(&e).is_some() => {
            return Err(StoreError::NameTaken { what: "table name" });
        }
        Err(e) => return Err(e),
    }
    load_table(tx, table.id).await?.ok_or(StoreError::NotFound)
}

/// Chooses the field that names the table's records; `None` returns to the default (the first
/// text-like field). The caller checks the field belongs to the table and can name records.
pub async fn set_primary_field(
    tx: &mut Tx,
    table: &TableDef,
    field: Option<FieldId>,
) -> Result<TableDef, StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::SchemaTablePrimaryField,
        None,
        Some(serde_json::json!({"table": table.id, "field": field})),
    )
    .await?;
    let mut q = tx.sql();
    q.push("UPDATE data_tables SET primary_field = ")
        .param(field.map_or(Param::Null(ParamType::Uuid), |f| Param::Uuid(f.0)))
        .push(" WHERE id = ")
        .param(Param::Uuid(table.id.0));
    tx.execute(q).await?;
    load_table(tx, table.id).await?.ok_or(StoreError::NotFound)
}

/// Link fields of other tables that point at `table`, as `table.field` names.
pub async fn incoming_links(
    tx: &mut Tx,
    table: TableId,
) -> Result<Vec<(TableDef, FieldDef)>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT DISTINCT table_id FROM data_fields WHERE link_table_id = ")
        .param(Param::Uuid(table.0));
    let sources: Vec<TableId> = tx
        .fetch_all(q)
        .await?
        .iter()
        .map(|r| r.uuid(0).map(TableId))
        .collect::<Result<_, _>>()?;
    let mut out = Vec::new();
    for source in sources {
        if let Some(t) = load_table(tx, source).await? {
            for f in &t.fields {
                if matches!(&f.field_type, FieldType::Link(o) if o.table_id == table) {
                    out.push((t.clone(), f.clone()));
                }
            }
        }
    }
    Ok(out)
}

/// Drops a table and its data. Refused while other tables link to it.
pub async fn drop_table(tx: &mut Tx, table: &TableDef) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::SchemaTableDelete,
        None,
        Some(serde_json::json!({"table": table.id, "name": table.name})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let foreign: Vec<String> = incoming_links(tx, table.id)
        .await?
        .into_iter()
        .filter(|(t, _)| t.id != table.id)
        .map(|(t, f)| format!("{}.{}", t.name, f.name))
        .collect();
    if !foreign.is_empty() {
        return Err(StoreError::TableReferenced { fields: foreign });
    }
    for f in &table.fields {
        if matches!(f.field_type, FieldType::Link(_)) {
            let mut q = tx.sql();
            q.push("DROP TABLE ").ident(&ident(&f.column)?);
            tx.execute(q).await?;
        }
    }
    let mut q = tx.sql();
    q.push("DROP TABLE ").ident(&ident(&table.storage)?);
    tx.execute(q).await?;
    let mut q = tx.sql();
    q.push("DELETE FROM data_fields WHERE table_id = ")
        .param(Param::Uuid(table.id.0));
    tx.execute(q).await?;
    let mut q = tx.sql();
    q.push("DELETE FROM data_tables WHERE id = ")
        .param(Param::Uuid(table.id.0));
    tx.execute(q).await?;
    Ok(())
}

/// Drops every table of a project (links between them included).
pub async fn drop_project_tables(tx: &mut Tx, project: ProjectId) -> Result<(), StoreError> {
    let tables = list_tables(tx, project).await?;
    // Link tables first, so no table is still pointed at when it is dropped.
    for t in &tables {
        for f in &t.fields {
            if matches!(f.field_type, FieldType::Link(_)) {
                delete_field(tx, t, f.id).await?;
            }
        }
    }
    for t in &tables {
        let fresh = load_table(tx, t.id).await?.ok_or(StoreError::NotFound)?;
        drop_table(tx, &fresh).await?;
    }
    Ok(())
}
