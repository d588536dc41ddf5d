//! One transaction interface over both backends.
//!
//! Everything above this module builds SQL with `rampart_sql::Sql` and runs it through [`Tx`];
//! only `bind`/`decode` below and the two backend modules know which driver is underneath.

pub mod dialect;
pub mod postgres;
pub mod sqlite;

use chrono::{DateTime, NaiveDate, Utc};
use futures::future::BoxFuture;
use rampart_sql::{Built, Dialect, Param, Sql};
use rusqlite::types::Value as LiteValue;
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, Postgres, Row, Transaction};
use uuid::Uuid;

use crate::error::StoreError;

/// The future a transaction closure returns. An `Err` rolls the transaction back.
pub type TxFuture<'c, T, E = StoreError> = BoxFuture<'c, Result<T, E>>;

/// A database transaction on either backend. Obtained from a store's `read` or `write`.
#[derive(Debug)]
pub struct Tx {
    conn: Conn,
    /// Set for tenant writes: what audit entries are appended with.
    audit: Option<std::sync::Arc<crate::audit::TxAudit>>,
    /// Set for tenant transactions: the data keys (encrypted fields, blind indexes).
    keys: Option<std::sync::Arc<rampart_crypto::keyring::TenantKeys>>,
}

#[derive(Debug)]
enum Conn {
    /// A SQLite connection, owned by the thread running this transaction (`sqlite` module).
    Sqlite(rusqlite::Connection),
    PgTx(Transaction<'static, Postgres>),
}

/// A result row on either backend, read by column position.
#[derive(Debug)]
pub enum DbRow {
    Sqlite(Vec<LiteValue>),
    Pg(PgRow),
}

impl Tx {
    pub(crate) fn sqlite(conn: rusqlite::Connection) -> Self {
        Self {
            conn: Conn::Sqlite(conn),
            audit: None,
            keys: None,
        }
    }

    pub(crate) fn pg_tx(tx: Transaction<'static, Postgres>) -> Self {
        Self {
            conn: Conn::PgTx(tx),
            audit: None,
            keys: None,
        }
    }

    pub(crate) fn sqlite_conn(&self) -> Result<&rusqlite::Connection, StoreError> {
        match &self.conn {
            Conn::Sqlite(c) => Ok(c),
            Conn::PgTx(_) => Err(StoreError::internal("not a SQLite transaction")),
        }
    }

    pub(crate) fn into_sqlite(self) -> Option<rusqlite::Connection> {
        match self.conn {
            Conn::Sqlite(c) => Some(c),
            Conn::PgTx(_) => None,
        }
    }

    pub(crate) async fn finish(self, commit: bool) -> Result<(), StoreError> {
        match self.conn {
            // Ended by the thread that owns the connection (`sqlite` module).
            Conn::Sqlite(_) => Ok(()),
            Conn::PgTx(tx) if commit => Ok(tx.commit().await?),
            Conn::PgTx(tx) => Ok(tx.rollback().await?),
        }
    }

    pub(crate) fn set_audit(&mut self, audit: Option<std::sync::Arc<crate::audit::TxAudit>>) {
        self.audit = audit;
    }

    pub(crate) fn audit(&self) -> Option<std::sync::Arc<crate::audit::TxAudit>> {
        self.audit.clone()
    }

    pub(crate) fn set_keys(
        &mut self,
        keys: Option<std::sync::Arc<rampart_crypto::keyring::TenantKeys>>,
    ) {
        self.keys = keys;
    }

    /// The tenant's data keys, in a tenant transaction.
    pub fn keys(&self) -> Result<std::sync::Arc<rampart_crypto::keyring::TenantKeys>, StoreError> {
        self.keys.clone().ok_or_else(|| {
            StoreError::internal("data keys are needed outside a tenant transaction")
        })
    }

    /// Turns blind index parameters into their tags.
    fn resolve(&self, params: Vec<Param>) -> Result<Vec<Param>, StoreError> {
        if !params.iter().any(|p| matches!(p, Param::Blind { .. })) {
            return Ok(params);
        }
        let keys = self.keys()?;
        params
            .into_iter()
            .map(|p| match p {
                Param::Blind {
                    key_version,
                    field,
                    canonical,
                } => crate::encryption::tag(
                    &keys,
                    key_version,
                    rampart_core::FieldId(field),
                    &canonical,
                )
                .map(Param::Bytes),
                other => Ok(other),
            })
            .collect()
    }

    pub fn dialect(&self) -> Dialect {
        match self.conn {
            Conn::Sqlite(_) => Dialect::Sqlite,
            Conn::PgTx(_) => Dialect::Postgres,
        }
    }

    /// Starts a statement in this transaction's dialect.
    pub fn sql(&self) -> Sql {
        Sql::new(self.dialect())
    }

