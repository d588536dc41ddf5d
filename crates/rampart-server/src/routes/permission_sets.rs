//! Permission sets of a project (project admins): definitions validated when saved, and the
//! users and groups who hold them.

use std::collections::HashMap;

use axum::http::StatusCode;
use rampart_auth::Principal;
use rampart_auth::authz::{self, definition};
use rampart_core::names::validate_display_name;
use rampart_core::{ProjectId, TableAction, TableDef, TableId, UserId};
use rampart_rules::check::AttributeDef;
use rampart_store::groups::{self, GroupId};
use rampart_store::permission_sets::{self, PermissionSet, SetId};
use rampart_store::{Tx, identity, schema};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};

#[derive(Debug, Serialize, ToSchema)]
pub struct SetOut {
    id: String,
    project_id: String,
    name: String,
    version: i64,
    /// Grants per table id: `create`, `read`, `update`, `delete`, `default_access`, `fields`
    /// (field id → `none`|`read`|`write`, and `owner`) and `rules` (per operation, with
    /// current field names).
    #[schema(value_type = Object)]
    tables: serde_json::Value,
    /// Users holding the set directly.
    users: Vec<String>,
    /// Groups holding the set.
    groups: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetIn {
    #[schema(schema_with = crate::input_schemas::display_name)]
    name: String,
    /// Grants per table id (see `SetOut.tables`); fields by id or name, rules with names.
    #[serde(default)]
    #[schema(schema_with = crate::input_schemas::object_or_null)]
    tables: serde_json::Value,
}

async fn project_tables(
    tx: &mut Tx,
    project: ProjectId,
) -> Result<HashMap<TableId, TableDef>, ApiError> {
    Ok(schema::list_tables(tx, project)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect())
}

async fn set_out(tx: &mut Tx, set: PermissionSet) -> Result<SetOut, ApiError> {
    let tables = project_tables(tx, set.project_id).await?;
    let shown = definition::display(
        &definition::SetDefinition::from_stored(&set.definition),
        &tables,
    );
    let (users, groups) = permission_sets::holders(tx, set.id).await?;
    Ok(SetOut {
        id: set.id.to_string(),
        project_id: set.project_id.to_string(),
        name: set.name,
        version: set.version,
        tables: serde_json::to_value(shown.tables).map_err(|e| ApiError::internal(&e))?,
        users: users.iter().map(ToString::to_string).collect(),
        groups: groups.iter().map(ToString::to_string).collect(),
    })
}

/// Validates a definition against the project and returns its stored form.
async fn normalize(
    tx: &mut Tx,
    project: ProjectId,
    except: Option<SetId>,
    tables_json: serde_json::Value,
) -> Result<serde_json::Value, ApiError> {
    let input: definition::SetDefinition = crate::extract::parse_json(
        &serde_json::to_vec(&serde_json::json!({ "tables": if tables_json.is_null() { serde_json::json!({}) } else { tables_json } }))
            .map_err(|e| ApiError::internal(&e))?,
    )?;
    let tables = project_tables(tx, project).await?;
    let attributes: Vec<AttributeDef> = identity::attribute_defs(tx)
        .await?
        .into_iter()
        .map(|d| AttributeDef {
            name: d.name,
            multiple: d.multiple,
        })
        .collect();
    let other_sets: Vec<definition::SetDefinition> = permission_sets::list(tx, project)
        .await?
        .into_iter()
        .filter(|s| Some(s.id) != except)
        .map(|s| definition::SetDefinition::from_stored(&s.definition))
        .collect();
    let catalog = definition::Catalog {
        tables: &tables,
        attributes: &attributes,
        other_sets: &other_sets,
    };
    let stored = definition::normalize(input, &catalog)?;
    serde_json::to_value(stored).map_err(|e| ApiError::internal(&e))
}

/// Loads a set and checks the caller administers its project.
async fn managed_set(
    tx: &mut Tx,
    principal: &Principal,
    id: SetId,
) -> Result<PermissionSet, ApiError> {
    let set = permission_sets::get(tx, id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    authz::authorize(tx, principal, set.project_id, TableAction::ManageMembers).await??;
    Ok(set)
}

/// Lists a project's permission sets.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/permission-sets", tag = "permissions",
    params(("project_id" = String, Path)),
    responses((status = 200, body = [SetOut])), security(("session" = []), ("token" = [])))]
pub async fn list(
    caller: Caller,
    ApiPath(project_id): ApiPath<ProjectId>,
) -> ApiResult<axum::Json<Vec<SetOut>>> {
    let principal = caller.principal.clone();
    let out = caller
        .tenant
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                authz::authorize(tx, &principal, project_id, TableAction::ManageMembers).await??;
                let mut out = Vec::new();
                for s in permission_sets::list(tx, project_id).await? {
                    out.push(set_out(tx, s).await?);
                }
                Ok(out)
            })
        })
        .await?;
    Ok(axum::Json(out))
}

/// Creates a permission set; rules are validated and stored by field id.
#[utoipa::path(post, path = "/api/v1/projects/{project_id}/permission-sets", tag = "permissions", request_body = SetIn,
    params(("project_id" = String, Path)),
    responses((status = 201, body = SetOut)), security(("session" = []), ("token" = [])))]
