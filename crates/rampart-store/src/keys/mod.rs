//! Tenants' data keys (DEKs): generated per tenant, wrapped by the instance KEK, stored with
//! a version in the instance database (`tenant_keys`), unwrapped into memory on first use.
//!
//! - Rotating the KEK re-wraps every DEK under the current KEK, one row per transaction, so
//!   a crash midway is finished by running it again; the DEKs themselves do not change.
//! - Rotating a tenant's DEK adds a new version that seals new values; the older one is
//!   retired (kept, wrapped, for values not yet re-sealed and for backups).
//! - Each tenant also has audit keys (versions from [`AUDIT_VERSIONS`] on), wrapped the same
//!   way: they seal what the audit chain holds and sign its checkpoints. The chain cannot be
//!   re-sealed, so audit keys are never retired; a DEK rotation adds a new one for what
//!   comes after, and DEK versions stay free to be purged once re-sealing is done.
//! - Deleting a tenant deletes its DEKs after its data (crypto-shredding): a copy of the
//!   tenant's data taken before cannot be opened with anything the instance still holds.
//!
//! Other processes (the CLI while a server runs) change keys too, so cached keys are read
//! again after [`REFRESH`], and at once when a value names a version not yet known.

pub mod in_use;
pub mod purge;
pub(crate) mod reseal;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rampart_core::TenantId;
use rampart_crypto::keyring::{
    AUDIT_VERSIONS, BLIND_INDEX_VERSIONS, Kek, KekId, KekRing, Key, KeyError, TenantKeys,
};
use rampart_sql::Param;

use crate::db::Tx;
use crate::error::StoreError;
use crate::tenants::InstanceDb;

/// How long a process trusts its cached keys before reading them again.
pub const REFRESH: Duration = Duration::from_secs(30);

/// What a stored tenant key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// The data key that seals new values.
    Active,
    /// An older data key, kept while values or backups may need it.
    Retired,
    /// A retired data key the audit chain names (written before audit keys existed): the chain
    /// cannot be re-sealed, so it is kept for the tenant's life and no longer looked at.
    Pinned,
    /// An audit key (kept for the tenant's life; the highest signs and seals new entries).
    Audit,
    /// A field's blind index key, kept apart from the data key it was derived from.
    BlindIndex,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retired => "retired",
            Self::Pinned => "pinned",
            Self::Audit => "audit",
            Self::BlindIndex => "blind_index",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "active" => Self::Active,
            "retired" => Self::Retired,
            "pinned" => Self::Pinned,
            "audit" => Self::Audit,
            "blind_index" => Self::BlindIndex,
            other => {
                return Err(StoreError::internal(format!(
                    "unknown tenant key state {other}"
                )));
            }
        })
    }
}

/// One stored tenant key, as `rampart keys status` shows it.
#[derive(Debug, Clone)]
pub struct KeyRow {
    pub tenant: TenantId,
    pub version: u32,
    pub kek_id: KekId,
    pub state: KeyState,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub retired_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// What a KEK rotation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rewrapped {
    /// Tenant keys (data, audit, blind index) re-wrapped.
    pub rewrapped: usize,
    pub already_current: usize,
    /// Instance secrets re-wrapped.
    pub secrets: usize,
}

/// The instance's KEKs and every tenant's unwrapped data keys.
#[derive(Debug)]
pub struct KeyCache {
    ring: RwLock<Option<Arc<KekRing>>>,
    tenants: Mutex<HashMap<TenantId, (Instant, Arc<TenantKeys>)>>,
    instance: InstanceDb,
}

fn key_error(e: KeyError) -> StoreError {
    StoreError::Keys(e.to_string())
}

fn row(r: &crate::DbRow) -> Result<KeyRow, StoreError> {
    Ok(KeyRow {
        tenant: TenantId(r.uuid(0)?),
        version: u32::try_from(r.i64(1)?)
            .map_err(|_| StoreError::internal("stored key version out of range"))?,
        kek_id: KekId(r.text(2)?),
        state: KeyState::parse(&r.text(3)?)?,
        created_at: r.timestamp(4)?,
        retired_at: r.opt_timestamp(5)?,
    })
}

const COLUMNS: &str =
    "SELECT tenant_id, version, kek_id, state, created_at, retired_at, wrapped FROM tenant_keys";

