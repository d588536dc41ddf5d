//! Tenant-wide security settings (tenant admins).

use axum::extract::State;
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
}

async fn current(caller: &crate::caller::Caller) -> ApiResult<SecuritySettingsOut> {
    let require_second_factor = caller
        .tenant
        .store
        .read(|tx: &mut Tx| Box::pin(settings::flag(tx, settings::REQUIRE_SECOND_FACTOR)))
        .await?;
    Ok(SecuritySettingsOut {
        require_second_factor,
    })
}

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
