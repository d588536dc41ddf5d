//! The one place where requests are authenticated. A handler that takes [`Caller`] (or a
//! role extractor built on it) cannot run for an anonymous request; CSRF is checked here for
//! cookie-authenticated writes.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use rampart_auth::Principal;
use rampart_auth::authn::{self, Credential};

use crate::error::ApiError;
use crate::state::AppState;
use crate::tenant::TenantCtx;

/// Name of the session cookie. The `__Host-` prefix makes browsers insist on Secure, Path=/
/// and no Domain, so a sibling subdomain cannot set or overwrite it.
pub const SESSION_COOKIE: &str = "__Host-rampart_session";

/// An authenticated caller of one tenant.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub tenant: TenantCtx,
}

/// A caller whose tenant role is admin or owner.
#[derive(Debug, Clone)]
pub struct TenantAdmin(pub Caller);

/// Reads one cookie from the `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn bearer(headers: &HeaderMap) -> Option<Result<&str, ApiError>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let text = value.to_str().ok()?;
    let (scheme, token) = text.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        Some(Ok(token.trim()))
    } else {
        Some(Err(
            ApiError::unauthenticated().detail("use Authorization: Bearer <token>")
        ))
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// DESIGN.md section 7: a state-changing request authenticated by cookie must say it comes
/// from this very origin. `same-site` is not enough, because sibling tenants share a site.
pub fn csrf_ok(headers: &HeaderMap, origin: &str) -> bool {
    let values = |name| {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or(""))
            .collect::<Vec<_>>()
    };
    let fetch_site = values(header::HeaderName::from_static("sec-fetch-site"));
    let request_origin = values(header::ORIGIN);
    // Every value present must agree: a duplicated header is not a way around the check.
    if fetch_site.iter().any(|s| *s != "same-origin") || request_origin.iter().any(|o| *o != origin)
    {
        return false;
    }
    !fetch_site.is_empty() || !request_origin.is_empty()
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Authenticated (and counted against the rate budgets) once per request, however
        // many extractors ask.
        if let Some(caller) = parts.extensions.get::<Self>() {
            return Ok(caller.clone());
        }
        let tenant = TenantCtx::from_request_parts(parts, state).await?;
        let credential = match bearer(&parts.headers) {
            Some(token) => Credential::Bearer(token?),
            None => {
                let value =
                    cookie(&parts.headers, SESSION_COOKIE).ok_or_else(ApiError::unauthenticated)?;
                if !is_safe(&parts.method) && !csrf_ok(&parts.headers, &tenant.origin) {
                    tracing::warn!(target: "rampart::security", event = "csrf_refused");
                    metrics::counter!("rampart_security_events_total", "event" => "csrf_refused")
                        .increment(1);
                    return Err(ApiError::forbidden(
                        "csrf_check_failed",
                        "a cookie-authenticated change must come from this site's own pages",
                    ));
                }
                Credential::SessionCookie(value)
            }
        };
        let client = crate::client_addr::client_of(parts);
        let principal = authn::authenticate(
            &tenant.store,
            credential,
            state.session_policy(),
            Some(client.ip.to_string()),
        )
        .await?;
        crate::request_id::note_actor(principal.user.id);
        rampart_store::audit::set_actor(rampart_store::audit::Actor::User(principal.user.id));
        if state.config.rate_limits.enabled {
            let token = match principal.via {
                authn::Via::Token { id } => Some(id.0),
                authn::Via::Session { .. } => None,
            };
            let edge = state
                .edge
                .get(
                    tenant.tenant.id,
                    &tenant.store,
                    &state.config.rate_limits.budgets(),
                )
                .await?;
            edge.limiters
                .check_caller(principal.user.id.0, token)
                .map_err(|l| crate::edge_policy::limited(l, Some(&client)))?;
        }
        if principal.scope.read_only
            && !is_safe(&parts.method)
            && !is_token_rotation(parts.uri.path())
        {
            return Err(ApiError::forbidden(
                "token_read_only",
                "this API token may only read",
            ));
        }
        if principal.must_enrol_second_factor() && !open_before_enrolment(parts.uri.path()) {
            return Err(ApiError::forbidden(
                "second_factor_enrolment_required",
                "this tenant requires a second factor: enrol one under /api/v1/me/second-factors first",
            ));
        }
        let caller = Self { principal, tenant };
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// A token may rotate itself whatever its scope: the successor has the same scope.
fn is_token_rotation(path: &str) -> bool {
    path.strip_prefix("/api/v1/tokens/")
        .is_some_and(|rest| rest.ends_with("/rotate") && rest.matches('/').count() == 1)
}

/// What a user who must enrol a second factor may still reach: their own account (to enrol,
/// see their sessions, change their password) and signing out or re-authenticating.
fn open_before_enrolment(path: &str) -> bool {
    path == "/api/v1/me" || path.starts_with("/api/v1/me/") || path.starts_with("/api/v1/auth/")
}

impl Caller {
    /// Sensitive actions (credentials, second factors, tokens, roles) need a session whose
    /// user gave their password recently (`POST /api/v1/auth/reauth`).
    pub fn require_recent_auth(&self, state: &AppState) -> Result<(), ApiError> {
        if !self.principal.is_cookie_session() {
            return Err(ApiError::session_required());
        }
        if self.principal.recently_authenticated(state.reauth_window()) {
            return Ok(());
        }
        Err(ApiError::forbidden(
            "reauthentication_required",
            format!(
                "confirm your password with POST /api/v1/auth/reauth (valid {} minutes), then retry",
                state.config.auth.reauth_minutes
            ),
        ))
    }
}

impl FromRequestParts<AppState> for TenantAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        // Refused before the body is read; each use case checks again, as the one decision.
        rampart_app::people::require_tenant_admin(&caller.principal)?;
        Ok(Self(caller))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn csrf_needs_same_origin_proof() {
        let o = "http://acme.localhost:8080";
        assert!(csrf_ok(&headers(&[("sec-fetch-site", "same-origin")]), o));
        assert!(csrf_ok(
            &headers(&[("origin", "http://acme.localhost:8080")]),
            o
        ));
        assert!(!csrf_ok(&headers(&[("sec-fetch-site", "same-site")]), o));
        assert!(!csrf_ok(
            &headers(&[("origin", "http://evil.localhost:8080")]),
            o
        ));
        assert!(!csrf_ok(
            &headers(&[
                ("sec-fetch-site", "same-origin"),
                ("origin", "http://evil.localhost:8080")
            ]),
            o
        ));
        assert!(!csrf_ok(&headers(&[]), o));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let h = headers(&[("cookie", "a=1; __Host-rampart_session=xyz; b=2")]);
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "c"), None);
    }
}

