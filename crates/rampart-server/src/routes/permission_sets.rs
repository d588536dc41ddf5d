//! Permission sets of a project over HTTP (project admins): each handler checks its input's
//! shape, runs one use case of `rampart_app::permission_sets` and serializes the set.

use axum::http::StatusCode;
use rampart_app::permission_sets::{self as sets, SetView};
use rampart_core::names::validate_display_name;
use rampart_core::{ProjectId, UserId};
use rampart_store::groups::GroupId;
use rampart_store::permission_sets::SetId;
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

fn set_out(v: SetView) -> Result<SetOut, ApiError> {
    Ok(SetOut {
        id: v.set.id.to_string(),
        project_id: v.set.project_id.to_string(),
        name: v.set.name,
        version: v.set.version,
        tables: serde_json::to_value(v.shown.tables).map_err(|e| ApiError::internal(&e))?,
        users: v.users.iter().map(ToString::to_string).collect(),
        groups: v.groups.iter().map(ToString::to_string).collect(),
    })
}

/// Lists a project's permission sets.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/permission-sets", tag = "permissions",
    params(("project_id" = String, Path)),
    responses((status = 200, body = [SetOut])), security(("session" = []), ("token" = [])))]
pub async fn list(
    caller: Caller,
    ApiPath(project_id): ApiPath<ProjectId>,
) -> ApiResult<axum::Json<Vec<SetOut>>> {
    let sets = caller
        .read(move |tx, me, _| Box::pin(sets::list(tx, me, project_id)))
        .await?;
    Ok(axum::Json(
        sets.into_iter().map(set_out).collect::<Result<_, _>>()?,
    ))
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
    let set = caller
        .write(move |tx, me, _| Box::pin(sets::create(tx, me, project_id, body.name, body.tables)))
        .await?;
    Ok((StatusCode::CREATED, axum::Json(set_out(set)?)))
}

/// One permission set.
#[utoipa::path(get, path = "/api/v1/permission-sets/{set_id}", tag = "permissions",
    params(("set_id" = String, Path)),
    responses((status = 200, body = SetOut)), security(("session" = []), ("token" = [])))]
pub async fn get(caller: Caller, ApiPath(set_id): ApiPath<SetId>) -> ApiResult<axum::Json<SetOut>> {
    let set = caller
        .read(move |tx, me, _| Box::pin(sets::get(tx, me, set_id)))
        .await?;
    Ok(axum::Json(set_out(set)?))
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
    let set = caller
        .write(move |tx, me, _| Box::pin(sets::replace(tx, me, set_id, body.name, body.tables)))
        .await?;
    Ok(axum::Json(set_out(set)?))
}

/// Deletes a permission set; its holders lose what it granted.
#[utoipa::path(delete, path = "/api/v1/permission-sets/{set_id}", tag = "permissions",
    params(("set_id" = String, Path)),
    responses((status = 204, description = "deleted")), security(("session" = []), ("token" = [])))]
pub async fn delete(caller: Caller, ApiPath(set_id): ApiPath<SetId>) -> ApiResult<StatusCode> {
    caller
        .write(move |tx, me, _| Box::pin(sets::delete(tx, me, set_id)))
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
    caller
        .write(move |tx, me, _| Box::pin(sets::assign_user(tx, me, set_id, user_id)))
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
    caller
        .write(move |tx, me, _| Box::pin(sets::unassign_user(tx, me, set_id, user_id)))
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
    caller
        .write(move |tx, me, _| Box::pin(sets::assign_group(tx, me, set_id, group_id)))
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
    caller
        .write(move |tx, me, _| Box::pin(sets::unassign_group(tx, me, set_id, group_id)))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
