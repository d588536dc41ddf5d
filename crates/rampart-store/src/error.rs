//! The store's error type. Client mistakes carry enough to build a precise problem document;
//! everything else is `Internal` and is answered as an opaque 500.

use rampart_core::Invalid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The thing does not exist (or the caller may not know that it does).
    #[error("not found")]
    NotFound,
    /// Input refused by a check that needs the database (links, users, conversions).
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// A unique field already has this value.
    #[error("duplicate value for {field}")]
    Duplicate { field: String },
    /// A name (tenant slug, table name, field name, email) is already taken.
    #[error("{what} is already taken")]
    NameTaken { what: &'static str },
    /// The record changed since the caller read it.
    #[error("version conflict: current version is {current}")]
    VersionConflict { current: i64 },
    /// A record cannot be deleted while links point at it.
    #[error("record is referenced by links")]
    Referenced { by: Vec<String> },
    /// A table cannot be deleted while link fields of other tables point at it.
    #[error("table is the target of link fields")]
    TableReferenced { fields: Vec<String> },
    /// The database holds a schema newer than this build knows.
    #[error("database schema version {found} is newer than this build's {known}; upgrade Rampart")]
    SchemaTooNew { found: i64, known: i64 },
    /// A migration that was applied differs from the one this build carries.
    #[error("applied migration {version} differs from this build's copy")]
    MigrationChanged { version: i64 },
    #[error("the tenant is being deleted")]
    TenantGone,
    /// An operation of a batch failed; `op` names it (`create[3]`), and nothing was written.
    #[error("{op}: {source}")]
    InBatch { op: String, source: Box<StoreError> },
    /// A key is missing, does not unwrap, or a sealed value does not open.
    #[error("keys: {0}")]
    Keys(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[source] rusqlite::Error),
    #[error("internal store error: {0}")]
    Internal(String),
}

impl StoreError {
    pub fn internal(msg: impl Into<String>) -> Self {
        Self::Internal(msg.into())
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::RowNotFound => Self::NotFound,
            other => Self::Database(other),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::QueryReturnedNoRows => Self::NotFound,
            other => Self::Sqlite(other),
        }
    }
}

impl From<rampart_core::FieldError> for StoreError {
    fn from(e: rampart_core::FieldError) -> Self {
        Self::Invalid(e.into())
    }
}

impl From<rampart_sql::InvalidIdent> for StoreError {
    fn from(e: rampart_sql::InvalidIdent) -> Self {
        Self::Internal(e.to_string())
    }
}
