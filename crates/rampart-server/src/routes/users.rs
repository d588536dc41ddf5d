//! Tenant administration of users.

use axum::extract::State;
use axum::http::StatusCode;
use rampart_core::names::{validate_display_name, validate_email};
use rampart_core::{GlobalRole, UserId};
use rampart_store::Tx;
use rampart_store::identity::{self, NewUser};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use super::Checks;
use super::identity::{UserOut, check_new_password};
use crate::caller::TenantAdmin;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

/// Lists the tenant's users.
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = [UserOut])), security(("session" = []), ("token" = [])))]
pub async fn list(TenantAdmin(caller): TenantAdmin) -> ApiResult<axum::Json<Vec<UserOut>>> {
    let users = caller
        .tenant
        .store
        .read(|tx: &mut Tx| Box::pin(identity::list_users(tx)))
        .await?;
    Ok(axum::Json(users.into_iter().map(UserOut::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserIn {
    #[schema(schema_with = crate::input_schemas::email)]
    email: String,
    #[schema(schema_with = crate::input_schemas::display_name)]
    display_name: String,
    password: String,
    #[serde(default = "member")]
    #[schema(schema_with = crate::input_schemas::global_role)]
    role: GlobalRole,
}

fn member() -> GlobalRole {
    GlobalRole::Member
}

/// Creates a user. Admins create members; owners create any role (creating an admin or owner
/// needs a recently re-authenticated session).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUserIn,
    responses((status = 201, body = UserOut)), security(("session" = []), ("token" = [])))]
pub async fn create(
    State(state): State<AppState>,
    TenantAdmin(caller): TenantAdmin,
    ApiJson(body): ApiJson<CreateUserIn>,
) -> ApiResult<(StatusCode, axum::Json<UserOut>)> {
    let mut checks = Checks::default();
    checks.check(validate_email("email", body.email.trim()));
    checks.check(validate_display_name("display_name", &body.display_name));
    check_new_password(
        &state,
        &mut checks,
        "password",
        &body.password,
        &[&body.email, &body.display_name],
    )
    .await;
    checks.finish()?;
    if body.role >= GlobalRole::Admin {
        caller.require_recent_auth(&state)?;
    }
    if !caller.principal.role().may_assign(body.role) {
        return Err(ApiError::forbidden(
            "forbidden",
            "your role may not create users with this role",
        ));
    }
    let password_hash = state
        .hasher
        .hash(&SecretString::from(body.password))
        .await
        .map_err(|_| ApiError::unavailable("password hashing is unavailable"))?;
    let new = NewUser {
        email: body.email,
        display_name: body.display_name,
        role: body.role,
        password_hash: Some(password_hash),
    };
    let user = caller
        .tenant
        .store
        .write(move |tx: &mut Tx| Box::pin(identity::insert_user(tx, new)))
        .await?;
    tracing::info!(target: "rampart::security", event = "user_created", by = %caller.principal.user.id, user = %user.id);
    Ok((StatusCode::CREATED, axum::Json(user.into())))
}

/// One user.
#[utoipa::path(get, path = "/api/v1/users/{user_id}", tag = "users",
    params(("user_id" = String, Path)),
    responses((status = 200, body = UserOut)), security(("session" = []), ("token" = [])))]
