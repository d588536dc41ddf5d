//! The tenant's security settings (tenant admins): second factors for everybody, disabling
//! inactive accounts, self-registration and the domains it is open to.
//!
//! A change is checked whole before anything is written and then written in one transaction:
//! a bad value in one setting leaves the others as they were.

use rampart_auth::Principal;
use rampart_store::{Tx, settings};
use serde_json::Value;

use crate::AppError;
use crate::people::require_tenant_admin;

/// Longest inactivity limit accepted (ten years).
pub const MAX_INACTIVE_DAYS: u32 = 3650;

/// The settings as they stand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecuritySettings {
    pub require_second_factor: bool,
    /// `None`: accounts are never disabled for inactivity.
    pub disable_inactive_after_days: Option<u32>,
    pub self_registration: bool,
    pub registration_domains: Vec<String>,
}

/// A change; `None` leaves a setting as it is.
#[derive(Debug, Default)]
pub struct SecurityChange {
    pub require_second_factor: Option<bool>,
    /// 0 turns the limit off.
    pub disable_inactive_after_days: Option<u32>,
    pub self_registration: Option<bool>,
    pub registration_domains: Option<Vec<String>>,
}

async fn current(tx: &mut Tx) -> Result<SecuritySettings, AppError> {
    let require_second_factor = settings::flag(tx, settings::REQUIRE_SECOND_FACTOR).await?;
    let self_registration = settings::flag(tx, settings::SELF_REGISTRATION).await?;
    let registration_domains = settings::get(tx, settings::REGISTRATION_DOMAINS)
        .await?
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    let disable_inactive_after_days = settings::get(tx, settings::DISABLE_INACTIVE_AFTER_DAYS)
        .await?
        .and_then(|v| v.as_u64())
        .and_then(|d| u32::try_from(d).ok())
        .filter(|d| *d > 0);
    Ok(SecuritySettings {
        require_second_factor,
        disable_inactive_after_days,
        self_registration,
        registration_domains,
    })
}

/// The tenant's security settings.
pub async fn get(tx: &mut Tx, principal: &Principal) -> Result<SecuritySettings, AppError> {
    require_tenant_admin(principal)?;
    current(tx).await
}

fn check(principal: &Principal, change: &SecurityChange) -> Result<(), AppError> {
    for d in change.registration_domains.iter().flatten() {
        rampart_core::names::validate_domain("registration_domains", d)?;
    }
    if change
        .disable_inactive_after_days
        .is_some_and(|days| days > MAX_INACTIVE_DAYS)
    {
        return Err(AppError::invalid(
            "disable_inactive_after_days",
            "out_of_range",
            format!("must be between 0 (off) and {MAX_INACTIVE_DAYS}"),
        ));
    }
    if change.require_second_factor == Some(true) && !principal.has_second_factor {
        return Err(AppError::Conflict {
            code: "second_factor_required_first",
            detail: "enrol a second factor yourself before requiring one of everybody".into(),
        });
    }
    Ok(())
}

/// Changes the settings named in `change`, all or none, and returns them as they now stand.
/// The adapter checks the session was recently re-authenticated.
pub async fn update(
    tx: &mut Tx,
    principal: &Principal,
    change: SecurityChange,
) -> Result<SecuritySettings, AppError> {
    require_tenant_admin(principal)?;
    check(principal, &change)?;
    if let Some(open) = change.self_registration {
        settings::set(tx, settings::SELF_REGISTRATION, &Value::Bool(open)).await?;
    }
    if let Some(domains) = change.registration_domains {
        let lower: Vec<String> = domains.iter().map(|d| d.to_ascii_lowercase()).collect();
        settings::set(
            tx,
            settings::REGISTRATION_DOMAINS,
            &serde_json::json!(lower),
        )
        .await?;
    }
    if let Some(days) = change.disable_inactive_after_days {
        settings::set(
            tx,
            settings::DISABLE_INACTIVE_AFTER_DAYS,
            &Value::from(days),
        )
        .await?;
    }
    if let Some(require) = change.require_second_factor {
        settings::set(tx, settings::REQUIRE_SECOND_FACTOR, &Value::Bool(require)).await?;
    }
    current(tx).await
}
