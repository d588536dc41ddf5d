//! The caller's own API tokens: create (the secret shown once, optionally scoped: a scope only
//! narrows what its user may do), list, rotate and revoke. Issuing a token needs a recently
//! re-authenticated session; the adapter checks that, as it is a property of the credential.

use chrono::{Duration, Utc};
use rampart_auth::Principal;
use rampart_auth::authn::{self, Via};
use rampart_core::TokenId;
use rampart_core::names::validate_display_name;
use rampart_store::tokens::{self, ApiToken, TokenScope};
use rampart_store::{TenantStore, Tx};
use secrecy::SecretString;

use crate::AppError;

/// The operator's token lifetimes (`[auth]`).
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub default_days: u32,
    pub max_days: u32,
    pub rotation_grace_hours: u32,
}

/// A token as asked for.
#[derive(Debug)]
pub struct NewToken {
    pub name: String,
    /// `None`: the operator's default.
    pub expires_in_days: Option<u32>,
    pub scope: TokenScope,
}

/// The caller's tokens (never their secrets).
pub async fn list(tx: &mut Tx, principal: &Principal) -> Result<Vec<ApiToken>, AppError> {
    Ok(tokens::list(tx, principal.user.id).await?)
}

fn check(new: &NewToken, lifetimes: Lifetimes) -> Result<u32, AppError> {
    validate_display_name("name", &new.name)?;
    let max = lifetimes.max_days;
    let days = new.expires_in_days.unwrap_or(lifetimes.default_days);
    if days == 0 || days > max {
        return Err(AppError::invalid(
            "expires_in_days",
            "out_of_range",
            format!("must be between 1 and {max}"),
        ));
    }
    if new.scope.projects.as_ref().is_some_and(Vec::is_empty) {
        return Err(AppError::invalid(
            "projects",
            "empty",
            "name at least one project, or leave it out for all",
        ));
    }
    Ok(days)
}

/// Issues a token for the caller; returns it with its secret, which is stored only hashed.
pub async fn create(
    store: &TenantStore,
    principal: &Principal,
    new: NewToken,
    lifetimes: Lifetimes,
) -> Result<(ApiToken, SecretString), AppError> {
    let days = check(&new, lifetimes)?;
    let expires_at = Utc::now() + Duration::days(i64::from(days));
    Ok(authn::create_api_token(store, principal, new.name, new.scope, expires_at).await?)
}

/// Issues a successor with the same name, scope and lifetime; the old token keeps working for
/// the grace period, then expires. A token may rotate itself, and no other.
pub async fn rotate(
    store: &TenantStore,
    principal: &Principal,
    token: TokenId,
    lifetimes: Lifetimes,
) -> Result<(ApiToken, SecretString), AppError> {
    if let Via::Token { id } = principal.via
        && id != token
    {
        return Err(AppError::forbidden(
            "token_scope",
            "a token may rotate itself only",
        ));
    }
    Ok(authn::rotate_api_token(
        store,
        principal,
        token,
        Duration::hours(i64::from(lifetimes.rotation_grace_hours)),
        Duration::days(i64::from(lifetimes.max_days)),
    )
    .await?)
}

/// Revokes one of the caller's tokens.
pub async fn revoke(tx: &mut Tx, principal: &Principal, token: TokenId) -> Result<(), AppError> {
    Ok(tokens::delete(tx, principal.user.id, token).await?)
}
