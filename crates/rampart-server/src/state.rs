//! Application state shared by every handler.

use std::sync::Arc;

use rampart_auth::PasswordHasher;
use rampart_auth::authn::SessionPolicy;
use rampart_auth::authn::passkeys::RelyingParty;
use rampart_auth::authz::cache::AccessCache;
use rampart_auth::policy::PasswordPolicy;
use rampart_store::Store;

use crate::config::Config;

/// Cloned by every middleware layer of every request, so one reference count, not one per
/// field.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

#[derive(Debug)]
pub struct Shared {
    pub config: Arc<Config>,
    pub store: Store,
    pub hasher: PasswordHasher,
    /// Key for signing list cursors.
    pub cursor_key: Arc<Vec<u8>>,
    /// Key for the decoy credential ids of passwordless sign-ins for unknown emails.
    pub passkey_decoy_key: Arc<Vec<u8>>,
    /// Outgoing mail, when an SMTP host is configured.
    pub mailer: Option<crate::mail::Mailer>,
    /// Authorization decisions cached per tenant.
    pub access_caches:
        Arc<std::sync::Mutex<std::collections::HashMap<rampart_core::TenantId, Arc<AccessCache>>>>,
    /// Tenants' IP rules, CORS origins and rate limiters.
    pub edge: Arc<crate::edge_policy::EdgePolicies>,
    /// One permit per export running (`limits.max_concurrent_exports`).
    pub exports: Arc<tokio::sync::Semaphore>,
    /// The imports this process runs, by job id, with their live counts.
    pub imports: Arc<
        std::sync::Mutex<
            std::collections::HashMap<
                uuid::Uuid,
                Arc<rampart_app::records::import::write::Progress>,
            >,
        >,
    >,
    /// This process, as the runner of the import jobs it starts: a running job of another
    /// runner was interrupted by a restart.
    pub runner: uuid::Uuid,
}

impl AppState {
    /// The decision cache of a tenant.
    /// How lists of tenant `tenant` are bounded and their cursors signed.
    pub fn list_settings(
        &self,
        tenant: rampart_core::TenantId,
    ) -> rampart_app::records::list::ListSettings {
        let l = &self.config.limits;
        rampart_app::records::list::ListSettings {
            default_page_size: l.default_page_size,
            max_page_size: l.max_page_size,
            max_exact_count: l.max_exact_count,
            cursor_key: self.cursor_key.clone(),
            tenant,
        }
    }

    pub fn access_cache(&self, tenant: rampart_core::TenantId) -> Arc<AccessCache> {
        match self.access_caches.lock() {
            Ok(mut caches) => caches.entry(tenant).or_default().clone(),
            // A poisoned lock only loses caching, never correctness.
            Err(_) => Arc::new(AccessCache::default()),
        }
    }

    /// The WebAuthn relying party of a tenant, bound to the host it was addressed by.
    pub fn relying_party(&self, tenant: &crate::tenant::TenantCtx) -> Option<RelyingParty> {
        RelyingParty::new(&tenant.origin, "Rampart", self.passkey_decoy_key.clone())
    }

    /// The address people use for a tenant, for links in mail. With `public_url` set, its
    /// scheme, host and port (the tenant's slug prefixed unless it is the default tenant);
    /// otherwise the address the request came to, which tenant resolution has already
    /// limited to the configured base domains.
    pub fn tenant_url(&self, tenant: &crate::tenant::TenantCtx) -> String {
        let Some(public) = self
            .config
            .public_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
        else {
            return tenant.origin.clone();
        };
        let host = public.host_str().unwrap_or("localhost");
        let host = if self.config.default_tenant.as_deref() == Some(tenant.tenant.slug.as_str()) {
            host.to_owned()
        } else {
            format!("{}.{host}", tenant.tenant.slug)
        };
        match public.port() {
            Some(port) => format!("{}://{host}:{port}", public.scheme()),
            None => format!("{}://{host}", public.scheme()),
        }
    }

    pub fn password_policy(&self) -> PasswordPolicy {
        PasswordPolicy {
            min_length: self.config.auth.password_min_length,
            min_score: self.config.auth.password_min_score,
        }
    }

    /// How recently a session must have given its password for sensitive actions.
    pub fn reauth_window(&self) -> chrono::Duration {
        chrono::Duration::minutes(i64::from(self.config.auth.reauth_minutes))
    }

    pub fn session_policy(&self) -> SessionPolicy {
        SessionPolicy {
            idle: chrono::Duration::minutes(i64::from(self.config.auth.session_idle_minutes)),
            absolute: chrono::Duration::hours(i64::from(self.config.auth.session_absolute_hours)),
        }
    }
}
