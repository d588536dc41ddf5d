//! `rampart serve`.

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusBuilder;
use rampart_server::config::LogFormat;
use rampart_server::{Config, Listeners};
use rampart_store::Store;
use secrecy::ExposeSecret;
use tracing_subscriber::EnvFilter;

pub fn init_logging(config: &Config) -> Result<(), String> {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let filter = EnvFilter::try_new(&config.log.level).unwrap_or_else(|_| EnvFilter::new("info"));
    let main = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let main = match config.log.format {
        LogFormat::Json => main.json().flatten_event(true).boxed(),
        LogFormat::Pretty => main.boxed(),
    }
    .with_filter(filter);
    let security = match &config.log.security_file {
        None => None,
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| format!("log.security_file {}: {e}", path.display()))?;
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(std::sync::Mutex::new(file))
                    .with_filter(
                        tracing_subscriber::filter::Targets::new()
                            .with_target("rampart::security", tracing::Level::TRACE)
                            .with_target(
                                rampart_server::request_id::SPAN_TARGET,
                                tracing::Level::TRACE,
                            ),
                    ),
            )
        }
    };
    let _ = tracing_subscriber::registry()
        .with(main)
        .with(security)
        .try_init();
    Ok(())
}

/// Opens the store, brings every schema up to date and makes sure the default tenant exists.
/// A live tenant's storage by slug, for the operator's commands.
pub async fn open_tenant(store: &Store, slug: &str) -> Result<rampart_store::TenantStore, String> {
    let t = store
        .tenant_by_slug(slug)
        .await
        .map_err(|e| e.to_string())?
        .filter(|t| t.status != rampart_store::TenantStatus::Deleting)
        .ok_or("no such tenant")?;
    store.tenant_store(&t).await.map_err(|e| e.to_string())
}

pub async fn open_store(config: &Config) -> Result<Store, String> {
    let store = Store::open(&config.store_config())
        .await
        .map_err(|e| format!("cannot open the database: {e}"))?;
    let keys =
        rampart_app::keys::kek_source::install(&config.keys, &config.data_dir, &store).await?;
    if let Some(path) = &keys.generated {
        tracing::warn!(target: "rampart::security", event = "kek_generated", path = %path.display());
        println!(
            "rampart: generated the instance key-encryption key in {} (owner-only).\n  \
             Losing it loses every tenant's sealed data: keep a copy somewhere safe, apart from \
             the data's backups, or move it to a secret manager (keys.kek_command).",
            path.display()
        );
    }
    tracing::info!(kek = ?keys.kek_ids, "key-encryption keys loaded");
    store
        .migrate_tenants()
        .await
        .map_err(|e| format!("cannot migrate tenant databases: {e}"))?;
    for tenant in store.list_tenants().await.map_err(|e| e.to_string())? {
        if tenant.status == rampart_store::TenantStatus::Deleting {
            continue;
        }
        let ts = store
            .tenant_store(&tenant)
            .await
            .map_err(|e| e.to_string())?;
        let sealed = rampart_auth::authn::second_factor::seal_unsealed_seeds(&ts)
            .await
            .map_err(|e| format!("cannot seal the TOTP seeds of tenant {}: {e}", tenant.slug))?;
        if sealed > 0 {
            tracing::warn!(tenant = %tenant.slug, sealed, "sealed TOTP seeds stored before encryption");
        }
    }
    Ok(store)
}

pub async fn serve(config: Config) -> Result<(), String> {
    init_logging(&config)?;
    let metrics = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    let store = open_store(&config).await?;
    let listeners = Listeners::bind(&config)
        .await
        .map_err(|e| format!("cannot start listening: {e}"))?;
    reload_on_sighup(listeners.tls.clone(), config.clone(), store.clone());
    let bound = listeners.bound().map_err(|e| e.to_string())?;
    let base_url = config.public_base_url(bound.public);

    if let Some(slug) = config.default_tenant.clone() {
        let tenant = match store
            .tenant_by_slug(&slug)
            .await
            .map_err(|e| e.to_string())?
        {
            Some(t) => t,
            None => {
                let t = store
                    .create_tenant(&slug, "Default")
                    .await
                    .map_err(|e| format!("cannot create the default tenant: {e}"))?;
                tracing::info!(tenant = %t.slug, "created the default tenant");
                t
            }
        };
        let ts = store
            .tenant_store(&tenant)
            .await
            .map_err(|e| e.to_string())?;
        if rampart_auth::authn::needs_setup(&ts)
            .await
            .map_err(|e| e.to_string())?
        {
            let hours = config.auth.setup_token_hours;
            let token = rampart_auth::authn::issue_setup_token(
                &ts,
                chrono::Duration::hours(i64::from(hours)),
            )
            .await
            .map_err(|e| e.to_string())?;
            // The token rides in the link's fragment, which browsers never send to a server.
            println!(
                "rampart setup: no owner yet. Within {hours} h, open this one-time link to create one:\n  \
                 {base_url}/setup#token={token}\n\
                 or over the API:\n  \
                 curl -X POST {base_url}/api/v1/setup -H 'content-type: application/json' \\\n    \
                 -d '{{\"token\":\"{token}\",\"email\":\"you@example.com\",\"password\":\"<12+ characters>\"}}'",
                token = token.expose_secret()
            );
        }
    }

    let config_tls = config.tls.is_some();
    let state = rampart_server::app_state(Arc::new(config), store.clone())
        .await
        .map_err(|e| e.to_string())?;
    let transport = if config_tls {
        "HTTPS"
    } else if bound.public.ip().is_loopback() {
        "plain HTTP on loopback, for development only"
    } else {
        "plain HTTP behind the trusted proxies"
    };
    let scheme = if config_tls { "https" } else { "http" };
    let redirect = bound
        .redirect
        .map(|r| format!(" redirect=http://{r}"))
        .unwrap_or_default();
    println!(
        "rampart ready: listen={scheme}://{} ({transport}) internal=http://{}{redirect}",
        bound.public, bound.internal
    );
    tracing::info!(listen = %bound.public, internal = %bound.internal, "ready");
    let result = rampart_server::run(listeners, state, Some(metrics), shutdown_signal()).await;
    store.close().await;
    result.map_err(|e| format!("server error: {e}"))
}

/// SIGHUP reads the KEK source again and reloads the TLS certificate and key (new
/// connections get them; open ones stay). A failure keeps what is in use.
fn reload_on_sighup(tls: Option<Arc<rampart_server::tls::Tls>>, config: Config, store: Store) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            match rampart_app::keys::kek_source::reload(&config.keys, &config.data_dir, &store)
                .await
            {
                Ok(ids) => tracing::info!(kek = ?ids, "SIGHUP: key-encryption keys reloaded"),
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: cannot read the KEK source; keeping the current keys")
                }
            }
            if let Some(tls) = &tls
                && let Err(e) = tls.reload()
            {
                tracing::error!(error = %e, "SIGHUP: cannot reload the TLS certificate; keeping the current one");
            }
        }
    });
    #[cfg(not(unix))]
    let _ = (tls, config, store);
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
