//! A project's secrets and config values (project admins). A secret is written and never read
//! back by a client: lists show its fingerprint; only server-side features open it. Config
//! values are shown to project admins. Changes need a recently re-authenticated session,
//! which the adapter checks.

use rampart_auth::Principal;
use rampart_auth::authz;
use rampart_core::{ProjectId, TableAction};
use rampart_store::secrets::{self, Kind, Stored};
use rampart_store::{TenantStore, Tx, tx_fn};
use zeroize::Zeroizing;

use crate::AppError;

/// The environment a value belongs to when none is named.
pub const DEFAULT_ENVIRONMENT: &str = "production";
/// Largest value stored.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// A stored value, with its plain text when it is a config value.
pub type Shown = (Stored, Option<String>);

fn check_name(name: &str) -> Result<(), AppError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(AppError::invalid(
            "name",
            "invalid_name",
            "1 to 64 letters, digits and underscores, not starting with a digit",
        ))
    }
}

/// Checks an environment's name; `None` is the default one.
pub fn environment(env: Option<String>) -> Result<String, AppError> {
    let env = env.unwrap_or_else(|| DEFAULT_ENVIRONMENT.to_owned());
    let ok = (1..=32).contains(&env.len())
        && env.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && env
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(env)
    } else {
        Err(AppError::invalid(
            "environment",
            "invalid_environment",
            "1 to 32 lower-case letters, digits, - and _, starting with a letter",
        ))
    }
}

/// Reads a kind as clients name it; `None` is a secret.
pub fn kind(name: Option<&str>) -> Result<Kind, AppError> {
    match name {
        None | Some("secret") => Ok(Kind::Secret),
        Some("config") => Ok(Kind::Config),
        Some(_) => Err(AppError::invalid(
            "kind",
            "invalid_kind",
            "secret or config",
        )),
    }
}

/// The caller must administer the project (404 as for a missing project otherwise).
async fn require_admin(
    tx: &mut Tx,
    principal: &Principal,
    project: ProjectId,
) -> Result<(), AppError> {
    authz::authorize(tx, principal, project, TableAction::ManageMembers).await??;
    Ok(())
}

/// A project's secrets and config values; secret values are never shown.
pub async fn list(
    store: &TenantStore,
    principal: &Principal,
    project: ProjectId,
) -> Result<Vec<Shown>, AppError> {
    let keys = store.data_keys().await?;
    let principal = principal.clone();
    store
        .read_with(tx_fn(move |tx: &mut Tx| {
            Box::pin(async move {
                require_admin(tx, &principal, project).await?;
                let mut items = Vec::new();
                for stored in secrets::list(tx, project).await? {
                    let value = secrets::config_value(&keys, project, &stored).await?;
                    items.push((stored, value));
                }
                Ok::<_, AppError>(items)
            })
        }))
        .await
}

/// A value to store.
#[derive(Debug)]
pub struct NewValue {
    pub name: String,
    pub environment: Option<String>,
    pub kind: Option<String>,
    pub value: Zeroizing<String>,
}

/// Stores or replaces a value.
pub async fn set(
    store: &TenantStore,
    principal: &Principal,
    project: ProjectId,
    new: NewValue,
) -> Result<Shown, AppError> {
    check_name(&new.name)?;
    let environment = environment(new.environment)?;
    let kind = kind(new.kind.as_deref())?;
    if new.value.len() > MAX_VALUE_BYTES {
        return Err(AppError::invalid(
            "value",
            "too_long",
            format!("at most {MAX_VALUE_BYTES} bytes"),
        ));
    }
    let keys = store.data_keys().await?;
    let opener = keys.clone();
    let principal = principal.clone();
    let (name, value) = (new.name, new.value);
    let stored = store
        .write_with(tx_fn(move |tx: &mut Tx| {
            Box::pin(async move {
                require_admin(tx, &principal, project).await?;
                let by = principal.user.id;
                let stored =
                    secrets::set(tx, &keys, project, &environment, &name, kind, &value, by).await?;
                Ok::<_, AppError>(stored)
            })
        }))
        .await?;
    let value = secrets::config_value(&opener, project, &stored).await?;
    Ok((stored, value))
}

/// Deletes a value.
pub async fn delete(
    tx: &mut Tx,
    principal: &Principal,
    project: ProjectId,
    name: &str,
    environment: &str,
) -> Result<(), AppError> {
    require_admin(tx, principal, project).await?;
    Ok(secrets::delete(tx, project, environment, name).await?)
}
