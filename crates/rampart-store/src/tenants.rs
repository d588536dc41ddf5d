//! The instance: tenants and where each one's data lives.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rampart_core::TenantId;
use rampart_sql::{Dialect, Ident, Param};
use tokio::sync::RwLock;

use crate::db::postgres::{PgDb, PgScope};
use crate::db::sqlite::SqliteDb;
use crate::db::{DbRow, Tx, TxFn};
use crate::error::StoreError;
use crate::migrate::{SchemaKind, migrate};

/// Where the instance keeps its data.
#[derive(Clone)]
pub enum StoreConfig {
    Sqlite {
        data_dir: PathBuf,
        /// Reader connections per database file.
        readers: u32,
    },
    Postgres {
        url: String,
        /// Prefix of every schema and role this instance creates (`rampart_` by default);
        /// tests use a unique prefix per run.
        prefix: String,
        max_connections: u32,
    },
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite { data_dir, readers } => f
                .debug_struct("Sqlite")
                .field("data_dir", data_dir)
                .field("readers", readers)
                .finish(),
            Self::Postgres {
                prefix,
                max_connections,
                ..
            } => f
                .debug_struct("Postgres")
                .field("url", &"<redacted>")
                .field("prefix", prefix)
                .field("max_connections", max_connections)
                .finish(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantStatus {
    Active,
    Suspended,
    Deleting,
}

impl TenantStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Deleting => "deleting",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "active" => Ok(Self::Active),
            "suspended" => Ok(Self::Suspended),
            "deleting" => Ok(Self::Deleting),
            _ => Err(StoreError::internal("unknown tenant status")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub status: TenantStatus,
    /// Internal storage name: the database file stem, or the PostgreSQL schema/role suffix.
    pub storage: String,
    pub created_at: DateTime<Utc>,
}

/// A handle on one tenant's data. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TenantStore {
    tenant: TenantId,
    db: TenantDb,
    keys: Arc<crate::keys::KeyCache>,
    audit_disabled: Arc<std::sync::atomic::AtomicBool>,
    linker: Arc<crate::audit::Linker>,
}

#[derive(Debug, Clone)]
enum TenantDb {
    Sqlite(SqliteDb),
    Pg(PgDb, PgScope),
}

/// How a read runs on SQLite: on a reader thread, or on the calling task (key lookups).
#[derive(Debug, Clone, Copy)]
enum ReadKind {
    Snapshot,
    Lookup,
}

impl TenantStore {
    /// Seals `plaintext` with this tenant's current data key for the place `context` names.
    pub async fn seal(&self, context: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        self.keys.seal(self.tenant, context, plaintext).await
    }

    /// Opens a value sealed by [`Self::seal`] for the same `context`.
    pub async fn open(
        &self,
        context: &[u8],
        sealed: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, StoreError> {
        self.keys.open(self.tenant, context, sealed).await
    }

    /// This tenant's data keys (for sealing many values, or deriving purpose keys).
    pub async fn data_keys(&self) -> Result<Arc<rampart_crypto::keyring::TenantKeys>, StoreError> {
        self.keys.tenant(self.tenant).await
    }

    pub fn tenant_id(&self) -> TenantId {
        self.tenant
    }

    pub fn dialect(&self) -> Dialect {
        match self.db {
            TenantDb::Sqlite(_) => Dialect::Sqlite,
            TenantDb::Pg(..) => Dialect::Postgres,
        }
    }

    /// Runs `f` in a read-only snapshot of this tenant's data.
    pub async fn read<T: Send + 'static>(&self, f: impl TxFn<T>) -> Result<T, StoreError> {
        self.read_with(f).await
    }

    /// Like [`Self::read`], with the closure's own error type; an `Err` rolls back.
    pub async fn read_with<T, E>(&self, f: impl TxFn<T, E>) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.read_as(ReadKind::Snapshot, f).await
    }

