//! Projects and their members: who may see, rename, lock down or delete a project, and who
//! may grant which project role (only owners touch ownership; a project keeps one owner).

use rampart_auth::Principal;
use rampart_auth::authz::access::{TableAccess, table_access, user_facts};
use rampart_auth::authz::{self, Grant};
use rampart_core::{ProjectId, ProjectRole, TableAction, UserId};
use rampart_store::projects::{self, Member, Project};
use rampart_store::{StoreError, Tx, schema};

use crate::AppError;

/// A project with the caller's effective role in it (`None`: they see it only through
/// permission sets).
pub type Seen = (Project, Option<ProjectRole>);

/// The projects the caller can see.
pub async fn list(tx: &mut Tx, principal: &Principal) -> Result<Vec<Seen>, AppError> {
    let mut out = Vec::new();
    for p in projects::list_projects(tx, None).await? {
        if let Ok(grant) = authz::authorize(tx, principal, p.id, TableAction::ReadRecords).await? {
            out.push((p, grant.role));
        }
    }
    Ok(out)
}

/// Creates a project; the caller becomes its owner. A scoped token cannot.
pub async fn create(tx: &mut Tx, principal: &Principal, name: String) -> Result<Seen, AppError> {
    if principal.is_scoped() {
        return Err(AppError::token_scope());
    }
    let project = projects::create_project(tx, name, principal.user.id).await?;
    Ok((project, Some(ProjectRole::Owner)))
}

async fn load(tx: &mut Tx, project: ProjectId) -> Result<Project, AppError> {
    Ok(projects::project(tx, project)
        .await?
        .ok_or(StoreError::NotFound)?)
}

/// One project.
pub async fn get(tx: &mut Tx, principal: &Principal, project: ProjectId) -> Result<Seen, AppError> {
    let grant = authz::authorize(tx, principal, project, TableAction::ReadRecords).await??;
    Ok((load(tx, project).await?, grant.role))
}

/// The project and the caller's access to each of its tables they may see (what the
/// project's own API document describes).
pub async fn tables_seen(
    tx: &mut Tx,
    principal: &Principal,
    project: ProjectId,
) -> Result<(Project, Vec<TableAccess>), AppError> {
    authz::authorize(tx, principal, project, TableAction::ReadRecords).await??;
    let p = load(tx, project).await?;
    let facts = user_facts(tx, principal).await?;
    let mut visible = Vec::new();
    for t in schema::list_tables(tx, project).await? {
        if let Some(access) = table_access(tx, &facts, t.id).await?
            && access.visible()
        {
            visible.push(access);
        }
    }
    Ok((p, visible))
}

/// Renames a project (project admins) and/or changes its second-factor requirement (project
/// admins who have a second factor themselves; the adapter checks the session was recently
/// re-authenticated).
pub async fn update(
    tx: &mut Tx,
    principal: &Principal,
    project: ProjectId,
    name: Option<String>,
    require_second_factor: Option<bool>,
) -> Result<Seen, AppError> {
    if require_second_factor == Some(true) && !principal.has_second_factor {
        return Err(AppError::Conflict {
            code: "second_factor_required_first",
            detail: "enrol a second factor yourself before requiring one in this project".into(),
        });
    }
    let mut grant = authz::authorize(tx, principal, project, TableAction::ManageSchema).await??;
    if let Some(require) = require_second_factor {
        grant = authz::authorize(tx, principal, project, TableAction::ManageMembers).await??;
        projects::set_require_second_factor(tx, project, require).await?;
        tracing::warn!(target: "rampart::security", event = "project_require_second_factor_set",
            project = %project, value = require, by = %principal.user.id);
    }
    let p = match name {
        Some(name) => projects::rename_project(tx, project, name).await?,
        None => load(tx, project).await?,
    };
    Ok((p, grant.role))
}

/// Deletes a project with all its tables and records (project owners).
pub async fn delete(
    tx: &mut Tx,
    principal: &Principal,
    project: ProjectId,
) -> Result<(), AppError> {
    authz::authorize(tx, principal, project, TableAction::DeleteProject).await??;
    schema::drop_project_tables(tx, project).await?;
    projects::delete_project_row(tx, project).await?;
    Ok(())
}

/// A project's members.
pub async fn members(
    tx: &mut Tx,
    principal: &Principal,
    project: ProjectId,
) -> Result<Vec<Member>, AppError> {
    authz::authorize(tx, principal, project, TableAction::ReadRecords).await??;
    Ok(projects::list_members(tx, project).await?)
}

fn last_owner() -> AppError {
    AppError::Conflict {
        code: "last_owner",
        detail: "the project must keep one owner".into(),
    }
}

async fn managing(
    tx: &mut Tx,
    principal: &Principal,
    project: ProjectId,
) -> Result<Grant, AppError> {
    Ok(authz::authorize(tx, principal, project, TableAction::ManageMembers).await??)
}

/// Adds a member or changes their role (project admins; only owners grant or revoke
/// ownership).
pub async fn set_member(
    tx: &mut Tx,
    principal: &Principal,
    project: ProjectId,
    user: UserId,
    role: ProjectRole,
) -> Result<(), AppError> {
    let grant = managing(tx, principal, project).await?;
    let current = projects::member_role(tx, project, user).await?;
    let touches_owner = role == ProjectRole::Owner || current == Some(ProjectRole::Owner);
    if touches_owner && grant.role < Some(ProjectRole::Owner) {
        return Err(AppError::forbidden(
            "forbidden",
            "only project owners grant or revoke ownership",
        ));
    }
    crate::people::named_user(tx, user).await?;
    if current == Some(ProjectRole::Owner)
        && role != ProjectRole::Owner
        && projects::count_owners(tx, project).await? <= 1
    {
        return Err(last_owner());
    }
    projects::set_member(tx, project, user, role).await?;
    Ok(())
}

/// Removes a member (project admins; only owners remove owners).
pub async fn remove_member(
    tx: &mut Tx,
    principal: &Principal,
    project: ProjectId,
    user: UserId,
) -> Result<(), AppError> {
    let grant = managing(tx, principal, project).await?;
    let current = projects::member_role(tx, project, user).await?;
    if current == Some(ProjectRole::Owner) {
        if grant.role < Some(ProjectRole::Owner) {
            return Err(AppError::forbidden(
                "forbidden",
                "only project owners remove owners",
            ));
        }
        if projects::count_owners(tx, project).await? <= 1 {
            return Err(last_owner());
        }
    }
    projects::remove_member(tx, project, user).await?;
    Ok(())
}