async fn rows(tx: &mut Tx, tenant: Option<TenantId>) -> Result<Vec<(KeyRow, Vec<u8>)>, StoreError> {
    let mut q = tx.sql();
    q.push(COLUMNS);
    if let Some(t) = tenant {
        q.push(" WHERE tenant_id = ").param(Param::Uuid(t.0));
    }
    q.push(" ORDER BY tenant_id, version");
    tx.fetch_all(q)
        .await?
        .iter()
        .map(|r| Ok((row(r)?, r.bytes(6)?)))
        .collect()
}

async fn insert(
    tx: &mut Tx,
    tenant: TenantId,
    version: u32,
    state: KeyState,
    kek: &Kek,
) -> Result<(), StoreError> {
    insert_key(tx, tenant, version, state, kek, &Key::generate()).await
}

async fn insert_key(
    tx: &mut Tx,
    tenant: TenantId,
    version: u32,
    state: KeyState,
    kek: &Kek,
    key: &Key,
) -> Result<(), StoreError> {
    let wrapped = kek.wrap(key, tenant.0.as_bytes(), version);
    let mut q = tx.sql();
    q.push(
        "INSERT INTO tenant_keys (tenant_id, version, kek_id, wrapped, state, created_at) VALUES (",
    )
    .param_list([
        Param::Uuid(tenant.0),
        Param::I64(i64::from(version)),
        Param::Text(kek.id.0.clone()),
        Param::Bytes(wrapped),
        Param::Text(state.as_str().into()),
        Param::Timestamp(crate::now()),
    ])
    .push(") ON CONFLICT (tenant_id, version) DO NOTHING");
    tx.execute(q).await?;
    Ok(())
}

/// The states of data keys (whatever their version numbers say).
const DATA_STATES: [KeyState; 3] = [KeyState::Active, KeyState::Retired, KeyState::Pinned];

/// The highest stored version of a tenant's keys in `states` (0 when there is none).
async fn max_version(
    tx: &mut Tx,
    tenant: TenantId,
    states: &[KeyState],
) -> Result<u32, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT COALESCE(MAX(version), 0) FROM tenant_keys WHERE tenant_id = ")
        .param(Param::Uuid(tenant.0))
        .push(" AND state IN (")
        .param_list(states.iter().map(|s| Param::Text(s.as_str().into())))
        .push(")");
    u32::try_from(tx.fetch_one(q).await?.i64(0)?)
        .map_err(|_| StoreError::internal("key version out of range"))
}

/// Gives a tenant its first data key and its first audit key where it lacks them (a new
/// tenant; a tenant from before audit keys). Concurrent callers insert the same versions;
/// one wins.
async fn ensure_keys(tx: &mut Tx, tenant: TenantId, kek: &Kek) -> Result<(), StoreError> {
    if max_version(tx, tenant, &DATA_STATES).await? == 0 {
        insert(tx, tenant, 1, KeyState::Active, kek).await?;
    }
    if max_version(tx, tenant, &[KeyState::Audit]).await? == 0 {
        insert(tx, tenant, AUDIT_VERSIONS + 1, KeyState::Audit, kek).await?;
    }
    Ok(())
}

/// The instance secrets there are (see [`KeyCache::instance_secret`]).
pub const INSTANCE_SECRETS: &[&str] = &["cursor_hmac", "passkey_decoy"];

async fn read_instance_secret(
    tx: &mut Tx,
    name: &str,
) -> Result<Option<(Vec<u8>, Option<String>)>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT value, kek_id FROM instance_secrets WHERE name = ")
        .param(Param::Text(name.to_owned()));
    tx.fetch_optional(q)
        .await?
        .map(|r| Ok((r.bytes(0)?, r.opt_text(1)?)))
        .transpose()
}

impl KeyCache {
    pub(crate) fn new(instance: InstanceDb) -> Self {
        Self {
            ring: RwLock::new(None),
            tenants: Mutex::new(HashMap::new()),
            instance,
        }
    }

    /// Installs the KEKs read from the operator's source (at start and on SIGHUP).
    pub fn set_ring(&self, ring: KekRing) {
        if let Ok(mut r) = self.ring.write() {
            *r = Some(Arc::new(ring));
        }
    }

    pub fn ring(&self) -> Result<Arc<KekRing>, StoreError> {
        self.ring
            .read()
            .ok()
            .and_then(|r| r.clone())
            .ok_or_else(|| StoreError::Keys("no key-encryption key is configured".into()))
    }