    /// Like [`Self::read`], for reads bounded by keys (a credential, one record by id): on
    /// SQLite they run on the calling task, without a hop to a reader thread. Never for
    /// anything that may scan.
    pub async fn lookup<T: Send + 'static>(&self, f: impl TxFn<T>) -> Result<T, StoreError> {
        self.lookup_with(f).await
    }

    /// Like [`Self::lookup`], with the closure's own error type.
    pub async fn lookup_with<T, E>(&self, f: impl TxFn<T, E>) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.read_as(ReadKind::Lookup, f).await
    }

    async fn read_as<T, E>(&self, kind: ReadKind, f: impl TxFn<T, E>) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let keys = self.keys.tenant(self.tenant).await?;
        let f = tx_fn(move |tx: &mut Tx| {
            tx.set_keys(Some(keys));
            f(tx)
        });
        match (&self.db, kind) {
            (TenantDb::Sqlite(db), ReadKind::Snapshot) => db.read(f).await,
            (TenantDb::Sqlite(db), ReadKind::Lookup) => db.lookup(f).await,
            (TenantDb::Pg(db, scope), ReadKind::Snapshot) => db.run_snapshot(scope, f).await,
            (TenantDb::Pg(db, scope), ReadKind::Lookup) => db.run(scope, f).await,
        }
    }

    /// Runs `f` in a write transaction; returns once the result is durable.
    pub async fn write<T: Send + 'static>(&self, f: impl TxFn<T>) -> Result<T, StoreError> {
        self.write_with(f).await
    }

    /// Like [`Self::write`], with the closure's own error type; an `Err` rolls back.
    pub async fn write_with<T, E>(&self, f: impl TxFn<T, E>) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        // Who is writing is taken here, on the asking task: SQLite runs the closure on its
        // writer's task, where the request's context is not visible.
        let audit = Arc::new(crate::audit::TxAudit {
            who: crate::audit::snapshot(),
            keys: self.keys.tenant(self.tenant).await?,
            disabled: self
                .audit_disabled
                .load(std::sync::atomic::Ordering::Relaxed),
            pending: std::sync::atomic::AtomicBool::new(false),
        });
        let in_tx = Arc::clone(&audit);
        let f = tx_fn(move |tx: &mut Tx| {
            tx.set_keys(Some(Arc::clone(&in_tx.keys)));
            tx.set_audit(Some(in_tx));
            f(tx)
        });
        let result = self.write_unaudited(f).await;
        if result.is_ok() && audit.pending.load(std::sync::atomic::Ordering::Relaxed) {
            // The change is durable with its entry; the linker links it off the request path
            // (and readers of the trail link whatever is left first).
            self.linker.kick(self);
        }
        result
    }

    /// A write whose closure records no audit entries (the chain's own upkeep).
    pub(crate) async fn write_unaudited<T, E>(&self, f: impl TxFn<T, E>) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let keys = self.keys.tenant(self.tenant).await?;
        let f = tx_fn(move |tx: &mut Tx| {
            if tx.keys().is_err() {
                tx.set_keys(Some(keys));
            }
            f(tx)
        });
        match &self.db {
            TenantDb::Sqlite(db) => db.write(f).await,
            TenantDb::Pg(db, scope) => db.run(scope, f).await,
        }
    }
}

/// Pins a closure to the higher-ranked transaction signature (inference cannot).
pub fn tx_fn<T, E, F>(f: F) -> F
where
    F: for<'c> FnOnce(&'c mut Tx) -> crate::db::TxFuture<'c, T, E>,
{
    f
}

/// The instance store. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    backend: Backend,
    open: RwLock<HashMap<TenantId, TenantStore>>,
    keys: Arc<crate::keys::KeyCache>,
    audit_disabled: Arc<std::sync::atomic::AtomicBool>,
}

/// The instance database, for the parts of the store that need only it.
#[derive(Debug, Clone)]
pub(crate) enum InstanceDb {
    Sqlite(SqliteDb),
    Pg(PgDb, PgScope),
}

