//! Groups of users and the tenant's custom user attributes over HTTP: each handler runs one
//! use case of `rampart_app::groups`.

use axum::http::StatusCode;
use rampart_app::groups::{self, GroupView};
use rampart_core::UserId;
use rampart_store::groups::GroupId;
use rampart_store::identity::AttributeDef;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::caller::{Caller, TenantAdmin};
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupOut {
    id: String,
    name: String,
    /// Member user ids.
    members: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupIn {
    #[schema(schema_with = crate::input_schemas::display_name)]
    name: String,
}

fn group_out(v: GroupView) -> GroupOut {
    GroupOut {
        id: v.group.id.to_string(),
        name: v.group.name,
        members: v.members.iter().map(ToString::to_string).collect(),
    }
}

/// Lists the tenant's groups.
#[utoipa::path(get, path = "/api/v1/groups", tag = "users",
    responses((status = 200, body = [GroupOut])), security(("session" = []), ("token" = [])))]
pub async fn list(TenantAdmin(caller): TenantAdmin) -> ApiResult<axum::Json<Vec<GroupOut>>> {
    let all = caller
        .read(|tx, me, _| Box::pin(groups::list(tx, me)))
        .await?;
    Ok(axum::Json(all.into_iter().map(group_out).collect()))
}

/// Creates a group.
#[utoipa::path(post, path = "/api/v1/groups", tag = "users", request_body = GroupIn,
    responses((status = 201, body = GroupOut)), security(("session" = []), ("token" = [])))]
pub async fn create(
    TenantAdmin(caller): TenantAdmin,
    ApiJson(body): ApiJson<GroupIn>,
) -> ApiResult<(StatusCode, axum::Json<GroupOut>)> {
    let g = caller
        .write(move |tx, me, _| Box::pin(groups::create(tx, me, body.name)))
        .await?;
    Ok((StatusCode::CREATED, axum::Json(group_out(g))))
}

/// Renames a group.
#[utoipa::path(patch, path = "/api/v1/groups/{group_id}", tag = "users", request_body = GroupIn,
    params(("group_id" = String, Path)),
    responses((status = 200, body = GroupOut)), security(("session" = []), ("token" = [])))]
pub async fn rename(
    TenantAdmin(caller): TenantAdmin,
    ApiPath(group_id): ApiPath<GroupId>,
    ApiJson(body): ApiJson<GroupIn>,
) -> ApiResult<axum::Json<GroupOut>> {
    let g = caller
        .write(move |tx, me, _| Box::pin(groups::rename(tx, me, group_id, body.name)))
        .await?;
    Ok(axum::Json(group_out(g)))
}

/// Deletes a group (its members keep their accounts).
#[utoipa::path(delete, path = "/api/v1/groups/{group_id}", tag = "users",
    params(("group_id" = String, Path)),
    responses((status = 204, description = "deleted")), security(("session" = []), ("token" = [])))]
pub async fn delete(
    TenantAdmin(caller): TenantAdmin,
    ApiPath(group_id): ApiPath<GroupId>,
) -> ApiResult<StatusCode> {
    caller
        .write(move |tx, me, _| Box::pin(groups::delete(tx, me, group_id)))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds a user to a group.
#[utoipa::path(put, path = "/api/v1/groups/{group_id}/members/{user_id}", tag = "users",
    params(("group_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204, description = "added")), security(("session" = []), ("token" = [])))]
pub async fn add_member(
    TenantAdmin(caller): TenantAdmin,
    ApiPath((group_id, user_id)): ApiPath<(GroupId, UserId)>,
) -> ApiResult<StatusCode> {
    caller
        .write(move |tx, me, _| Box::pin(groups::add_member(tx, me, group_id, user_id)))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a user from a group.
#[utoipa::path(delete, path = "/api/v1/groups/{group_id}/members/{user_id}", tag = "users",
    params(("group_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204, description = "removed")), security(("session" = []), ("token" = [])))]
pub async fn remove_member(
    TenantAdmin(caller): TenantAdmin,
    ApiPath((group_id, user_id)): ApiPath<(GroupId, UserId)>,
) -> ApiResult<StatusCode> {
    caller
        .write(move |tx, me, _| Box::pin(groups::remove_member(tx, me, group_id, user_id)))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributeOut {
    /// Written `@user.<name>` in rules.
    #[schema(schema_with = crate::input_schemas::attribute_name)]
    name: String,
    /// Whether users hold a list of values (`team in @user.teams`).
    #[serde(default)]
    multiple: bool,
}

/// The tenant's custom user attributes (any signed-in user may read them: rules name them).
#[utoipa::path(get, path = "/api/v1/user-attributes", tag = "users",
    responses((status = 200, body = [AttributeOut])), security(("session" = []), ("token" = [])))]
pub async fn attributes(caller: Caller) -> ApiResult<axum::Json<Vec<AttributeOut>>> {
    let defs = caller
        .read(|tx, _, _| Box::pin(groups::attributes(tx)))
        .await?;
    Ok(axum::Json(defs.into_iter().map(attribute_out).collect()))
}

fn attribute_out(d: AttributeDef) -> AttributeOut {
    AttributeOut {
        name: d.name,
        multiple: d.multiple,
    }
}

/// Replaces the tenant's custom user attributes.
#[utoipa::path(put, path = "/api/v1/user-attributes", tag = "users", request_body = [AttributeOut],
    responses((status = 200, body = [AttributeOut])), security(("session" = []), ("token" = [])))]
pub async fn set_attributes(
    TenantAdmin(caller): TenantAdmin,
    ApiJson(body): ApiJson<Vec<AttributeOut>>,
) -> ApiResult<axum::Json<Vec<AttributeOut>>> {
    let defs = body
        .into_iter()
        .map(|a| AttributeDef {
            name: a.name,
            multiple: a.multiple,
        })
        .collect();
    let saved = caller
        .write(move |tx, me, _| Box::pin(groups::set_attributes(tx, me, defs)))
        .await?;
    Ok(axum::Json(saved.into_iter().map(attribute_out).collect()))
}
