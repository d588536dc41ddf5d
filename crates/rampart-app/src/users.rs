//! Tenant administration of users: who may create, change and delete whom (admins manage
//! members only; owners any role), and the tenant keeps one enabled owner.
//!
//! Hashing a new password and checking the session was recently re-authenticated are the
//! adapter's part: the first is slow and must not hold a write transaction, the second is a
//! property of the credential, not of the tenant's data.

use rampart_auth::Principal;
use rampart_core::names::{validate_display_name, validate_email};
use rampart_core::{FieldError, GlobalRole, Invalid, UserId};
use rampart_store::access_review::{self, ReviewRow};
use rampart_store::identity::{self, AttributeDef, NewUser, User};
use rampart_store::user_removal::Reassigned;
use rampart_store::{StoreError, Tx};
use serde_json::{Map, Value};

use crate::AppError;
use crate::people::require_tenant_admin;

/// The tenant's users.
pub async fn list(tx: &mut Tx, principal: &Principal) -> Result<Vec<User>, AppError> {
    require_tenant_admin(principal)?;
    Ok(identity::list_users(tx).await?)
}

/// Every user of the tenant with their access (role, last sign-in, second factors, live
/// tokens, project roles), for a periodic review.
pub async fn access_review(tx: &mut Tx, principal: &Principal) -> Result<Vec<ReviewRow>, AppError> {
    require_tenant_admin(principal)?;
    Ok(access_review::review(tx).await?)
}

/// One user.
pub async fn get(tx: &mut Tx, principal: &Principal, user: UserId) -> Result<User, AppError> {
    require_tenant_admin(principal)?;
    Ok(identity::user_by_id(tx, user)
        .await?
        .ok_or(StoreError::NotFound)?)
}

/// The shape of a new account's email and name, each problem naming its field.
pub fn check_new_account(email: &str, display_name: &str) -> Vec<FieldError> {
    [
        validate_email("email", email.trim()),
        validate_display_name("display_name", display_name),
    ]
    .into_iter()
    .filter_map(Result::err)
    .collect()
}

/// Whether the caller may create a user with `role`; asked before the password is hashed.
pub fn may_create(principal: &Principal, role: GlobalRole) -> Result<(), AppError> {
    require_tenant_admin(principal)?;
    if principal.role().may_assign(role) {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "forbidden",
            "your role may not create users with this role",
        ))
    }
}

/// Creates a user whose password the adapter has checked and hashed.
pub async fn create(tx: &mut Tx, principal: &Principal, new: NewUser) -> Result<User, AppError> {
    may_create(principal, new.role)?;
    let errors = check_new_account(&new.email, &new.display_name);
    if !errors.is_empty() {
        return Err(Invalid { errors }.into());
    }
    Ok(identity::insert_user(tx, new).await?)
}

/// A change to a user; `None` leaves a property as it is.
#[derive(Debug, Default)]
pub struct UserChange {
    pub role: Option<GlobalRole>,
    pub disabled: Option<bool>,
    pub display_name: Option<String>,
    /// Custom attribute values: a string, a list of strings, or null to remove.
    pub attributes: Option<Map<String, Value>>,
}

impl UserChange {
    /// Whether the change needs a recently re-authenticated session (role or disabled flag).
    pub fn is_sensitive(&self) -> bool {
        self.role.is_some() || self.disabled.is_some()
    }
}

fn last_owner() -> AppError {
    AppError::Conflict {
        code: "last_owner",
        detail: "the tenant must keep one enabled owner".into(),
    }
}

/// Changes a user's role, name, disabled flag or attributes. Disabling ends their sessions.
pub async fn update(
    tx: &mut Tx,
    principal: &Principal,
    user: UserId,
    change: UserChange,
) -> Result<User, AppError> {
    require_tenant_admin(principal)?;
    if let Some(name) = &change.display_name {
        validate_display_name("display_name", name)?;
    }
    let actor = principal.user.role;
    let target = identity::user_by_id(tx, user)
        .await?
        .ok_or(StoreError::NotFound)?;
    let role_change = change.role.filter(|r| *r != target.role);
    // Admins manage members only, and may not promote anyone.
    if !actor.may_assign(target.role) || role_change.is_some_and(|r| !actor.may_assign(r)) {
        return Err(AppError::forbidden(
            "forbidden",
            "your role may not change this user",
        ));
    }
    let loses_owner = target.role == GlobalRole::Owner
        && !target.disabled
        && (role_change.is_some() || change.disabled == Some(true));
    if loses_owner && identity::count_active_owners(tx).await? <= 1 {
        return Err(last_owner());
    }
    if let Some(changes) = change.attributes {
        let defs = identity::attribute_defs(tx).await?;
        let current = identity::user_attributes(tx, user).await?;
        let merged = merge_attributes(&defs, current, changes)?;
        identity::set_user_attributes(tx, user, merged).await?;
    }
    Ok(identity::update_user(tx, user, role_change, change.disabled, change.display_name).await?)
}

