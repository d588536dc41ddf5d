//! `rampart keys ...`: the operator's key management. Every change is logged as a security
//! event (target `rampart::security`).

use std::process::ExitCode;

use rampart_crypto::keyring::{Kek, Key};
use rampart_server::Config;
use rampart_store::audit;
use rampart_store::{Store, TenantStatus, Tx};

use crate::cli::KeysCommand;
use crate::serve::{init_logging, open_store, open_tenant};

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
    let retain = config.keys.retain_retired_days;
    let result = audit::scope(operator, run_with(&store, command, retain)).await;
    store.close().await;
    result
}

async fn run_with(
    store: &Store,
    command: KeysCommand,
    retain_retired_days: u32,
) -> Result<(), String> {
    match command {
        KeysCommand::GenerateKek => Ok(()),
        KeysCommand::Status => status(store, retain_retired_days).await,
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
                record(
                    &ts,
                    audit::Event::new(rampart_store::audit::Action::KeysKekRotate).detail(detail),
                )
                .await?;
            }
            println!(
                "re-wrapped {} tenant keys and {} instance secrets under KEK {current}; {} tenant keys already were",
                done.rewrapped, done.secrets, done.already_current
            );
            println!(
                "send running servers SIGHUP; older KEKs may now leave the source once no \
                 backup you keep still needs them"
            );
            Ok(())
        }
        KeysCommand::RotateDek { tenant, no_wait } => {
            let ts = open_tenant(store, &tenant).await?;
            let version = store
                .keys()
                .rotate_dek(ts.tenant_id())
                .await
                .map_err(|e| e.to_string())?;
            tracing::warn!(
                target: "rampart::security",
                event = "dek_rotated",
                tenant = %tenant,
                version,
            );
            let detail = serde_json::json!({"version": version});
            record(
                &ts,
                audit::Event::new(rampart_store::audit::Action::KeysDekRotate).detail(detail),
            )
            .await?;
            println!("tenant {tenant}: data key version {version} now seals new values");
            // The new keys (and kept blind index keys) reach running servers within one
            // refresh; re-sealing starts after that.
            rampart_store::encryption::keep_blind_index_keys(&ts, store.keys())
                .await
                .map_err(|e| e.to_string())?;
            let settle = settle(no_wait);
            if !settle.is_zero() {
                println!(
                    "waiting {} s for running servers to pick up the new keys",
                    settle.as_secs()
                );
                tokio::time::sleep(settle).await;
            }
            reseal(store, &ts, &tenant, settle).await
        }
        KeysCommand::Reseal { tenant, no_wait } => {
            let ts = open_tenant(store, &tenant).await?;
            reseal(store, &ts, &tenant, settle(no_wait)).await
        }
        KeysCommand::Purge { dry_run } => purge(store, retain_retired_days, dry_run).await,
    }
}

/// How long running servers need to read new keys (none with `--no-wait`).
fn settle(no_wait: bool) -> std::time::Duration {
    if no_wait {
        std::time::Duration::ZERO
    } else {
        rampart_store::keys::REFRESH + std::time::Duration::from_secs(2)
    }
}

async fn reseal(
    store: &Store,
    ts: &rampart_store::TenantStore,
    slug: &str,
    settle: std::time::Duration,
) -> Result<(), String> {
    let done = rampart_app::keys::rotation::finish_rotation(store, ts, settle)
        .await
        .map_err(|e| e.to_string())?;
    tracing::warn!(
        target: "rampart::security",
        event = "dek_resealed",
        tenant = %slug,
        resealed = done.values(),
        blind_indexes = done.blind_indexes_moved,
    );
    println!(
        "tenant {slug}: re-sealed {} values with the current data key ({} TOTP seeds, {} \
         secrets, {} identity provider secrets, {} encrypted values, {} audit subject keys); {} blind indexes moved to keys \
         of their own. The older versions stay (retired) for the backups that may still need \
         them; `rampart keys purge` destroys them after keys.retain_retired_days",
        done.values(),
        done.totp_seeds,
        done.secrets,
        done.identity_provider_secrets,
        done.encrypted_values,
        done.audit_subject_keys,
        done.blind_indexes_moved,
    );
    Ok(())
}

async fn purge(store: &Store, retain_days: u32, dry_run: bool) -> Result<(), String> {
    let before = chrono::Utc::now() - chrono::Duration::days(i64::from(retain_days));
    let report = store
        .purge_retired_keys(before, dry_run)
        .await
        .map_err(|e| e.to_string())?;
    let verb = if dry_run {
        "would destroy"
    } else {
        "destroyed"
    };
    if report.is_empty() {
        println!(
            "nothing to destroy: no retired data key is past its retention ({retain_days} days)"
        );
    }
    let mut failed = 0;
    for t in report {
        if let Some(e) = &t.failed {
            failed += 1;
            println!("tenant {}: could not be looked at: {e}", t.slug);
        }
        if !t.purged.is_empty() {
            println!("tenant {}: {verb} data key versions {:?}", t.slug, t.purged);
        }
        for (version, places) in t.kept {
            let life = if t.pinned.contains(&version) {
                " (pinned for the tenant's life: the audit chain cannot be re-sealed)"
            } else {
                ""
            };
            println!(
                "tenant {}: keeping version {version}{life}, still needed by: {}",
                t.slug,
                places.join(", ")
            );
        }
    }
    if failed > 0 {
        return Err(format!("{failed} tenants could not be looked at"));
    }
    Ok(())
}

async fn status(store: &Store, retain_days: u32) -> Result<(), String> {
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
        "{:<24} {:>9} {:<11} {:<16} {:<20} retired",
        "tenant", "version", "state", "wrapped by KEK", "created"
    );
    let mut stale = 0;
    for k in store.keys().status().await.map_err(|e| e.to_string())? {
        if k.kek_id != current {
            stale += 1;
        }
        println!(
            "{:<24} {:>9} {:<11} {:<16} {:<20} {}",
            slug(k.tenant),
            version_label(k.version),
            k.state.as_str(),
            k.kek_id,
            k.created_at.format("%Y-%m-%d %H:%M:%S"),
            k.retired_at
                .map(|r| {
                    let until = r + chrono::Duration::days(i64::from(retain_days));
                    let mut text = r.format("%Y-%m-%d %H:%M:%S").to_string();
                    if k.state == rampart_store::keys::KeyState::Retired {
                        text.push_str(&until.format(" (kept at least until %Y-%m-%d)").to_string());
                    }
                    text
                })
                .unwrap_or_default()
        );
    }
    if stale > 0 {
        println!("{stale} tenant keys are wrapped by an older KEK: run `rampart keys rotate-kek`");
    }
    Ok(())
}

/// Appends an operator's key event to a tenant's chain.
async fn record(ts: &rampart_store::TenantStore, event: audit::Event) -> Result<(), String> {
    ts.write(move |tx: &mut Tx| Box::pin(async move { audit::record(tx, event).await.map(|_| ()) }))
        .await
        .map_err(|e| e.to_string())
}

/// Data keys by their number; audit keys as `a<n>`, kept blind index keys as `b<n>`.
fn version_label(version: u32) -> String {
    use rampart_crypto::keyring::{AUDIT_VERSIONS, BLIND_INDEX_VERSIONS};
    if version > AUDIT_VERSIONS {
        format!("a{}", version - AUDIT_VERSIONS)
    } else if version > BLIND_INDEX_VERSIONS {
        format!("b{}", version - BLIND_INDEX_VERSIONS)
    } else {
        version.to_string()
    }
}
