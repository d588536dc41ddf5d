//! The tenant's audit chain: every change appends an entry in the same transaction as the
//! change itself (no change without its entry, no entry without its change), hash-chained
//! and periodically signed, verifiable by `rampart audit verify`.
//!
//! Store operations call [`record`] with an [`Event`]; who acted comes from the
//! [`context`] the request or command opened, captured when the write was asked for.

mod actions;
pub mod chain;
pub mod context;
pub mod query;
pub mod subjects;
pub mod verify;

use std::sync::Arc;

use rampart_crypto::keyring::TenantKeys;

pub use actions::Action;
pub use chain::{CHECKPOINT_EVERY, Checkpoint, Entry, Event, checkpoint};
pub use context::{Actor, AuditContext, Snapshot, scope, set_actor, snapshot};
pub use query::{Filter, Shown, list};
pub use verify::{Problem, Report, verify};

use crate::db::Tx;
use crate::error::StoreError;

/// What a write transaction appends its entries with.
#[derive(Debug)]
pub struct TxAudit {
    pub who: Snapshot,
    pub keys: Arc<TenantKeys>,
    /// Benchmarks only: measure a write without its entry.
    pub disabled: bool,
    /// Entries were written unlinked: link them once the transaction has committed.
    pub pending: std::sync::atomic::AtomicBool,
}

/// Appends `event` to the chain in `tx`. Fails (and so rolls the change back) outside a
/// tenant write transaction: an audited change cannot happen unrecorded.
pub async fn record(tx: &mut Tx, event: Event) -> Result<(), StoreError> {
    let Some(audit) = tx.audit() else {
        return Err(StoreError::internal(
            "an audited change outside a tenant write transaction",
        ));
    };
    if audit.disabled {
        return Ok(());
    }
    if chain::append(tx, &audit.keys, &audit.who, event).await? {
        audit
            .pending
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(())
}

/// Links the tenant's committed but unlinked entries (PostgreSQL), so that reads and
/// verification see every acknowledged change in the chain.
pub async fn link_pending(ts: &crate::TenantStore) -> Result<usize, StoreError> {
    link(ts, true).await
}

/// Like [`link_pending`]; `wait: false` gives up at once when another linker is at work.
pub(crate) async fn link(ts: &crate::TenantStore, wait: bool) -> Result<usize, StoreError> {
    if crate::db::dialect::links_audit_entries_inline(ts.dialect()) {
        return Ok(0);
    }
    let keys = ts.data_keys().await?;
    ts.write_unaudited(move |tx: &mut Tx| {
        Box::pin(async move { chain::link_pending(tx, &keys, wait).await })
    })
    .await
}

/// Walks a tenant's chain (see [`verify::verify`]), against an anchor kept outside if given.
pub async fn verify_tenant(
    ts: &crate::TenantStore,
    anchor: Option<Checkpoint>,
) -> Result<Report, StoreError> {
    link_pending(ts).await?;
    let keys = ts.data_keys().await?;
    ts.read(move |tx: &mut Tx| Box::pin(async move { verify(tx, &keys, anchor.as_ref()).await }))
        .await
}

/// Signs the chain's head now and returns that checkpoint, for the operator to keep outside
/// the database (`rampart audit anchor`); the same signed checkpoint is stored with the chain,
/// so the database itself proves the chain up to there too. `None` while the chain is empty.
pub async fn anchor(ts: &crate::TenantStore) -> Result<Option<Checkpoint>, StoreError> {
    link_pending(ts).await?;
    let keys = ts.data_keys().await?;
    ts.write(move |tx: &mut Tx| Box::pin(async move { checkpoint(tx, &keys).await }))
        .await
}

/// The number of the chain's last entry, every committed entry linked first.
pub async fn head_seq(ts: &crate::TenantStore) -> Result<u64, StoreError> {
    link_pending(ts).await?;
    ts.read(|tx: &mut Tx| {
        Box::pin(async move {
            let mut q = tx.sql();
            q.push("SELECT seq FROM audit_head WHERE id = 1");
            u64::try_from(tx.fetch_one(q).await?.i64(0)?)
                .map_err(|_| StoreError::internal("negative audit seq"))
        })
    })
    .await
}

/// Reads entries for tenant admins (details opened, erased ones marked).
pub async fn read(ts: &crate::TenantStore, filter: Filter) -> Result<Vec<Shown>, StoreError> {
    link_pending(ts).await?;
    ts.write_unaudited(|tx: &mut Tx| Box::pin(chain::index_pending(tx)))
        .await?;
    let keys = ts.data_keys().await?;
    ts.read(move |tx: &mut Tx| Box::pin(async move { list(tx, &keys, &filter).await }))
        .await
}

/// Shorthand for the store's own operations: an action about `subject` with an optional
/// detail (sealed with the subject's key, or the tenant's when there is no subject).
pub(crate) async fn note(
    tx: &mut Tx,
    action: Action,
    subject: Option<uuid::Uuid>,
    detail: Option<serde_json::Value>,
) -> Result<(), StoreError> {
    let mut event = Event::new(action);
    event.subject = subject;
    event.detail = detail;
    record(tx, event).await
}

/// Links a tenant's entries in the background (PostgreSQL), one task per tenant and process,
/// started by the first write that leaves entries unlinked and woken by each later one.
#[derive(Debug, Default)]
pub struct Linker {
    wake: Arc<tokio::sync::Notify>,
    started: std::sync::atomic::AtomicBool,
    /// Held while linking; `true` once the tenant's storage is going away.
    closed: Arc<tokio::sync::Mutex<bool>>,
}

impl Linker {
    pub(crate) fn kick(&self, ts: &crate::TenantStore) {
        use std::sync::atomic::Ordering;
        if !self.started.swap(true, Ordering::AcqRel) {
            let wake = Arc::clone(&self.wake);
            let closed = Arc::clone(&self.closed);
            let ts = ts.clone();
            tokio::spawn(async move {
                loop {
                    wake.notified().await;
                    let gate = closed.lock().await;
                    if *gate {
                        return;
                    }
                    // Batches: keep linking while writers keep adding.
                    loop {
                        match link(&ts, true).await {
                            Ok(0) => break,
                            Ok(_) => {}
                            Err(e) => {
                                tracing::warn!(error = %e, "linking audit entries failed; they stay pending");
                                break;
                            }
                        }
                    }
                    drop(gate);
                }
            });
        }
        self.wake.notify_one();
    }

    /// Waits for a link in progress and stops the linker (before the storage is dropped, so
    /// the two never lock each other's tables).
    pub(crate) async fn close(&self) {
        *self.closed.lock().await = true;
        self.wake.notify_one();
    }
}
