//! A tenant's edge policy: its own IP allow/deny lists, the origins allowed to call its API
//! from a browser (CORS), and its rate budgets. Applied right after tenant resolution and
//! before authentication, so a refused or flooding client costs no credential check.
//!
//! The policy is stored in the tenant's settings and kept in memory per tenant for a few
//! seconds: a change made on this node applies at once, on other nodes within
//! [`REFRESH`]. Limiter counters survive a refresh unless the budgets themselves changed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use rampart_core::TenantId;
use rampart_store::{StoreError, TenantStore, Tx, settings};

use crate::client_addr::ClientAddr;
use crate::error::ApiError;
use crate::rate_limit::{CallClass, Limited, Limiters, RateBudgets};
use crate::state::AppState;
use crate::tenant::TenantCtx;

/// How long another node's change may take to apply here.
pub const REFRESH: Duration = Duration::from_secs(5);

/// Settings names.
pub const IP_ALLOW: &str = "ip_allow";
pub const IP_DENY: &str = "ip_deny";
pub const CORS_ORIGINS: &str = "cors_origins";
pub const RATE_LIMITS: &str = "rate_limits";

/// What a tenant's admins have set (absent budgets: the instance's).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredPolicy {
    pub ip_allow: Vec<IpNet>,
    pub ip_deny: Vec<IpNet>,
    pub cors_origins: Vec<String>,
    pub rate_limits: Option<RateBudgets>,
}

impl StoredPolicy {
    pub async fn load(tx: &mut Tx) -> Result<Self, StoreError> {
        async fn list<T: serde::de::DeserializeOwned>(
            tx: &mut Tx,
            name: &str,
        ) -> Result<Vec<T>, StoreError> {
            Ok(match settings::get(tx, name).await? {
                Some(v) => serde_json::from_value(v)
                    .map_err(|e| StoreError::internal(format!("stored setting {name}: {e}")))?,
                None => Vec::new(),
            })
        }
        let rate_limits =
            match settings::get(tx, RATE_LIMITS).await? {
                None | Some(serde_json::Value::Null) => None,
                Some(v) => Some(serde_json::from_value(v).map_err(|e| {
                    StoreError::internal(format!("stored setting {RATE_LIMITS}: {e}"))
                })?),
            };
        Ok(Self {
            ip_allow: list(tx, IP_ALLOW).await?,
            ip_deny: list(tx, IP_DENY).await?,
            cors_origins: list(tx, CORS_ORIGINS).await?,
            rate_limits,
        })
    }
}

/// A tenant's policy as enforced.
#[derive(Debug)]
pub struct TenantEdge {
    pub stored: StoredPolicy,
    pub limiters: Arc<Limiters>,
}

impl TenantEdge {
    pub fn admits(&self, ip: std::net::IpAddr) -> bool {
        crate::ip_rules::admitted(ip, &self.stored.ip_allow, &self.stored.ip_deny)
    }

    fn allowed_origin<'a>(&self, headers: &'a HeaderMap) -> Option<&'a HeaderValue> {
        let origin = headers.get(header::ORIGIN)?;
        let text = origin.to_str().ok()?;
        self.stored
            .cors_origins
            .iter()
            .any(|o| o == text)
            .then_some(origin)
    }
}

/// Every tenant's policy on this node.
#[derive(Debug, Default)]
pub struct EdgePolicies {
    entries: Mutex<HashMap<TenantId, (Instant, Arc<TenantEdge>)>>,
}

impl EdgePolicies {
    /// The tenant's policy, loaded again when older than [`REFRESH`].
    pub async fn get(
        &self,
        tenant: TenantId,
        store: &TenantStore,
        instance: &RateBudgets,
    ) -> Result<Arc<TenantEdge>, StoreError> {
        let cached = self
            .entries
            .lock()
            .ok()
            .and_then(|e| e.get(&tenant).cloned());
        if let Some((loaded, edge)) = &cached
            && loaded.elapsed() < REFRESH
        {
            return Ok(Arc::clone(edge));
        }
        let stored = store
            .read(|tx: &mut Tx| Box::pin(StoredPolicy::load(tx)))
            .await?;
        let budgets = stored.rate_limits.unwrap_or(*instance);
        let limiters = match cached {
            Some((_, previous)) if *previous.limiters.budgets() == budgets => {
                previous.limiters.forget_idle();
                Arc::clone(&previous.limiters)
            }
            _ => Arc::new(Limiters::new(budgets)),
        };
        let edge = Arc::new(TenantEdge { stored, limiters });
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(tenant, (Instant::now(), Arc::clone(&edge)));
        }
        Ok(edge)
    }

    /// Drops the cached policy so the next request loads the new one.
    pub fn invalidate(&self, tenant: TenantId) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&tenant);
        }
    }
}

