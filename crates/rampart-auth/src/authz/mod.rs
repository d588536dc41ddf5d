//! The single authorization path. Every project, table and record operation calls
//! [`authorize`] inside the transaction that performs it, so the decision and the data it
//! protects are read from the same snapshot.
//!
//! Project-level actions (schema, members, deleting the project) are decided by roles: tenant
//! owners and admins act as owners of every project; other users have their project role or
//! nothing. Record-level decisions come from [`access::table_access`]: the role as a built-in
//! set, plus the permission sets the caller holds, with their field access and record rules.
//!
//! An API token's scope only narrows this: projects outside it do not exist for the token, a
//! read-only token acts as a viewer, and a token bound to a permission set acts with that
//! set's grants alone (and only while its user still holds the set or administers the project).

pub mod access;
pub mod cache;
pub mod definition;
pub mod query;

use rampart_core::{ProjectId, ProjectRole, TableAction};
use rampart_store::{StoreError, Tx, permission_sets, projects};

use crate::authn::Principal;

/// Why an operation is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// The caller may not even see the project: answered exactly like a missing one.
    NotFound,
    /// The caller sees the project but may not perform `action`.
    Forbidden { action: TableAction },
    /// The project requires a second factor and the caller, who would have access, has none.
    SecondFactorRequired,
}

/// Permission to perform one action in one project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub project: ProjectId,
    /// `None` for a caller who sees the project only through permission sets.
    pub role: Option<ProjectRole>,
    pub action: TableAction,
}

/// The user's own role in a project known to exist, before any token scope.
async fn role_in(
    tx: &mut Tx,
    principal: &Principal,
    project: ProjectId,
) -> Result<Option<ProjectRole>, StoreError> {
    if principal.role().administers_projects() {
        return Ok(Some(ProjectRole::Owner));
    }
    projects::member_role(tx, project, principal.user.id).await
}

/// The user's own role in a project, before any token scope.
async fn user_role(
    tx: &mut Tx,
    principal: &Principal,
    project: ProjectId,
) -> Result<Option<ProjectRole>, StoreError> {
    if projects::project(tx, project).await?.is_none() {
        return Ok(None);
    }
    role_in(tx, principal, project).await
}

/// Whether the project requires a second factor the caller does not have. A project that
/// requires one gives such a caller no role and no permission set until they enrol.
async fn lacks_required_factor(
    tx: &mut Tx,
    principal: &Principal,
    project: ProjectId,
) -> Result<bool, StoreError> {
    if principal.has_second_factor {
        return Ok(false);
    }
    Ok(projects::project(tx, project)
        .await?
        .is_some_and(|p| p.require_second_factor))
}

/// Whether the caller is kept out of `project` only for want of a second factor (they would
/// otherwise have a role or a permission set there): the answer is then a clear 403 rather
/// than "not found".
pub async fn blocked_by_second_factor(
    tx: &mut Tx,
    principal: &Principal,
    project: ProjectId,
) -> Result<bool, StoreError> {
    if !in_scope(principal, project) || !lacks_required_factor(tx, principal, project).await? {
        return Ok(false);
    }
    Ok(user_role(tx, principal, project).await?.is_some()
        || !permission_sets::held_by(tx, principal.user.id, project)
            .await?
            .is_empty())
}

fn in_scope(principal: &Principal, project: ProjectId) -> bool {
    principal
        .scope
        .projects
        .as_ref()
        .is_none_or(|p| p.contains(&project))
}

/// The caller's effective role in a project, if any, within its token's scope.
pub async fn effective_role(
    tx: &mut Tx,
    principal: &Principal,
    project: ProjectId,
) -> Result<Option<ProjectRole>, StoreError> {
    if !in_scope(principal, project) || principal.scope.permission_set.is_some() {
        return Ok(None);
    }
    // One read of the project answers both "does it exist" and "does it require 2FA".
    let Some(found) = projects::project(tx, project).await? else {
        return Ok(None);
    };
    if found.require_second_factor && !principal.has_second_factor {
        return Ok(None);
    }
    let role = role_in(tx, principal, project).await?;
    Ok(if principal.scope.read_only {
        role.map(|r| r.min(ProjectRole::Viewer))
    } else {
        role
    })
}

/// The permission sets the caller acts with in a project, within its token's scope.
pub async fn held_sets(
    tx: &mut Tx,
    principal: &Principal,
    project: ProjectId,
) -> Result<Vec<permission_sets::PermissionSet>, StoreError> {
    if !in_scope(principal, project) || lacks_required_factor(tx, principal, project).await? {
        return Ok(Vec::new());
    }
    let held = permission_sets::held_by(tx, principal.user.id, project).await?;
    let Some(only) = principal.scope.permission_set else {
        return Ok(held);
    };
    if held.iter().any(|s| s.id == only) {
        return Ok(held.into_iter().filter(|s| s.id == only).collect());
    }
    let administers = user_role(tx, principal, project)
        .await?
        .is_some_and(|r| r >= ProjectRole::Admin);
    Ok(if administers {
        permission_sets::get(tx, only)
            .await?
            .filter(|s| s.project_id == project)
            .into_iter()
            .collect()
    } else {
        Vec::new()
    })
}

/// Decides whether `principal` may perform `action` in `project`.
pub async fn authorize(
    tx: &mut Tx,
    principal: &Principal,
    project: ProjectId,
    action: TableAction,
) -> Result<Result<Grant, Denied>, StoreError> {
    let role = effective_role(tx, principal, project).await?;
    if role.is_none()
        && projects::project(tx, project).await?.is_some()
        && !held_sets(tx, principal, project).await?.is_empty()
    {
        // The caller sees the project through permission sets: what is visible inside is
        // decided per table by `access::table_access`; project-level actions are refused.
        return Ok(if action == TableAction::ReadRecords {
            Ok(Grant {
                project,
                role: None,
                action,
            })
        } else {
            Err(Denied::Forbidden { action })
        });
    }
    let decision = decide(role, project, action);
    if decision == Err(Denied::NotFound) && blocked_by_second_factor(tx, principal, project).await?
    {
        return Ok(Err(Denied::SecondFactorRequired));
    }
    Ok(decision)
}

/// The pure part of [`authorize`].
pub fn decide(
    role: Option<ProjectRole>,
    project: ProjectId,
    action: TableAction,
) -> Result<Grant, Denied> {
    match role {
        None => Err(Denied::NotFound),
        Some(role) if role.allows(action) => Ok(Grant {
            project,
            role: Some(role),
            action,
        }),
        Some(_) => Err(Denied::Forbidden { action }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_members_see_nothing_and_viewers_cannot_write() {
        let p = ProjectId::generate();
        assert_eq!(
            decide(None, p, TableAction::ReadRecords),
            Err(Denied::NotFound)
        );
        assert_eq!(
            decide(Some(ProjectRole::Viewer), p, TableAction::UpdateRecords),
            Err(Denied::Forbidden {
                action: TableAction::UpdateRecords
            })
        );
        assert!(decide(Some(ProjectRole::Editor), p, TableAction::CreateRecords).is_ok());
    }
}
