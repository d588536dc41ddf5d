//! Projects and their members over HTTP: each handler checks its input's shape (and, for
//! sensitive changes, that the session re-authenticated recently), runs one use case of
//! `rampart_app::projects` and serializes the answer.

use axum::extract::State;
use axum::http::StatusCode;
use rampart_app::projects;
use rampart_core::names::validate_display_name;
use rampart_core::record::format_timestamp;
use rampart_core::{ProjectId, ProjectRole, UserId};
use rampart_store::projects::{Member, Project};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::caller::Caller;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectOut {
    id: String,
    name: String,
    created_at: String,
    /// The caller's effective role in this project; null when they see it only through
    /// permission sets.
    role: Option<String>,
    /// Members without a second factor are refused until they enrol one.
    require_second_factor: bool,
}

fn project_out(p: Project, role: Option<ProjectRole>) -> ProjectOut {
    ProjectOut {
        id: p.id.to_string(),
        name: p.name,
        created_at: format_timestamp(&p.created_at),
        role: role.map(|r| r.as_str().to_owned()),
        require_second_factor: p.require_second_factor,
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectIn {
    #[schema(schema_with = crate::input_schemas::display_name)]
    name: String,
}

/// Lists the projects the caller can see.
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects",
    responses((status = 200, body = [ProjectOut])), security(("session" = []), ("token" = [])))]
pub async fn list(caller: Caller) -> ApiResult<axum::Json<Vec<ProjectOut>>> {
    let seen = caller
        .read(move |tx, me, _| Box::pin(projects::list(tx, me)))
        .await?;
    Ok(axum::Json(
        seen.into_iter().map(|(p, r)| project_out(p, r)).collect(),
    ))
}

/// Creates a project; the caller becomes its owner.
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", request_body = ProjectIn,
    responses((status = 201, body = ProjectOut)), security(("session" = []), ("token" = [])))]
pub async fn create(
    caller: Caller,
    ApiJson(body): ApiJson<ProjectIn>,
) -> ApiResult<(StatusCode, axum::Json<ProjectOut>)> {
    validate_display_name("name", &body.name)?;
    let (project, role) = caller
        .write(move |tx, me, _| Box::pin(projects::create(tx, me, body.name)))
        .await?;
    Ok((StatusCode::CREATED, axum::Json(project_out(project, role))))
}

/// One project.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}", tag = "projects",
    params(("project_id" = String, Path)),
    responses((status = 200, body = ProjectOut)), security(("session" = []), ("token" = [])))]
pub async fn get(
    caller: Caller,
    ApiPath(project_id): ApiPath<ProjectId>,
) -> ApiResult<axum::Json<ProjectOut>> {
    let (project, role) = caller
        .read(move |tx, me, _| Box::pin(projects::get(tx, me, project_id)))
        .await?;
    Ok(axum::Json(project_out(project, role)))
}

/// The project's own OpenAPI document: the record endpoints of each table the caller may
/// see, with bodies typed by its fields as far as the caller's grants reach.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/openapi.json", tag = "projects",
    params(("project_id" = String, Path)),
    responses((status = 200, description = "An OpenAPI 3.1 document", body = Object)),
    security(("session" = []), ("token" = [])))]
pub async fn openapi_document(
    caller: Caller,
    ApiPath(project_id): ApiPath<ProjectId>,
) -> ApiResult<axum::Json<serde_json::Value>> {
    let (project, visible) = caller
        .read(move |tx, me, _| Box::pin(projects::tables_seen(tx, me, project_id)))
        .await?;
    Ok(axum::Json(crate::project_document::build(
        &project.name,
        &visible,
    )))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectUpdateIn {
    #[serde(default)]
    #[schema(schema_with = crate::input_schemas::display_name_or_null)]
    name: Option<String>,
    /// Require a second factor of everyone who works in the project (project admins, from a
    /// recently re-authenticated session, who have a second factor themselves).
    #[serde(default)]
    require_second_factor: Option<bool>,
}

/// Renames a project (project admins) or changes its second-factor requirement.
#[utoipa::path(patch, path = "/api/v1/projects/{project_id}", tag = "projects", request_body = ProjectUpdateIn,
    params(("project_id" = String, Path)),
    responses((status = 200, body = ProjectOut)), security(("session" = []), ("token" = [])))]
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(project_id): ApiPath<ProjectId>,
    ApiJson(body): ApiJson<ProjectUpdateIn>,
) -> ApiResult<axum::Json<ProjectOut>> {
    if let Some(name) = &body.name {
        validate_display_name("name", name)?;
    }
    if body.require_second_factor.is_some() {
        caller.require_recent_auth(&state)?;
    }
    let (project, role) = caller
        .write(move |tx, me, _| {
            Box::pin(projects::update(
                tx,
                me,
                project_id,
                body.name,
                body.require_second_factor,
            ))
        })
        .await?;
    Ok(axum::Json(project_out(project, role)))
}

/// Deletes a project with all its tables and records (project owners).
#[utoipa::path(delete, path = "/api/v1/projects/{project_id}", tag = "projects",
    params(("project_id" = String, Path)),
    responses((status = 204)), security(("session" = []), ("token" = [])))]
pub async fn delete(
    caller: Caller,
    ApiPath(project_id): ApiPath<ProjectId>,
) -> ApiResult<StatusCode> {
    caller
        .write(move |tx, me, _| Box::pin(projects::delete(tx, me, project_id)))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MemberOut {
    user_id: String,
    email: String,
    display_name: String,
    role: String,
}

impl From<Member> for MemberOut {
    fn from(m: Member) -> Self {
        Self {
            user_id: m.user_id.to_string(),
            email: m.email,
            display_name: m.display_name,
            role: m.role.as_str().to_owned(),
        }
    }
}

/// Lists a project's members.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}/members", tag = "projects",
    params(("project_id" = String, Path)),
    responses((status = 200, body = [MemberOut])), security(("session" = []), ("token" = [])))]
pub async fn members(
    caller: Caller,
    ApiPath(project_id): ApiPath<ProjectId>,
) -> ApiResult<axum::Json<Vec<MemberOut>>> {
    let out = caller
        .read(move |tx, me, _| Box::pin(projects::members(tx, me, project_id)))
        .await?;
    Ok(axum::Json(out.into_iter().map(MemberOut::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberIn {
    #[schema(schema_with = crate::input_schemas::project_role)]
    role: ProjectRole,
}

/// Adds a member or changes their role (project admins; only owners grant ownership). Needs a
/// recently re-authenticated session.
#[utoipa::path(put, path = "/api/v1/projects/{project_id}/members/{user_id}", tag = "projects",
    request_body = MemberIn, params(("project_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204)), security(("session" = []), ("token" = [])))]
pub async fn set_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((project_id, user_id)): ApiPath<(ProjectId, UserId)>,
    ApiJson(body): ApiJson<MemberIn>,
) -> ApiResult<StatusCode> {
    caller.require_recent_auth(&state)?;
    caller
        .write(move |tx, me, _| {
            Box::pin(projects::set_member(tx, me, project_id, user_id, body.role))
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a member (project admins; only owners remove owners).
#[utoipa::path(delete, path = "/api/v1/projects/{project_id}/members/{user_id}", tag = "projects",
    params(("project_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204)), security(("session" = []), ("token" = [])))]
pub async fn remove_member(
    caller: Caller,
    ApiPath((project_id, user_id)): ApiPath<(ProjectId, UserId)>,
) -> ApiResult<StatusCode> {
    caller
        .write(move |tx, me, _| Box::pin(projects::remove_member(tx, me, project_id, user_id)))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
