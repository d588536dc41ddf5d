//! The tenant's people as the use cases need them.

use rampart_auth::Principal;
use rampart_core::{GlobalRole, UserId};
use rampart_store::identity::User;
use rampart_store::{Tx, factors, identity};

use crate::AppError;

/// The principal a user of the tenant acts as when an operator looks through their eyes
/// (`rampart records list --as`): their own roles, groups and sets, no token scope. A
/// disabled user gets nothing, as they would over the API.
pub async fn acting_as(tx: &mut Tx, email: &str) -> Result<Principal, AppError> {
    let user = identity::user_by_email(tx, email)
        .await?
        .ok_or_else(|| AppError::invalid("as", "unknown_user", "no such user in this tenant"))?
        .user;
    if user.disabled {
        return Err(AppError::forbidden(
            "user_disabled",
            "this user is disabled and reads nothing",
        ));
    }
    let has_second_factor = factors::has_second_factor(tx, user.id).await?;
    Ok(Principal::for_simulation(user, has_second_factor))
}

/// The user a request names by id (`user_id`), refused as a field of the request when the
/// tenant has no such user.
pub async fn named_user(tx: &mut Tx, user: UserId) -> Result<User, AppError> {
    identity::user_by_id(tx, user)
        .await?
        .ok_or_else(|| AppError::invalid("user_id", "unknown_user", "no such user in this tenant"))
}

/// Tenant administration (users, groups, settings, secrets, identity providers) is for an
/// unscoped credential of a tenant admin or owner.
pub fn require_tenant_admin(principal: &Principal) -> Result<(), AppError> {
    if principal.is_scoped() {
        return Err(AppError::token_scope());
    }
    if principal.role() >= GlobalRole::Admin {
        Ok(())
    } else {
        Err(AppError::forbidden(
            "forbidden",
            "only tenant admins and owners may do this",
        ))
    }
}