    /// A tenant's data keys, from memory while fresh.
    pub async fn tenant(&self, tenant: TenantId) -> Result<Arc<TenantKeys>, StoreError> {
        let cached = self
            .tenants
            .lock()
            .ok()
            .and_then(|t| t.get(&tenant).cloned());
        match cached {
            Some((loaded, keys)) if loaded.elapsed() < REFRESH => Ok(keys),
            _ => self.reload(tenant).await,
        }
    }

    /// Reads a tenant's keys again, creating its first data and audit keys when it lacks them.
    pub async fn reload(&self, tenant: TenantId) -> Result<Arc<TenantKeys>, StoreError> {
        let ring = self.ring()?;
        let mut stored = self
            .instance
            .read(move |tx: &mut Tx| Box::pin(rows(tx, Some(tenant))))
            .await?;
        let has = |stored: &[(KeyRow, Vec<u8>)], states: &[KeyState]| {
            stored.iter().any(|(r, _)| states.contains(&r.state))
        };
        if !has(&stored, &[KeyState::Active]) || !has(&stored, &[KeyState::Audit]) {
            let kek = ring.current().clone();
            stored = self
                .instance
                .write(move |tx: &mut Tx| {
                    Box::pin(async move {
                        ensure_keys(tx, tenant, &kek).await?;
                        rows(tx, Some(tenant)).await
                    })
                })
                .await?;
        }
        let current = stored
            .iter()
            .filter(|(r, _)| r.state == KeyState::Active)
            .map(|(r, _)| r.version)
            .max();
        let mut keys = TenantKeys::new();
        for (r, wrapped) in &stored {
            let kek = ring.get(&r.kek_id).ok_or_else(|| {
                StoreError::Keys(format!(
                    "data key {} of tenant {} is wrapped by KEK {}, which the configured KEK source does not hold",
                    r.version, r.tenant, r.kek_id
                ))
            })?;
            let dek = kek
                .unwrap(wrapped, tenant.0.as_bytes(), r.version)
                .map_err(key_error)?;
            match r.state {
                KeyState::Audit => keys.insert_audit(r.version, dek),
                _ => keys.insert(r.version, dek, Some(r.version) == current),
            }
        }
        let keys = Arc::new(keys);
        if let Ok(mut t) = self.tenants.lock() {
            t.insert(tenant, (Instant::now(), Arc::clone(&keys)));
        }
        Ok(keys)
    }

    /// Seals a value with the tenant's current key.
    pub async fn seal(
        &self,
        tenant: TenantId,
        context: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        self.tenant(tenant)
            .await?
            .seal(context, plaintext)
            .map_err(key_error)
    }

