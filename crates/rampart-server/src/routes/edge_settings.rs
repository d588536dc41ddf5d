//! The tenant's edge policy (tenant admins): IP allow and deny lists, the origins whose pages
//! may call the API (CORS), and rate budgets no higher than the instance's. It stays in the
//! HTTP crate, unlike other settings: only the HTTP edge enforces it (`edge_policy`), and its
//! types (networks, origins, rate budgets) are the edge's own.

use axum::extract::State;
use ipnet::IpNet;
use rampart_app::AppError;
use rampart_store::settings;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::caller::TenantAdmin;
use crate::client_addr::ClientAddr;
use crate::edge_policy::{self, StoredPolicy};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::rate_limit::{RateBudget, RateBudgets};
use crate::state::AppState;

/// Longest list accepted for any of the address or origin lists.
const MAX_LIST: usize = 1000;

#[derive(Serialize, ToSchema)]
pub struct EdgeSettingsOut {
    /// Client networks allowed (CIDR); empty: any.
    #[schema(value_type = Vec<String>)]
    ip_allow: Vec<IpNet>,
    /// Client networks refused (CIDR), even when allowed.
    #[schema(value_type = Vec<String>)]
    ip_deny: Vec<IpNet>,
    /// Origins whose pages may call the API with a token (`https://app.example.com`).
    cors_origins: Vec<String>,
    /// The budgets in force.
    rate_limits: RateBudgets,
    /// Whether `rate_limits` are the tenant's own (otherwise the instance's).
    rate_limits_customized: bool,
    /// The instance's budgets: the most a tenant may allow.
    rate_limits_ceiling: RateBudgets,
}

fn out(state: &AppState, stored: StoredPolicy) -> EdgeSettingsOut {
    let ceiling = state.config.rate_limits.budgets();
    EdgeSettingsOut {
        ip_allow: stored.ip_allow,
        ip_deny: stored.ip_deny,
        cors_origins: stored.cors_origins,
        rate_limits_customized: stored.rate_limits.is_some(),
        rate_limits: stored.rate_limits.unwrap_or(ceiling),
        rate_limits_ceiling: ceiling,
    }
}

/// The tenant's edge policy.
#[utoipa::path(get, path = "/api/v1/settings/edge", tag = "users",
    responses((status = 200, body = EdgeSettingsOut)), security(("session" = []), ("token" = [])))]