    /// Runs a statement, returning the number of rows it changed.
    pub async fn execute(&mut self, sql: Sql) -> Result<u64, StoreError> {
        let Built { text, params } = sql.build();
        let params = self.resolve(params)?;
        match &mut self.conn {
            Conn::Sqlite(c) => sqlite::execute(c, &text, params),
            Conn::PgTx(c) => Ok(bind_pg(text, params)
                .execute(&mut **c)
                .await?
                .rows_affected()),
        }
    }

    /// Runs a query and returns all rows.
    pub async fn fetch_all(&mut self, sql: Sql) -> Result<Vec<DbRow>, StoreError> {
        let Built { text, params } = sql.build();
        let params = self.resolve(params)?;
        Ok(match &mut self.conn {
            Conn::Sqlite(c) => sqlite::fetch(c, &text, params, usize::MAX)?,
            Conn::PgTx(c) => bind_pg(text, params)
                .fetch_all(&mut **c)
                .await?
                .into_iter()
                .map(DbRow::Pg)
                .collect(),
        })
    }

    /// Runs a query and returns its first row, if any.
    pub async fn fetch_optional(&mut self, sql: Sql) -> Result<Option<DbRow>, StoreError> {
        let Built { text, params } = sql.build();
        let params = self.resolve(params)?;
        Ok(match &mut self.conn {
            Conn::Sqlite(c) => sqlite::fetch(c, &text, params, 1)?.pop(),
            Conn::PgTx(c) => bind_pg(text, params)
                .fetch_optional(&mut **c)
                .await?
                .map(DbRow::Pg),
        })
    }

    /// Runs a query that must return exactly one row.
    pub async fn fetch_one(&mut self, sql: Sql) -> Result<DbRow, StoreError> {
        self.fetch_optional(sql).await?.ok_or(StoreError::NotFound)
    }

    /// Runs static SQL without parameters (several statements allowed on SQLite).
    pub(crate) async fn execute_script(&mut self, script: &'static str) -> Result<(), StoreError> {
        match &mut self.conn {
            Conn::Sqlite(c) => c.execute_batch(script)?,
            Conn::PgTx(c) => {
                sqlx::raw_sql(script).execute(&mut **c).await?;
            }
        }
        Ok(())
    }
}

fn bind_pg(text: String, params: Vec<Param>) -> Query<'static, Postgres, PgArguments> {
    use rampart_sql::ParamType as T;
    // Safe: `text` is rendered by `rampart_sql::Sql`, whose text comes only from static
    // fragments and validated internal identifiers; every value is in `params`.
    let mut q = sqlx::query(AssertSqlSafe(text));
    for p in params {
        q = match p {
            Param::Null(T::Bool) => q.bind(Option::<bool>::None),
            Param::Null(T::I64) => q.bind(Option::<i64>::None),
            Param::Null(T::Text) => q.bind(Option::<String>::None),
            Param::Null(T::Uuid) => q.bind(Option::<Uuid>::None),
            Param::Null(T::Date) => q.bind(Option::<NaiveDate>::None),
            Param::Null(T::Timestamp) => q.bind(Option::<DateTime<Utc>>::None),
            Param::Null(T::Json) => q.bind(Option::<sqlx::types::Json<serde_json::Value>>::None),
            Param::Null(T::Bytes) => q.bind(Option::<Vec<u8>>::None),
            Param::Bool(b) => q.bind(b),
            Param::I64(n) => q.bind(n),
            Param::Text(s) => q.bind(s),
            Param::Uuid(u) => q.bind(u),
            Param::Date(d) => q.bind(d),
            Param::Timestamp(t) => q.bind(t),
            Param::Json(j) => q.bind(sqlx::types::Json(j)),
            Param::Bytes(b) => q.bind(b),
            // Resolved by `Tx::resolve` before binding.
            Param::Blind { canonical, .. } => q.bind(canonical),
        };
    }
    q
}

fn corrupt(what: &str) -> StoreError {
    StoreError::internal(format!("stored value is not a valid {what}"))
}

/// A SQLite column's value: `None` for NULL; an error for a column that is not there.
fn lite(row: &[LiteValue], i: usize) -> Result<Option<&LiteValue>, StoreError> {
    match row.get(i) {
        Some(LiteValue::Null) => Ok(None),
        Some(v) => Ok(Some(v)),
        None => Err(StoreError::internal(format!("no column {i} in the row"))),
    }
}

fn lite_i64(row: &[LiteValue], i: usize) -> Result<Option<i64>, StoreError> {
    match lite(row, i)? {
        None => Ok(None),
        Some(LiteValue::Integer(n)) => Ok(Some(*n)),
        Some(_) => Err(corrupt("integer")),
    }
}

fn lite_text(row: &[LiteValue], i: usize) -> Result<Option<&str>, StoreError> {
    match lite(row, i)? {
        None => Ok(None),
        Some(LiteValue::Text(s)) => Ok(Some(s)),
        Some(_) => Err(corrupt("text")),
    }
}

