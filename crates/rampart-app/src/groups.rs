//! Groups of users and the tenant's custom user attributes. Groups are for tenant admins;
//! the attribute definitions are readable by anyone signed in, because rules name them.

use rampart_auth::Principal;
use rampart_core::names::validate_display_name;
use rampart_core::{FieldError, Invalid, UserId};
use rampart_store::groups::{self, Group, GroupId};
use rampart_store::identity::{self, AttributeDef};
use rampart_store::{StoreError, Tx};

use crate::AppError;
use crate::people::require_tenant_admin;

/// A group and its members.
#[derive(Debug)]
pub struct GroupView {
    pub group: Group,
    pub members: Vec<UserId>,
}

async fn view(tx: &mut Tx, group: Group) -> Result<GroupView, AppError> {
    let members = groups::members(tx, group.id).await?;
    Ok(GroupView { group, members })
}

/// The tenant's groups.
pub async fn list(tx: &mut Tx, principal: &Principal) -> Result<Vec<GroupView>, AppError> {
    require_tenant_admin(principal)?;
    let mut out = Vec::new();
    for g in groups::list_groups(tx).await? {
        out.push(view(tx, g).await?);
    }
    Ok(out)
}

/// Creates a group.
pub async fn create(
    tx: &mut Tx,
    principal: &Principal,
    name: String,
) -> Result<GroupView, AppError> {
    require_tenant_admin(principal)?;
    validate_display_name("name", &name)?;
    let g = groups::create_group(tx, name).await?;
    view(tx, g).await
}

/// Renames a group.
pub async fn rename(
    tx: &mut Tx,
    principal: &Principal,
    group: GroupId,
    name: String,
) -> Result<GroupView, AppError> {
    require_tenant_admin(principal)?;
    validate_display_name("name", &name)?;
    let g = groups::rename_group(tx, group, name).await?;
    view(tx, g).await
}

/// Deletes a group; its members keep their accounts.
pub async fn delete(tx: &mut Tx, principal: &Principal, group: GroupId) -> Result<(), AppError> {
    require_tenant_admin(principal)?;
    Ok(groups::delete_group(tx, group).await?)
}

/// Adds a user of the tenant to a group.
pub async fn add_member(
    tx: &mut Tx,
    principal: &Principal,
    group: GroupId,
    user: UserId,
) -> Result<(), AppError> {
    require_tenant_admin(principal)?;
    groups::group(tx, group)
        .await?
        .ok_or(StoreError::NotFound)?;
    crate::people::named_user(tx, user).await?;
    Ok(groups::add_member(tx, group, user).await?)
}

/// Removes a user from a group.
pub async fn remove_member(
    tx: &mut Tx,
    principal: &Principal,
    group: GroupId,
    user: UserId,
) -> Result<(), AppError> {
    require_tenant_admin(principal)?;
    Ok(groups::remove_member(tx, group, user).await?)
}

/// The tenant's custom user attributes (`@user.<name>` in rules).
pub async fn attributes(tx: &mut Tx) -> Result<Vec<AttributeDef>, AppError> {
    Ok(identity::attribute_defs(tx).await?)
}

const RESERVED_ATTRIBUTES: &[&str] = &["id", "email", "role", "groups"];

fn attribute_name_ok(name: &str) -> bool {
    name.len() <= 40
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Checks a whole list of attribute definitions, naming each bad entry by its index.
fn validate_attributes(defs: &[AttributeDef]) -> Result<(), Invalid> {
    let mut errors = Vec::new();
    for (i, a) in defs.iter().enumerate() {
        let field = format!("[{i}].name");
        if !attribute_name_ok(&a.name) {
            errors.push(FieldError::new(
                field,
                "invalid_name",
                "1 to 40 of a-z, 0-9 and _, not starting with a digit",
            ));
        } else if RESERVED_ATTRIBUTES.contains(&a.name.as_str()) {
            errors.push(FieldError::new(
                field,
                "reserved_name",
                "this name is built in",
            ));
        } else if defs[..i].iter().any(|b| b.name == a.name) {
            errors.push(FieldError::new(field, "duplicate_name", "listed twice"));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Invalid { errors })
    }
}

/// Replaces the tenant's custom user attributes.
pub async fn set_attributes(
    tx: &mut Tx,
    principal: &Principal,
    defs: Vec<AttributeDef>,
) -> Result<Vec<AttributeDef>, AppError> {
    require_tenant_admin(principal)?;
    validate_attributes(&defs)?;
    identity::set_attribute_defs(tx, &defs).await?;
    Ok(defs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(name: &str) -> AttributeDef {
        AttributeDef {
            name: name.into(),
            multiple: false,
        }
    }

    #[test]
    fn attribute_names_are_checked_each_by_index() {
        assert!(validate_attributes(&[def("team"), def("cost_centre_2")]).is_ok());
        let bad = validate_attributes(&[def("Team"), def("role"), def("x"), def("x"), def("9a")])
            .err()
            .map(|i| {
                i.errors
                    .into_iter()
                    .map(|e| (e.field, e.code))
                    .collect::<Vec<_>>()
            });
        assert_eq!(
            bad,
            Some(vec![
                ("[0].name".into(), "invalid_name"),
                ("[1].name".into(), "reserved_name"),
                ("[3].name".into(), "duplicate_name"),
                ("[4].name".into(), "invalid_name"),
            ])
        );
        assert!(validate_attributes(&[def(&"a".repeat(41))]).is_err());
    }
}
