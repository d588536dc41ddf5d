//! Destroying retired data keys once nothing needs them any more.
//!
//! A retired version is destroyed only when both hold: it was retired before the cut-off the
//! caller gives (the backup retention: a backup taken before the rotation still opens while it
//! is kept), and no stored value of the tenant names it ([`in_use::scan`]: values not yet
//! re-sealed, blind indexes derived from it, audit chain contents written before audit keys
//! existed). Active data keys and audit keys are never destroyed here.

use chrono::{DateTime, Utc};
use rampart_sql::Param;

use super::in_use::{self, InUse};
use super::{KeyCache, KeyState, REFRESH};
use crate::db::Tx;
use crate::error::StoreError;
use crate::tenants::{Store, TenantStatus};

/// What a purge did (or, in a dry run, would do) for one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantPurge {
    pub slug: String,
    /// Versions destroyed.
    pub purged: Vec<u32>,
    /// Versions old enough but still needed, with what needs them.
    pub kept: Vec<(u32, Vec<String>)>,
    /// Of the kept versions, those the audit chain names: marked `pinned` (kept for the
    /// tenant's life), so later purges no longer scan for them.
    pub pinned: Vec<u32>,
    /// Why this tenant could not be looked at (the others still were).
    pub failed: Option<String>,
}

impl TenantPurge {
    fn new(slug: &str) -> Self {
        Self {
            slug: slug.to_owned(),
            purged: Vec::new(),
            kept: Vec::new(),
            pinned: Vec::new(),
            failed: None,
        }
    }
}

impl KeyCache {
    /// Marks a retired version as pinned for the tenant's life.
    async fn pin(&self, tenant: rampart_core::TenantId, version: u32) -> Result<(), StoreError> {
        self.instance
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    let mut q = tx.sql();
                    q.push("UPDATE tenant_keys SET state = 'pinned' WHERE state = 'retired' AND tenant_id = ")
                        .param(Param::Uuid(tenant.0))
                        .push(" AND version = ")
                        .param(Param::I64(i64::from(version)));
                    tx.execute(q).await
                })
            })
            .await?;
        Ok(())
    }

    /// Deletes one retired version, unless it became active again or was retired after
    /// `before` in the meantime.
    async fn delete_retired(
        &self,
        tenant: rampart_core::TenantId,
        version: u32,
        before: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = self
            .instance
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    let mut q = tx.sql();
                    q.push("DELETE FROM tenant_keys WHERE state = 'retired' AND tenant_id = ")
                        .param(Param::Uuid(tenant.0))
                        .push(" AND version = ")
                        .param(Param::I64(i64::from(version)))
                        .push(" AND retired_at < ")
                        .param(Param::Timestamp(before));
                    tx.execute(q).await
                })
            })
            .await?;
        if let Ok(mut t) = self.tenants.lock() {
            t.remove(&tenant);
        }
        Ok(n > 0)
    }
}

impl Store {
    /// Destroys every retired data key retired before `retired_before` that no stored value
    /// needs, tenant by tenant, and records each destruction in the tenant's audit chain.
    /// `dry_run` reports the same without destroying anything. The cut-off is never later
    /// than two cache refreshes ago, so no node can still be sealing with a key it destroys.
    pub async fn purge_retired_keys(
        &self,
        retired_before: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<Vec<TenantPurge>, StoreError> {
        let latest = crate::now()
            - chrono::Duration::from_std(REFRESH * 2)
                .map_err(|_| StoreError::internal("key refresh interval out of range"))?;
        let before = retired_before.min(latest);
        let rows = self.keys().status().await?;
        let mut report = Vec::new();
        for tenant in self.list_tenants().await? {
            if tenant.status == TenantStatus::Deleting {
                continue;
            }
            let candidates: Vec<u32> = rows
                .iter()
                .filter(|r| {
                    r.tenant == tenant.id
                        && r.state == KeyState::Retired
                        && r.retired_at.is_some_and(|at| at < before)
                })
                .map(|r| r.version)
                .collect();
            if candidates.is_empty() {
                continue;
            }
            match self
                .purge_tenant(&tenant, candidates, before, dry_run)
                .await
            {
                Ok(done) => report.push(done),
                Err(e) => {
                    tracing::warn!(tenant = %tenant.slug, error = %e, "purging retired data keys failed");
                    let mut failed = TenantPurge::new(&tenant.slug);
                    failed.failed = Some(e.to_string());
                    report.push(failed);
                }
            }
        }
        Ok(report)
    }

    /// Destroys the tenant's `candidates` (retired before `before`) that no stored value names.
    async fn purge_tenant(
        &self,
        tenant: &crate::tenants::Tenant,
        candidates: Vec<u32>,
        before: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<TenantPurge, StoreError> {
        let ts = self.tenant_store(tenant).await?;
        let in_use: InUse = ts
            .read(|tx: &mut Tx| Box::pin(async move { in_use::scan(tx).await }))
            .await?;
        let mut done = TenantPurge::new(&tenant.slug);
        for version in candidates {
            if in_use.contains(version) {
                done.kept.push((version, in_use.places(version)));
                if in_use.named_by_chain(version) {
                    if !dry_run {
                        self.keys().pin(tenant.id, version).await?;
                    }
                    done.pinned.push(version);
                }
            } else if dry_run
                || self
                    .keys()
                    .delete_retired(tenant.id, version, before)
                    .await?
            {
                done.purged.push(version);
            }
        }
        if !dry_run && !done.purged.is_empty() {
            tracing::warn!(
                target: "rampart::security",
                event = "dek_purged",
                tenant = %tenant.slug,
                versions = ?done.purged,
            );
            let detail = serde_json::json!({
                "versions": done.purged,
                "retired_before": before,
            });
            ts.write(move |tx: &mut Tx| {
                Box::pin(async move {
                    crate::audit::record(
                        tx,
                        crate::audit::Event::new(crate::audit::Action::KeysDekPurge).detail(detail),
                    )
                    .await
                })
            })
            .await?;
        }
        Ok(done)
    }
}
