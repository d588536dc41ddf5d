//! Permission sets (custom roles) of a project and who holds them. The definition is a JSON
//! document interpreted by `rampart-auth::authz`; the store only keeps it.

use chrono::{DateTime, Utc};
use rampart_core::{ProjectId, UserId};
use rampart_sql::Param;
use uuid::Uuid;

use crate::db::{DbRow, Tx};
use crate::error::StoreError;
use crate::groups::GroupId;

pub type SetId = Uuid;

#[derive(Debug, Clone, PartialEq)]
pub struct PermissionSet {
    pub id: SetId,
    pub project_id: ProjectId,
    pub name: String,
    pub definition: serde_json::Value,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "SELECT s.id, s.project_id, s.name, s.definition, s.version, s.created_at, s.updated_at FROM permission_sets s";

fn from_row(row: &DbRow) -> Result<PermissionSet, StoreError> {
    Ok(PermissionSet {
        id: row.uuid(0)?,
        project_id: ProjectId(row.uuid(1)?),
        name: row.text(2)?,
        definition: serde_json::from_str(&row.text(3)?)
            .map_err(|e| StoreError::internal(format!("stored permission set: {e}")))?,
        version: row.i64(4)?,
        created_at: row.timestamp(5)?,
        updated_at: row.timestamp(6)?,
    })
}

fn taken(e: StoreError) -> StoreError {
    if crate::db::unique_violation(&e).is_some() {
        StoreError::NameTaken {
            what: "permission set name",
        }
    } else {
        e
    }
}

pub async fn create(
    tx: &mut Tx,
    project: ProjectId,
    name: String,
    definition: serde_json::Value,
) -> Result<PermissionSet, StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::PermissionSetCreate,
        None,
        Some(serde_json::json!({"project": project, "name": name, "definition": definition})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let now = crate::now();
    let set = PermissionSet {
        id: Uuid::now_v7(),
        project_id: project,
        name,
        definition,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let mut q = tx.sql();
    q.push(
        "INSERT INTO permission_sets (id, project_id, name, name_key, definition, version, created_at, updated_at) VALUES (",
    )
    .param_list([
        Param::Uuid(set.id),
        Param::Uuid(project.0),
        Param::Text(set.name.clone()),
        Param::Text(set.name.to_lowercase()),
        Param::Text(set.definition.to_string()),
        Param::I64(1),
        Param::Timestamp(now),
        Param::Timestamp(now),
    ])
    .push(")");
    tx.execute(q).await.map_err(taken)?;
    Ok(set)
}

pub async fn update(
    tx: &mut Tx,
    id: SetId,
    name: String,
    definition: serde_json::Value,
) -> Result<PermissionSet, StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::PermissionSetUpdate,
        None,
        Some(serde_json::json!({"set": id, "name": name, "definition": definition})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let mut q = tx.sql();
    q.push("UPDATE permission_sets SET name = ")
        .param(Param::Text(name.clone()))
        .push(", name_key = ")
        .param(Param::Text(name.to_lowercase()))
        .push(", definition = ")
        .param(Param::Text(definition.to_string()))
        .push(", version = version + 1, updated_at = ")
        .param(Param::Timestamp(crate::now()))
        .push(" WHERE id = ")
        .param(Param::Uuid(id));
    if tx.execute(q).await.map_err(taken)? == 0 {
        return Err(StoreError::NotFound);
    }
    get(tx, id).await?.ok_or(StoreError::NotFound)
}

pub async fn get(tx: &mut Tx, id: SetId) -> Result<Option<PermissionSet>, StoreError> {
    let mut q = tx.sql();
    q.push(COLUMNS)
        .push(" WHERE s.id = ")
        .param(Param::Uuid(id));
    tx.fetch_optional(q)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn delete(tx: &mut Tx, id: SetId) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::PermissionSetDelete,
        None,
        Some(serde_json::json!({"set": id})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let mut q = tx.sql();
    q.push("DELETE FROM permission_sets WHERE id = ")
        .param(Param::Uuid(id));
    match tx.execute(q).await? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

pub async fn list(tx: &mut Tx, project: ProjectId) -> Result<Vec<PermissionSet>, StoreError> {
    let mut q = tx.sql();
    q.push(COLUMNS)
        .push(" WHERE s.project_id = ")
        .param(Param::Uuid(project.0))
        .push(" ORDER BY s.name_key");
    tx.fetch_all(q).await?.iter().map(from_row).collect()
}

/// The sets a user holds in a project, directly or through a group.
pub async fn held_by(
    tx: &mut Tx,
    user: UserId,
    project: ProjectId,
) -> Result<Vec<PermissionSet>, StoreError> {
    let mut q = tx.sql();
    q.push(COLUMNS)
        .push(" WHERE s.project_id = ")
        .param(Param::Uuid(project.0))
        .push(" AND (EXISTS (SELECT 1 FROM permission_set_users u WHERE u.set_id = s.id AND u.user_id = ")
        .param(Param::Uuid(user.0))
        .push(") OR EXISTS (SELECT 1 FROM permission_set_groups g JOIN group_members m ON m.group_id = g.group_id \
               WHERE g.set_id = s.id AND m.user_id = ")
        .param(Param::Uuid(user.0))
        .push(")) ORDER BY s.name_key");
    tx.fetch_all(q).await?.iter().map(from_row).collect()
}

/// Projects in which a user holds at least one set.
pub async fn projects_with_sets(tx: &mut Tx, user: UserId) -> Result<Vec<ProjectId>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT DISTINCT s.project_id FROM permission_sets s WHERE EXISTS (SELECT 1 FROM permission_set_users u WHERE u.set_id = s.id AND u.user_id = ")
        .param(Param::Uuid(user.0))
        .push(") OR EXISTS (SELECT 1 FROM permission_set_groups g JOIN group_members m ON m.group_id = g.group_id WHERE g.set_id = s.id AND m.user_id = ")
        .param(Param::Uuid(user.0))
        .push(")");
    tx.fetch_all(q)
        .await?
        .iter()
        .map(|r| r.uuid(0).map(ProjectId))
        .collect()
}

pub async fn assign_user(tx: &mut Tx, set: SetId, user: UserId) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::PermissionSetAssignUser,
        Some(user.0),
        Some(serde_json::json!({"set": set})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let mut q = tx.sql();
    q.push("INSERT INTO permission_set_users (set_id, user_id) VALUES (")
        .param_list([Param::Uuid(set), Param::Uuid(user.0)])
        .push(") ON CONFLICT (set_id, user_id) DO NOTHING");
    tx.execute(q).await?;
    Ok(())
}

pub async fn unassign_user(tx: &mut Tx, set: SetId, user: UserId) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::PermissionSetUnassignUser,
        Some(user.0),
        Some(serde_json::json!({"set": set})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let mut q = tx.sql();
    q.push("DELETE FROM permission_set_users WHERE set_id = ")
        .param(Param::Uuid(set))
        .push(" AND user_id = ")
        .param(Param::Uuid(user.0));
    match tx.execute(q).await? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

pub async fn assign_group(tx: &mut Tx, set: SetId, group: GroupId) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::PermissionSetAssignGroup,
        None,
        Some(serde_json::json!({"set": set, "group": group})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let mut q = tx.sql();
    q.push("INSERT INTO permission_set_groups (set_id, group_id) VALUES (")
        .param_list([Param::Uuid(set), Param::Uuid(group)])
        .push(") ON CONFLICT (set_id, group_id) DO NOTHING");
    tx.execute(q).await?;
    Ok(())
}

pub async fn unassign_group(tx: &mut Tx, set: SetId, group: GroupId) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::PermissionSetUnassignGroup,
        None,
        Some(serde_json::json!({"set": set, "group": group})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let mut q = tx.sql();
    q.push("DELETE FROM permission_set_groups WHERE set_id = ")
        .param(Param::Uuid(set))
        .push(" AND group_id = ")
        .param(Param::Uuid(group));
    match tx.execute(q).await? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

/// Who holds a set directly: user ids and group ids.
pub async fn holders(tx: &mut Tx, set: SetId) -> Result<(Vec<UserId>, Vec<GroupId>), StoreError> {
    let mut q = tx.sql();
    q.push("SELECT user_id FROM permission_set_users WHERE set_id = ")
        .param(Param::Uuid(set))
        .push(" ORDER BY user_id");
    let users = tx
        .fetch_all(q)
        .await?
        .iter()
        .map(|r| r.uuid(0).map(UserId))
        .collect::<Result<_, _>>()?;
    let mut q = tx.sql();
    q.push("SELECT group_id FROM permission_set_groups WHERE set_id = ")
        .param(Param::Uuid(set))
        .push(" ORDER BY group_id");
    let groups = tx
        .fetch_all(q)
        .await?
        .iter()
        .map(|r| r.uuid(0))
        .collect::<Result<_, _>>()?;
    Ok((users, groups))
}
