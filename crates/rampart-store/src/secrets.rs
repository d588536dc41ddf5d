//! A project's secrets and config values, per environment, sealed with the tenant's data key
//! and bound to their place (project, environment, name). Secrets are opened only by the
//! server's own features ([`reveal`]); what clients see of them is a keyed fingerprint that
//! tells two values apart without revealing either.

use rampart_core::{ProjectId, UserId};
use rampart_crypto::keyring::TenantKeys;
use rampart_sql::Param;
use zeroize::Zeroizing;

use crate::db::Tx;
use crate::error::StoreError;

/// Secret (never shown) or config value (shown to project admins).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Secret,
    Config,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::Config => "config",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "secret" => Ok(Self::Secret),
            "config" => Ok(Self::Config),
            other => Err(StoreError::internal(format!(
                "stored secret kind {other:?}"
            ))),
        }
    }
}

/// What is stored about one value.
#[derive(Debug, Clone)]
pub struct Stored {
    pub environment: String,
    pub name: String,
    pub kind: Kind,
    pub fingerprint: String,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub updated_by: Option<UserId>,
    sealed: Vec<u8>,
}

fn context(project: ProjectId, environment: &str, name: &str) -> Vec<u8> {
    format!("project-secret/{project}/{environment}/{name}").into_bytes()
}

fn keys_error(e: rampart_crypto::keyring::KeyError) -> StoreError {
    StoreError::Keys(e.to_string())
}

/// HMAC of the value under a key derived for this purpose from the current data key: equal
/// values of one tenant have equal fingerprints; nothing can be learned from it offline.
pub(crate) fn fingerprint(keys: &TenantKeys, value: &str) -> Result<String, StoreError> {
    let version = keys
        .current_version()
        .ok_or_else(|| StoreError::Keys("the tenant has no current data key".into()))?;
    let key = keys
        .key(version)
        .ok_or_else(|| StoreError::Keys("the current data key is missing".into()))?
        .derive(b"rampart/secret-fingerprint/v1");
    let tag = rampart_crypto::hmac_sha256(key.expose(), value.as_bytes());
    Ok(hex::encode(&tag[..8]))
}

/// Stores (or replaces) a value. Returns what was stored, without the value.
#[allow(clippy::too_many_arguments)]
pub async fn set(
    tx: &mut Tx,
    keys: &TenantKeys,
    project: ProjectId,
    environment: &str,
    name: &str,
    kind: Kind,
    value: &str,
    by: UserId,
) -> Result<Stored, StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::SecretSet,
        None,
        Some(serde_json::json!({"project": project, "environment": environment, "name": name, "kind": kind.as_str()})),
    )
    .await?;
    let sealed = keys
        .seal(&context(project, environment, name), value.as_bytes())
        .map_err(keys_error)?;
    let stored = Stored {
        environment: environment.to_owned(),
        name: name.to_owned(),
        kind,
        fingerprint: fingerprint(keys, value)?,
        updated_at: crate::now(),
        updated_by: Some(by),
        sealed,
    };
    let mut q = tx.sql();
    q.push(
        "INSERT INTO project_secrets (project_id, environment, name, kind, sealed, fingerprint, \
         updated_at, updated_by) VALUES (",
    )
    .param_list([
        Param::Uuid(project.0),
        Param::Text(stored.environment.clone()),
        Param::Text(stored.name.clone()),
        Param::Text(kind.as_str().to_owned()),
        Param::Bytes(stored.sealed.clone()),
        Param::Text(stored.fingerprint.clone()),
        Param::Timestamp(stored.updated_at),
        Param::Uuid(by.0),
    ])
    .push(
        ") ON CONFLICT (project_id, environment, name) DO UPDATE SET kind = excluded.kind, \
         sealed = excluded.sealed, fingerprint = excluded.fingerprint, \
         updated_at = excluded.updated_at, updated_by = excluded.updated_by",
    );
    tx.execute(q).await?;
    Ok(stored)
}

const COLUMNS: &str = "SELECT environment, name, kind, fingerprint, updated_at, updated_by, sealed \
     FROM project_secrets";

fn from_row(r: &crate::DbRow) -> Result<Stored, StoreError> {
    Ok(Stored {
        environment: r.text(0)?,
        name: r.text(1)?,
        kind: Kind::parse(&r.text(2)?)?,
        fingerprint: r.text(3)?,
        updated_at: r.timestamp(4)?,
        updated_by: r.opt_uuid(5)?.map(UserId),
        sealed: r.bytes(6)?,
    })
}

/// Every value of a project, without the values.
pub async fn list(tx: &mut Tx, project: ProjectId) -> Result<Vec<Stored>, StoreError> {
    let mut q = tx.sql();
    q.push(COLUMNS)
        .push(" WHERE project_id = ")
        .param(Param::Uuid(project.0))
        .push(" ORDER BY environment, name");
    tx.fetch_all(q).await?.iter().map(from_row).collect()
}

