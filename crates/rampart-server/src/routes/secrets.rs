//! A project's secrets and config values (project admins). A secret is written and never
//! read back by a client: lists show its fingerprint; only server-side features open it.
//! Config values are shown to project admins.

use axum::extract::State;
use axum::http::StatusCode;
use rampart_auth::authz;
use rampart_core::record::format_timestamp;
use rampart_core::{ProjectId, TableAction};
use rampart_store::Tx;
use rampart_store::secrets::{self, Kind, Stored};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

const DEFAULT_ENVIRONMENT: &str = "production";
/// Largest value stored.
const MAX_VALUE_BYTES: usize = 64 * 1024;

#[derive(Serialize, ToSchema)]
pub struct SecretOut {
    name: String,
    environment: String,
    /// `secret` (never shown) or `config` (shown).
    kind: String,
    /// A keyed fingerprint: equal values have equal fingerprints; it reveals nothing else.
    fingerprint: String,
    /// Config values only.
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_by: Option<String>,
}

fn out(stored: Stored, value: Option<String>) -> SecretOut {
    SecretOut {
        name: stored.name,
        environment: stored.environment,
        kind: stored.kind.as_str().to_owned(),
        fingerprint: stored.fingerprint,
        value,
        updated_at: format_timestamp(&stored.updated_at),
        updated_by: stored.updated_by.map(|u| u.to_string()),
    }
}

fn valid_name(name: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(
            "name",
            "invalid_name",
            "1 to 64 letters, digits and underscores, not starting with a digit",
        ))
    }
}

fn valid_environment(env: &str) -> Result<(), ApiError> {
    let ok = (1..=32).contains(&env.len())
        && env.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && env
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::field(
            "environment",
            "invalid_environment",
            "1 to 32 lower-case letters, digits, - and _, starting with a letter",
        ))
    }
}

/// The caller must administer the project (404 as for a missing project otherwise).
async fn admin(tx: &mut Tx, caller: &Caller, project: ProjectId) -> Result<(), ApiError> {
    authz::authorize(tx, &caller.principal, project, TableAction::ManageMembers).await??;
    Ok(())
}

/// A project's secrets and config values; secret values are never shown.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/secrets", tag = "projects",
    params(("project_id" = String, Path)),
    responses((status = 200, body = Vec<SecretOut>)), security(("session" = []), ("token" = [])))]
pub async fn list(
    caller: Caller,
    ApiPath(project): ApiPath<ProjectId>,
) -> ApiResult<axum::Json<Vec<SecretOut>>> {
    let keys = caller.tenant.store.data_keys().await?;
    let c = caller.clone();
    let items = caller
        .tenant
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                admin(tx, &c, project).await?;
                let mut items = Vec::new();
                for stored in secrets::list(tx, project).await? {
                    let value = secrets::config_value(&keys, project, &stored).await?;
                    items.push(out(stored, value));
                }
                Ok(items)
            })
        })
        .await?;
    Ok(axum::Json(items))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretIn {
    value: String,
    /// `secret` (default) or `config`.
    #[serde(default)]
    kind: Option<String>,
    /// Default `production`.
    #[serde(default)]
    environment: Option<String>,
}

/// Stores or replaces a value. Needs a recently re-authenticated session.
#[utoipa::path(put, path = "/api/v1/projects/{project_id}/secrets/{name}", tag = "projects",
    params(("project_id" = String, Path), ("name" = String, Path)), request_body = SecretIn,
    responses((status = 200, body = SecretOut)), security(("session" = [])))]
pub async fn set(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, name)): ApiPath<(ProjectId, String)>,
    ApiJson(body): ApiJson<SecretIn>,
) -> ApiResult<axum::Json<SecretOut>> {
    caller.require_recent_auth(&state)?;
    valid_name(&name)?;
    let environment = body
        .environment
        .unwrap_or_else(|| DEFAULT_ENVIRONMENT.to_owned());
    valid_environment(&environment)?;
    let kind = match body.kind.as_deref() {
        None | Some("secret") => Kind::Secret,
        Some("config") => Kind::Config,
        Some(_) => {
            return Err(ApiError::field("kind", "invalid_kind", "secret or config"));
        }
    };
    if body.value.len() > MAX_VALUE_BYTES {
        return Err(ApiError::field(
            "value",
            "too_long",
            format!("at most {MAX_VALUE_BYTES} bytes"),
        ));
    }
    let value = zeroize::Zeroizing::new(body.value);
    let keys = caller.tenant.store.data_keys().await?;
    let c = caller.clone();
    let stored = caller
        .tenant
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                admin(tx, &c, project).await?;
                let by = c.principal.user.id;
                Ok(secrets::set(tx, &keys, project, &environment, &name, kind, &value, by).await?)
            })
        })
        .await?;
    let keys = caller.tenant.store.data_keys().await?;
    let value = secrets::config_value(&keys, project, &stored).await?;
    Ok(axum::Json(out(stored, value)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentQuery {
    /// Default `production`.
    #[param(pattern = "^[a-z][a-z0-9_-]{0,31}$")]
    environment: Option<String>,
}

/// Deletes a value. Needs a recently re-authenticated session.
#[utoipa::path(delete, path = "/api/v1/projects/{project_id}/secrets/{name}", tag = "projects",
    params(("project_id" = String, Path), ("name" = String, Path), EnvironmentQuery),
    responses((status = 204, description = "deleted")), security(("session" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project, name)): ApiPath<(ProjectId, String)>,
    ApiQuery(query): ApiQuery<EnvironmentQuery>,
) -> ApiResult<StatusCode> {
    caller.require_recent_auth(&state)?;
    let environment = query
        .environment
        .unwrap_or_else(|| DEFAULT_ENVIRONMENT.to_owned());
    valid_environment(&environment)?;
    let c = caller.clone();
    caller
        .tenant
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                admin(tx, &c, project).await?;
                Ok(secrets::delete(tx, project, &environment, &name).await?)
            })
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