fn lite_bytes(row: &[LiteValue], i: usize) -> Result<Option<Vec<u8>>, StoreError> {
    match lite(row, i)? {
        None => Ok(None),
        Some(LiteValue::Blob(b)) => Ok(Some(b.clone())),
        Some(LiteValue::Text(s)) => Ok(Some(s.as_bytes().to_vec())),
        Some(_) => Err(corrupt("byte string")),
    }
}

/// Reads columns by position; the same stored type reads the same on both backends.
impl DbRow {
    pub fn i64(&self, i: usize) -> Result<i64, StoreError> {
        self.opt_i64(i)?.ok_or_else(|| corrupt("integer"))
    }

    pub fn opt_i64(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self {
            Self::Sqlite(r) => lite_i64(r, i),
            Self::Pg(r) => Ok(r.try_get(i)?),
        }
    }

    pub fn text(&self, i: usize) -> Result<String, StoreError> {
        self.opt_text(i)?.ok_or_else(|| corrupt("text"))
    }

    pub fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        match self {
            Self::Sqlite(r) => Ok(lite_text(r, i)?.map(str::to_owned)),
            Self::Pg(r) => Ok(r.try_get(i)?),
        }
    }

    pub fn bool(&self, i: usize) -> Result<bool, StoreError> {
        Ok(self.opt_bool(i)?.unwrap_or(false))
    }

    pub fn opt_bool(&self, i: usize) -> Result<Option<bool>, StoreError> {
        match self {
            Self::Sqlite(r) => Ok(lite_i64(r, i)?.map(|n| n != 0)),
            Self::Pg(r) => Ok(r.try_get(i)?),
        }
    }

    pub fn uuid(&self, i: usize) -> Result<Uuid, StoreError> {
        self.opt_uuid(i)?.ok_or_else(|| corrupt("uuid"))
    }

    pub fn opt_uuid(&self, i: usize) -> Result<Option<Uuid>, StoreError> {
        match self {
            Self::Sqlite(r) => lite_text(r, i)?
                .map(|s| Uuid::try_parse(s).map_err(|_| corrupt("uuid")))
                .transpose(),
            Self::Pg(r) => Ok(r.try_get(i)?),
        }
    }

    pub fn timestamp(&self, i: usize) -> Result<DateTime<Utc>, StoreError> {
        self.opt_timestamp(i)?.ok_or_else(|| corrupt("timestamp"))
    }

    pub fn opt_timestamp(&self, i: usize) -> Result<Option<DateTime<Utc>>, StoreError> {
        match self {
            Self::Sqlite(r) => lite_i64(r, i)?
                .map(|m| DateTime::from_timestamp_micros(m).ok_or_else(|| corrupt("timestamp")))
                .transpose(),
            Self::Pg(r) => Ok(r.try_get(i)?),
        }
    }

    pub fn opt_date(&self, i: usize) -> Result<Option<NaiveDate>, StoreError> {
        match self {
            Self::Sqlite(r) => lite_text(r, i)?
                .map(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| corrupt("date")))
                .transpose(),
            Self::Pg(r) => Ok(r.try_get(i)?),
        }
    }

    pub fn opt_json(&self, i: usize) -> Result<Option<serde_json::Value>, StoreError> {
        match self {
            Self::Sqlite(r) => lite_text(r, i)?
                .map(|s| serde_json::from_str(s).map_err(|_| corrupt("json")))
                .transpose(),
            Self::Pg(r) => Ok(r
                .try_get::<Option<sqlx::types::Json<serde_json::Value>>, _>(i)?
                .map(|j| j.0)),
        }
    }

    pub fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        self.opt_bytes(i)?.ok_or_else(|| corrupt("byte string"))
    }

    pub fn opt_bytes(&self, i: usize) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Self::Sqlite(r) => lite_bytes(r, i),
            Self::Pg(r) => Ok(r.try_get(i)?),
        }
    }
}

/// A closure run inside a transaction. It commits when the closure returns `Ok` and rolls back
/// when it returns `Err`, whatever the error type: a handler may refuse with its own error
/// after writing, and nothing it wrote remains.
pub trait TxFn<T, E = StoreError>:
    for<'c> FnOnce(&'c mut Tx) -> TxFuture<'c, T, E> + Send + 'static
{
}
impl<T, E, F> TxFn<T, E> for F where
    F: for<'c> FnOnce(&'c mut Tx) -> TxFuture<'c, T, E> + Send + 'static
{
}

/// Which column a unique violation was about, when the database says so.
pub(crate) fn unique_violation(err: &StoreError) -> Option<String> {
    match err {
        // PostgreSQL names the constraint; our unique indexes are named `<table>_u_<column>`.
        StoreError::Database(sqlx::Error::Database(db))
            if db.kind() == sqlx::error::ErrorKind::UniqueViolation =>
        {
            let c = db.constraint()?;
            Some(c.rsplit("_u_").next().unwrap_or(c).to_owned())
        }
        // SQLite says "UNIQUE constraint failed: t1.c2".
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, Some(msg)))
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            msg.rsplit_once('.').map(|(_, col)| col.trim().to_owned())
        }
        _ => None,
    }
}