/// A use case as a handler hands it over: it gets the transaction, the caller and their
/// tenant's decision cache.
pub trait UseCase<T>:
    for<'t> FnOnce(
        &'t mut rampart_store::Tx,
        &'t Principal,
        &'t rampart_auth::authz::cache::AccessCache,
    ) -> rampart_store::db::TxFuture<'t, T, rampart_app::AppError>
    + Send
    + 'static
{
}

impl<T, F> UseCase<T> for F where
    F: for<'t> FnOnce(
            &'t mut rampart_store::Tx,
            &'t Principal,
            &'t rampart_auth::authz::cache::AccessCache,
        ) -> rampart_store::db::TxFuture<'t, T, rampart_app::AppError>
        + Send
        + 'static
{
}

/// Which kind of transaction a use case runs in.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Read,
    Lookup,
    Write,
}

impl Caller {
    async fn run<T: Send + 'static>(&self, kind: Kind, f: impl UseCase<T>) -> Result<T, ApiError> {
        let principal = self.principal.clone();
        let cache = self.tenant.access.clone();
        let f = rampart_store::tx_fn(move |tx: &mut rampart_store::Tx| {
            Box::pin(async move { f(tx, &principal, &cache).await })
        });
        let store = &self.tenant.store;
        Ok(match kind {
            Kind::Read => store.read_with(f).await?,
            Kind::Lookup => store.lookup_with(f).await?,
            Kind::Write => store.write_with(f).await?,
        })
    }

    /// Runs a use case in a read-only snapshot of the caller's tenant.
    pub async fn read<T: Send + 'static>(&self, f: impl UseCase<T>) -> Result<T, ApiError> {
        self.run(Kind::Read, f).await
    }

    /// Runs a use case bounded by keys (one record by id) in a read-only snapshot.
    pub async fn lookup<T: Send + 'static>(&self, f: impl UseCase<T>) -> Result<T, ApiError> {
        self.run(Kind::Lookup, f).await
    }

    /// Runs a use case in a write transaction of the caller's tenant, answered once durable.
    pub async fn write<T: Send + 'static>(&self, f: impl UseCase<T>) -> Result<T, ApiError> {
        self.run(Kind::Write, f).await
    }
}
