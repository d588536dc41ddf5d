//! Tenant administration of users over HTTP: each handler checks the credential (a recent
//! re-authentication for sensitive changes), hashes a new password, and runs one use case of
//! `rampart_app::users`.

use axum::extract::State;
use axum::http::StatusCode;
use rampart_app::users::{self, UserChange};
use rampart_core::{GlobalRole, UserId};
use rampart_store::identity::NewUser;
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
    let all = caller
        .read(|tx, me, _| Box::pin(users::list(tx, me)))
        .await?;
    Ok(axum::Json(all.into_iter().map(UserOut::from).collect()))
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
    for e in users::check_new_account(&body.email, &body.display_name) {
        checks.push(e);
    }
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
    users::may_create(&caller.principal, body.role)?;
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
        .write(move |tx, me, _| Box::pin(users::create(tx, me, new)))
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
        .read(move |tx, me, _| Box::pin(users::get(tx, me, user_id)))
        .await?;
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
    let change = UserChange {
        role: body.role,
        disabled: body.disabled,
        display_name: body.display_name,
        attributes: body.attributes,
    };
    if change.is_sensitive() {
        caller.require_recent_auth(&state)?;
    }
    let user = caller
        .write(move |tx, me, _| Box::pin(users::update(tx, me, user_id, change)))
        .await?;
    tracing::info!(target: "rampart::security", event = "user_updated", by = %caller.principal.user.id, user = %user.id);
    Ok(axum::Json(user.into()))
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
    users::check_delete(&caller.principal, user_id, successor)?;
    let moved = caller
        .write(move |tx, me, _| Box::pin(users::delete(tx, me, user_id, successor)))
        .await?;
    let actor_id = caller.principal.user.id;
    tracing::warn!(target: "rampart::security", event = "user_deleted", by = %actor_id, user = %user_id,
        successor = %successor, records = moved.records);
    Ok(axum::Json(DeletedUserOut {
        records_reassigned: moved.records,
        user_fields_reassigned: moved.user_fields,
    }))
}