/// Merges attribute changes into a user's values, checking them against the definitions.
fn merge_attributes(
    defs: &[AttributeDef],
    mut current: Map<String, Value>,
    changes: Map<String, Value>,
) -> Result<Map<String, Value>, Invalid> {
    let mut errors = Vec::new();
    let text_ok = |s: &str| s.chars().count() <= 255 && !s.contains('\0');
    for (name, value) in changes {
        let at = format!("attributes.{name}");
        let Some(def) = defs.iter().find(|d| d.name == name) else {
            errors.push(FieldError::new(
                at,
                "unknown_attribute",
                "the tenant defines no such attribute",
            ));
            continue;
        };
        let ok = match (&value, def.multiple) {
            (Value::Null, _) => {
                current.remove(&name);
                continue;
            }
            (Value::String(s), false) => text_ok(s),
            (Value::Array(items), true) => {
                items.len() <= 100 && items.iter().all(|i| i.as_str().is_some_and(text_ok))
            }
            _ => false,
        };
        if ok {
            current.insert(name, value);
        } else {
            errors.push(FieldError::new(
                at,
                "invalid_value",
                if def.multiple {
                    "expected a list of at most 100 strings"
                } else {
                    "expected a string of at most 255 characters"
                },
            ));
        }
    }
    if errors.is_empty() {
        Ok(current)
    } else {
        Err(Invalid { errors })
    }
}

/// What the adapter checks about a deletion before any transaction: nobody deletes
/// themselves, and the records pass to someone else.
pub fn check_delete(
    principal: &Principal,
    user: UserId,
    successor: UserId,
) -> Result<(), AppError> {
    require_tenant_admin(principal)?;
    if user == principal.user.id {
        return Err(AppError::Conflict {
            code: "cannot_delete_self",
            detail: "ask another administrator to delete your account".into(),
        });
    }
    if successor == user {
        return Err(AppError::invalid(
            "reassign_to",
            "same_user",
            "records must pass to someone else",
        ));
    }
    Ok(())
}

/// Deletes a user; everything they own passes to `successor` in the same transaction, so
/// nothing is orphaned; their sessions, tokens and factors end with them.
pub async fn delete(
    tx: &mut Tx,
    principal: &Principal,
    user: UserId,
    successor: UserId,
) -> Result<Reassigned, AppError> {
    check_delete(principal, user, successor)?;
    let target = identity::user_by_id(tx, user)
        .await?
        .ok_or(StoreError::NotFound)?;
    if !principal.user.role.may_assign(target.role) {
        return Err(AppError::forbidden(
            "forbidden",
            "your role may not delete this user",
        ));
    }
    if target.role == GlobalRole::Owner
        && !target.disabled
        && identity::count_active_owners(tx).await? <= 1
    {
        return Err(last_owner());
    }
    match identity::user_by_id(tx, successor).await? {
        Some(s) if !s.disabled => {}
        _ => {
            return Err(AppError::invalid(
                "reassign_to",
                "unknown_user",
                "no enabled user with this id in this tenant",
            ));
        }
    }
    Ok(rampart_store::user_removal::delete_user(tx, user, successor).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defs() -> Vec<AttributeDef> {
        vec![
            AttributeDef {
                name: "team".into(),
                multiple: false,
            },
            AttributeDef {
                name: "regions".into(),
                multiple: true,
            },
        ]
    }

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn attributes_merge_and_null_removes() {
        let merged = merge_attributes(
            &defs(),
            map(json!({"team": "a", "regions": ["x"]})),
            map(json!({"team": null, "regions": ["y", "z"]})),
        );
        assert_eq!(merged.ok(), Some(map(json!({"regions": ["y", "z"]}))));
    }

    #[test]
    fn attributes_of_the_wrong_shape_or_unknown_name_each_fail() {
        let codes = merge_attributes(
            &defs(),
            Map::new(),
            map(json!({"team": ["a"], "regions": "x", "nope": "1", "team2": null})),
        )
        .err()
        .map(|i| {
            let mut v: Vec<_> = i.errors.into_iter().map(|e| (e.field, e.code)).collect();
            v.sort();
            v
        });
        assert_eq!(
            codes,
            Some(vec![
                ("attributes.nope".into(), "unknown_attribute"),
                ("attributes.regions".into(), "invalid_value"),
                ("attributes.team".into(), "invalid_value"),
                ("attributes.team2".into(), "unknown_attribute"),
            ])
        );
        let long = "é".repeat(256);
        assert!(merge_attributes(&defs(), Map::new(), map(json!({"team": long}))).is_err());
        assert!(merge_attributes(&defs(), Map::new(), map(json!({"team": "a\u{0}"}))).is_err());
    }
}
