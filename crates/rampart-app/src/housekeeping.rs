//! Background work on timers: disabling each tenant's inactive accounts (a tenant setting,
//! off by default), signing each tenant's audit chain head so that a checkpoint is never
//! older than `audit.checkpoint_interval_secs`, and, hourly, finishing data key rotations
//! whose re-seal was interrupted, then destroying retired data keys past
//! `keys.retain_retired_days` that nothing needs. Every node may run it; the work is
//! idempotent.

use std::time::Duration;

use rampart_auth::authn::inactive;
use rampart_store::TenantStatus;
use tokio::sync::watch;

use rampart_store::Store;

use crate::keys::rotation::{SettledRotations, finish_interrupted};

/// How often each piece of housekeeping runs, and how long retired keys are kept.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Disabling inactive accounts.
    pub sweep_every: Duration,
    /// Signing each chain's head.
    pub checkpoint_every: Duration,
    /// Days a retired data key is kept at least.
    pub retain_retired_days: u32,
}

/// How often retired data keys are looked at. The look is cheap (one read of the instance's
/// key list) unless some key is past its retention, and then it reads only that tenant.
const KEY_PURGE_EVERY: Duration = Duration::from_secs(3600);

/// Runs until `stop` turns true.
pub async fn run(store: Store, settings: Settings, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(settings.sweep_every.max(Duration::from_secs(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut checkpoints =
        tokio::time::interval(settings.checkpoint_every.max(Duration::from_secs(1)));
    checkpoints.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut key_purge = tokio::time::interval(KEY_PURGE_EVERY);
    key_purge.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut settled = SettledRotations::default();
    loop {
        tokio::select! {
            _ = ticker.tick() => sweep(&store).await,
            _ = checkpoints.tick() => sign_heads(&store).await,
            _ = key_purge.tick() => purge_retired_keys(&store, &settings, &mut settled).await,
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
            }
        }
    }
}

async fn sweep(store: &Store) {
    let tenants = match store.list_tenants().await {
        Ok(tenants) => tenants,
        Err(e) => {
            tracing::warn!(error = %e, "housekeeping: listing tenants failed");
            return;
        }
    };
    for tenant in tenants
        .into_iter()
        .filter(|t| t.status == TenantStatus::Active)
    {
        let result = match store.tenant_store(&tenant).await {
            Ok(ts) => match inactive::disable_inactive(&ts).await {
                Ok(_) => ts
                    .write_with(|tx: &mut rampart_store::Tx| {
                        Box::pin(rampart_store::imports::purge_expired(tx))
                    })
                    .await
                    .map(|_| ())
                    .map_err(|e: rampart_store::StoreError| e.to_string()),
                Err(e) => Err(e.to_string()),
            },
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            tracing::warn!(tenant = %tenant.slug, error = %e, "housekeeping failed for a tenant");
        }
    }
}

/// Signs every active tenant's chain head (a no-op where it is already signed).
async fn sign_heads(store: &Store) {
    let Ok(tenants) = store.list_tenants().await else {
        return;
    };
    for tenant in tenants
        .into_iter()
        .filter(|t| t.status == TenantStatus::Active)
    {
        let result = match store.tenant_store(&tenant).await {
            Ok(ts) => rampart_store::audit::anchor(&ts)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            tracing::warn!(tenant = %tenant.slug, error = %e, "signing the audit chain head failed");
        }
    }
}

/// A rotation younger than this may still be running its own re-seal (`rampart keys rotate-dek`).
const ROTATION_GRACE: Duration = Duration::from_secs(600);

/// Finishes interrupted rotations, then destroys retired data keys past their retention that
/// no stored value needs.
async fn purge_retired_keys(store: &Store, settings: &Settings, settled: &mut SettledRotations) {
    let settle = rampart_store::keys::REFRESH + Duration::from_secs(2);
    if let Err(e) = finish_interrupted(store, settled, ROTATION_GRACE, settle).await {
        tracing::warn!(error = %e, "finishing data key rotations failed");
    }
    let days = i64::from(settings.retain_retired_days);
    let before = chrono::Utc::now() - chrono::Duration::days(days);
    if let Err(e) = store.purge_retired_keys(before, false).await {
        tracing::warn!(error = %e, "purging retired data keys failed");
    }
}
