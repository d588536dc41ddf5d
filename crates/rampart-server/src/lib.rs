//! Rampart's HTTP layer (axum).
//!
//! [`run`] serves the public API and the internal listener on listeners the caller has
//! already bound (tests bind port 0), until `shutdown` resolves.
//!
//! Layers, outermost first: request id and access log, panic catcher, time-out, tenant
//! resolution (404 for unknown hosts), body limit, then the routes. Authentication happens in
//! exactly one place, the [`caller::Caller`] extractor; authorization in `rampart-auth::authz`.

pub mod caller;
pub mod client_addr;
pub mod config;
pub mod connections;
pub mod dev_cert;
pub mod edge_policy;
pub mod error;
pub mod extract;
mod input_schemas;
mod internal;
pub mod ip_rules;
pub mod mail;
pub mod openapi;
mod project_document;
pub mod rate_limit;
pub mod request_id;
pub mod routes;
pub mod security_headers;
pub mod state;
mod strict_uri;
pub mod tenant;
pub mod tls;
mod tls_redirect;
pub mod ui;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use rampart_auth::PasswordHasher;
use rampart_store::Store;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;

pub use config::Config;
use error::ApiError;
use state::AppState;

/// The addresses actually bound.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub public: SocketAddr,
    pub internal: SocketAddr,
    pub redirect: Option<SocketAddr>,
}

/// Already-bound listeners, and the certificate when the public one speaks TLS.
#[derive(Debug)]
pub struct Listeners {
    pub public: TcpListener,
    pub internal: TcpListener,
    /// Plain HTTP that only redirects to HTTPS (`tls.redirect_listen`).
    pub redirect: Option<TcpListener>,
    pub tls: Option<Arc<tls::Tls>>,
}

/// Why listening could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(#[from] tls::TlsError),
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, ListenError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ListenError::Bind { addr, source })
}

impl Listeners {
    pub async fn bind(config: &Config) -> Result<Self, ListenError> {
        let tls = match &config.tls {
            Some(t) => Some(Arc::new(tls::Tls::load(t)?)),
            None => None,
        };
        let redirect = match config.tls.as_ref().and_then(|t| t.redirect_listen) {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        Ok(Self {
            public: bind(config.listen).await?,
            internal: bind(config.internal_listen).await?,
            redirect,
            tls,
        })
    }

    pub fn bound(&self) -> std::io::Result<Bound> {
        Ok(Bound {
            public: self.public.local_addr()?,
            internal: self.internal.local_addr()?,
            redirect: self
                .redirect
                .as_ref()
                .map(TcpListener::local_addr)
                .transpose()?,
        })
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("password hashing cannot be initialised")]
    Hasher,
    #[error("outgoing mail: {0}")]
    Mail(String),
    #[error(transparent)]
    Store(#[from] rampart_store::StoreError),
}

/// Builds the shared state.
pub async fn app_state(config: Arc<Config>, store: Store) -> Result<AppState, StartError> {
    if config.audit.benchmark_only_disable {
        tracing::warn!(
            target: "rampart::security",
            event = "audit_disabled",
            "audit.benchmark_only_disable is set: changes are NOT recorded in the audit chain"
        );
        store.disable_audit_for_benchmarks();
    }
    let hasher =
        PasswordHasher::new(config.auth.hash_concurrency).map_err(|_| StartError::Hasher)?;
    let cursor_key = store.instance_secret("cursor_hmac").await?;
    let passkey_decoy_key = store.instance_secret("passkey_decoy").await?;
    let mailer = mail::Mailer::from_config(&config.smtp).map_err(StartError::Mail)?;
    let config_exports = config.limits.max_concurrent_exports;
    Ok(AppState::new(state::Shared {
        config,
        store,
        hasher,
        cursor_key: Arc::new(cursor_key),
        passkey_decoy_key: Arc::new(passkey_decoy_key),
        mailer,
        access_caches: Arc::default(),
        edge: Arc::default(),
        exports: Arc::new(tokio::sync::Semaphore::new(config_exports)),
        imports: Arc::default(),
        runner: uuid::Uuid::now_v7(),
    }))
}

/// The public router with all middleware.
pub fn public_router(state: AppState) -> Router {
    let api = openapi::api_router();
    let timeout = Duration::from_secs(state.config.limits.request_timeout_secs);
    let tls = state.config.tls.is_some();
    api.route("/api/v1/openapi.json", axum::routing::get(openapi::serve))
        .route("/", axum::routing::get(ui::page))
        .fallback(ui::fallback)
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
            )
        })
        .layer(DefaultBodyLimit::max(state.config.limits.body_bytes))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            edge_policy::middleware,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            tenant::middleware,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            ip_rules::middleware,
        ))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            time_limit(timeout, req, next)
        }))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal(&"a handler panicked").into_response()
        }))
        .layer(middleware::from_fn(strict_uri::middleware))
        .layer(middleware::from_fn(request_id::middleware))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            client_addr::middleware,
        ))
        .layer(middleware::map_response(move |r: Response| {
            security_headers::add(r, tls)
        }))
        .with_state(state)
}

