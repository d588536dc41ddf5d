//! PostgreSQL: one pool for the instance; every transaction first switches to the role and
//! schema of the tenant it serves, with `set_config(..., true)` (the same as `SET LOCAL`), so
//! the setting ends with the transaction and a pooled connection never keeps a tenant's role.
//! A tenant's role owns only its own schema, so the database itself refuses cross-tenant reads.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::{Tx, TxFn};
use crate::error::StoreError;

/// The PostgreSQL connection pool of one instance.
#[derive(Debug, Clone)]
pub struct PgDb {
    pool: PgPool,
}

/// Where a transaction runs: the role it assumes and its `search_path`.
#[derive(Debug, Clone)]
pub struct PgScope {
    /// `None` for the instance's own schema: the connecting role is kept.
    pub role: Option<String>,
    pub schema: String,
}

impl PgDb {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let opts: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(Duration::from_secs(10))
            .idle_timeout(Some(Duration::from_secs(300)))
            .connect_with(opts.application_name("rampart"))
            .await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin(&self, scope: &PgScope, snapshot: bool) -> Result<Tx, StoreError> {
        let mut tx = if snapshot {
            // Every statement of the transaction sees the same committed state (several
            // statements of one read agree with each other), and nothing can write.
            self.pool
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?
        } else {
            self.pool.begin().await?
        };
        // Both values are bound parameters; `set_config` with is_local = true lasts until the
        // end of this transaction.
        sqlx::query("SELECT set_config('role', $1, true), set_config('search_path', $2, true)")
            .bind(scope.role.as_deref().unwrap_or("none"))
            .bind(&scope.schema)
            .execute(&mut *tx)
            .await?;
        Ok(Tx::pg_tx(tx))
    }

    /// Runs `f` in a transaction in `scope`, committing when it succeeds.
    pub async fn run<T, E>(&self, scope: &PgScope, f: impl TxFn<T, E>) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.run_as(scope, false, f).await
    }

    /// Runs `f` in a read-only snapshot in `scope`.
    pub async fn run_snapshot<T, E>(&self, scope: &PgScope, f: impl TxFn<T, E>) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.run_as(scope, true, f).await
    }

    async fn run_as<T, E>(
        &self,
        scope: &PgScope,
        snapshot: bool,
        f: impl TxFn<T, E>,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let mut tx = self.begin(scope, snapshot).await?;
        match f(&mut tx).await {
            Ok(v) => {
                tx.finish(true).await?;
                Ok(v)
            }
            Err(e) => {
                tx.finish(false).await?;
                Err(e)
            }
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
