//! Groups of users and the tenant's custom user attributes (tenant admins).

use axum::http::StatusCode;
use rampart_core::names::validate_display_name;
use rampart_core::{FieldError, Invalid, UserId};
use rampart_store::Tx;
use rampart_store::groups::{self, Group, GroupId};
use rampart_store::identity::{self, AttributeDef};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::caller::{Caller, TenantAdmin};
use crate::error::{ApiError, ApiResult};
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

async fn group_out(tx: &mut Tx, g: Group) -> Result<GroupOut, ApiError> {
    let members = groups::members(tx, g.id).await?;
    Ok(GroupOut {
        id: g.id.to_string(),
        name: g.name,
        members: members.iter().map(ToString::to_string).collect(),
    })
}

/// Lists the tenant's groups.
#[utoipa::path(get, path = "/api/v1/groups", tag = "users",
    responses((status = 200, body = [GroupOut])), security(("session" = []), ("token" = [])))]
pub async fn list(TenantAdmin(caller): TenantAdmin) -> ApiResult<axum::Json<Vec<GroupOut>>> {
    let out = caller
        .tenant
        .read(|tx: &mut Tx| {
            Box::pin(async move {
                let mut out = Vec::new();
                for g in groups::list_groups(tx).await? {
                    out.push(group_out(tx, g).await?);
                }
                Ok(out)
            })
        })
        .await?;
    Ok(axum::Json(out))
}

/// Creates a group.
#[utoipa::path(post, path = "/api/v1/groups", tag = "users", request_body = GroupIn,
    responses((status = 201, body = GroupOut)), security(("session" = []), ("token" = [])))]
pub async fn create(
    TenantAdmin(caller): TenantAdmin,
    ApiJson(body): ApiJson<GroupIn>,
) -> ApiResult<(StatusCode, axum::Json<GroupOut>)> {
    validate_display_name("name", &body.name)?;
    let out = caller
        .tenant
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let g = groups::create_group(tx, body.name).await?;
                group_out(tx, g).await
            })
        })
        .await?;
    Ok((StatusCode::CREATED, axum::Json(out)))
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
    validate_display_name("name", &body.name)?;
    let out = caller
        .tenant
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let g = groups::rename_group(tx, group_id, body.name).await?;
                group_out(tx, g).await
            })
        })
        .await?;
    Ok(axum::Json(out))
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
        .tenant
        .store
        .write(move |tx: &mut Tx| Box::pin(groups::delete_group(tx, group_id)))
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
        .tenant
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                groups::group(tx, group_id)
                    .await?
                    .ok_or_else(ApiError::not_found)?;
                if identity::user_by_id(tx, user_id).await?.is_none() {
                    return Err(ApiError::field(
                        "user_id",
                        "unknown_user",
                        "no such user in this tenant",
                    ));
                }
                Ok(groups::add_member(tx, group_id, user_id).await?)
            })
        })
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
        .tenant
        .store
        .write(move |tx: &mut Tx| Box::pin(groups::remove_member(tx, group_id, user_id)))
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
        .tenant
        .store
        .read(|tx: &mut Tx| Box::pin(identity::attribute_defs(tx)))
        .await?;
    Ok(axum::Json(
        defs.into_iter()
            .map(|d| AttributeOut {
                name: d.name,
                multiple: d.multiple,
            })
            .collect(),
    ))
}

const RESERVED_ATTRIBUTES: &[&str] = &["id", "email", "role", "groups"];

/// Replaces the tenant's custom user attributes.
#[utoipa::path(put, path = "/api/v1/user-attributes", tag = "users", request_body = [AttributeOut],
    responses((status = 200, body = [AttributeOut])), security(("session" = []), ("token" = [])))]
pub async fn set_attributes(
    TenantAdmin(caller): TenantAdmin,
    ApiJson(body): ApiJson<Vec<AttributeOut>>,
) -> ApiResult<axum::Json<Vec<AttributeOut>>> {
    let mut errors = Vec::new();
    for (i, a) in body.iter().enumerate() {
        let ok = a.name.len() <= 40
            && a.name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && a.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            errors.push(FieldError::new(
                format!("[{i}].name"),
                "invalid_name",
                "1 to 40 of a-z, 0-9 and _, not starting with a digit",
            ));
        } else if RESERVED_ATTRIBUTES.contains(&a.name.as_str()) {
            errors.push(FieldError::new(
                format!("[{i}].name"),
                "reserved_name",
                "this name is built in",
            ));
        } else if body[..i].iter().any(|b| b.name == a.name) {
            errors.push(FieldError::new(
                format!("[{i}].name"),
                "duplicate_name",
                "listed twice",
            ));
        }
    }
    if !errors.is_empty() {
        return Err(Invalid { errors }.into());
    }
    let defs: Vec<AttributeDef> = body
        .iter()
        .map(|a| AttributeDef {
            name: a.name.clone(),
            multiple: a.multiple,
        })
        .collect();
    caller
        .tenant
        .store
        .write(move |tx: &mut Tx| {
            Box::pin(async move { identity::set_attribute_defs(tx, &defs).await })
        })
        .await?;
    Ok(axum::Json(body))
}
