//! A project's permission sets (project admins): definitions validated against the project
//! when saved (tables, fields, rules with positions, `access via` chains) and stored by id,
//! shown with current names, and the users and groups who hold them.

use std::collections::HashMap;

use rampart_auth::Principal;
use rampart_auth::authz::{self, definition};
use rampart_core::{ProjectId, TableAction, TableDef, TableId, UserId};
use rampart_rules::check::AttributeDef;
use rampart_store::groups::{self, GroupId};
use rampart_store::permission_sets::{self, PermissionSet, SetId};
use rampart_store::{Tx, identity, schema};

use crate::AppError;

/// A set as its builders see it: rules with current field names, and its holders.
#[derive(Debug)]
pub struct SetView {
    pub set: PermissionSet,
    pub shown: definition::SetDefinition,
    pub users: Vec<UserId>,
    pub groups: Vec<GroupId>,
}

async fn project_tables(
    tx: &mut Tx,
    project: ProjectId,
) -> Result<HashMap<TableId, TableDef>, AppError> {
    Ok(schema::list_tables(tx, project)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect())
}

async fn view(tx: &mut Tx, set: PermissionSet) -> Result<SetView, AppError> {
    let tables = project_tables(tx, set.project_id).await?;
    let shown = definition::display(
        &definition::SetDefinition::from_stored(&set.definition),
        &tables,
    );
    let (users, groups) = permission_sets::holders(tx, set.id).await?;
    Ok(SetView {
        set,
        shown,
        users,
        groups,
    })
}

/// Validates a definition (`tables` as a client wrote it, null for none) against the project
/// and returns its stored form.
async fn normalize(
    tx: &mut Tx,
    project: ProjectId,
    except: Option<SetId>,
    tables_json: serde_json::Value,
) -> Result<serde_json::Value, AppError> {
    let tables_json = if tables_json.is_null() {
        serde_json::json!({})
    } else {
        tables_json
    };
    let bytes = serde_json::to_vec(&serde_json::json!({ "tables": tables_json }))
        .map_err(|e| AppError::internal(&e))?;
    let input: definition::SetDefinition = crate::input::parse_json(&bytes)?;
    let tables = project_tables(tx, project).await?;
    let attributes: Vec<AttributeDef> = identity::attribute_defs(tx)
        .await?
        .into_iter()
        .map(|d| AttributeDef {
            name: d.name,
            multiple: d.multiple,
        })
        .collect();
    let other_sets: Vec<definition::SetDefinition> = permission_sets::list(tx, project)
        .await?
        .into_iter()
        .filter(|s| Some(s.id) != except)
        .map(|s| definition::SetDefinition::from_stored(&s.definition))
        .collect();
    let catalog = definition::Catalog {
        tables: &tables,
        attributes: &attributes,
        other_sets: &other_sets,
    };
    let stored = definition::normalize(input, &catalog)?;
    serde_json::to_value(stored).map_err(|e| AppError::internal(&e))
}

/// Loads a set and checks the caller administers its project.
async fn managed(tx: &mut Tx, principal: &Principal, id: SetId) -> Result<PermissionSet, AppError> {
    let set = permission_sets::get(tx, id)
        .await?
        .ok_or(AppError::NotFound)?;
    authz::authorize(tx, principal, set.project_id, TableAction::ManageMembers).await??;
    Ok(set)
}

/// A project's sets.
pub async fn list(
    tx: &mut Tx,
    principal: &Principal,
    project: ProjectId,
) -> Result<Vec<SetView>, AppError> {
    authz::authorize(tx, principal, project, TableAction::ManageMembers).await??;
    let mut out = Vec::new();
    for s in permission_sets::list(tx, project).await? {
        out.push(view(tx, s).await?);
    }
    Ok(out)
}

/// Creates a set; rules are validated and stored by field id.
pub async fn create(
    tx: &mut Tx,
    principal: &Principal,
    project: ProjectId,
    name: String,
    tables: serde_json::Value,
) -> Result<SetView, AppError> {
    authz::authorize(tx, principal, project, TableAction::ManageMembers).await??;
    let stored = normalize(tx, project, None, tables).await?;
    let set = permission_sets::create(tx, project, name, stored).await?;
    view(tx, set).await
}

/// One set.
pub async fn get(tx: &mut Tx, principal: &Principal, id: SetId) -> Result<SetView, AppError> {
    let set = managed(tx, principal, id).await?;
    view(tx, set).await
}

/// Replaces a set's name and definition.
pub async fn replace(
    tx: &mut Tx,
    principal: &Principal,
    id: SetId,
    name: String,
    tables: serde_json::Value,
) -> Result<SetView, AppError> {
    let set = managed(tx, principal, id).await?;
    let stored = normalize(tx, set.project_id, Some(set.id), tables).await?;
    let set = permission_sets::update(tx, id, name, stored).await?;
    view(tx, set).await
}

/// Deletes a set; its holders lose what it granted.
pub async fn delete(tx: &mut Tx, principal: &Principal, id: SetId) -> Result<(), AppError> {
    managed(tx, principal, id).await?;
    Ok(permission_sets::delete(tx, id).await?)
}

/// Gives a user the set.
pub async fn assign_user(
    tx: &mut Tx,
    principal: &Principal,
    id: SetId,
    user: UserId,
) -> Result<(), AppError> {
    managed(tx, principal, id).await?;
    crate::people::named_user(tx, user).await?;
    Ok(permission_sets::assign_user(tx, id, user).await?)
}

/// Takes the set from a user.
pub async fn unassign_user(
    tx: &mut Tx,
    principal: &Principal,
    id: SetId,
    user: UserId,
) -> Result<(), AppError> {
    managed(tx, principal, id).await?;
    Ok(permission_sets::unassign_user(tx, id, user).await?)
}

/// Gives a group the set.
pub async fn assign_group(
    tx: &mut Tx,
    principal: &Principal,
    id: SetId,
    group: GroupId,
) -> Result<(), AppError> {
    managed(tx, principal, id).await?;
    if groups::group(tx, group).await?.is_none() {
        return Err(AppError::invalid(
            "group_id",
            "unknown_group",
            "no such group in this tenant",
        ));
    }
    Ok(permission_sets::assign_group(tx, id, group).await?)
}

/// Takes the set from a group.
pub async fn unassign_group(
    tx: &mut Tx,
    principal: &Principal,
    id: SetId,
    group: GroupId,
) -> Result<(), AppError> {
    managed(tx, principal, id).await?;
    Ok(permission_sets::unassign_group(tx, id, group).await?)
}
