//! A project's secrets and config values over HTTP (project admins; `rampart_app::secrets`). A secret is written and never
//! read back by a client: lists show its fingerprint; only server-side features open it.
//! Config values are shown to project admins.

use axum::extract::State;
use axum::http::StatusCode;
use rampart_app::secrets::{self, NewValue};
use rampart_core::ProjectId;
use rampart_core::record::format_timestamp;
use rampart_store::secrets::Stored;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::caller::Caller;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::state::AppState;

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

/// A project's secrets and config values; secret values are never shown.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/secrets", tag = "projects",
    params(("project_id" = String, Path)),
    responses((status = 200, body = Vec<SecretOut>)), security(("session" = []), ("token" = [])))]
pub async fn list(
    caller: Caller,
    ApiPath(project): ApiPath<ProjectId>,
) -> ApiResult<axum::Json<Vec<SecretOut>>> {
    let items = secrets::list(&caller.tenant.store, &caller.principal, project).await?;
    Ok(axum::Json(
        items.into_iter().map(|(s, v)| out(s, v)).collect(),
    ))
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
    let new = NewValue {
        name,
        environment: body.environment,
        kind: body.kind,
        value: zeroize::Zeroizing::new(body.value),
    };
    let (stored, value) =
        secrets::set(&caller.tenant.store, &caller.principal, project, new).await?;
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
    let environment = secrets::environment(query.environment)?;
    caller
        .write(move |tx, me, _| {
            Box::pin(async move { secrets::delete(tx, me, project, &name, &environment).await })
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
