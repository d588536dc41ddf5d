//! Background work on timers: disabling each tenant's inactive accounts (a tenant setting,
//! off by default), and signing each tenant's audit chain head so that a checkpoint is never
//! older than `audit.checkpoint_interval_secs`. Every node may run it; the work is idempotent.

use std::time::Duration;

use rampart_auth::authn::inactive;
use rampart_store::TenantStatus;
use tokio::sync::watch;

use crate::state::AppState;

/// Runs until `stop` turns true.
pub async fn run(state: AppState, mut stop: watch::Receiver<bool>) {
    let every = Duration::from_secs(state.config.auth.housekeeping_interval_secs.max(1));
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut checkpoints = tokio::time::interval(Duration::from_secs(
        state.config.audit.checkpoint_interval_secs.max(1),
    ));
    checkpoints.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = ticker.tick() => sweep(&state).await,
            _ = checkpoints.tick() => sign_heads(&state).await,
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
            }
        }
    }
}

async fn sweep(state: &AppState) {
    let tenants = match state.store.list_tenants().await {
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
        let result = match state.store.tenant_store(&tenant).await {
            Ok(ts) => inactive::disable_inactive(&ts)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            tracing::warn!(tenant = %tenant.slug, error = %e, "housekeeping failed for a tenant");
        }
    }
}

/// Signs every active tenant's chain head (a no-op where it is already signed).
async fn sign_heads(state: &AppState) {
    let Ok(tenants) = state.store.list_tenants().await else {
        return;
    };
    for tenant in tenants
        .into_iter()
        .filter(|t| t.status == TenantStatus::Active)
    {
        let result = match state.store.tenant_store(&tenant).await {
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