pub async fn get(
    State(state): State<AppState>,
    TenantAdmin(caller): TenantAdmin,
) -> ApiResult<axum::Json<EdgeSettingsOut>> {
    let stored = caller
        .read(|tx, _, _| Box::pin(async move { Ok(StoredPolicy::load(tx).await?) }))
        .await?;
    Ok(axum::Json(out(&state, stored)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EdgeSettingsIn {
    #[serde(default)]
    ip_allow: Option<Vec<String>>,
    #[serde(default)]
    ip_deny: Option<Vec<String>>,
    #[serde(default)]
    cors_origins: Option<Vec<String>>,
    /// The tenant's budgets; `null` returns to the instance's.
    #[serde(default, deserialize_with = "explicit_null")]
    #[schema(value_type = Option<RateBudgets>)]
    rate_limits: Option<Option<RateBudgets>>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn explicit_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<RateBudgets>>, D::Error> {
    Option::<RateBudgets>::deserialize(d).map(Some)
}

fn networks(field: &'static str, list: &[String]) -> Result<Vec<IpNet>, ApiError> {
    if list.len() > MAX_LIST {
        return Err(ApiError::field(
            field,
            "too_many",
            format!("at most {MAX_LIST} networks"),
        ));
    }
    list.iter()
        .map(|text| {
            text.parse::<IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from))
                .map(|n| n.trunc())
                .map_err(|_| {
                    ApiError::field(
                        field,
                        "invalid_network",
                        format!(
                            "{text:?} is not an address or a CIDR network such as 192.0.2.0/24"
                        ),
                    )
                })
        })
        .collect()
}

fn origins(list: &[String]) -> Result<Vec<String>, ApiError> {
    if list.len() > MAX_LIST {
        return Err(ApiError::field(
            "cors_origins",
            "too_many",
            format!("at most {MAX_LIST} origins"),
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for text in list {
        let origin = edge_policy::normalize_origin(text).map_err(|why| {
            ApiError::field("cors_origins", "invalid_origin", format!("{text:?}: {why}"))
        })?;
        if !out.contains(&origin) {
            out.push(origin);
        }
    }
    Ok(out)
}

fn budgets(state: &AppState, budgets: &RateBudgets) -> Result<(), ApiError> {
    if let Some(name) = budgets.invalid().first() {
        return Err(ApiError::field(
            format!("rate_limits.{name}"),
            "out_of_range",
            format!(
                "per_minute must be 1..={} and burst 1..={}",
                RateBudget::MAX_PER_MINUTE,
                RateBudget::MAX_BURST
            ),
        ));
    }
    if let Some(name) = budgets.above(&state.config.rate_limits.budgets()).first() {
        return Err(ApiError::field(
            format!("rate_limits.{name}"),
            "above_instance_limit",
            "a tenant may lower its budgets; raising one above the instance's is the operator's call",
        ));
    }
    Ok(())
}

/// Changes the tenant's edge policy. Needs a recently re-authenticated session. A change
/// that would refuse the caller's own address is refused, so an admin cannot lock
/// themselves out by mistake.
#[utoipa::path(patch, path = "/api/v1/settings/edge", tag = "users",
    request_body = EdgeSettingsIn,
    responses((status = 200, body = EdgeSettingsOut)), security(("session" = [])))]
pub async fn update(
    State(state): State<AppState>,
    TenantAdmin(caller): TenantAdmin,
    client: ClientAddr,
    ApiJson(body): ApiJson<EdgeSettingsIn>,
) -> ApiResult<axum::Json<EdgeSettingsOut>> {
    caller.require_recent_auth(&state)?;
    let ip_allow = body
        .ip_allow
        .as_deref()
        .map(|l| networks("ip_allow", l))
        .transpose()?;
    let ip_deny = body
        .ip_deny
        .as_deref()
        .map(|l| networks("ip_deny", l))
        .transpose()?;
    let cors_origins = body.cors_origins.as_deref().map(origins).transpose()?;
    if let Some(Some(b)) = &body.rate_limits {
        budgets(&state, b)?;
    }
    let rate_limits = body.rate_limits;
    let stored = caller
        .write(move |tx, _, _| {
            Box::pin(async move {
                let mut policy = StoredPolicy::load(tx).await?;
                if let Some(l) = ip_allow {
                    policy.ip_allow = l;
                }
                if let Some(l) = ip_deny {
                    policy.ip_deny = l;
                }
                if !crate::ip_rules::admitted(client.ip, &policy.ip_allow, &policy.ip_deny) {
                    return Err(AppError::invalid(
                        "ip_allow",
                        "would_refuse_own_address",
                        format!(
                            "these rules would refuse your own address {}; include it or change them from an address they allow",
                            client.ip
                        ),
                    ));
                }
                if let Some(l) = cors_origins {
                    policy.cors_origins = l;
                }
                if let Some(b) = rate_limits {
                    policy.rate_limits = b;
                }
                settings::set(tx, edge_policy::IP_ALLOW, &serde_json::json!(policy.ip_allow))
                    .await?;
                settings::set(tx, edge_policy::IP_DENY, &serde_json::json!(policy.ip_deny))
                    .await?;
                settings::set(
                    tx,
                    edge_policy::CORS_ORIGINS,
                    &serde_json::json!(policy.cors_origins),
                )
                .await?;
                settings::set(
                    tx,
                    edge_policy::RATE_LIMITS,
                    &serde_json::json!(policy.rate_limits),
                )
                .await?;
                Ok(policy)
            })
        })
        .await?;
    state.edge.invalidate(caller.tenant.tenant.id);
    tracing::warn!(
        target: "rampart::security",
        event = "edge_policy_set",
        by = %caller.principal.user.id,
        ip_allow = stored.ip_allow.len(),
        ip_deny = stored.ip_deny.len(),
        cors_origins = stored.cors_origins.len(),
        rate_limits_customized = stored.rate_limits.is_some(),
    );
    Ok(axum::Json(out(&state, stored)))
}
