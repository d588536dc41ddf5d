//! Tables and fields of a project over HTTP: each handler checks its input's shape, runs
//! one use case of `rampart_app::schema` and serializes the table.

use axum::http::StatusCode;
use rampart_app::schema::{self, FieldEdit, TableChange};
use rampart_core::field::{FieldKind, FieldType};
use rampart_core::names::{validate_display_name, validate_field_name};
use rampart_core::{FieldDef, FieldError, FieldId, Invalid, ProjectId, TableDef, TableId, Value};
use rampart_store::schema::NewField;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};

#[derive(Debug, Serialize, ToSchema)]
pub struct FieldOut {
    id: String,
    name: String,
    #[serde(rename = "type")]
    #[schema(example = "text")]
    kind: String,
    /// The type's options, or null.
    #[schema(schema_with = crate::openapi::any_value)]
    options: serde_json::Value,
    required: bool,
    unique: bool,
    indexed: bool,
    /// Values are sealed at rest with the tenant's data key.
    encrypted: bool,
    /// An encrypted field with a blind index: equality filters, `in`, uniqueness and
    /// equality rules work on it; nothing else does.
    blind_index: bool,
    /// The default value, or null.
    #[schema(schema_with = crate::openapi::any_value)]
    default: serde_json::Value,
}