pub async fn get(
    TenantAdmin(caller): TenantAdmin,
    ApiPath(user_id): ApiPath<UserId>,
) -> ApiResult<axum::Json<UserOut>> {
    let user = caller
        .tenant
        .store
        .read(move |tx: &mut Tx| Box::pin(identity::user_by_id(tx, user_id)))
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(axum::Json(user.into()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserIn {
    #[serde(default)]
    #[schema(schema_with = crate::input_schemas::global_role_or_null)]
    role: Option<GlobalRole>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    #[schema(schema_with = crate::input_schemas::display_name_or_null)]
    display_name: Option<String>,
    /// Values of the tenant's custom attributes: a string, a list of strings for multiple
    /// attributes, or null to remove. Attributes not named keep their values.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    attributes: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Merges attribute changes into a user's values, checking them against the definitions.
fn merge_attributes(
    defs: &[identity::AttributeDef],
    mut current: serde_json::Map<String, serde_json::Value>,
    changes: serde_json::Map<String, serde_json::Value>,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    use serde_json::Value as J;
    let mut errors = Vec::new();
    for (name, value) in changes {
        let at = format!("attributes.{name}");
        let Some(def) = defs.iter().find(|d| d.name == name) else {
            errors.push(rampart_core::FieldError::new(
                at,
                "unknown_attribute",
                "the tenant defines no such attribute",
            ));
            continue;
        };
        let ok = match (&value, def.multiple) {
            (J::Null, _) => {
                current.remove(&name);
                continue;
            }
            (J::String(s), false) => s.chars().count() <= 255 && !s.contains('\0'),
            (J::Array(items), true) => {
                items.len() <= 100
                    && items.iter().all(|i| {
                        i.as_str()
                            .is_some_and(|s| s.chars().count() <= 255 && !s.contains('\0'))
                    })
            }
            _ => false,
        };
        if ok {
            current.insert(name, value);
        } else {
            errors.push(rampart_core::FieldError::new(
                at,
                "invalid_value",
                if def.multiple {
                    "expected a list of at most 100 strings"
                } else {
                    "expected a string of at most 255 characters"
                },
            ));
        }
    }
    if errors.is_empty() {
        Ok(current)
    } else {
        Err(rampart_core::Invalid { errors }.into())
    }
}

/// Changes a user's role, name or disabled flag. Disabling ends their sessions. Changing a
/// role or the disabled flag needs a recently re-authenticated session.
/// The last enabled owner cannot be demoted or disabled.
#[utoipa::path(patch, path = "/api/v1/users/{user_id}", tag = "users", request_body = UpdateUserIn,
    params(("user_id" = String, Path)),
    responses((status = 200, body = UserOut)), security(("session" = []), ("token" = [])))]
pub async fn update(
    State(state): State<AppState>,
    TenantAdmin(caller): TenantAdmin,
    ApiPath(user_id): ApiPath<UserId>,
    ApiJson(body): ApiJson<UpdateUserIn>,
) -> ApiResult<axum::Json<UserOut>> {
    if body.role.is_some() || body.disabled.is_some() {
        caller.require_recent_auth(&state)?;
    }
    if let Some(name) = &body.display_name {
        validate_display_name("display_name", name)?;
    }
    let actor = caller.principal.user.role;
    let actor_id = caller.principal.user.id;
    let result = caller
        .tenant
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let Some(target) = identity::user_by_id(tx, user_id).await? else {
                    return Err(ApiError::not_found());
                };
                let role_change = body.role.filter(|r| *r != target.role);
                // Admins manage members only, and may not promote anyone.
                if !actor.may_assign(target.role)
                    || role_change.is_some_and(|r| !actor.may_assign(r))
                {
                    return Err(ApiError::forbidden(
                        "forbidden",
                        "your role may not change this user",
                    ));
                }
                let loses_owner = target.role == GlobalRole::Owner
                    && !target.disabled
                    && (role_change.is_some() || body.disabled == Some(true));
                if loses_owner && identity::count_active_owners(tx).await? <= 1 {
                    return Err(ApiError::conflict(
                        "last_owner",
                        "the tenant must keep one enabled owner",
                    ));
                }
                if let Some(changes) = body.attributes {
                    let defs = identity::attribute_defs(tx).await?;
                    let current = identity::user_attributes(tx, user_id).await?;
                    let merged = merge_attributes(&defs, current, changes)?;
                    identity::set_user_attributes(tx, user_id, merged).await?;
                }
                let user = identity::update_user(
                    tx,
                    user_id,
                    role_change,
                    body.disabled,
                    body.display_name,
                )
                .await?;
                Ok(user)
            })
        })
        .await?;
    tracing::info!(target: "rampart::security", event = "user_updated", by = %actor_id, user = %result.id);
    Ok(axum::Json(result.into()))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeleteUserQuery {
    /// The user who takes over the deleted user's records and user-field mentions.
    #[param(value_type = uuid::Uuid)]
    reassign_to: String,
}

#[derive(serde::Serialize, ToSchema)]
pub struct DeletedUserOut {
    records_reassigned: u64,
    user_fields_reassigned: u64,
}

/// Deletes a user. Everything they own passes to `reassign_to` in the same transaction, so
/// nothing is orphaned; their sessions, tokens and factors end with them. Needs a recently
/// re-authenticated session; admins delete members only; the last owner stays.
#[utoipa::path(delete, path = "/api/v1/users/{user_id}", tag = "users",
    params(("user_id" = String, Path), DeleteUserQuery),
    responses((status = 200, body = DeletedUserOut)), security(("session" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    TenantAdmin(caller): TenantAdmin,
    ApiPath(user_id): ApiPath<UserId>,
    ApiQuery(query): ApiQuery<DeleteUserQuery>,
) -> ApiResult<axum::Json<DeletedUserOut>> {
    caller.require_recent_auth(&state)?;
    let successor = uuid::Uuid::parse_str(&query.reassign_to)
        .map(UserId)
        .map_err(|_| ApiError::field("reassign_to", "invalid_id", "not a user id"))?;
    let actor = caller.principal.user.role;
    let actor_id = caller.principal.user.id;
    if user_id == actor_id {
        return Err(ApiError::conflict(
            "cannot_delete_self",
            "ask another administrator to delete your account",
        ));
    }
    if successor == user_id {
        return Err(ApiError::field(
            "reassign_to",
            "same_user",
            "records must pass to someone else",
        ));
    }
    let moved = caller
        .tenant
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let Some(target) = identity::user_by_id(tx, user_id).await? else {
                    return Err(ApiError::not_found());
                };
                if !actor.may_assign(target.role) {
                    return Err(ApiError::forbidden(
                        "forbidden",
                        "your role may not delete this user",
                    ));
                }
                if target.role == GlobalRole::Owner
                    && !target.disabled
                    && identity::count_active_owners(tx).await? <= 1
                {
                    return Err(ApiError::conflict(
                        "last_owner",
                        "the tenant must keep one enabled owner",
                    ));
                }
                match identity::user_by_id(tx, successor).await? {
                    Some(s) if !s.disabled => {}
                    _ => {
                        return Err(ApiError::field(
                            "reassign_to",
                            "unknown_user",
                            "no enabled user with this id in this tenant",
                        ));
                    }
                }
                Ok(rampart_store::user_removal::delete_user(tx, user_id, successor).await?)
            })
        })
        .await?;
    tracing::warn!(target: "rampart::security", event = "user_deleted", by = %actor_id, user = %user_id,
        successor = %successor, records = moved.records);
    Ok(axum::Json(DeletedUserOut {
        records_reassigned: moved.records,
        user_fields_reassigned: moved.user_fields,
    }))
}
