//! Projects and their members.

use axum::extract::State;
use axum::http::StatusCode;
use rampart_auth::authz;
use rampart_auth::authz::access::{table_access, user_facts};
use rampart_core::names::validate_display_name;
use rampart_core::record::format_timestamp;
use rampart_core::{ProjectId, ProjectRole, TableAction, UserId};
use rampart_store::projects::{self, Member, Project};
use rampart_store::{Tx, identity, schema};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::caller::Caller;
use crate::error::{ApiError, ApiResult};
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
    let principal = caller.principal.clone();
    let out = caller
        .tenant
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let mut out = Vec::new();
                for p in projects::list_projects(tx, None).await? {
                    if let Ok(grant) =
                        authz::authorize(tx, &principal, p.id, TableAction::ReadRecords).await?
                    {
                        out.push(project_out(p, grant.role));
                    }
                }
                Ok(out)
            })
        })
        .await?;
    Ok(axum::Json(out))
}

/// Creates a project; the caller becomes its owner.
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", request_body = ProjectIn,
    responses((status = 201, body = ProjectOut)), security(("session" = []), ("token" = [])))]
pub async fn create(
    caller: Caller,
    ApiJson(body): ApiJson<ProjectIn>,
) -> ApiResult<(StatusCode, axum::Json<ProjectOut>)> {
    validate_display_name("name", &body.name)?;
    if caller.principal.is_scoped() {
        return Err(ApiError::token_scope());
    }
    let user = caller.principal.user.id;
    let project = caller
        .tenant
        .store
        .write(move |tx: &mut Tx| Box::pin(projects::create_project(tx, body.name, user)))
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(project_out(project, Some(ProjectRole::Owner))),
    ))
}

/// One project.
#[utoipa::path(get, path = "/api/v1/projects/{project_id}", tag = "projects",
    params(("project_id" = String, Path)),
    responses((status = 200, body = ProjectOut)), security(("session" = []), ("token" = [])))]
pub async fn get(
    caller: Caller,
    ApiPath(project_id): ApiPath<ProjectId>,
) -> ApiResult<axum::Json<ProjectOut>> {
    let principal = caller.principal.clone();
    let out = caller
        .tenant
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                let grant = authz::authorize(tx, &principal, project_id, TableAction::ReadRecords)
                    .await??;
                let project = projects::project(tx, project_id)
                    .await?
                    .ok_or(rampart_store::StoreError::NotFound)?;
                Ok(project_out(project, grant.role))
            })
        })
        .await?;
    Ok(axum::Json(out))
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
    let principal = caller.principal.clone();
    let doc = caller
        .tenant
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                authz::authorize(tx, &principal, project_id, TableAction::ReadRecords).await??;
                let project = projects::project(tx, project_id)
                    .await?
                    .ok_or(rampart_store::StoreError::NotFound)?;
                let facts = user_facts(tx, &principal).await?;
                let mut visible = Vec::new();
                for t in schema::list_tables(tx, project_id).await? {
                    if let Some(access) = table_access(tx, &facts, t.id).await?
                        && access.visible()
                    {
                        visible.push(access);
                    }
                }
                Ok(crate::project_document::build(&project.name, &visible))
            })
        })
        .await?;
    Ok(axum::Json(doc))
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
    if let Some(require) = body.require_second_factor {
        caller.require_recent_auth(&state)?;
        if require && !caller.principal.has_second_factor {
            return Err(ApiError::conflict(
                "second_factor_required_first",
                "enrol a second factor yourself before requiring one in this project",
            ));
        }
    }
    let principal = caller.principal.clone();
    let out = caller
        .tenant
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let mut grant =
                    authz::authorize(tx, &principal, project_id, TableAction::ManageSchema)
                        .await??;
                if let Some(require) = body.require_second_factor {
                    grant =
                        authz::authorize(tx, &principal, project_id, TableAction::ManageMembers)
                            .await??;
                    projects::set_require_second_factor(tx, project_id, require).await?;
                    tracing::warn!(target: "rampart::security", event = "project_require_second_factor_set",
                        project = %project_id, value = require, by = %principal.user.id);
                }
                let project = match body.name {
                    Some(name) => projects::rename_project(tx, project_id, name).await?,
                    None => projects::project(tx, project_id)
                        .await?
                        .ok_or(rampart_store::StoreError::NotFound)?,
                };
                Ok(project_out(project, grant.role))
            })
        })
        .await?;
    Ok(axum::Json(out))
}

/// Deletes a project with all its tables and records (project owners).
#[utoipa::path(delete, path = "/api/v1/projects/{project_id}", tag = "projects",
    params(("project_id" = String, Path)),
    responses((status = 204)), security(("session" = []), ("token" = [])))]
pub async fn delete(
    caller: Caller,
    ApiPath(project_id): ApiPath<ProjectId>,
) -> ApiResult<StatusCode> {
    let principal = caller.principal.clone();
    caller
        .tenant
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                if let Err(d) =
                    authz::authorize(tx, &principal, project_id, TableAction::DeleteProject).await?
                {
                    return Err(ApiError::from(d));
                }
                rampart_store::schema::drop_project_tables(tx, project_id).await?;
                projects::delete_project_row(tx, project_id).await?;
                Ok(())
            })
        })
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
    let principal = caller.principal.clone();
    let out = caller
        .tenant
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                if let Err(d) =
                    authz::authorize(tx, &principal, project_id, TableAction::ReadRecords).await?
                {
                    return Err(ApiError::from(d));
                }
                Ok(projects::list_members(tx, project_id).await?)
            })
        })
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
    let principal = caller.principal.clone();
    caller
        .tenant
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let grant =
                    authz::authorize(tx, &principal, project_id, TableAction::ManageMembers)
                        .await??;
                let current = projects::member_role(tx, project_id, user_id).await?;
                let touches_owner =
                    body.role == ProjectRole::Owner || current == Some(ProjectRole::Owner);
                if touches_owner && grant.role < Some(ProjectRole::Owner) {
                    return Err(ApiError::forbidden(
                        "forbidden",
                        "only project owners grant or revoke ownership",
                    ));
                }
                if identity::user_by_id(tx, user_id).await?.is_none() {
                    return Err(ApiError::field(
                        "user_id",
                        "unknown_user",
                        "no such user in this tenant",
                    ));
                }
                if current == Some(ProjectRole::Owner)
                    && body.role != ProjectRole::Owner
                    && projects::count_owners(tx, project_id).await? <= 1
                {
                    return Err(ApiError::conflict(
                        "last_owner",
                        "the project must keep one owner",
                    ));
                }
                projects::set_member(tx, project_id, user_id, body.role).await?;
                Ok(())
            })
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
    let principal = caller.principal.clone();
    caller
        .tenant
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let grant =
                    authz::authorize(tx, &principal, project_id, TableAction::ManageMembers)
                        .await??;
                let current = projects::member_role(tx, project_id, user_id).await?;
                if current == Some(ProjectRole::Owner) {
                    if grant.role < Some(ProjectRole::Owner) {
                        return Err(ApiError::forbidden(
                            "forbidden",
                            "only project owners remove owners",
                        ));
                    }
                    if projects::count_owners(tx, project_id).await? <= 1 {
                        return Err(ApiError::conflict(
                            "last_owner",
                            "the project must keep one owner",
                        ));
                    }
                }
                projects::remove_member(tx, project_id, user_id).await?;
                Ok(())
            })
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