/// The 429 answer for a spent budget, logged as a security event.
pub fn limited(limited: Limited, client: Option<&ClientAddr>) -> ApiError {
    tracing::warn!(
        target: "rampart::security",
        event = "rate_limited",
        budget = limited.budget,
        ip = ?client.map(|c| c.ip),
    );
    metrics::counter!("rampart_security_events_total", "event" => "rate_limited", "budget" => limited.budget)
        .increment(1);
    ApiError::rate_limited(limited.retry_after_secs())
}

const CORS_METHODS: &str = "GET, POST, PUT, PATCH, DELETE";
const CORS_HEADERS: &str = "authorization, content-type";
const CORS_EXPOSE: &str = "x-request-id, retry-after";

fn is_preflight(req: &Request) -> bool {
    req.method() == Method::OPTIONS
        && req.headers().contains_key(header::ORIGIN)
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// Tenant IP rules, then the per-address rate budget, then CORS.
pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(tenant) = req.extensions().get::<TenantCtx>().cloned() else {
        return next.run(req).await;
    };
    let client = req.extensions().get::<ClientAddr>().copied();
    let edge = match state
        .edge
        .get(
            tenant.tenant.id,
            &tenant.store,
            &state.config.rate_limits.budgets(),
        )
        .await
    {
        Ok(edge) => edge,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let ip = client.map(|c| c.ip);
    if !ip.is_some_and(|ip| edge.admits(ip)) {
        tracing::warn!(target: "rampart::security", event = "ip_refused", scope = "tenant", tenant = %tenant.tenant.slug, ip = ?ip);
        metrics::counter!("rampart_security_events_total", "event" => "ip_refused").increment(1);
        return ApiError::forbidden("ip_refused", "requests from this address are not accepted")
            .into_response();
    }
    if state.config.rate_limits.enabled
        && let Some(ip) = ip
        && let Err(l) = edge
            .limiters
            .check_address(ip, CallClass::of(req.uri().path()))
    {
        return limited(l, client.as_ref()).into_response();
    }
    let origin = edge.allowed_origin(req.headers()).cloned();
    if is_preflight(&req) {
        let Some(origin) = origin else {
            return ApiError::forbidden(
                "cors_origin_refused",
                "this origin may not call this site's API",
            )
            .into_response();
        };
        let mut response = StatusCode::NO_CONTENT.into_response();
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(CORS_METHODS),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(CORS_HEADERS),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        return response;
    }
    let mut response = next.run(req).await;
    if let Some(origin) = origin {
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(CORS_EXPOSE),
        );
        h.append(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}

/// Checks one allowed origin and returns it in the form browsers send
/// (`scheme://host[:port]`, lower case, no default port). HTTPS only, except for loopback
/// hosts, where development servers run.
pub fn normalize_origin(text: &str) -> Result<String, &'static str> {
    let url = url::Url::parse(text).map_err(|_| "not a URL")?;
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err("an origin has no path, query or fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("an origin has no credentials");
    }
    let host = url.host_str().ok_or("an origin needs a host")?;
    let loopback = host == "localhost"
        || host.ends_with(".localhost")
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err("origins must use https (http only on loopback)"),
    }
    let origin = url.origin().ascii_serialization();
    if origin == "null" {
        return Err("write the origin as scheme://host[:port]");
    }
    Ok(origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked_and_normalized() {
        assert_eq!(
            normalize_origin("https://App.Example.com").as_deref(),
            Ok("https://app.example.com")
        );
        assert_eq!(
            normalize_origin("https://app.example.com:443").as_deref(),
            Ok("https://app.example.com")
        );
        assert_eq!(
            normalize_origin("http://localhost:5173").as_deref(),
            Ok("http://localhost:5173")
        );
        assert!(normalize_origin("http://app.example.com").is_err());
        assert!(normalize_origin("https://app.example.com/path").is_err());
        assert!(normalize_origin("*").is_err());
        assert!(normalize_origin("null").is_err());
        assert!(normalize_origin("https://user:pw@app.example.com").is_err());
        assert!(normalize_origin("file:///etc/passwd").is_err());
    }
}