impl InstanceDb {
    pub(crate) async fn read<T: Send + 'static>(&self, f: impl TxFn<T>) -> Result<T, StoreError> {
        match self {
            Self::Sqlite(db) => db.read(f).await,
            Self::Pg(db, scope) => db.run(scope, f).await,
        }
    }

    pub(crate) async fn write<T: Send + 'static>(&self, f: impl TxFn<T>) -> Result<T, StoreError> {
        match self {
            Self::Sqlite(db) => db.write(f).await,
            Self::Pg(db, scope) => db.run(scope, f).await,
        }
    }
}

#[derive(Debug)]
enum Backend {
    Sqlite {
        data_dir: PathBuf,
        readers: u32,
        instance: SqliteDb,
    },
    Pg {
        db: PgDb,
        prefix: String,
        instance: PgScope,
    },
}

fn validate_prefix(prefix: &str) -> Result<(), StoreError> {
    let ok = prefix.len() <= 24 && Ident::new(prefix).is_ok() && !prefix.starts_with("pg_");
    if ok {
        Ok(())
    } else {
        Err(StoreError::internal(
            "the PostgreSQL prefix must be up to 24 characters of a-z, 0-9 and _, not starting with a digit or pg_",
        ))
    }
}

fn tenant_from_row(row: &DbRow) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: TenantId(row.uuid(0)?),
        slug: row.text(1)?,
        name: row.text(2)?,
        status: TenantStatus::parse(&row.text(3)?)?,
        storage: row.text(4)?,
        created_at: row.timestamp(5)?,
    })
}

const TENANT_COLUMNS: &str = "SELECT id, slug, name, status, storage, created_at FROM tenants";

