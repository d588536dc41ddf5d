//! What follows a tenant's data key rotation (`rampart keys rotate-dek`, or `rampart keys
//! reseal` to finish one that was interrupted): every value sealed with an older data key is
//! re-sealed with the current one, and blind indexes still derived from a retired data key
//! get their derived key kept apart (their tags do not change). Afterwards nothing names the
//! retired versions any more, so `rampart keys purge` can destroy them once the backups that
//! may need them have aged out. Every step is resumable: values are replaced only if
//! unchanged since read, and running it again finishes what is left; the servers' hourly
//! housekeeping finishes a rotation whose command was interrupted ([`finish_interrupted`]).

use std::collections::HashSet;
use std::time::Duration;

use rampart_core::TenantId;

use rampart_store::keys::KeyState;
use rampart_store::keys::in_use::{self, CHAIN_CHECKPOINTS, CHAIN_DETAILS};
use rampart_store::{
    Store, StoreError, TenantStatus, TenantStore, Tx, audit, encryption, identity_providers,
    secrets,
};

/// What one run re-sealed or moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Resealed {
    pub totp_seeds: usize,
    pub secrets: usize,
    pub identity_provider_secrets: usize,
    pub encrypted_values: usize,
    pub audit_subject_keys: usize,
    pub blind_indexes_moved: usize,
}

impl Resealed {
    pub fn values(&self) -> usize {
        self.totp_seeds
            + self.secrets
            + self.identity_provider_secrets
            + self.encrypted_values
            + self.audit_subject_keys
    }
}

/// Re-seals the tenant's values with its current data key. `settle`: how long to wait, once
/// newly kept blind index keys are stored, for running servers to read them (one key refresh)
/// before fields are pointed at them; zero when no server runs.
pub async fn finish_rotation(
    store: &Store,
    ts: &TenantStore,
    settle: Duration,
) -> Result<Resealed, StoreError> {
    let version = ts
        .data_keys()
        .await?
        .current_version()
        .ok_or_else(|| StoreError::Keys("the tenant has no data key".into()))?;
    if encryption::keep_blind_index_keys(ts, store.keys()).await? > 0 && !settle.is_zero() {
        tokio::time::sleep(settle).await;
    }
    let done = Resealed {
        totp_seeds: rampart_auth::authn::second_factor::seal_unsealed_seeds(ts).await?,
        secrets: secrets::reseal_all(ts).await?,
        identity_provider_secrets: identity_providers::reseal_all(ts).await?,
        encrypted_values: encryption::reseal_all(ts).await?,
        audit_subject_keys: audit::subjects::reseal_all(ts).await?,
        blind_indexes_moved: encryption::use_kept_blind_index_keys(ts, store.keys()).await?,
    };
    let detail = serde_json::json!({"version": version, "resealed": done});
    ts.write(move |tx: &mut Tx| {
        Box::pin(async move {
            audit::record(
                tx,
                audit::Event::new(rampart_store::audit::Action::KeysDekReseal).detail(detail),
            )
            .await
        })
    })
    .await?;
    Ok(done)
}

/// The tenants' data key versions whose rotation is known finished on this node: values only
/// go stale again with a new rotation (a new active version), so these are not scanned again.
#[derive(Debug, Default)]
pub struct SettledRotations(HashSet<(TenantId, u32)>);

/// Finishes the data key rotations left unfinished: for every active tenant with a data key
/// retired at least `min_age` ago (a running `rotate-dek` has had time to finish), and whose
/// current version is not yet in `settled`, if a stored value other than the audit chain
/// (which is never re-sealed) still needs a retired key, its re-seal is run again. Returns
/// each tenant finished with what was re-sealed; a tenant that fails is logged and the others
/// still run.
pub async fn finish_interrupted(
    store: &Store,
    settled: &mut SettledRotations,
    min_age: Duration,
    settle: Duration,
) -> Result<Vec<(String, Resealed)>, StoreError> {
    let cutoff = chrono::Utc::now()
        - chrono::Duration::from_std(min_age)
            .map_err(|_| StoreError::internal("rotation age out of range"))?;
    let rows = store.keys().status().await?;
    let mut finished = Vec::new();
    for tenant in store.list_tenants().await? {
        if tenant.status != TenantStatus::Active {
            continue;
        }
        let retired: Vec<u32> = rows
            .iter()
            .filter(|r| {
                r.tenant == tenant.id
                    && r.state == KeyState::Retired
                    && r.retired_at.is_some_and(|at| at < cutoff)
            })
            .map(|r| r.version)
            .collect();
        let active = rows
            .iter()
            .find(|r| r.tenant == tenant.id && r.state == KeyState::Active)
            .map(|r| r.version);
        let Some(active) = active else { continue };
        if retired.is_empty() || settled.0.contains(&(tenant.id, active)) {
            continue;
        }
        let result = async {
            let ts = store.tenant_store(&tenant).await?;
            let in_use = ts
                .read(|tx: &mut Tx| Box::pin(async move { in_use::scan(tx).await }))
                .await?;
            let unfinished = retired.iter().any(|v| {
                in_use
                    .places(*v)
                    .iter()
                    .any(|p| p != CHAIN_DETAILS && p != CHAIN_CHECKPOINTS)
            });
            if !unfinished {
                return Ok(None);
            }
            finish_rotation(store, &ts, settle).await.map(Some)
        }
        .await;
        match result {
            Ok(None) => {
                settled.0.insert((tenant.id, active));
            }
            Ok(Some(done)) => {
                settled.0.insert((tenant.id, active));
                tracing::warn!(
                    target: "rampart::security",
                    event = "dek_resealed",
                    tenant = %tenant.slug,
                    resealed = done.values(),
                    blind_indexes = done.blind_indexes_moved,
                    "finished an interrupted data key rotation",
                );
                finished.push((tenant.slug, done));
            }
            Err(e) => {
                tracing::warn!(tenant = %tenant.slug, error = %e, "finishing a data key rotation failed");
            }
        }
    }
    Ok(finished)
}