impl From<&FieldDef> for FieldOut {
    fn from(f: &FieldDef) -> Self {
        Self {
            id: f.id.to_string(),
            name: f.name.clone(),
            kind: f.field_type.kind().as_str().to_owned(),
            options: f.field_type.options_json(),
            required: f.required,
            unique: f.unique,
            indexed: f.indexed,
            encrypted: f.encrypted,
            blind_index: f.blind_index.is_some(),
            default: f
                .default
                .as_ref()
                .map_or(serde_json::Value::Null, |d| d.to_json(&f.field_type)),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TableOut {
    id: String,
    project_id: String,
    name: String,
    schema_version: i64,
    fields: Vec<FieldOut>,
    /// The id of the field that names this table's records (in link cells, pickers, exports):
    /// the builder's choice, or the first text-like field; absent when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    primary_field: Option<String>,
}

impl From<&TableDef> for TableOut {
    fn from(t: &TableDef) -> Self {
        Self {
            id: t.id.to_string(),
            project_id: t.project_id.to_string(),
            name: t.name.clone(),
            schema_version: t.schema_version,
            fields: t.fields.iter().map(FieldOut::from).collect(),
            primary_field: t.primary().map(|f| f.id.to_string()),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldIn {
    #[schema(schema_with = crate::input_schemas::field_name)]
    name: String,
    #[serde(rename = "type")]
    #[schema(schema_with = crate::input_schemas::field_kind)]
    kind: FieldKind,
    #[serde(default)]
    #[schema(schema_with = crate::input_schemas::object_or_null)]
    options: Option<serde_json::Value>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    unique: bool,
    #[serde(default)]
    indexed: bool,
    /// Seal the values at rest (text, numbers, dates, single selects, JSON, booleans).
    #[serde(default)]
    encrypted: bool,
    /// With `encrypted`: keep a keyed HMAC of each value so equality filters and uniqueness
    /// work.
    #[serde(default)]
    blind_index: bool,
    #[serde(default)]
    #[schema(schema_with = crate::openapi::any_value)]
    default: Option<serde_json::Value>,
}

fn prefixed(prefix: &str, mut e: FieldError) -> FieldError {
    e.field = if e.field.is_empty() {
        prefix.to_owned()
    } else if prefix.is_empty() {
        e.field
    } else {
        format!("{prefix}.{}", e.field)
    };
    e
}

impl FieldIn {
    fn protection(&self) -> rampart_core::schema::Protection {
        rampart_core::schema::Protection {
            encrypted: self.encrypted,
            blind_index: self.blind_index,
        }
    }

    /// Validates what needs no database: the name, the type and options, the default.
    fn into_new_field(self, prefix: &str) -> Result<NewField, Vec<FieldError>> {
        let protection = self.protection();
        let mut errors = Vec::new();
        let at = |f: &str| {
            if prefix.is_empty() {
                f.to_owned()
            } else {
                format!("{prefix}.{f}")
            }
        };
        if let Err(e) = validate_field_name(&at("name"), &self.name) {
            errors.push(e);
        }
        let ty = match FieldType::from_parts(self.kind, self.options) {
            Ok(t) => Some(t),
            Err(e) => {
                errors.push(prefixed(prefix, e));
                None
            }
        };
        let mut default = None;
        if let (Some(ty), Some(json)) = (&ty, &self.default) {
            match Value::from_json(ty, json, &at("default")) {
                Ok(v) => default = Some(v).filter(|v| !v.is_null()),
                Err(e) => errors.push(e),
            }
        }
        if let Some(ty) = &ty {
            errors.extend(
                rampart_core::schema::check_field_flags(
                    ty,
                    self.unique,
                    self.indexed,
                    default.as_ref(),
                    protection,
                )
                .into_iter()
                .map(|e| prefixed(prefix, e)),
            );
        }
        match ty {
            Some(field_type) if errors.is_empty() => Ok(NewField {
                name: self.name,
                field_type,
                required: self.required,
                unique: self.unique,
                indexed: self.indexed,
                default,
                protection,
            }),
            _ => Err(errors),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TableIn {
    #[schema(schema_with = crate::input_schemas::display_name)]
    name: String,
    #[serde(default)]
    fields: Vec<FieldIn>,
}

pub use rampart_app::schema::MAX_FIELDS;

/// Lists a project's tables (those the caller may see).
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/tables", tag = "tables",
    params(("project_id" = String, Path)),
    responses((status = 200, body = [TableOut])), security(("session" = []), ("token" = [])))]
pub async fn list(
    caller: Caller,
    ApiPath(project_id): ApiPath<ProjectId>,
) -> ApiResult<axum::Json<Vec<TableOut>>> {
    let tables = caller
        .read(move |tx, me, _| Box::pin(schema::list_tables(tx, me, project_id)))
        .await?;
    Ok(axum::Json(tables.iter().map(TableOut::from).collect()))
}

/// Creates a table with its fields (project admins).
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/tables", tag = "tables", request_body = TableIn,
    params(("project_id" = String, Path)),
    responses((status = 201, body = TableOut)), security(("session" = []), ("token" = [])))]
pub async fn create(
    caller: Caller,
    ApiPath(project_id): ApiPath<ProjectId>,
    ApiJson(body): ApiJson<TableIn>,
) -> ApiResult<(StatusCode, axum::Json<TableOut>)> {
    let mut errors = Vec::new();
    if let Err(e) = validate_display_name("name", &body.name) {
        errors.push(e);
    }
    if body.fields.len() > MAX_FIELDS {
        errors.push(FieldError::new(
            "fields",
            "too_many",
            format!("at most {MAX_FIELDS} fields"),
        ));
    }
    let mut fields = Vec::new();
    for (i, f) in body.fields.into_iter().enumerate() {
        match f.into_new_field(&format!("fields[{i}]")) {
            Ok(nf) => fields.push(nf),
            Err(es) => errors.extend(es),
        }
    }
    if !errors.is_empty() {
        return Err(Invalid { errors }.into());
    }
    let name = body.name;
    let table = caller
        .write(move |tx, me, _| Box::pin(schema::create_table(tx, me, project_id, name, fields)))
        .await?;
    Ok((StatusCode::CREATED, axum::Json(TableOut::from(&table))))
}

/// One table with its fields.
#[utoipa::path(get, path = "/api/v1/tables/{table_id}", tag = "tables",
    params(("table_id" = String, Path)),
    responses((status = 200, body = TableOut)), security(("session" = []), ("token" = [])))]
pub async fn get(
    caller: Caller,
    ApiPath(table_id): ApiPath<TableId>,
) -> ApiResult<axum::Json<TableOut>> {
    let table = caller
        .read(move |tx, me, cache| Box::pin(schema::get_table(tx, cache, me, table_id)))
        .await?;
    Ok(axum::Json(TableOut::from(&table)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TableChangeIn {
    #[serde(default)]
    #[schema(schema_with = crate::input_schemas::display_name_or_null)]
    name: Option<String>,
    /// The field (id or name) that names the table's records; `null` returns to the default,
    /// the first text-like field. Links, multiple selects and JSON fields cannot.
    #[serde(default, deserialize_with = "present_or_null")]
    #[schema(value_type = Option<String>)]
    primary_field: Option<Option<String>>,
}

/// Tells a field that is absent (`None`) from one that is `null` (`Some(None)`).
fn present_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Renames a table (data is not touched) and/or chooses its primary field (project admins).
#[utoipa::path(patch, path = "/api/v1/tables/{table_id}", tag = "tables", request_body = TableChangeIn,
    params(("table_id" = String, Path)),
    responses((status = 200, body = TableOut)), security(("session" = []), ("token" = [])))]
pub async fn update(
    caller: Caller,
    ApiPath(table_id): ApiPath<TableId>,
    ApiJson(body): ApiJson<TableChangeIn>,
) -> ApiResult<axum::Json<TableOut>> {
    let change = TableChange {
        name: body.name,
        primary_field: body.primary_field,
    };
    let table = caller
        .write(move |tx, me, _| Box::pin(schema::update_table(tx, me, table_id, change)))
        .await?;
    Ok(axum::Json(TableOut::from(&table)))
}

/// Deletes a table and its records (project admins). Refused while other tables link to it.
#[utoipa::path(delete, path = "/api/v1/tables/{table_id}", tag = "tables",
    params(("table_id" = String, Path)),
    responses((status = 204)), security(("session" = []), ("token" = [])))]
pub async fn delete(caller: Caller, ApiPath(table_id): ApiPath<TableId>) -> ApiResult<StatusCode> {
    caller
        .write(move |tx, me, _| Box::pin(schema::delete_table(tx, me, table_id)))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds a field (project admins).
#[utoipa::path(post, path = "/api/v1/tables/{table_id}/fields", tag = "tables", request_body = FieldIn,
    params(("table_id" = String, Path)),
    responses((status = 201, body = FieldOut)), security(("session" = []), ("token" = [])))]
pub async fn add_field(
    caller: Caller,
    ApiPath(table_id): ApiPath<TableId>,
    ApiJson(body): ApiJson<FieldIn>,
) -> ApiResult<(StatusCode, axum::Json<FieldOut>)> {
    let new = body
        .into_new_field("")
        .map_err(|errors| ApiError::invalid(Invalid { errors }))?;
    let name = new.name.clone();
    let table = caller
        .write(move |tx, me, _| Box::pin(schema::add_field(tx, me, table_id, new)))
        .await?;
    let field = table
        .field_by_name(&name)
        .ok_or_else(|| ApiError::internal(&"new field missing"))?;
    Ok((StatusCode::CREATED, axum::Json(FieldOut::from(field))))
}

/// Present-but-null (`Some(None)`) differs from absent (`None`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldPatch {
    #[serde(default)]
    #[schema(schema_with = crate::input_schemas::field_name_or_null)]
    name: Option<String>,
    #[serde(default, rename = "type")]
    #[schema(schema_with = crate::input_schemas::field_kind_or_null)]
    kind: Option<FieldKind>,
    #[serde(default)]
    #[schema(schema_with = crate::input_schemas::object_or_null)]
    options: Option<serde_json::Value>,
    #[serde(default)]
    required: Option<bool>,
    #[serde(default)]
    unique: Option<bool>,
    #[serde(default)]
    indexed: Option<bool>,
    /// `null` removes the default.
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = crate::openapi::any_value)]
    default: Option<serde_json::Value>,
}

