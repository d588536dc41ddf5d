//! Atomic batches: creates, then updates, then deletes, all or nothing, in the caller's one
//! transaction. An error names the operation it is about.

use rampart_auth::Principal;
use rampart_auth::authz::cache::AccessCache;
use rampart_core::TableId;
use rampart_store::Tx;
use serde::Serialize;

pub use super::{Change, Deletion, NewRecord};
use super::{RecordJson, scoped};
use crate::AppError;

#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub create: Vec<NewRecord>,
    pub update: Vec<Change>,
    pub delete: Vec<Deletion>,
}

/// What a batch did, in its operations' order.
#[derive(Debug, Serialize)]
pub struct BatchDone {
    pub created: Vec<RecordJson>,
    pub updated: Vec<RecordJson>,
    pub deleted: Vec<String>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.create.len() + self.update.len() + self.delete.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Refuses a batch larger than `max`, or one with a change or deletion without its
    /// version, before any transaction is opened.
    pub fn check(&self, max: usize) -> Result<(), AppError> {
        if self.len() > max {
            return Err(AppError::invalid(
                "",
                "batch_too_large",
                format!("at most {max} operations per batch"),
            ));
        }
        let mut missing = Vec::new();
        for (i, u) in self.update.iter().enumerate() {
            if u.version.is_none() {
                missing.push(format!("update[{i}]"));
            }
        }
        for (i, d) in self.delete.iter().enumerate() {
            if d.version.is_none() {
                missing.push(format!("delete[{i}]"));
            }
        }
        if !missing.is_empty() {
            return Err(AppError::VersionRequired {
                detail: format!("version missing in {}", missing.join(", ")),
            });
        }
        Ok(())
    }
}

/// Runs a checked batch (see [`Batch::check`]) on one table.
pub async fn run(
    tx: &mut Tx,
    cache: &AccessCache,
    principal: &Principal,
    table: TableId,
    batch: Batch,
) -> Result<BatchDone, AppError> {
    let scoped = scoped(tx, cache, principal, table).await?;
    let mut out = BatchDone {
        created: vec![],
        updated: vec![],
        deleted: vec![],
    };
    let mut bulk = Vec::new();
    for (i, c) in batch.create.into_iter().enumerate() {
        let op = format!("create[{i}]");
        match c.owner {
            // An owner change goes through the single-record path and its checks.
            Some(owner) => {
                let r = scoped
                    .create(tx, &c.fields, Some(owner), &format!("{op}.fields"))
                    .await
                    .map_err(|e| e.in_operation(&op))?;
                out.created.push(r);
            }
            None => bulk.push((op, c.fields)),
        }
    }
    if !bulk.is_empty() {
        out.created.extend(scoped.create_many(tx, bulk).await?);
    }
    for (i, u) in batch.update.into_iter().enumerate() {
        let op = format!("update[{i}]");
        let r = scoped
            .update(
                tx,
                u.id,
                u.version.unwrap_or_default(),
                &u.fields,
                u.owner,
                &format!("{op}.fields"),
            )
            .await
            .map_err(|e| e.in_operation(&op))?;
        out.updated.push(r);
    }
    for (i, d) in batch.delete.into_iter().enumerate() {
        scoped
            .delete(tx, d.id, d.version.unwrap_or_default())
            .await
            .map_err(|e| e.in_operation(&format!("delete[{i}]")))?;
        out.deleted.push(d.id.to_string());
    }
    Ok(out)
}
