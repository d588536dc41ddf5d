//! Tenant-wide security settings (tenant admins).

use axum::extract::State;
use rampart_auth::authn::{inactive, onboarding};
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
    /// People may sign up by themselves (`/api/v1/auth/register`).
    self_registration: bool,
    /// Sign-ups are limited to these email domains (empty: any).
    registration_domains: Vec<String>,
}

async fn stored_domains(caller: &crate::caller::Caller) -> ApiResult<Vec<String>> {
    Ok(caller
        .tenant
        .store
        .read(|tx: &mut Tx| Box::pin(settings::get(tx, settings::REGISTRATION_DOMAINS)))
        .await?
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default())
}

async fn current(caller: &crate::caller::Caller) -> ApiResult<SecuritySettingsOut> {
    let registration = onboarding::registration_domains(&caller.tenant.store).await?;
    let require_second_factor = caller
        .tenant
        .store
        .read(|tx: &mut Tx| Box::pin(settings::flag(tx, settings::REQUIRE_SECOND_FACTOR)))
        .await?;
    Ok(SecuritySettingsOut {
        require_second_factor,
        disable_inactive_after_days: inactive::inactivity_limit_days(&caller.tenant.store).await?,
        self_registration: registration.is_some(),
        registration_domains: match registration {
            Some(d) => d,
            None => stored_domains(caller).await?,
        },
    })
}

/// Longest inactivity limit accepted (ten years).
pub(crate) const MAX_INACTIVE_DAYS: u32 = 3650;

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
    if let Some(domains) = &body.registration_domains {
        for d in domains {
            rampart_core::names::validate_domain("registration_domains", d)?;
        }
    }
    let registration = (body.self_registration, body.registration_domains.clone());
    if registration != (None, None) {
        let (open, domains) = registration;
        caller
            .tenant
            .store
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    if let Some(open) = open {
                        settings::set(
                            tx,
                            settings::SELF_REGISTRATION,
                            &serde_json::Value::Bool(open),
                        )
                        .await?;
                    }
                    if let Some(domains) = domains {
                        let lower: Vec<String> =
                            domains.iter().map(|d| d.to_ascii_lowercase()).collect();
                        settings::set(
                            tx,
                            settings::REGISTRATION_DOMAINS,
                            &serde_json::json!(lower),
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .await?;
        tracing::warn!(target: "rampart::security", event = "self_registration_set", by = %caller.principal.user.id);
    }
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