/// Changes a field: rename (data untouched), flags, default, or type (values converted, or the
/// change refused naming the records that do not convert).
#[utoipa::path(patch, path = "/api/v1/tables/{table_id}/fields/{field_id}", tag = "tables", request_body = FieldPatch,
    params(("table_id" = String, Path), ("field_id" = String, Path)),
    responses((status = 200, body = FieldOut)), security(("session" = []), ("token" = [])))]
pub async fn change_field(
    caller: Caller,
    ApiPath((table_id, field_id)): ApiPath<(TableId, FieldId)>,
    ApiJson(body): ApiJson<FieldPatch>,
) -> ApiResult<axum::Json<FieldOut>> {
    if let Some(name) = &body.name {
        validate_field_name("name", name)?;
    }
    let edit = FieldEdit {
        name: body.name,
        kind: body.kind,
        options: body.options,
        required: body.required,
        unique: body.unique,
        indexed: body.indexed,
        default: body.default,
    };
    let table = caller
        .write(move |tx, me, _| Box::pin(schema::change_field(tx, me, table_id, field_id, edit)))
        .await?;
    let field = table.field(field_id).ok_or_else(ApiError::not_found)?;
    Ok(axum::Json(FieldOut::from(field)))
}

/// Deletes a field and its values (project admins).
#[utoipa::path(delete, path = "/api/v1/tables/{table_id}/fields/{field_id}", tag = "tables",
    params(("table_id" = String, Path), ("field_id" = String, Path)),
    responses((status = 204)), security(("session" = []), ("token" = [])))]
pub async fn delete_field(
    caller: Caller,
    ApiPath((table_id, field_id)): ApiPath<(TableId, FieldId)>,
) -> ApiResult<StatusCode> {
    caller
        .write(move |tx, me, _| Box::pin(schema::delete_field(tx, me, table_id, field_id)))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
