//! A tenant's groups of users.

use chrono::{DateTime, Utc};
use rampart_core::UserId;
use rampart_sql::Param;
use uuid::Uuid;

use crate::db::{DbRow, Tx};
use crate::error::StoreError;

/// A group id.
pub type GroupId = Uuid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: GroupId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

fn group_from_row(row: &DbRow) -> Result<Group, StoreError> {
    Ok(Group {
        id: row.uuid(0)?,
        name: row.text(1)?,
        created_at: row.timestamp(2)?,
    })
}

fn taken(e: StoreError) -> StoreError {
    if crate::db::unique_violation(&e).is_some() {
        StoreError::NameTaken { what: "group name" }
    } else {
        e
    }
}

pub async fn create_group(tx: &mut Tx, name: String) -> Result<Group, StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::GroupCreate,
        None,
        Some(serde_json::json!({"name": name})),
    )
    .await?;
    let g = Group {
        id: Uuid::now_v7(),
        name,
        created_at: crate::now(),
    };
    let mut q = tx.sql();
    q.push("INSERT INTO groups (id, name, name_key, created_at) VALUES (")
        .param_list([
            Param::Uuid(g.id),
            Param::Text(g.name.clone()),
            Param::Text(g.name.to_lowercase()),
            Param::Timestamp(g.created_at),
        ])
        .push(")");
    tx.execute(q).await.map_err(taken)?;
    Ok(g)
}

pub async fn list_groups(tx: &mut Tx) -> Result<Vec<Group>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT id, name, created_at FROM groups ORDER BY name_key");
    tx.fetch_all(q).await?.iter().map(group_from_row).collect()
}

pub async fn group(tx: &mut Tx, id: GroupId) -> Result<Option<Group>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT id, name, created_at FROM groups WHERE id = ")
        .param(Param::Uuid(id));
    tx.fetch_optional(q)
        .await?
        .as_ref()
        .map(group_from_row)
        .transpose()
}

pub async fn rename_group(tx: &mut Tx, id: GroupId, name: String) -> Result<Group, StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::GroupRename,
        None,
        Some(serde_json::json!({"group": id, "name": name})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let mut q = tx.sql();
    q.push("UPDATE groups SET name = ")
        .param(Param::Text(name.clone()))
        .push(", name_key = ")
        .param(Param::Text(name.to_lowercase()))
        .push(" WHERE id = ")
        .param(Param::Uuid(id));
    if tx.execute(q).await.map_err(taken)? == 0 {
        return Err(StoreError::NotFound);
    }
    group(tx, id).await?.ok_or(StoreError::NotFound)
}

pub async fn delete_group(tx: &mut Tx, id: GroupId) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::GroupDelete,
        None,
        Some(serde_json::json!({"group": id})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let mut q = tx.sql();
    q.push("DELETE FROM groups WHERE id = ")
        .param(Param::Uuid(id));
    match tx.execute(q).await? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

pub async fn add_member(tx: &mut Tx, id: GroupId, user: UserId) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::GroupAddMember,
        Some(user.0),
        Some(serde_json::json!({"group": id})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let mut q = tx.sql();
    q.push("INSERT INTO group_members (group_id, user_id) VALUES (")
        .param_list([Param::Uuid(id), Param::Uuid(user.0)])
        .push(") ON CONFLICT (group_id, user_id) DO NOTHING");
    tx.execute(q).await?;
    Ok(())
}

pub async fn remove_member(tx: &mut Tx, id: GroupId, user: UserId) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::GroupRemoveMember,
        Some(user.0),
        Some(serde_json::json!({"group": id})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let mut q = tx.sql();
    q.push("DELETE FROM group_members WHERE group_id = ")
        .param(Param::Uuid(id))
        .push(" AND user_id = ")
        .param(Param::Uuid(user.0));
    match tx.execute(q).await? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

/// The ids of a group's members.
pub async fn members(tx: &mut Tx, id: GroupId) -> Result<Vec<UserId>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT user_id FROM group_members WHERE group_id = ")
        .param(Param::Uuid(id))
        .push(" ORDER BY user_id");
    tx.fetch_all(q)
        .await?
        .iter()
        .map(|r| r.uuid(0).map(UserId))
        .collect()
}

/// The groups a user belongs to.
pub async fn groups_of(tx: &mut Tx, user: UserId) -> Result<Vec<Group>, StoreError> {
    let mut q = tx.sql();
    q.push(
        "SELECT g.id, g.name, g.created_at FROM groups g JOIN group_members m ON m.group_id = g.id \
         WHERE m.user_id = ",
    )
    .param(Param::Uuid(user.0))
    .push(" ORDER BY g.name_key");
    tx.fetch_all(q).await?.iter().map(group_from_row).collect()
}