async fn time_limit(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::unavailable("the request took too long").into_response(),
    }
}

fn connection_limits(config: &Config) -> connections::ConnectionLimits {
    let l = &config.limits;
    connections::ConnectionLimits {
        handshake_timeout: Duration::from_secs(l.tls_handshake_timeout_secs),
        header_read_timeout: Duration::from_secs(l.header_read_timeout_secs),
        idle_timeout: Duration::from_secs(l.idle_timeout_secs),
        body_idle_timeout: Duration::from_secs(l.body_idle_timeout_secs),
        max_header_bytes: l.header_bytes,
        max_connections: l.max_connections,
        max_connections_per_ip: l.max_connections_per_ip,
        max_connections_per_range: l.max_connections_per_range,
        drain_timeout: Duration::from_secs(l.drain_timeout_secs),
    }
}

/// Serves every listener until `shutdown` resolves, then lets in-flight requests finish.
pub async fn run(
    listeners: Listeners,
    state: AppState,
    metrics: Option<PrometheusHandle>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let limits = connection_limits(&state.config);
    let https_port = listeners.public.local_addr()?.port();
    let internal = internal::router(state.store.clone(), metrics);
    tokio::spawn(rampart_app::housekeeping::run(
        state.store.clone(),
        rampart_app::housekeeping::Settings {
            sweep_every: Duration::from_secs(state.config.auth.housekeeping_interval_secs),
            checkpoint_every: Duration::from_secs(state.config.audit.checkpoint_interval_secs),
            retain_retired_days: state.config.keys.retain_retired_days,
        },
        stop_rx.clone(),
    ));
    if let (Some(tls), Some(config)) = (&listeners.tls, &state.config.tls) {
        tokio::spawn(Arc::clone(tls).watch(
            Duration::from_secs(config.reload_check_secs),
            stop_rx.clone(),
        ));
    }
    let redirect = listeners.redirect.map(|listener| {
        let router = tls_redirect::router(state.config.clone(), https_port);
        tokio::spawn(connections::serve(
            listener,
            None,
            router,
            limits,
            stop_rx.clone(),
        ))
    });
    let store = state.store.clone();
    let public = public_router(state);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let (a, b) = tokio::join!(
        connections::serve(
            listeners.public,
            listeners.tls,
            public,
            limits,
            stop_rx.clone()
        ),
        connections::serve(listeners.internal, None, internal, limits, stop_rx),
    );
    if let Some(redirect) = redirect {
        redirect.await.map_err(std::io::Error::other)??;
    }
    // Requests have drained: sign every chain's head, so no unsigned tail is left behind.
    for (tenant, error) in store.checkpoint_open_tenants().await {
        tracing::error!(tenant = %tenant, error = %error, "shutdown: the audit chain's head could not be signed");
    }
    a?;
    b?;
    Ok(())
}
