//! Tables and fields of a project: what the caller may see of them (only the fields their
//! grants let them know of) and the builders' changes (project admins), each checked with
//! `authz::authorize` inside the transaction that makes it.

use rampart_auth::Principal;
use rampart_auth::authz;
use rampart_auth::authz::access::{TableAccess, table_access, user_facts};
use rampart_auth::authz::cache::AccessCache;
use rampart_core::field::{FieldKind, FieldType};
use rampart_core::{FieldId, ProjectId, TableAction, TableDef, TableId, Value};
use rampart_store::Tx;
use rampart_store::schema::{self, FieldChange, NewField};

use crate::AppError;

/// The most fields a table may have.
pub const MAX_FIELDS: usize = 500;

/// A table as one caller sees it: only the fields their grants let them know of.
pub fn visible(access: &TableAccess) -> TableDef {
    let mut t = access.table.clone();
    t.fields.retain(|f| access.knows_field(f.id));
    t
}

/// Loads a table and checks the caller may perform `action` in its project; a table the
/// caller may not see is "not found".
pub async fn authorized_table(
    tx: &mut Tx,
    caller: &Principal,
    table_id: TableId,
    action: TableAction,
) -> Result<(TableDef, authz::Grant), AppError> {
    let table = schema::load_table(tx, table_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let grant = authz::authorize(tx, caller, table.project_id, action).await??;
    Ok((table, grant))
}

/// A project's tables the caller may see, each with the fields they may know of.
pub async fn list_tables(
    tx: &mut Tx,
    principal: &Principal,
    project: ProjectId,
) -> Result<Vec<TableDef>, AppError> {
    authz::authorize(tx, principal, project, TableAction::ReadRecords).await??;
    let facts = user_facts(tx, principal).await?;
    let mut out = Vec::new();
    for t in schema::list_tables(tx, project).await? {
        if let Some(access) = table_access(tx, &facts, t.id).await?
            && access.visible()
        {
            out.push(visible(&access));
        }
    }
    Ok(out)
}

/// One table as the caller may see it.
pub async fn get_table(
    tx: &mut Tx,
    cache: &AccessCache,
    principal: &Principal,
    table: TableId,
) -> Result<TableDef, AppError> {
    let scoped = crate::records::scoped(tx, cache, principal, table).await?;
    Ok(visible(&scoped.access))
}

/// Creates a table with its fields (project admins).
pub async fn create_table(
    tx: &mut Tx,
    principal: &Principal,
    project: ProjectId,
    name: String,
    fields: Vec<NewField>,
) -> Result<TableDef, AppError> {
    authz::authorize(tx, principal, project, TableAction::ManageSchema).await??;
    Ok(schema::create_table(tx, project, name, fields).await?)
}

/// A change to a table; `None` leaves a property as it is.
#[derive(Debug, Default)]
pub struct TableChange {
    pub name: Option<String>,
    /// The field (by id or name) that names the table's records; `Some(None)` returns to the
    /// default, the first text-like field.
    pub primary_field: Option<Option<String>>,
}

/// The field of `table` a builder named as its primary field, if it can name records.
fn primary_candidate(table: &TableDef, named: &str) -> Result<FieldId, AppError> {
    let field = named
        .parse::<FieldId>()
        .ok()
        .and_then(|id| table.field(id))
        .or_else(|| table.field_by_name(named))
        .ok_or_else(|| {
            AppError::invalid(
                "primary_field",
                "unknown_field",
                "no such field in this table",
            )
        })?;
    if field.field_type.can_be_primary() {
        Ok(field.id)
    } else {
        Err(AppError::invalid(
            "primary_field",
            "unsuitable_field",
            "a link, multiple select or JSON field cannot name a record",
        ))
    }
}

/// Renames a table (data is not touched) and/or chooses its primary field (project admins).
pub async fn update_table(
    tx: &mut Tx,
    principal: &Principal,
    table: TableId,
    change: TableChange,
) -> Result<TableDef, AppError> {
    let (mut table, _) = authorized_table(tx, principal, table, TableAction::ManageSchema).await?;
    if let Some(name) = &change.name {
        rampart_core::names::validate_display_name("name", name)?;
    }
    let primary = match &change.primary_field {
        Some(Some(named)) => Some(Some(primary_candidate(&table, named)?)),
        Some(None) => Some(None),
        None => None,
    };
    if let Some(name) = change.name {
        table = schema::rename_table(tx, &table, name).await?;
    }
    if let Some(field) = primary {
        table = schema::set_primary_field(tx, &table, field).await?;
    }
    Ok(table)
}

/// Deletes a table and its records (project admins); refused while other tables link to it.
pub async fn delete_table(
    tx: &mut Tx,
    principal: &Principal,
    table: TableId,
) -> Result<(), AppError> {
    let (table, _) = authorized_table(tx, principal, table, TableAction::ManageSchema).await?;
    schema::drop_table(tx, &table).await?;
    Ok(())
}

/// Adds a field (project admins); returns the table with it.
pub async fn add_field(
    tx: &mut Tx,
    principal: &Principal,
    table: TableId,
    field: NewField,
) -> Result<TableDef, AppError> {
    let (table, _) = authorized_table(tx, principal, table, TableAction::ManageSchema).await?;
    if table.fields.len() >= MAX_FIELDS {
        return Err(AppError::invalid(
            "fields",
            "too_many",
            format!("at most {MAX_FIELDS} fields"),
        ));
    }
    Ok(schema::add_field(tx, &table, field).await?)
}

/// A change to a field as a client asks for it: each part absent is left as it is.
#[derive(Debug, Clone, Default)]
pub struct FieldEdit {
    pub name: Option<String>,
    pub kind: Option<FieldKind>,
    pub options: Option<serde_json::Value>,
    pub required: Option<bool>,
    pub unique: Option<bool>,
    pub indexed: Option<bool>,
    /// `Some(null)` removes the default.
    pub default: Option<serde_json::Value>,
}

/// Changes a field: rename (data untouched), flags, default, or type (values converted, or
/// the change refused naming the records that do not convert); returns the table.
pub async fn change_field(
    tx: &mut Tx,
    principal: &Principal,
    table: TableId,
    field_id: FieldId,
    edit: FieldEdit,
) -> Result<TableDef, AppError> {
    let (table, _) = authorized_table(tx, principal, table, TableAction::ManageSchema).await?;
    let Some(field) = table.field(field_id) else {
        return Err(AppError::NotFound);
    };
    let field_type = match (edit.kind, edit.options) {
        (None, None) => None,
        (kind, options) => {
            let kind = kind.unwrap_or(field.field_type.kind());
            Some(FieldType::from_parts(kind, options)?)
        }
    };
    let effective = field_type
        .clone()
        .unwrap_or_else(|| field.field_type.clone());
    let default = match edit.default {
        None => None,
        Some(json) => {
            Some(Some(Value::from_json(&effective, &json, "default")?).filter(|v| !v.is_null()))
        }
    };
    let change = FieldChange {
        name: edit.name,
        field_type,
        required: edit.required,
        unique: edit.unique,
        indexed: edit.indexed,
        default,
    };
    Ok(schema::change_field(tx, &table, field_id, change).await?)
}

/// Deletes a field and its values (project admins).
pub async fn delete_field(
    tx: &mut Tx,
    principal: &Principal,
    table: TableId,
    field_id: FieldId,
) -> Result<(), AppError> {
    let (table, _) = authorized_table(tx, principal, table, TableAction::ManageSchema).await?;
    if table.field(field_id).is_none() {
        return Err(AppError::NotFound);
    }
    schema::delete_field(tx, &table, field_id).await?;
    Ok(())
}
