//! Projects and their members.

use chrono::{DateTime, Utc};
use rampart_core::{ProjectId, ProjectRole, UserId};
use rampart_sql::Param;

use crate::db::{DbRow, Tx};
use crate::error::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    /// Members without a second factor are refused until they enrol one.
    pub require_second_factor: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user_id: UserId,
    pub email: String,
    pub display_name: String,
    pub role: ProjectRole,
}

fn name_key(name: &str) -> String {
    name.to_lowercase()
}

fn project_from_row(row: &DbRow) -> Result<Project, StoreError> {
    Ok(Project {
        id: ProjectId(row.uuid(0)?),
        name: row.text(1)?,
        created_by: row.opt_uuid(2)?.map(UserId),
        created_at: row.timestamp(3)?,
        require_second_factor: row.bool(4)?,
    })
}

/// Creates a project whose creator becomes its owner.
pub async fn create_project(
    tx: &mut Tx,
    name: String,
    creator: UserId,
) -> Result<Project, StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::ProjectCreate,
        Some(creator.0),
        Some(serde_json::json!({"name": name})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let project = Project {
        id: ProjectId::generate(),
        name,
        created_by: Some(creator),
        created_at: crate::now(),
        require_second_factor: false,
    };
    let mut q = tx.sql();
    q.push("INSERT INTO projects (id, name, name_key, created_by, created_at) VALUES (")
        .param_list([
            Param::Uuid(project.id.0),
            Param::Text(project.name.clone()),
            Param::Text(name_key(&project.name)),
            Param::Uuid(creator.0),
            Param::Timestamp(project.created_at),
        ])
        .push(")");
    match tx.execute(q).await {
        Ok(_) => {}
        Err(e) if crate::db::unique_violation(&e).is_some() => {
            return Err(StoreError::NameTaken {
                what: "project name",
            });
        }
        Err(e) => return Err(e),
    }
    set_member(tx, project.id, creator, ProjectRole::Owner).await?;
    Ok(project)
}

pub async fn project(tx: &mut Tx, id: ProjectId) -> Result<Option<Project>, StoreError> {
    let mut q = tx.sql();
    q.push(
        "SELECT id, name, created_by, created_at, require_second_factor FROM projects WHERE id = ",
    )
    .param(Param::Uuid(id.0));
    tx.fetch_optional(q)
        .await?
        .as_ref()
        .map(project_from_row)
        .transpose()
}

/// Projects visible to a user: all of them for tenant admins, else those they belong to.
pub async fn list_projects(tx: &mut Tx, user: Option<UserId>) -> Result<Vec<Project>, StoreError> {
    let mut q = tx.sql();
    q.push(
        "SELECT p.id, p.name, p.created_by, p.created_at, p.require_second_factor FROM projects p",
    );
    if let Some(user) = user {
        q.push(" JOIN project_members m ON m.project_id = p.id AND m.user_id = ")
            .param(Param::Uuid(user.0));
    }
    q.push(" ORDER BY p.name_key, p.id");
    tx.fetch_all(q)
        .await?
        .iter()
        .map(project_from_row)
        .collect()
}

pub async fn rename_project(
    tx: &mut Tx,
    id: ProjectId,
    name: String,
) -> Result<Project, StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::ProjectRename,
        None,
        Some(serde_json::json!({"project": id, "name": name})),
    )
    .await?;
    let mut q = tx.sql();
    q.push("UPDATE projects SET name = ")
        .param(Param::Text(name.clone()))
        .push(", name_key = ")
        .param(Param::Text(name_key(&name)))
        .push(" WHERE id = ")
        .param(Param::Uuid(id.0));
    match tx.execute(q).await {
        Ok(0) => Err(StoreError::NotFound),
        Ok(_) => project(tx, id).await?.ok_or(StoreError::NotFound),
        Err(e) if crate::db::unique_violation(&e).is_some() => Err(StoreError::NameTaken {
            what: "project name",
        }),
        Err(e) => Err(e),
    }
}

/// Sets whether the project requires a second factor of everyone who works in it.
pub async fn set_require_second_factor(
    tx: &mut Tx,
    id: ProjectId,
    require: bool,
) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::ProjectRequireSecondFactor,
        None,
        Some(serde_json::json!({"project": id, "require": require})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let mut q = tx.sql();
    q.push("UPDATE projects SET require_second_factor = ")
        .param(Param::Bool(require))
        .push(" WHERE id = ")
        .param(Param::Uuid(id.0));
    match tx.execute(q).await? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

/// The caller's role in a project, if any.
pub async fn member_role(
    tx: &mut Tx,
    project: ProjectId,
    user: UserId,
) -> Result<Option<ProjectRole>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT role FROM project_members WHERE project_id = ")
        .param(Param::Uuid(project.0))
        .push(" AND user_id = ")
        .param(Param::Uuid(user.0));
    match tx.fetch_optional(q).await? {
        None => Ok(None),
        Some(row) => ProjectRole::parse(&row.text(0)?)
            .map(Some)
            .ok_or_else(|| StoreError::internal("unknown project role")),
    }
}

pub async fn set_member(
    tx: &mut Tx,
    project: ProjectId,
    user: UserId,
    role: ProjectRole,
) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::ProjectSetMember,
        Some(user.0),
        Some(serde_json::json!({"project": project, "role": role.as_str()})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let mut q = tx.sql();
    q.push("INSERT INTO project_members (project_id, user_id, role) VALUES (")
        .param_list([
            Param::Uuid(project.0),
            Param::Uuid(user.0),
            Param::Text(role.as_str().to_owned()),
        ])
        .push(") ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role");
    tx.execute(q).await?;
    Ok(())
}

pub async fn remove_member(
    tx: &mut Tx,
    project: ProjectId,
    user: UserId,
) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::ProjectRemoveMember,
        Some(user.0),
        Some(serde_json::json!({"project": project})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let mut q = tx.sql();
    q.push("DELETE FROM project_members WHERE project_id = ")
        .param(Param::Uuid(project.0))
        .push(" AND user_id = ")
        .param(Param::Uuid(user.0));
    match tx.execute(q).await? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

pub async fn count_owners(tx: &mut Tx, project: ProjectId) -> Result<i64, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT COUNT(*) FROM project_members WHERE role = 'owner' AND project_id = ")
        .param(Param::Uuid(project.0));
    tx.fetch_one(q).await?.i64(0)
}

pub async fn list_members(tx: &mut Tx, project: ProjectId) -> Result<Vec<Member>, StoreError> {
    let mut q = tx.sql();
    q.push(
        "SELECT u.id, u.email, u.display_name, m.role FROM project_members m \
         JOIN users u ON u.id = m.user_id WHERE m.project_id = ",
    )
    .param(Param::Uuid(project.0))
    .push(" ORDER BY u.email_key");
    tx.fetch_all(q)
        .await?
        .iter()
        .map(|row| {
            Ok(Member {
                user_id: UserId(row.uuid(0)?),
                email: row.text(1)?,
                display_name: row.text(2)?,
                role: ProjectRole::parse(&row.text(3)?)
                    .ok_or_else(|| StoreError::internal("unknown project role"))?,
            })
        })
        .collect()
}

/// Deletes a project; its tables must have been dropped first (see `schema::drop_table`).
pub async fn delete_project_row(tx: &mut Tx, id: ProjectId) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::ProjectDelete,
        None,
        Some(serde_json::json!({"project": id})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let mut q = tx.sql();
    q.push("DELETE FROM projects WHERE id = ")
        .param(Param::Uuid(id.0));
    match tx.execute(q).await? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}