impl Store {
    /// Opens the instance store, migrating its schema, and finishes interrupted deletions.
    pub async fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        let backend = match config {
            StoreConfig::Sqlite { data_dir, readers } => {
                std::fs::create_dir_all(data_dir.join("tenants")).map_err(|e| {
                    StoreError::internal(format!("cannot create {}: {e}", data_dir.display()))
                })?;
                let instance = SqliteDb::open(&data_dir.join("instance.db"), *readers).await?;
                instance
                    .write(|tx: &mut Tx| Box::pin(migrate(tx, SchemaKind::Instance, "instance")))
                    .await?;
                Backend::Sqlite {
                    data_dir: data_dir.clone(),
                    readers: *readers,
                    instance,
                }
            }
            StoreConfig::Postgres {
                url,
                prefix,
                max_connections,
            } => {
                validate_prefix(prefix)?;
                let db = PgDb::connect(url, *max_connections).await?;
                let schema = Ident::new(format!("{prefix}instance"))?;
                let scope = PgScope {
                    role: None,
                    schema: schema.as_str().to_owned(),
                };
                let lock_key = schema.as_str().to_owned();
                db.run(&scope, move |tx: &mut Tx| {
                    Box::pin(async move {
                        // `~` folds case with ICU's root locale (see `rampart_rules::fold`).
                        let mut icu = tx.sql();
                        icu.push("SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu'");
                        if tx.fetch_optional(icu).await?.is_none() {
                            return Err(StoreError::internal(
                                "this PostgreSQL server has no ICU collations (\"und-x-icu\"): \
                                 Rampart needs a server built with ICU, as Debian's and most \
                                 distributions' are",
                            ));
                        }
                        let mut lock = tx.sql();
                        lock.push("SELECT pg_advisory_xact_lock(hashtext(")
                            .param(Param::Text(format!("rampart-migrate:{lock_key}")))
                            .push("))");
                        tx.execute(lock).await?;
                        let mut q = tx.sql();
                        q.push("CREATE SCHEMA IF NOT EXISTS ").ident(&schema);
                        tx.execute(q).await?;
                        let mut q = tx.sql();
                        q.push("REVOKE ALL ON SCHEMA ")
                            .ident(&schema)
                            .push(" FROM PUBLIC");
                        tx.execute(q).await?;
                        migrate(tx, SchemaKind::Instance, &lock_key).await
                    })
                })
                .await?;
                Backend::Pg {
                    db,
                    prefix: prefix.clone(),
                    instance: scope,
                }
            }
        };
        let instance = match &backend {
            Backend::Sqlite { instance, .. } => InstanceDb::Sqlite(instance.clone()),
            Backend::Pg { db, instance, .. } => InstanceDb::Pg(db.clone(), instance.clone()),
        };
        let store = Self {
            inner: Arc::new(Inner {
                backend,
                open: RwLock::new(HashMap::new()),
                keys: Arc::new(crate::keys::KeyCache::new(instance)),
                audit_disabled: Arc::default(),
            }),
        };
        for t in store.list_tenants().await? {
            if t.status == TenantStatus::Deleting {
                store.finish_delete(&t).await?;
            }
        }
        Ok(store)
    }

    /// Benchmarks only: stop appending audit entries (to measure what they cost).
    pub fn disable_audit_for_benchmarks(&self) {
        self.inner
            .audit_disabled
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// The instance's key-encryption keys and the tenants' data keys.
    pub fn keys(&self) -> &crate::keys::KeyCache {
        &self.inner.keys
    }

    pub fn dialect(&self) -> Dialect {
        match self.inner.backend {
            Backend::Sqlite { .. } => Dialect::Sqlite,
            Backend::Pg { .. } => Dialect::Postgres,
        }
    }

    async fn instance_read<T: Send + 'static>(&self, f: impl TxFn<T>) -> Result<T, StoreError> {
        match &self.inner.backend {
            Backend::Sqlite { instance, .. } => instance.read(f).await,
            Backend::Pg { db, instance, .. } => db.run(instance, f).await,
        }
    }

    /// [`Self::instance_read`] for a read bounded by a key (see [`TenantStore::lookup`]).
    async fn instance_lookup<T: Send + 'static>(&self, f: impl TxFn<T>) -> Result<T, StoreError> {
        match &self.inner.backend {
            Backend::Sqlite { instance, .. } => instance.lookup(f).await,
            Backend::Pg { db, instance, .. } => db.run(instance, f).await,
        }
    }

    async fn instance_write<T: Send + 'static>(&self, f: impl TxFn<T>) -> Result<T, StoreError> {
        match &self.inner.backend {
            Backend::Sqlite { instance, .. } => instance.write(f).await,
            Backend::Pg { db, instance, .. } => db.run(instance, f).await,
        }
    }

    /// Checks that the database answers (for readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.instance_read(|tx: &mut Tx| {
            Box::pin(async move {
                let mut q = tx.sql();
                q.push("SELECT 1");
                tx.fetch_one(q).await.map(|_| ())
            })
        })
        .await
    }

    pub async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.instance_read(|tx: &mut Tx| {
            Box::pin(async move {
                let mut q = tx.sql();
                q.push(TENANT_COLUMNS).push(" ORDER BY slug");
                tx.fetch_all(q).await?.iter().map(tenant_from_row).collect()
            })
        })
        .await
    }

    pub async fn tenant_by_slug(&self, slug: &str) -> Result<Option<Tenant>, StoreError> {
        let slug = slug.to_owned();
        self.instance_lookup(move |tx: &mut Tx| {
            Box::pin(async move {
                let mut q = tx.sql();
                q.push(TENANT_COLUMNS)
                    .push(" WHERE slug = ")
                    .param(Param::Text(slug));
                tx.fetch_optional(q)
                    .await?
                    .as_ref()
                    .map(tenant_from_row)
                    .transpose()
            })
        })
        .await
    }

    /// Creates a tenant and its storage, migrated and ready.
    pub async fn create_tenant(&self, slug: &str, name: &str) -> Result<Tenant, StoreError> {
        if self.tenant_by_slug(slug).await?.is_some() {
            return Err(StoreError::NameTaken {
                what: "tenant slug",
            });
        }
        let tenant = Tenant {
            id: TenantId::generate(),
            slug: slug.to_owned(),
            name: name.to_owned(),
            status: TenantStatus::Active,
            storage: self.next_storage_name().await?,
            created_at: crate::now(),
        };
        // The data key exists before any data does.
        self.inner.keys.reload(tenant.id).await?;
        self.provision(&tenant).await?;
        let row = tenant.clone();
        let inserted = self
            .instance_write(move |tx: &mut Tx| {
                Box::pin(async move {
                    let mut q = tx.sql();
                    q.push("INSERT INTO tenants (id, slug, name, status, storage, created_at) VALUES (")
                        .param(Param::Uuid(row.id.0))
                        .push(", ")
                        .param(Param::Text(row.slug))
                        .push(", ")
                        .param(Param::Text(row.name))
                        .push(", ")
                        .param(Param::Text(row.status.as_str().to_owned()))
                        .push(", ")
                        .param(Param::Text(row.storage))
                        .push(", ")
                        .param(Param::Timestamp(row.created_at))
                        .push(")");
                    tx.execute(q).await
                })
            })
            .await;
        if let Err(e) = inserted {
            let _ = self.drop_storage(&tenant).await;
            let _ = self.inner.keys.destroy(tenant.id).await;
            return Err(if crate::db::unique_violation(&e).is_some() {
                StoreError::NameTaken {
                    what: "tenant slug",
                }
            } else {
                e
            });
        }
        Ok(tenant)
    }

    async fn next_storage_name(&self) -> Result<String, StoreError> {
        let n = self
            .instance_write(|tx: &mut Tx| {
                Box::pin(async move {
                    let mut q = tx.sql();
                    q.push("UPDATE counters SET value = value + 1 WHERE name = 'tenant_storage' RETURNING value");
                    tx.fetch_one(q).await?.i64(0)
                })
            })
            .await?;
        Ok(match &self.inner.backend {
            // File names stay unique even if an instance database is restored from a backup.
            Backend::Sqlite { .. } => format!("t{n}_{}", uuid::Uuid::now_v7().simple()),
            Backend::Pg { prefix, .. } => format!("{prefix}t{n}"),
        })
    }

    fn sqlite_path(data_dir: &Path, storage: &str) -> PathBuf {
        data_dir.join("tenants").join(format!("{storage}.db"))
    }

    async fn provision(&self, tenant: &Tenant) -> Result<(), StoreError> {
        match &self.inner.backend {
            Backend::Sqlite { .. } => {
                let ts = self.tenant_store(tenant).await?;
                ts.write(|tx: &mut Tx| Box::pin(migrate(tx, SchemaKind::Tenant, "tenant")))
                    .await?;
            }
            Backend::Pg { db, instance, .. } => {
                let name = Ident::new(tenant.storage.clone())?;
                db.run(instance, move |tx: &mut Tx| {
                    Box::pin(async move {
                        let mut q = tx.sql();
                        q.push("CREATE ROLE ")
                            .ident(&name)
                            .push(" NOLOGIN NOINHERIT");
                        tx.execute(q).await?;
                        let mut q = tx.sql();
                        q.push("GRANT ").ident(&name).push(" TO CURRENT_USER");
                        tx.execute(q).await?;
                        let mut q = tx.sql();
                        q.push("CREATE SCHEMA ")
                            .ident(&name)
                            .push(" AUTHORIZATION ")
                            .ident(&name);
                        tx.execute(q).await?;
                        let mut q = tx.sql();
                        q.push("REVOKE ALL ON SCHEMA ")
                            .ident(&name)
                            .push(" FROM PUBLIC");
                        tx.execute(q).await.map(|_| ())
                    })
                })
                .await?;
                let ts = self.tenant_store(tenant).await?;
                let key = tenant.storage.clone();
                ts.write(move |tx: &mut Tx| {
                    Box::pin(async move { migrate(tx, SchemaKind::Tenant, &key).await })
                })
                .await?;
            }
        }
        Ok(())
    }

    /// The handle on a tenant's data, opening it on first use.
    pub async fn tenant_store(&self, tenant: &Tenant) -> Result<TenantStore, StoreError> {
        if let Some(ts) = self.inner.open.read().await.get(&tenant.id) {
            return Ok(ts.clone());
        }
        let mut open = self.inner.open.write().await;
        if let Some(ts) = open.get(&tenant.id) {
            return Ok(ts.clone());
        }
        let db = match &self.inner.backend {
            Backend::Sqlite {
                data_dir, readers, ..
            } => TenantDb::Sqlite(
                SqliteDb::open(&Self::sqlite_path(data_dir, &tenant.storage), *readers).await?,
            ),
            Backend::Pg { db, .. } => {
                let name = Ident::new(tenant.storage.clone())?;
                TenantDb::Pg(
                    db.clone(),
                    PgScope {
                        role: Some(name.as_str().to_owned()),
                        schema: name.as_str().to_owned(),
                    },
                )
            }
        };
        let ts = TenantStore {
            tenant: tenant.id,
            db,
            keys: Arc::clone(&self.inner.keys),
            audit_disabled: Arc::clone(&self.inner.audit_disabled),
            linker: Arc::default(),
        };
        open.insert(tenant.id, ts.clone());
        Ok(ts)
    }

    /// Brings every tenant's schema up to date (run at start-up, under the migration lock).
    pub async fn migrate_tenants(&self) -> Result<(), StoreError> {
        for t in self.list_tenants().await? {
            if t.status == TenantStatus::Deleting {
                continue;
            }
            let ts = self.tenant_store(&t).await?;
            let key = t.storage.clone();
            ts.write(move |tx: &mut Tx| {
                Box::pin(async move { migrate(tx, SchemaKind::Tenant, &key).await })
            })
            .await?;
        }
        Ok(())
    }

    pub async fn set_tenant_status(
        &self,
        slug: &str,
        status: TenantStatus,
    ) -> Result<Tenant, StoreError> {
        let tenant = self
            .tenant_by_slug(slug)
            .await?
            .ok_or(StoreError::NotFound)?;
        if tenant.status == TenantStatus::Deleting {
            return Err(StoreError::TenantGone);
        }
        let id = tenant.id;
        self.instance_write(move |tx: &mut Tx| {
            Box::pin(async move {
                let mut q = tx.sql();
                q.push("UPDATE tenants SET status = ")
                    .param(Param::Text(status.as_str().to_owned()))
                    .push(" WHERE id = ")
                    .param(Param::Uuid(id.0));
                tx.execute(q).await
            })
        })
        .await?;
        Ok(Tenant { status, ..tenant })
    }

    /// Deletes a tenant and all its data. Resumable: a crash midway is finished at next start.
    pub async fn delete_tenant(&self, slug: &str) -> Result<(), StoreError> {
        let tenant = self
            .tenant_by_slug(slug)
            .await?
            .ok_or(StoreError::NotFound)?;
        let tenant = if tenant.status == TenantStatus::Deleting {
            tenant
        } else {
            self.set_tenant_status(slug, TenantStatus::Deleting).await?
        };
        self.finish_delete(&tenant).await
    }

    async fn finish_delete(&self, tenant: &Tenant) -> Result<(), StoreError> {
        self.drop_storage(tenant).await?;
        // Crypto-shredding: with the live data gone, its keys go too, so no copy of the
        // data taken earlier can be opened with anything this instance holds.
        self.inner.keys.destroy(tenant.id).await?;
        let id = tenant.id;
        self.instance_write(move |tx: &mut Tx| {
            Box::pin(async move {
                let mut q = tx.sql();
                q.push("DELETE FROM tenants WHERE id = ")
                    .param(Param::Uuid(id.0));
                tx.execute(q).await
            })
        })
        .await?;
        Ok(())
    }

    async fn drop_storage(&self, tenant: &Tenant) -> Result<(), StoreError> {
        let closed = self.inner.open.write().await.remove(&tenant.id);
        if let Some(ts) = &closed {
            ts.linker.close().await;
        }
        match &self.inner.backend {
            Backend::Sqlite { data_dir, .. } => {
                if let Some(TenantStore {
                    db: TenantDb::Sqlite(db),
                    ..
                }) = closed
                {
                    db.close().await;
                }
                let path = Self::sqlite_path(data_dir, &tenant.storage);
                for suffix in ["", "-wal", "-shm"] {
                    let p = PathBuf::from(format!("{}{suffix}", path.display()));
                    match std::fs::remove_file(&p) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(StoreError::internal(format!(
                                "cannot remove {}: {e}",
                                p.display()
                            )));
                        }
                    }
                }
            }
            Backend::Pg { db, instance, .. } => {
                let name = Ident::new(tenant.storage.clone())?;
                db.run(instance, move |tx: &mut Tx| {
                    Box::pin(async move {
                        let mut q = tx.sql();
                        q.push("DROP SCHEMA IF EXISTS ")
                            .ident(&name)
                            .push(" CASCADE");
                        tx.execute(q).await?;
                        let mut q = tx.sql();
                        q.push("DROP ROLE IF EXISTS ").ident(&name);
                        tx.execute(q).await.map(|_| ())
                    })
                })
                .await?;
            }
        }
        Ok(())
    }

    /// A 32-byte instance secret by name, created on first use (cursor signing and the like),
    /// stored wrapped by the KEK (see [`crate::keys::KeyCache::instance_secret`]).
    pub async fn instance_secret(&self, name: &'static str) -> Result<Vec<u8>, StoreError> {
        self.inner.keys.instance_secret(name).await
    }

    /// Signs the audit chain's head of every tenant this process opened (pending entries
    /// linked first), so that a server stopped cleanly leaves no unsigned tail. Returns the
    /// tenants whose head could not be signed, with why.
    pub async fn checkpoint_open_tenants(&self) -> Vec<(TenantId, StoreError)> {
        if self
            .inner
            .audit_disabled
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return Vec::new();
        }
        let open: Vec<TenantStore> = self.inner.open.read().await.values().cloned().collect();
        let mut failed = Vec::new();
        for ts in open {
            if let Err(e) = crate::audit::anchor(&ts).await {
                failed.push((ts.tenant, e));
            }
        }
        failed
    }

    /// Closes every pool.
    pub async fn close(&self) {
        let open: Vec<TenantStore> = self
            .inner
            .open
            .write()
            .await
            .drain()
            .map(|(_, v)| v)
            .collect();
        for ts in open {
            if let TenantDb::Sqlite(db) = ts.db {
                db.close().await;
            }
        }
        match &self.inner.backend {
            Backend::Sqlite { instance, .. } => instance.close().await,
            Backend::Pg { db, .. } => db.close().await,
        }
    }

    /// Drops every schema and role with this instance's prefix: for test clean-up only.
    pub async fn destroy_postgres_instance(self) -> Result<(), StoreError> {
        let tenants = self.list_tenants().await?;
        for t in &tenants {
            self.drop_storage(t).await?;
        }
        if let Backend::Pg { db, instance, .. } = &self.inner.backend {
            let schema = Ident::new(instance.schema.clone())?;
            db.run(instance, move |tx: &mut Tx| {
                Box::pin(async move {
                    let mut q = tx.sql();
                    q.push("DROP SCHEMA IF EXISTS ")
                        .ident(&schema)
                        .push(" CASCADE");
                    tx.execute(q).await.map(|_| ())
                })
            })
            .await?;
        }
        self.close().await;
        Ok(())
    }
}
