//! `rampart keys ...`: the operator's key management. Every change is logged as a security
//! event (target `rampart::security`).

use std::process::ExitCode;

use rampart_crypto::keyring::{Kek, Key};
use rampart_server::Config;
use rampart_store::audit;
use rampart_store::{Store, TenantStatus, Tx};

use crate::cli::KeysCommand;
use crate::serve::{init_logging, open_store};

pub fn generate_kek() -> ExitCode {
    let kek = Kek::new(Key::generate());
    println!("{}", kek.encode().as_str());
    eprintln!(
        "rampart: KEK {} (put this line first in the KEK source)",
        kek.id
    );
    ExitCode::SUCCESS
}

pub async fn run(config: Config, command: KeysCommand) -> Result<(), String> {
    init_logging(&config)?;
    let store = open_store(&config).await?;
    let operator = audit::AuditContext::new(None, None, audit::Actor::Operator);
    let result = audit::scope(operator, run_with(&store, command)).await;
    store.close().await;
    result
}

async fn run_with(store: &Store, command: KeysCommand) -> Result<(), String> {
    match command {
        KeysCommand::GenerateKek => Ok(()),
        KeysCommand::Status => status(store).await,
        KeysCommand::RotateKek => {
            let done = store.keys().rotate_kek().await.map_err(|e| e.to_string())?;
            let current = store
                .keys()
                .ring()
                .map_err(|e| e.to_string())?
                .current()
                .id
                .clone();
            tracing::warn!(
                target: "rampart::security",
                event = "kek_rotated",
                kek = %current,
                rewrapped = done.rewrapped,
                secrets = done.secrets,
            );
            for t in store.list_tenants().await.map_err(|e| e.to_string())? {
                if t.status == TenantStatus::Deleting {
                    continue;
                }
                let ts = store.tenant_store(&t).await.map_err(|e| e.to_string())?;
                let detail = serde_json::json!({"kek": current.0});
                record(&ts, audit::Event::new("keys.kek_rotate").detail(detail)).await?;
            }
            println!(
                "re-wrapped {} data keys and {} instance secrets under KEK {current}; {} data keys already were",
                done.rewrapped, done.secrets, done.already_current
            );
            println!(
                "send running servers SIGHUP; older KEKs may now leave the source once no \
                 backup you keep still needs them"
            );
            Ok(())
        }
        KeysCommand::RotateDek { tenant, no_wait } => {
            let t = store
                .tenant_by_slug(&tenant)
                .await
                .map_err(|e| e.to_string())?
                .filter(|t| t.status != TenantStatus::Deleting)
                .ok_or("no such tenant")?;
            let version = store
                .keys()
                .rotate_dek(t.id)
                .await
                .map_err(|e| e.to_string())?;
            tracing::warn!(
                target: "rampart::security",
                event = "dek_rotated",
                tenant = %t.slug,
                version,
            );
            println!(
                "tenant {}: data key version {version} now seals new values",
                t.slug
            );
            if !no_wait {
                let wait = rampart_store::keys::REFRESH + std::time::Duration::from_secs(2);
                println!(
                    "waiting {} s for running servers to pick it up before re-sealing",
                    wait.as_secs()
                );
                tokio::time::sleep(wait).await;
            }
            let ts = store.tenant_store(&t).await.map_err(|e| e.to_string())?;
            let resealed = rampart_auth::authn::second_factor::seal_unsealed_seeds(&ts)
                .await
                .map_err(|e| e.to_string())?
                + rampart_store::secrets::reseal_all(&ts)
                    .await
                    .map_err(|e| e.to_string())?
                + rampart_store::encryption::reseal_all(&ts)
                    .await
                    .map_err(|e| e.to_string())?;
            let detail = serde_json::json!({"version": version, "resealed": resealed});
            record(&ts, audit::Event::new("keys.dek_rotate").detail(detail)).await?;
            tracing::warn!(
                target: "rampart::security",
                event = "dek_resealed",
                tenant = %t.slug,
                version,
                resealed,
            );
            println!(
                "re-sealed {resealed} values with version {version}; the older versions stay \
                 (retired) for the backups that may still need them"
            );
            Ok(())
        }
    }
}

async fn status(store: &Store) -> Result<(), String> {
    let ring = store.keys().ring().map_err(|e| e.to_string())?;
    let current = ring.current().id.clone();
    println!("KEKs in the source:");
    for id in ring.ids() {
        let mark = if id == current { " (current)" } else { "" };
        println!("  {id}{mark}");
    }
    let tenants = store.list_tenants().await.map_err(|e| e.to_string())?;
    let slug = |id: rampart_core::TenantId| {
        tenants
            .iter()
            .find(|t| t.id == id)
            .map_or_else(|| format!("({id}, deleted)"), |t| t.slug.clone())
    };
    println!(
        "{:<24} {:>7} {:<8} {:<16} {:<20} retired",
        "tenant", "version", "state", "wrapped by KEK", "created"
    );
    let mut stale = 0;
    for k in store.keys().status().await.map_err(|e| e.to_string())? {
        if k.kek_id != current {
            stale += 1;
        }
        println!(
            "{:<24} {:>7} {:<8} {:<16} {:<20} {}",
            slug(k.tenant),
            k.version,
            if k.active { "active" } else { "retired" },
            k.kek_id,
            k.created_at.format("%Y-%m-%d %H:%M:%S"),
            k.retired_at
                .map(|r| r.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default()
        );
    }
    if stale > 0 {
        println!("{stale} data keys are wrapped by an older KEK: run `rampart keys rotate-kek`");
    }
    Ok(())
}

/// Appends an operator's key event to a tenant's chain.
async fn record(ts: &rampart_store::TenantStore, event: audit::Event) -> Result<(), String> {
    ts.write(move |tx: &mut Tx| Box::pin(async move { audit::record(tx, event).await.map(|_| ()) }))
        .await
        .map_err(|e| e.to_string())
}
