//! `rampart tenant ...`: the instance operator's tenant management.

use rampart_core::names::{validate_display_name, validate_slug};
use rampart_server::Config;
use rampart_store::{StoreError, TenantStatus};
use secrecy::ExposeSecret;

use crate::cli::TenantCommand;
use crate::serve::open_store;

fn store_error(e: StoreError) -> String {
    match e {
        StoreError::NotFound => "no such tenant".into(),
        StoreError::NameTaken { .. } => "a tenant with this slug already exists".into(),
        other => other.to_string(),
    }
}

pub async fn run(config: Config, command: TenantCommand) -> Result<(), String> {
    let store = open_store(&config).await?;
    let result = run_with(&config, &store, command).await;
    store.close().await;
    result
}

async fn run_with(
    config: &Config,
    store: &rampart_store::Store,
    command: TenantCommand,
) -> Result<(), String> {
    let base = config
        .base_domains
        .first()
        .cloned()
        .unwrap_or_else(|| "localhost".into());
    match command {
        TenantCommand::Create { slug, name } => {
            validate_slug("slug", &slug).map_err(|e| format!("slug: {}", e.message))?;
            let name = name.unwrap_or_else(|| slug.clone());
            validate_display_name("name", &name).map_err(|e| format!("name: {}", e.message))?;
            let tenant = store
                .create_tenant(&slug, &name)
                .await
                .map_err(store_error)?;
            let ts = store.tenant_store(&tenant).await.map_err(store_error)?;
            let token = issue(config, &ts).await?;
            println!(
                "created tenant {} ({}) at host {}.{base}",
                tenant.slug, tenant.id, tenant.slug
            );
            println!(
                "one-time setup token for its first owner: {}",
                token.expose_secret()
            );
        }
        TenantCommand::List => {
            println!("{:<24} {:<10} {:<36} name", "slug", "status", "id");
            for t in store.list_tenants().await.map_err(store_error)? {
                println!(
                    "{:<24} {:<10} {:<36} {}",
                    t.slug,
                    t.status.as_str(),
                    t.id,
                    t.name
                );
            }
        }
        TenantCommand::Suspend { slug } => {
            store
                .set_tenant_status(&slug, TenantStatus::Suspended)
                .await
                .map_err(store_error)?;
            println!("suspended {slug}");
        }
        TenantCommand::Resume { slug } => {
            store
                .set_tenant_status(&slug, TenantStatus::Active)
                .await
                .map_err(store_error)?;
            println!("resumed {slug}");
        }
        TenantCommand::Delete { slug, yes } => {
            if !yes {
                return Err(format!(
                    "deleting {slug} destroys all its data; add --yes to confirm"
                ));
            }
            store.delete_tenant(&slug).await.map_err(store_error)?;
            println!("deleted {slug}");
        }
        TenantCommand::SetupToken { slug } => {
            let tenant = store
                .tenant_by_slug(&slug)
                .await
                .map_err(store_error)?
                .ok_or("no such tenant")?;
            let ts = store.tenant_store(&tenant).await.map_err(store_error)?;
            if !rampart_auth::authn::needs_setup(&ts)
                .await
                .map_err(|e| e.to_string())?
            {
                return Err(format!(
                    "{slug} already has users; setup tokens are only for the first owner"
                ));
            }
            let token = issue(config, &ts).await?;
            println!("one-time setup token for {slug}: {}", token.expose_secret());
        }
    }
    Ok(())
}

async fn issue(
    config: &Config,
    ts: &rampart_store::TenantStore,
) -> Result<secrecy::SecretString, String> {
    rampart_auth::authn::issue_setup_token(
        ts,
        chrono::Duration::hours(i64::from(config.auth.setup_token_hours)),
    )
    .await
    .map_err(|e| e.to_string())
}
