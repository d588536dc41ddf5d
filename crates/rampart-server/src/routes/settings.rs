//! Tenant-wide security settings (tenant admins).

use axum::extract::State;
use rampart_auth::authn::inactive;
use rampart_store::{Tx, settings};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::caller::TenantAdmin;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct SecuritySettingsOut {
    /// Every user must enrol a second factor; until they do, only their own account answers.
    require_second_factor: bool,
    /// Accounts (other than owners) unused this many days are disabled; absent: never.
    #[serde(skip_serializing_if = "Option::is_none")]
    disable_inactive_after_days: Option<u32>,
}

async fn current(caller: &crate::caller::Caller) -> ApiResult<SecuritySettingsOut> {
    let require_second_factor = caller
        .tenant
        .store
        .read(|tx: &mut Tx| Box::pin(settings::flag(tx, settings::REQUIRE_SECOND_FACTOR)))
        .await?;
    Ok(SecuritySettingsOut {
        require_second_factor,
        disable_inactive_after_days: inactive::inactivity_limit_days(&caller.tenant.store).await?,
    })
}

/// Longest inactivity limit accepted (ten years).
const MAX_INACTIVE_DAYS: u32 = 3650;

/// The tenant's security settings.
#[utoipa::path(get, path = "/api/v1/settings/security", tag = "users",
    responses((status = 200, body = SecuritySettingsOut)), security(("session" = []), ("token" = [])))]
pub async fn get(TenantAdmin(caller): TenantAdmin) -> ApiResult<axum::Json<SecuritySettingsOut>> {
    Ok(axum::Json(current(&caller).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettingsIn {
    #[serde(default)]
    require_second_factor: Option<bool>,
    /// Days unused before an account is disabled; 0 turns it off.
    #[serde(default)]
    disable_inactive_after_days: Option<u32>,
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
    if let Some(days) = body.disable_inactive_after_days {
        if days > MAX_INACTIVE_DAYS {
            return Err(ApiError::field(
                "disable_inactive_after_days",
                "out_of_range",
                format!("must be between 0 (off) and {MAX_INACTIVE_DAYS}"),
            ));
        }
        caller
            .tenant
            .store
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    settings::set(
                        tx,
                        settings::DISABLE_INACTIVE_AFTER_DAYS,
                        &serde_json::Value::from(days),
                    )
                    .await
                })
            })
            .await?;
        tracing::warn!(target: "rampart::security", event = "disable_inactive_after_days_set", value = days, by = %caller.principal.user.id);
    }
    if let Some(require) = body.require_second_factor {
        if require && !caller.principal.has_second_factor {
            return Err(ApiError::conflict(
                "second_factor_required_first",
                "enrol a second factor yourself before requiring one of everybody",
            ));
        }
        caller
            .tenant
            .store
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    settings::set(
                        tx,
                        settings::REQUIRE_SECOND_FACTOR,
                        &serde_json::Value::Bool(require),
                    )
                    .await
                })
            })
            .await?;
        tracing::warn!(target: "rampart::security", event = "require_second_factor_set", value = require, by = %caller.principal.user.id);
    }
    Ok(axum::Json(current(&caller).await?))
}
