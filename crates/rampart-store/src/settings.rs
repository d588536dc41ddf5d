//! Tenant-wide settings, as JSON values by name.

use rampart_sql::Param;

use crate::db::Tx;
use crate::error::StoreError;

/// Whether every user of the tenant must have a second factor.
pub const REQUIRE_SECOND_FACTOR: &str = "require_second_factor";
/// Whether people may sign up by themselves (confirming their address by mail).
pub const SELF_REGISTRATION: &str = "self_registration";
/// The email domains self-registration accepts (a JSON list; empty: any).
pub const REGISTRATION_DOMAINS: &str = "registration_domains";
/// Days without any use after which an account (other than an owner) is disabled; unset
/// or 0: never.
pub const DISABLE_INACTIVE_AFTER_DAYS: &str = "disable_inactive_after_days";

pub async fn get(tx: &mut Tx, name: &str) -> Result<Option<serde_json::Value>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT value FROM tenant_settings WHERE name = ")
        .param(Param::Text(name.to_owned()));
    match tx.fetch_optional(q).await? {
        None => Ok(None),
        Some(r) => serde_json::from_str(&r.text(0)?)
            .map(Some)
            .map_err(|e| StoreError::internal(format!("stored setting {name}: {e}"))),
    }
}

/// A boolean setting, `false` when unset.
pub async fn flag(tx: &mut Tx, name: &str) -> Result<bool, StoreError> {
    Ok(get(tx, name)
        .await?
        .and_then(|v| v.as_bool())
        .unwrap_or(false))
}

pub async fn set(tx: &mut Tx, name: &str, value: &serde_json::Value) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::SettingsChange,
        None,
        Some(serde_json::json!({"name": name, "value": value})),
    )
    .await?;
    crate::epoch::bump(tx).await?;
    let mut q = tx.sql();
    q.push("INSERT INTO tenant_settings (name, value) VALUES (")
        .param_list([Param::Text(name.to_owned()), Param::Text(value.to_string())])
        .push(") ON CONFLICT (name) DO UPDATE SET value = excluded.value");
    tx.execute(q).await?;
    Ok(())
}
