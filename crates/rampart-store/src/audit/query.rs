//! Reading the chain for tenant admins: filters, newest first or in order, details opened.

use chrono::{DateTime, Utc};
use rampart_crypto::keyring::TenantKeys;
use rampart_sql::Param;
use uuid::Uuid;

use super::chain::{ENTRY_COLUMNS, Entry, detail_context, entry_from_row};
use super::subjects;
use crate::db::Tx;
use crate::error::StoreError;

/// Which entries to read.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// `user:<id>`, `operator`, `system` or `anonymous`.
    pub actor: Option<String>,
    /// An action (`record.update`), or an area with a trailing dot (`record.`).
    pub action: Option<String>,
    pub table: Option<Uuid>,
    pub record: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Only entries numbered below this (newest-first pages) or above it (in order).
    pub cursor: Option<u64>,
    /// Only entries numbered up to this (an export stops at the head it started from).
    pub through: Option<u64>,
    /// Oldest first (exports) instead of newest first.
    pub ascending: bool,
    pub limit: u32,
}

/// An entry as shown: its detail opened, or marked erased.
#[derive(Debug, Clone)]
pub struct Shown {
    pub entry: Entry,
    pub detail: Option<serde_json::Value>,
    /// The data subject's key was destroyed: the detail can no longer be read.
    pub erased: bool,
}

fn seq_param(seq: u64) -> Param {
    Param::I64(i64::try_from(seq).unwrap_or(i64::MAX))
}

pub async fn list(tx: &mut Tx, keys: &TenantKeys, f: &Filter) -> Result<Vec<Shown>, StoreError> {
    // The filters pick numbers from `audit_lookup` (indexed, caught up by the caller); the
    // entries are then read from the chain by number.
    let mut q = tx.sql();
    q.push(ENTRY_COLUMNS)
        .push(" WHERE seq IN (SELECT seq FROM audit_lookup WHERE 1 = 1");
    if let Some(actor) = &f.actor {
        q.push(" AND actor = ").param(Param::Text(actor.clone()));
    }
    match f.action.as_deref() {
        Some(area) if area.ends_with('.') => {
            // Prefix match without LIKE wildcards: the range [area, area + 0x7f).
            q.push(" AND action >= ")
                .param(Param::Text(area.to_owned()))
                .push(" AND action < ")
                .param(Param::Text(format!("{area}\u{7f}")));
        }
        Some(action) => {
            q.push(" AND action = ")
                .param(Param::Text(action.to_owned()));
        }
        None => {}
    }
    if let Some(t) = f.table {
        q.push(" AND target_table = ").param(Param::Uuid(t));
    }
    if let Some(r) = f.record {
        q.push(" AND target_record = ").param(Param::Uuid(r));
    }
    if let Some(from) = f.from {
        q.push(" AND at >= ").param(Param::Timestamp(from));
    }
    if let Some(to) = f.to {
        q.push(" AND at < ").param(Param::Timestamp(to));
    }
    if let Some(through) = f.through {
        q.push(" AND seq <= ").param(seq_param(through));
    }
    match (f.cursor, f.ascending) {
        (Some(c), true) => {
            q.push(" AND seq > ").param(seq_param(c));
        }
        (Some(c), false) => {
            q.push(" AND seq < ").param(seq_param(c));
        }
        (None, _) => {}
    }
    q.push(if f.ascending {
        " ORDER BY seq ASC LIMIT "
    } else {
        " ORDER BY seq DESC LIMIT "
    })
    .param(Param::I64(i64::from(f.limit.max(1))))
    .push(if f.ascending {
        ") ORDER BY seq ASC"
    } else {
        ") ORDER BY seq DESC"
    });
    let entries = tx
        .fetch_all(q)
        .await?
        .iter()
        .map(entry_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let (detail, erased) = open_detail(tx, keys, &entry).await?;
        out.push(Shown {
            entry,
            detail,
            erased,
        });
    }
    Ok(out)
}

async fn open_detail(
    tx: &mut Tx,
    keys: &TenantKeys,
    e: &Entry,
) -> Result<(Option<serde_json::Value>, bool), StoreError> {
    let Some(sealed) = &e.detail else {
        return Ok((None, false));
    };
    let context = detail_context(e.entry_id);
    let plain = match e.subject {
        Some(subject) => match subjects::open(tx, keys, subject, &context, sealed).await? {
            Some(p) => p,
            None => return Ok((None, true)),
        },
        None => keys
            .open(&context, sealed)
            .map_err(|err| StoreError::Keys(err.to_string()))?,
    };
    serde_json::from_slice(&plain)
        .map(|v| (Some(v), false))
        .map_err(|err| StoreError::internal(format!("audit detail {}: {err}", e.seq)))
}