async fn one(
    tx: &mut Tx,
    project: ProjectId,
    environment: &str,
    name: &str,
) -> Result<Option<Stored>, StoreError> {
    let mut q = tx.sql();
    q.push(COLUMNS)
        .push(" WHERE project_id = ")
        .param(Param::Uuid(project.0))
        .push(" AND environment = ")
        .param(Param::Text(environment.to_owned()))
        .push(" AND name = ")
        .param(Param::Text(name.to_owned()));
    tx.fetch_optional(q)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Opens a stored value for the server's own use. Never hand a secret's result to a client.
pub async fn reveal(
    tx: &mut Tx,
    keys: &TenantKeys,
    project: ProjectId,
    environment: &str,
    name: &str,
) -> Result<Option<Zeroizing<String>>, StoreError> {
    let Some(stored) = one(tx, project, environment, name).await? else {
        return Ok(None);
    };
    let plain = keys
        .open(&context(project, environment, name), &stored.sealed)
        .map_err(keys_error)?;
    String::from_utf8(plain.to_vec())
        .map(|s| Some(Zeroizing::new(s)))
        .map_err(|_| StoreError::internal("a stored secret is not text"))
}

/// Opens a config value (never a secret) for showing to project admins.
pub async fn config_value(
    keys: &TenantKeys,
    project: ProjectId,
    stored: &Stored,
) -> Result<Option<String>, StoreError> {
    if stored.kind != Kind::Config {
        return Ok(None);
    }
    let plain = keys
        .open(
            &context(project, &stored.environment, &stored.name),
            &stored.sealed,
        )
        .map_err(keys_error)?;
    String::from_utf8(plain.to_vec())
        .map(Some)
        .map_err(|_| StoreError::internal("a stored config value is not text"))
}

/// Deletes a value; `NotFound` when there is none.
pub async fn delete(
    tx: &mut Tx,
    project: ProjectId,
    environment: &str,
    name: &str,
) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::SecretDelete,
        None,
        Some(serde_json::json!({"project": project, "environment": environment, "name": name})),
    )
    .await?;
    let mut q = tx.sql();
    q.push("DELETE FROM project_secrets WHERE project_id = ")
        .param(Param::Uuid(project.0))
        .push(" AND environment = ")
        .param(Param::Text(environment.to_owned()))
        .push(" AND name = ")
        .param(Param::Text(name.to_owned()));
    match tx.execute(q).await? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

/// Every (project, environment, name, sealed) of the tenant, for re-sealing after a rotation.
pub async fn all_sealed(
    tx: &mut Tx,
) -> Result<Vec<(ProjectId, String, String, Vec<u8>)>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT project_id, environment, name, sealed FROM project_secrets");
    tx.fetch_all(q)
        .await?
        .iter()
        .map(|r| Ok((ProjectId(r.uuid(0)?), r.text(1)?, r.text(2)?, r.bytes(3)?)))
        .collect()
}

/// Re-seals one value with the current key, if it is still what was read.
pub async fn replace_sealed(
    tx: &mut Tx,
    keys: &TenantKeys,
    project: ProjectId,
    environment: &str,
    name: &str,
    old: Vec<u8>,
) -> Result<bool, StoreError> {
    let ctx = context(project, environment, name);
    let plain = keys.open(&ctx, &old).map_err(keys_error)?;
    let new = keys.seal(&ctx, &plain).map_err(keys_error)?;
    let mut q = tx.sql();
    q.push("UPDATE project_secrets SET sealed = ")
        .param(Param::Bytes(new))
        .push(" WHERE project_id = ")
        .param(Param::Uuid(project.0))
        .push(" AND environment = ")
        .param(Param::Text(environment.to_owned()))
        .push(" AND name = ")
        .param(Param::Text(name.to_owned()))
        .push(" AND sealed = ")
        .param(Param::Bytes(old));
    Ok(tx.execute(q).await? == 1)
}

/// Re-seals every value not sealed with the tenant's current data key (after a rotation).
/// Idempotent and resumable; returns how many were rewritten.
pub async fn reseal_all(ts: &crate::TenantStore) -> Result<usize, StoreError> {
    let keys = ts.data_keys().await?;
    let Some(current) = keys.current_version() else {
        return Ok(0);
    };
    let all = ts
        .read(|tx: &mut Tx| Box::pin(all_sealed(tx)))
        .await?
        .into_iter()
        .map(|(project, environment, name, sealed)| ((project, environment, name), sealed))
        .collect();
    crate::keys::reseal::stale(ts, current, all, |(project, environment, name), sealed| {
        let keys = std::sync::Arc::clone(&keys);
        move |tx: &mut Tx| {
            Box::pin(async move {
                replace_sealed(tx, &keys, project, &environment, &name, sealed).await
            }) as crate::TxFuture<'_, bool>
        }
    })
    .await
}
