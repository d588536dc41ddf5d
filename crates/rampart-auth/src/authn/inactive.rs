//! Accounts left unused are disabled after the tenant's configured number of days (off by
//! default). Owners are never disabled this way: a tenant must not lose its last way in.
//! Disabling ends the user's sessions and deletes their tokens, as an admin's would.

use chrono::{Duration, Utc};
use rampart_core::UserId;
use rampart_store::{TenantStore, Tx, access_review, identity, settings};

use super::{AuthError, security_event};

/// The tenant's setting: days of inactivity before an account is disabled, if enabled.
pub async fn inactivity_limit_days(ts: &TenantStore) -> Result<Option<u32>, AuthError> {
    Ok(ts
        .read(|tx: &mut Tx| {
            Box::pin(async move {
                Ok(settings::get(tx, settings::DISABLE_INACTIVE_AFTER_DAYS)
                    .await?
                    .and_then(|v| v.as_u64())
                    .and_then(|d| u32::try_from(d).ok())
                    .filter(|d| *d > 0))
            })
        })
        .await?)
}

/// Disables the tenant's inactive accounts; returns who was disabled.
pub async fn disable_inactive(ts: &TenantStore) -> Result<Vec<UserId>, AuthError> {
    let Some(days) = inactivity_limit_days(ts).await? else {
        return Ok(Vec::new());
    };
    let cutoff = Utc::now() - Duration::days(i64::from(days));
    let disabled = ts
        .write(move |tx: &mut Tx| {
            Box::pin(async move {
                let users = access_review::inactive_since(tx, cutoff).await?;
                for id in &users {
                    identity::update_user(tx, *id, None, Some(true), None).await?;
                }
                Ok(users)
            })
        })
        .await?;
    for id in &disabled {
        security_event(
            "inactive_account_disabled",
            &format!("user {id}, {days} days unused"),
        );
    }
    Ok(disabled)
}