    /// Opens a sealed value, reading the keys again once if it names an unknown version.
    pub async fn open(
        &self,
        tenant: TenantId,
        context: &[u8],
        sealed: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, StoreError> {
        match self.tenant(tenant).await?.open(context, sealed) {
            Err(KeyError::UnknownVersion(_)) => self
                .reload(tenant)
                .await?
                .open(context, sealed)
                .map_err(key_error),
            other => other.map_err(key_error),
        }
    }

    /// Every stored data key (for `rampart keys status`).
    pub async fn status(&self) -> Result<Vec<KeyRow>, StoreError> {
        Ok(self
            .instance
            .read(|tx: &mut Tx| Box::pin(rows(tx, None)))
            .await?
            .into_iter()
            .map(|(r, _)| r)
            .collect())
    }

    /// A 32-byte instance secret (the list cursor key, the passkey decoy key), created on
    /// first use. Stored wrapped by the KEK, so a copy of the instance database alone does not
    /// let anyone forge cursors or tell decoy passkey options from real ones. A secret an
    /// earlier version stored in the clear is wrapped the first time it is read.
    pub async fn instance_secret(&self, name: &'static str) -> Result<Vec<u8>, StoreError> {
        let ring = self.ring()?;
        loop {
            let stored = self
                .instance
                .read(move |tx: &mut Tx| Box::pin(read_instance_secret(tx, name)))
                .await?;
            match stored {
                Some((value, Some(kek_id))) => {
                    let kek = ring.get(&KekId(kek_id.clone())).ok_or_else(|| {
                        StoreError::Keys(format!(
                            "the instance secret {name} is wrapped by KEK {kek_id}, which the KEK \
                             source does not hold; put it back after the current KEK"
                        ))
                    })?;
                    let secret = kek.unwrap_secret(&value, name).map_err(key_error)?;
                    return Ok(secret.expose().to_vec());
                }
                Some((plain, None)) => {
                    self.store_wrapped_secret(ring.current(), name, &plain, true)
                        .await?;
                    return Ok(plain);
                }
                None => {
                    let wrapped = ring.current().wrap_secret(&Key::generate(), name);
                    let kek_id = ring.current().id.0.clone();
                    // Two nodes starting at once: one insert wins, both read it back.
                    self.instance
                        .write(move |tx: &mut Tx| {
                            Box::pin(async move {
                                let mut q = tx.sql();
                                q.push(
                                    "INSERT INTO instance_secrets (name, value, kek_id) VALUES (",
                                )
                                .param_list([
                                    Param::Text(name.to_owned()),
                                    Param::Bytes(wrapped),
                                    Param::Text(kek_id),
                                ])
                                .push(") ON CONFLICT (name) DO NOTHING");
                                tx.execute(q).await
                            })
                        })
                        .await?;
                }
            }
        }
    }

    /// Re-wraps every data key not wrapped by the current KEK. Each key is its own
    /// transaction, so an interrupted rotation is finished by running it again.
    pub async fn rotate_kek(&self) -> Result<Rewrapped, StoreError> {
        let ring = self.ring()?;
        let current = ring.current().clone();
        let all = self
            .instance
            .read(|tx: &mut Tx| Box::pin(rows(tx, None)))
            .await?;
        let mut done = Rewrapped::default();
        for (r, wrapped) in all {
            if r.kek_id == current.id {
                done.already_current += 1;
                continue;
            }
            let old = ring.get(&r.kek_id).ok_or_else(|| {
                StoreError::Keys(format!(
                    "data key {} of tenant {} is wrapped by KEK {}, which the KEK source no longer holds; \
                     put it back after the current KEK and run the rotation again",
                    r.version, r.tenant, r.kek_id
                ))
            })?;
            let dek = old
                .unwrap(&wrapped, r.tenant.0.as_bytes(), r.version)
                .map_err(key_error)?;
            let rewrapped = current.wrap(&dek, r.tenant.0.as_bytes(), r.version);
            let (tenant, version, from, to) = (
                r.tenant,
                r.version,
                r.kek_id.0.clone(),
                current.id.0.clone(),
            );
            self.instance
                .write(move |tx: &mut Tx| {
                    Box::pin(async move {
                        let mut q = tx.sql();
                        q.push("UPDATE tenant_keys SET wrapped = ")
                            .param(Param::Bytes(rewrapped))
                            .push(", kek_id = ")
                            .param(Param::Text(to))
                            .push(" WHERE tenant_id = ")
                            .param(Param::Uuid(tenant.0))
                            .push(" AND version = ")
                            .param(Param::I64(i64::from(version)))
                            .push(" AND kek_id = ")
                            .param(Param::Text(from));
                        tx.execute(q).await
                    })
                })
                .await?;
            done.rewrapped += 1;
        }
        done.secrets = self.rewrap_instance_secrets(&ring).await?;
        Ok(done)
    }

    /// Re-wraps the instance secrets not wrapped by the current KEK (part of `rotate_kek`).
    async fn rewrap_instance_secrets(&self, ring: &KekRing) -> Result<usize, StoreError> {
        let current = ring.current().clone();
        let names: Vec<(String, Option<String>)> = self
            .instance
            .read(|tx: &mut Tx| {
                Box::pin(async move {
                    let mut q = tx.sql();
                    q.push("SELECT name, kek_id FROM instance_secrets ORDER BY name");
                    tx.fetch_all(q)
                        .await?
                        .iter()
                        .map(|r| Ok((r.text(0)?, r.opt_text(1)?)))
                        .collect()
                })
            })
            .await?;
        let mut done = 0;
        for (name, kek_id) in names {
            if kek_id.as_deref() == Some(current.id.0.as_str()) {
                continue;
            }
            let Some(name) = INSTANCE_SECRETS.iter().find(|n| **n == name) else {
                continue;
            };
            let secret = self.instance_secret(name).await?;
            self.store_wrapped_secret(&current, name, &secret, false)
                .await?;
            done += 1;
        }
        Ok(done)
    }

    /// Stores `secret` wrapped by `kek` in place of the row's value (when `only_if_clear`,
    /// only a row an earlier version left in the clear).
    async fn store_wrapped_secret(
        &self,
        kek: &Kek,
        name: &'static str,
        secret: &[u8],
        only_if_clear: bool,
    ) -> Result<(), StoreError> {
        let bytes: [u8; 32] = secret
            .try_into()
            .map_err(|_| StoreError::Keys(format!("the instance secret {name} is not 32 bytes")))?;
        let wrapped = kek.wrap_secret(&Key::from_bytes(bytes), name);
        let kek_id = kek.id.0.clone();
        self.instance
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    let mut q = tx.sql();
                    q.push("UPDATE instance_secrets SET value = ")
                        .param(Param::Bytes(wrapped))
                        .push(", kek_id = ")
                        .param(Param::Text(kek_id))
                        .push(" WHERE name = ")
                        .param(Param::Text(name.to_owned()));
                    if only_if_clear {
                        q.push(" AND kek_id IS NULL");
                    }
                    tx.execute(q).await
                })
            })
            .await?;
        Ok(())
    }

    /// Adds a new data key version for `tenant`, wrapped by the current KEK, and retires the
    /// versions before it; adds a new audit key for the entries to come. Returns the new
    /// data key version.
    pub async fn rotate_dek(&self, tenant: TenantId) -> Result<u32, StoreError> {
        // Make sure the tenant has keys at all (and that they open) first.
        self.reload(tenant).await?;
        let kek = self.ring()?.current().clone();
        let version = self
            .instance
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    ensure_keys(tx, tenant, &kek).await?;
                    let next = max_version(tx, tenant, &DATA_STATES).await? + 1;
                    let next_audit = max_version(tx, tenant, &[KeyState::Audit]).await? + 1;
                    if next >= AUDIT_VERSIONS || next_audit == 0 {
                        return Err(StoreError::internal("key version out of range"));
                    }
                    let mut q = tx.sql();
                    q.push("UPDATE tenant_keys SET state = 'retired', retired_at = ")
                        .param(Param::Timestamp(crate::now()))
                        .push(" WHERE state = 'active' AND tenant_id = ")
                        .param(Param::Uuid(tenant.0));
                    tx.execute(q).await?;
                    insert(tx, tenant, next, KeyState::Active, &kek).await?;
                    insert(tx, tenant, next_audit, KeyState::Audit, &kek).await?;
                    Ok(next)
                })
            })
            .await?;
        self.reload(tenant).await?;
        Ok(version)
    }

    /// Keeps `key` (a blind index key derived from a data key) as a key of its own, wrapped
    /// by the current KEK, so the data key it came from can be destroyed. Returns its version,
    /// and whether it was stored now (an equal key already kept is reused: re-running after a
    /// crash adds nothing).
    pub async fn keep_blind_index_key(
        &self,
        tenant: TenantId,
        key: &Key,
    ) -> Result<(u32, bool), StoreError> {
        let existing = |keys: &TenantKeys| {
            keys.versions()
                .into_iter()
                .filter(|v| (BLIND_INDEX_VERSIONS..AUDIT_VERSIONS).contains(v))
                .find(|v| keys.key(*v).is_some_and(|k| k.expose() == key.expose()))
        };
        if let Some(v) = existing(&*self.reload(tenant).await?) {
            return Ok((v, false));
        }
        let kek = self.ring()?.current().clone();
        let key = key.clone();
        let version = self
            .instance
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    let next = max_version(tx, tenant, &[KeyState::BlindIndex])
                        .await?
                        .max(BLIND_INDEX_VERSIONS)
                        + 1;
                    if next >= AUDIT_VERSIONS {
                        return Err(StoreError::internal("key version out of range"));
                    }
                    insert_key(tx, tenant, next, KeyState::BlindIndex, &kek, &key).await?;
                    Ok(next)
                })
            })
            .await?;
        self.reload(tenant).await?;
        Ok((version, true))
    }

    /// Deletes every data key of a tenant whose data is already gone (crypto-shredding).
    pub async fn destroy(&self, tenant: TenantId) -> Result<u64, StoreError> {
        let n = self
            .instance
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    let mut q = tx.sql();
                    q.push("DELETE FROM tenant_keys WHERE tenant_id = ")
                        .param(Param::Uuid(tenant.0));
                    tx.execute(q).await
                })
            })
            .await?;
        if let Ok(mut t) = self.tenants.lock() {
            t.remove(&tenant);
        }
        Ok(n)
    }
}