pub async fn create(
    caller: Caller,
    ApiPath(project_id): ApiPath<ProjectId>,
    ApiJson(body): ApiJson<SetIn>,
) -> ApiResult<(StatusCode, axum::Json<SetOut>)> {
    validate_display_name("name", &body.name)?;
    let principal = caller.principal.clone();
    let out = caller
        .tenant
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                authz::authorize(tx, &principal, project_id, TableAction::ManageMembers).await??;
                let stored = normalize(tx, project_id, None, body.tables).await?;
                let set = permission_sets::create(tx, project_id, body.name, stored).await?;
                set_out(tx, set).await
            })
        })
        .await?;
    Ok((StatusCode::CREATED, axum::Json(out)))
}

/// One permission set.
#[utoipa::path(get, path = "/api/v1/permission-sets/{set_id}", tag = "permissions",
    params(("set_id" = String, Path)),
    responses((status = 200, body = SetOut)), security(("session" = []), ("token" = [])))]
pub async fn get(caller: Caller, ApiPath(set_id): ApiPath<SetId>) -> ApiResult<axum::Json<SetOut>> {
    let principal = caller.principal.clone();
    let out = caller
        .tenant
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let set = managed_set(tx, &principal, set_id).await?;
                set_out(tx, set).await
            })
        })
        .await?;
    Ok(axum::Json(out))
}

/// Replaces a permission set's name and definition.
#[utoipa::path(put, path = "/api/v1/permission-sets/{set_id}", tag = "permissions", request_body = SetIn,
    params(("set_id" = String, Path)),
    responses((status = 200, body = SetOut)), security(("session" = []), ("token" = [])))]
pub async fn replace(
    caller: Caller,
    ApiPath(set_id): ApiPath<SetId>,
    ApiJson(body): ApiJson<SetIn>,
) -> ApiResult<axum::Json<SetOut>> {
    validate_display_name("name", &body.name)?;
    let principal = caller.principal.clone();
    let out = caller
        .tenant
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let set = managed_set(tx, &principal, set_id).await?;
                let stored = normalize(tx, set.project_id, Some(set.id), body.tables).await?;
                let set = permission_sets::update(tx, set_id, body.name, stored).await?;
                set_out(tx, set).await
            })
        })
        .await?;
    Ok(axum::Json(out))
}

/// Deletes a permission set; its holders lose what it granted.
#[utoipa::path(delete, path = "/api/v1/permission-sets/{set_id}", tag = "permissions",
    params(("set_id" = String, Path)),
    responses((status = 204, description = "deleted")), security(("session" = []), ("token" = [])))]
pub async fn delete(caller: Caller, ApiPath(set_id): ApiPath<SetId>) -> ApiResult<StatusCode> {
    let principal = caller.principal.clone();
    caller
        .tenant
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                managed_set(tx, &principal, set_id).await?;
                Ok(permission_sets::delete(tx, set_id).await?)
            })
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives a user the set.
#[utoipa::path(put, path = "/api/v1/permission-sets/{set_id}/users/{user_id}", tag = "permissions",
    params(("set_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204, description = "assigned")), security(("session" = []), ("token" = [])))]
pub async fn assign_user(
    caller: Caller,
    ApiPath((set_id, user_id)): ApiPath<(SetId, UserId)>,
) -> ApiResult<StatusCode> {
    let principal = caller.principal.clone();
    caller
        .tenant
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                managed_set(tx, &principal, set_id).await?;
                if identity::user_by_id(tx, user_id).await?.is_none() {
                    return Err(ApiError::field(
                        "user_id",
                        "unknown_user",
                        "no such user in this tenant",
                    ));
                }
                Ok(permission_sets::assign_user(tx, set_id, user_id).await?)
            })
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Takes the set from a user.
#[utoipa::path(delete, path = "/api/v1/permission-sets/{set_id}/users/{user_id}", tag = "permissions",
    params(("set_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204, description = "removed")), security(("session" = []), ("token" = [])))]
pub async fn unassign_user(
    caller: Caller,
    ApiPath((set_id, user_id)): ApiPath<(SetId, UserId)>,
) -> ApiResult<StatusCode> {
    let principal = caller.principal.clone();
    caller
        .tenant
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                managed_set(tx, &principal, set_id).await?;
                Ok(permission_sets::unassign_user(tx, set_id, user_id).await?)
            })
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives a group the set.
#[utoipa::path(put, path = "/api/v1/permission-sets/{set_id}/groups/{group_id}", tag = "permissions",
    params(("set_id" = String, Path), ("group_id" = String, Path)),
    responses((status = 204, description = "assigned")), security(("session" = []), ("token" = [])))]
pub async fn assign_group(
    caller: Caller,
    ApiPath((set_id, group_id)): ApiPath<(SetId, GroupId)>,
) -> ApiResult<StatusCode> {
    let principal = caller.principal.clone();
    caller
        .tenant
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                managed_set(tx, &principal, set_id).await?;
                if groups::group(tx, group_id).await?.is_none() {
                    return Err(ApiError::field(
                        "group_id",
                        "unknown_group",
                        "no such group in this tenant",
                    ));
                }
                Ok(permission_sets::assign_group(tx, set_id, group_id).await?)
            })
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Takes the set from a group.
#[utoipa::path(delete, path = "/api/v1/permission-sets/{set_id}/groups/{group_id}", tag = "permissions",
    params(("set_id" = String, Path), ("group_id" = String, Path)),
    responses((status = 204, description = "removed")), security(("session" = []), ("token" = [])))]
pub async fn unassign_group(
    caller: Caller,
    ApiPath((set_id, group_id)): ApiPath<(SetId, GroupId)>,
) -> ApiResult<StatusCode> {
    let principal = caller.principal.clone();
    caller
        .tenant
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                managed_set(tx, &principal, set_id).await?;
                Ok(permission_sets::unassign_group(tx, set_id, group_id).await?)
            })
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
