//! Tenant resolution from the Host header (DESIGN.md section 7). A request whose host names no
//! active tenant is answered 404 before any tenant store is opened.

use std::net::IpAddr;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rampart_store::{Tenant, TenantStatus, TenantStore, TxFn};

use crate::error::ApiError;
use crate::state::AppState;

/// The tenant a request is for.
#[derive(Debug, Clone)]
pub struct TenantCtx {
    pub tenant: Tenant,
    pub store: TenantStore,
    /// Authorization decisions cached for this tenant.
    pub access: std::sync::Arc<rampart_auth::authz::cache::AccessCache>,
    /// `scheme://host[:port]` as the client addressed us; cookie-authenticated writes must
    /// come from this origin.
    pub origin: String,
}

/// Which tenant slug a host name selects, per the configured base domains.
pub fn slug_for_host(
    host: &str,
    base_domains: &[String],
    default_tenant: Option<&str>,
) -> Option<String> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_ok() {
        return default_tenant.map(str::to_owned);
    }
    for base in base_domains {
        if host == *base {
            return default_tenant.map(str::to_owned);
        }
        if let Some(slug) = host
            .strip_suffix(base.as_str())
            .and_then(|p| p.strip_suffix('.'))
            && !slug.is_empty()
            && !slug.contains('.')
        {
            return Some(slug.to_owned());
        }
    }
    None
}

/// The host (without port) and the authority (with port) of a request.
fn authority(parts_uri: &Uri, host_header: Option<&str>) -> Option<(String, String)> {
    let authority = host_header
        .map(str::to_owned)
        .or_else(|| parts_uri.authority().map(|a| a.as_str().to_owned()))?;
    let parsed: axum::http::uri::Authority = authority.parse().ok()?;
    Some((parsed.host().to_owned(), authority))
}

pub async fn middleware(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let host_header = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let addressed = authority(req.uri(), host_header.as_deref());
    let https = req
        .extensions()
        .get::<crate::client_addr::ClientAddr>()
        .is_some_and(|c| c.https);
    match resolve(&state, addressed, https).await {
        Ok(ctx) => {
            crate::request_id::note_tenant(&ctx.tenant.slug);
            req.extensions_mut().insert(ctx);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

async fn resolve(
    state: &AppState,
    addressed: Option<(String, String)>,
    https: bool,
) -> Result<TenantCtx, ApiError> {
    let (host, authority) = addressed.ok_or_else(ApiError::not_found)?;
    let slug = slug_for_host(
        &host,
        &state.config.base_domains,
        state.config.default_tenant.as_deref(),
    )
    .ok_or_else(ApiError::not_found)?;
    let tenant = state
        .store
        .tenant_by_slug(&slug)
        .await?
        .ok_or_else(ApiError::not_found)?;
    match tenant.status {
        TenantStatus::Active => {}
        TenantStatus::Suspended => {
            return Err(ApiError::forbidden(
                "tenant_suspended",
                "this site is suspended by the operator",
            ));
        }
        TenantStatus::Deleting => return Err(ApiError::not_found()),
    }
    let store = state.store.tenant_store(&tenant).await?;
    let access = state.access_cache(tenant.id);
    Ok(TenantCtx {
        tenant,
        store,
        access,
        origin: format!("{}://{authority}", if https { "https" } else { "http" }),
    })
}

impl TenantCtx {
    /// Runs `f` in a read transaction of this tenant; errors are answered as problems.
    pub async fn read<T: Send + 'static>(&self, f: impl TxFn<T, ApiError>) -> Result<T, ApiError> {
        self.store.read_with(f).await
    }

    /// Like [`Self::read`], for reads bounded by keys (see `TenantStore::lookup`).
    pub async fn lookup<T: Send + 'static>(
        &self,
        f: impl TxFn<T, ApiError>,
    ) -> Result<T, ApiError> {
        self.store.lookup_with(f).await
    }

    /// Runs `f` in a write transaction; an `Err` rolls back everything `f` wrote.
    pub async fn write<T: Send + 'static>(&self, f: impl TxFn<T, ApiError>) -> Result<T, ApiError> {
        self.store.write_with(f).await
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TenantCtx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<TenantCtx>()
            .cloned()
            .ok_or_else(ApiError::not_found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_map_to_tenants() {
        let bases = vec!["localhost".to_owned(), "example.com".to_owned()];
        let d = Some("default");
        assert_eq!(
            slug_for_host("acme.localhost", &bases, d).as_deref(),
            Some("acme")
        );
        assert_eq!(
            slug_for_host("ACME.example.com.", &bases, d).as_deref(),
            Some("acme")
        );
        assert_eq!(
            slug_for_host("localhost", &bases, d).as_deref(),
            Some("default")
        );
        assert_eq!(
            slug_for_host("127.0.0.1", &bases, d).as_deref(),
            Some("default")
        );
        assert_eq!(
            slug_for_host("[::1]", &bases, d).as_deref(),
            Some("default")
        );
        assert_eq!(slug_for_host("localhost", &bases, None), None);
        assert_eq!(slug_for_host("a.b.localhost", &bases, d), None);
        assert_eq!(slug_for_host("evil.com", &bases, d), None);
        assert_eq!(slug_for_host("notlocalhost", &bases, d), None);
    }
}
