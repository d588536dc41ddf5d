//! Tenant-wide security settings over HTTP: the use cases of `rampart_app::settings`, behind
//! a recently re-authenticated session for changes.

use axum::extract::State;
use rampart_app::settings::{self, SecurityChange, SecuritySettings};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::caller::TenantAdmin;
use crate::error::ApiResult;
use crate::extract::ApiJson;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct SecuritySettingsOut {
    /// Every user must enrol a second factor; until they do, only their own account answers.
    require_second_factor: bool,
    /// Accounts (other than owners) unused this many days are disabled; absent: never.
    #[serde(skip_serializing_if = "Option::is_none")]
    disable_inactive_after_days: Option<u32>,
    /// People may sign up by themselves (`/api/v1/auth/register`).
    self_registration: bool,
    /// Sign-ups are limited to these email domains (empty: any).
    registration_domains: Vec<String>,
}

fn settings_out(s: SecuritySettings) -> SecuritySettingsOut {
    SecuritySettingsOut {
        require_second_factor: s.require_second_factor,
        disable_inactive_after_days: s.disable_inactive_after_days,
        self_registration: s.self_registration,
        registration_domains: s.registration_domains,
    }
}

/// The tenant's security settings.
#[utoipa::path(get, path = "/api/v1/settings/security", tag = "users",
    responses((status = 200, body = SecuritySettingsOut)), security(("session" = []), ("token" = [])))]
pub async fn get(TenantAdmin(caller): TenantAdmin) -> ApiResult<axum::Json<SecuritySettingsOut>> {
    let now = caller
        .read(|tx, me, _| Box::pin(settings::get(tx, me)))
        .await?;
    Ok(axum::Json(settings_out(now)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettingsIn {
    #[serde(default)]
    require_second_factor: Option<bool>,
    /// Days unused before an account is disabled; 0 turns it off.
    #[serde(default, deserialize_with = "crate::extract::integral_u32_option")]
    #[schema(minimum = 0, maximum = 3650)]
    disable_inactive_after_days: Option<u32>,
    #[serde(default)]
    self_registration: Option<bool>,
    /// Email domains sign-ups are limited to; `[]` for any.
    #[serde(default)]
    #[schema(schema_with = crate::input_schemas::domains_or_null)]
    registration_domains: Option<Vec<String>>,
}

/// Changes the tenant's security settings. Needs a recently re-authenticated session; to
/// require a second factor, the admin must have one first.
#[utoipa::path(patch, path = "/api/v1/settings/security", tag = "users",
    request_body = SecuritySettingsIn,
    responses((status = 200, body = SecuritySettingsOut)), security(("session" = [])))]
pub async fn update(
    State(state): State<AppState>,
    TenantAdmin(caller): TenantAdmin,
    ApiJson(body): ApiJson<SecuritySettingsIn>,
) -> ApiResult<axum::Json<SecuritySettingsOut>> {
    caller.require_recent_auth(&state)?;
    let change = SecurityChange {
        require_second_factor: body.require_second_factor,
        disable_inactive_after_days: body.disable_inactive_after_days,
        self_registration: body.self_registration,
        registration_domains: body.registration_domains,
    };
    let registration_changed =
        change.self_registration.is_some() || change.registration_domains.is_some();
    let (days, require) = (
        change.disable_inactive_after_days,
        change.require_second_factor,
    );
    let now = caller
        .write(move |tx, me, _| Box::pin(settings::update(tx, me, change)))
        .await?;
    let by = caller.principal.user.id;
    if registration_changed {
        tracing::warn!(target: "rampart::security", event = "self_registration_set", by = %by);
    }
    if let Some(days) = days {
        tracing::warn!(target: "rampart::security", event = "disable_inactive_after_days_set", value = days, by = %by);
    }
    if let Some(require) = require {
        tracing::warn!(target: "rampart::security", event = "require_second_factor_set", value = require, by = %by);
    }
    Ok(axum::Json(settings_out(now)))
}
