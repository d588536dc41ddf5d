//! Rampart's HTTP layer (axum).
//!
//! [`run`] serves the public API and the internal listener on listeners the caller has
//! already bound (tests bind port 0), until `shutdown` resolves.
//!
//! Layers, outermost first: request id and access log, panic catcher, time-out, tenant
//! resolution (404 for unknown hosts), body limit, then the routes. Authentication happens in
//! exactly one place, the [`caller::Caller`] extractor; authorization in `rampart-auth::authz`.

pub mod caller;
pub mod config;
pub mod cursor;
pub mod error;
pub mod extract;
mod housekeeping;
mod internal;
pub mod ip_rules;
pub mod mail;
pub mod openapi;
pub mod request_id;
pub mod routes;
pub mod security_headers;
pub mod state;
pub mod tenant;

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
}

/// Already-bound listeners.
#[derive(Debug)]
pub struct Listeners {
    pub public: TcpListener,
    pub internal: TcpListener,
}

impl Listeners {
    pub async fn bind(config: &Config) -> std::io::Result<Self> {
        Ok(Self {
            public: TcpListener::bind(config.listen).await?,
            internal: TcpListener::bind(config.internal_listen).await?,
        })
    }

    pub fn bound(&self) -> std::io::Result<Bound> {
        Ok(Bound {
            public: self.public.local_addr()?,
            internal: self.internal.local_addr()?,
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
    let hasher =
        PasswordHasher::new(config.auth.hash_concurrency).map_err(|_| StartError::Hasher)?;
    let cursor_key = store.instance_secret("cursor_hmac").await?;
    let passkey_decoy_key = store.instance_secret("passkey_decoy").await?;
    let mailer = mail::Mailer::from_config(&config.smtp).map_err(StartError::Mail)?;
    Ok(AppState {
        config,
        store,
        hasher,
        cursor_key: Arc::new(cursor_key),
        passkey_decoy_key: Arc::new(passkey_decoy_key),
        mailer,
        access_caches: Arc::default(),
    })
}

/// The public router with all middleware.
pub fn public_router(state: AppState) -> Router {
    let api = openapi::api_router();
    let timeout = Duration::from_secs(state.config.limits.request_timeout_secs);
    api.route("/api/v1/openapi.json", axum::routing::get(openapi::serve))
        .fallback(|| async { ApiError::not_found() })
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
        .layer(middleware::from_fn(request_id::middleware))
        .layer(middleware::map_response(security_headers::add))
        .with_state(state)
}

async fn time_limit(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::unavailable("the request took too long").into_response(),
    }
}

/// Serves both listeners until `shutdown` resolves, then drains in-flight requests.
pub async fn run(
    listeners: Listeners,
    state: AppState,
    metrics: Option<PrometheusHandle>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stopped| *stopped).await;
    };
    let internal = internal::router(state.store.clone(), metrics);
    tokio::spawn(housekeeping::run(state.clone(), stop_rx.clone()));
    let public = public_router(state);
    let public_server = axum::serve(
        listeners.public,
        public.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(wait(stop_rx.clone()));
    let internal_server = axum::serve(listeners.internal, internal.into_make_service())
        .with_graceful_shutdown(wait(stop_rx));
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let (a, b) = tokio::join!(public_server.into_future(), internal_server.into_future());
    a?;
    b?;
    Ok(())
}
