//! Persistence for Rampart on SQLite and PostgreSQL.
//!
//! * [`Store`] is the instance: its tenants and their physically separate storage
//!   (a database file each on SQLite; a schema and a role each on PostgreSQL).
//! * [`TenantStore`] runs transactions for one tenant; the modules `identity`, `projects`,
//!   `schema` and `records` hold the operations, written once for both dialects over [`Tx`].
//!
//! SQL text is built only with `rampart_sql::Sql`: internal names, bound values.

pub mod access_review;
pub mod audit;
pub mod db;
pub mod email_tokens;
pub mod encryption;
pub mod epoch;
pub mod error;
pub mod factors;
pub mod groups;
pub mod identity;
pub mod identity_providers;
pub mod imports;
pub mod keys;
pub mod migrate;
pub mod passkeys;
pub mod permission_sets;
pub mod projects;
pub mod records;
pub mod schema;
pub mod secrets;
pub mod settings;
pub mod storage_types;
mod tenants;
pub mod throttle;
pub mod tokens;
pub mod user_removal;

pub use db::{DbRow, Tx, TxFn, TxFuture};
pub use error::StoreError;
pub use tenants::{Store, StoreConfig, Tenant, TenantStatus, TenantStore, tx_fn};

/// Current time truncated to microseconds, the precision both backends store.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    let t = chrono::Utc::now();
    chrono::DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}
