//! Which data key versions a tenant's stored values still need, and where, so that a purge
//! never destroys a key that something still opens with. Every place that holds a value
//! sealed with a data key is read here: the columns in [`SEALED_COLUMNS`], every encrypted
//! field, the blind indexes and the audit checkpoints. `tests/tests/keys.rs` holds the list
//! to the schema: every binary column is either listed here or known to hold no sealed value.

use std::collections::{BTreeMap, BTreeSet};

use rampart_crypto::keyring::{SEALED_HEADER, header_version, is_data_version};
use rampart_sql::{Ident, Param};

use crate::db::Tx;
use crate::error::StoreError;
use crate::schema;

/// Tenant tables with a column of sealed values (the value's first bytes name its key).
/// Encrypted fields, in tables of their own, are found from the schema.
pub const SEALED_COLUMNS: &[(&str, &str)] = &[
    ("user_totp", "seed"),
    ("project_secrets", "sealed"),
    ("identity_providers", "client_secret"),
    // Not re-sealed after a rotation: they are deleted within a day, and until then they
    // keep their key from being purged.
    ("import_rejects", "cells"),
    ("audit_subject_keys", "sealed_key"),
    ("audit_log", "detail"),
    ("audit_pending", "detail"),
];

// The SQL below reads this many bytes of each value.
const _: () = assert!(SEALED_HEADER == 5);

/// The place named for audit chain contents sealed with a data key (before audit keys).
pub const CHAIN_DETAILS: &str = "audit chain details";
/// The place named for checkpoints signed with a data key (before audit keys).
pub const CHAIN_CHECKPOINTS: &str = "audit checkpoint signatures";

/// Data key versions in use, each with the places that need it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InUse(BTreeMap<u32, BTreeSet<String>>);

impl InUse {
    fn add(&mut self, version: u32, place: impl Into<String>) {
        if is_data_version(version) {
            self.0.entry(version).or_default().insert(place.into());
        }
    }

    pub fn contains(&self, version: u32) -> bool {
        self.0.contains_key(&version)
    }

    /// What still needs `version` (empty when nothing does).
    pub fn places(&self, version: u32) -> Vec<String> {
        self.0
            .get(&version)
            .map(|p| p.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether the audit chain names `version`: it always will (the chain is never
    /// re-sealed), so the key is kept for the tenant's life.
    pub fn named_by_chain(&self, version: u32) -> bool {
        self.0
            .get(&version)
            .is_some_and(|p| p.contains(CHAIN_DETAILS) || p.contains(CHAIN_CHECKPOINTS))
    }

    pub fn versions(&self) -> Vec<u32> {
        self.0.keys().copied().collect()
    }
}

/// The key versions named by the values of `table.column`, read from their first bytes.
async fn sealed_versions(
    tx: &mut Tx,
    table: &Ident,
    column: &Ident,
) -> Result<BTreeSet<u32>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT DISTINCT ");
    crate::db::dialect::push_leading_bytes(&mut q, column, "5");
    q.push(" FROM ")
        .ident(table)
        .push(" WHERE ")
        .ident(column)
        .push(" IS NOT NULL");
    let mut versions = BTreeSet::new();
    for row in tx.fetch_all(q).await? {
        versions.extend(header_version(&row.bytes(0)?));
    }
    Ok(versions)
}

/// Every data key version the tenant's stored values need, read in `tx`.
pub async fn scan(tx: &mut Tx) -> Result<InUse, StoreError> {
    let mut in_use = InUse::default();
    for (table, column) in SEALED_COLUMNS {
        let place = match *table {
            "audit_log" | "audit_pending" => CHAIN_DETAILS.to_owned(),
            _ => format!("{table}.{column}"),
        };
        for v in sealed_versions(tx, &schema::ident(table)?, &schema::ident(column)?).await? {
            in_use.add(v, place.clone());
        }
    }

    let mut q = tx.sql();
    q.push("SELECT DISTINCT key_version FROM audit_checkpoints");
    for row in tx.fetch_all(q).await? {
        if let Ok(v) = u32::try_from(row.i64(0)?) {
            in_use.add(v, CHAIN_CHECKPOINTS);
        }
    }

    let mut q = tx.sql();
    q.push("SELECT DISTINCT table_id FROM data_fields WHERE encrypted = ")
        .param(Param::Bool(true));
    let tables: Vec<rampart_core::TableId> = tx
        .fetch_all(q)
        .await?
        .iter()
        .map(|r| r.uuid(0).map(rampart_core::TableId))
        .collect::<Result<_, _>>()?;
    for id in tables {
        let Some(table) = schema::load_table(tx, id).await? else {
            continue;
        };
        let storage = schema::ident(&table.storage)?;
        for field in table.fields.iter().filter(|f| f.encrypted) {
            let name = format!("{}.{}", table.name, field.name);
            if let Some(v) = field.blind_index {
                in_use.add(v, format!("blind index of {name}"));
            }
            for v in sealed_versions(tx, &storage, &schema::ident(&field.column)?).await? {
                in_use.add(v, format!("encrypted field {name}"));
            }
        }
    }
    Ok(in_use)
}
