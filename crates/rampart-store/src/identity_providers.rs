//! The tenant's identity providers (OpenID Connect) for single sign-on. A provider's client
//! secret is sealed with the tenant's data key, bound to the provider's id (a sealed secret
//! copied onto another provider does not open), and opened only by the server's own sign-in
//! code ([`client_secret`]); what clients see of it is a keyed fingerprint.
//!
//! Values arrive validated by the caller (the HTTP layer); this module stores, audits and
//! re-seals them.

use chrono::{DateTime, Utc};
use rampart_core::UserId;
use rampart_crypto::keyring::TenantKeys;
use rampart_sql::Param;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::db::{DbRow, Tx};
use crate::error::StoreError;

/// An identity provider's id.
pub type ProviderId = Uuid;

/// What is stored about a provider, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub id: ProviderId,
    pub name: String,
    /// Always `oidc` for now.
    pub protocol: String,
    pub issuer: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    /// Keyed fingerprint of the client secret: equal secrets have equal fingerprints.
    pub secret_fingerprint: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Option<UserId>,
}

/// A new provider.
#[derive(Debug, Clone)]
pub struct NewProvider {
    pub name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Zeroizing<String>,
    pub scopes: Vec<String>,
}

/// Changes to a provider; `None` keeps what is stored.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub name: Option<String>,
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Zeroizing<String>>,
    pub scopes: Option<Vec<String>>,
}

impl Changes {
    /// The names of what changes, for the audit entry (never a value of the secret).
    fn names(&self) -> Vec<&'static str> {
        [
            ("name", self.name.is_some()),
            ("issuer", self.issuer.is_some()),
            ("client_id", self.client_id.is_some()),
            ("client_secret", self.client_secret.is_some()),
            ("scopes", self.scopes.is_some()),
        ]
        .into_iter()
        .filter_map(|(n, changed)| changed.then_some(n))
        .collect()
    }
}

/// What the client secret's seal is bound to.
fn context(id: ProviderId) -> Vec<u8> {
    format!("identity-provider/{id}/client-secret").into_bytes()
}

fn keys_error(e: rampart_crypto::keyring::KeyError) -> StoreError {
    StoreError::Keys(e.to_string())
}

fn taken(e: StoreError) -> StoreError {
    if crate::db::unique_violation(&e).is_some() {
        StoreError::NameTaken {
            what: "identity provider name",
        }
    } else {
        e
    }
}

const COLUMNS: &str = "SELECT id, name, protocol, issuer, client_id, scopes, secret_fingerprint, \
     created_at, updated_at, updated_by FROM identity_providers";

fn from_row(r: &DbRow) -> Result<Provider, StoreError> {
    Ok(Provider {
        id: r.uuid(0)?,
        name: r.text(1)?,
        protocol: r.text(2)?,
        issuer: r.text(3)?,
        client_id: r.text(4)?,
        scopes: r.text(5)?.split(' ').map(str::to_owned).collect(),
        secret_fingerprint: r.text(6)?,
        created_at: r.timestamp(7)?,
        updated_at: r.timestamp(8)?,
        updated_by: r.opt_uuid(9)?.map(UserId),
    })
}

/// Seals a client secret for provider `id`; returns it with its fingerprint.
fn seal(keys: &TenantKeys, id: ProviderId, secret: &str) -> Result<(Vec<u8>, String), StoreError> {
    let sealed = keys
        .seal(&context(id), secret.as_bytes())
        .map_err(keys_error)?;
    Ok((sealed, crate::secrets::fingerprint(keys, secret)?))
}

/// Stores a new provider.
pub async fn create(tx: &mut Tx, new: NewProvider, by: UserId) -> Result<Provider, StoreError> {
    let id = Uuid::now_v7();
    crate::audit::note(
        tx,
        crate::audit::Action::IdentityProviderCreate,
        None,
        Some(serde_json::json!({
            "provider": id, "name": new.name, "issuer": new.issuer, "client_id": new.client_id,
        })),
    )
    .await?;
    let keys = tx.keys()?;
    let (sealed, fingerprint) = seal(&keys, id, &new.client_secret)?;
    let now = crate::now();
    let provider = Provider {
        id,
        name: new.name,
        protocol: "oidc".to_owned(),
        issuer: new.issuer,
        client_id: new.client_id,
        scopes: new.scopes,
        secret_fingerprint: fingerprint,
        created_at: now,
        updated_at: now,
        updated_by: Some(by),
    };
    let mut q = tx.sql();
    q.push(
        "INSERT INTO identity_providers (id, name, name_key, protocol, issuer, client_id, \
         client_secret, secret_fingerprint, scopes, created_at, updated_at, updated_by) VALUES (",
    )
    .param_list([
        Param::Uuid(id),
        Param::Text(provider.name.clone()),
        Param::Text(provider.name.to_lowercase()),
        Param::Text(provider.protocol.clone()),
        Param::Text(provider.issuer.clone()),
        Param::Text(provider.client_id.clone()),
        Param::Bytes(sealed),
        Param::Text(provider.secret_fingerprint.clone()),
        Param::Text(provider.scopes.join(" ")),
        Param::Timestamp(now),
        Param::Timestamp(now),
        Param::Uuid(by.0),
    ])
    .push(")");
    tx.execute(q).await.map_err(taken)?;
    Ok(provider)
}

/// Every provider, by name.
pub async fn list(tx: &mut Tx) -> Result<Vec<Provider>, StoreError> {
    let mut q = tx.sql();
    q.push(COLUMNS).push(" ORDER BY name_key");
    tx.fetch_all(q).await?.iter().map(from_row).collect()
}

pub async fn get(tx: &mut Tx, id: ProviderId) -> Result<Option<Provider>, StoreError> {
    let mut q = tx.sql();
    q.push(COLUMNS).push(" WHERE id = ").param(Param::Uuid(id));
    tx.fetch_optional(q)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Applies `changes`; `NotFound` when there is no such provider.
pub async fn update(
    tx: &mut Tx,
    id: ProviderId,
    changes: Changes,
    by: UserId,
) -> Result<Provider, StoreError> {
    if get(tx, id).await?.is_none() {
        return Err(StoreError::NotFound);
    }
    crate::audit::note(
        tx,
        crate::audit::Action::IdentityProviderUpdate,
        None,
        Some(serde_json::json!({
            "provider": id, "changed": changes.names(), "name": changes.name,
            "issuer": changes.issuer, "client_id": changes.client_id,
        })),
    )
    .await?;
    let mut q = tx.sql();
    q.push("UPDATE identity_providers SET updated_at = ")
        .param(Param::Timestamp(crate::now()))
        .push(", updated_by = ")
        .param(Param::Uuid(by.0));
    if let Some(name) = &changes.name {
        q.push(", name = ")
            .param(Param::Text(name.clone()))
            .push(", name_key = ")
            .param(Param::Text(name.to_lowercase()));
    }
    if let Some(issuer) = &changes.issuer {
        q.push(", issuer = ").param(Param::Text(issuer.clone()));
    }
    if let Some(client_id) = &changes.client_id {
        q.push(", client_id = ")
            .param(Param::Text(client_id.clone()));
    }
    if let Some(secret) = &changes.client_secret {
        let keys = tx.keys()?;
        let (sealed, fingerprint) = seal(&keys, id, secret)?;
        q.push(", client_secret = ")
            .param(Param::Bytes(sealed))
            .push(", secret_fingerprint = ")
            .param(Param::Text(fingerprint));
    }
    if let Some(scopes) = &changes.scopes {
        q.push(", scopes = ").param(Param::Text(scopes.join(" ")));
    }
    q.push(" WHERE id = ").param(Param::Uuid(id));
    tx.execute(q).await.map_err(taken)?;
    get(tx, id).await?.ok_or(StoreError::NotFound)
}

/// Deletes a provider; `NotFound` when there is none.
pub async fn delete(tx: &mut Tx, id: ProviderId) -> Result<(), StoreError> {
    crate::audit::note(
        tx,
        crate::audit::Action::IdentityProviderDelete,
        None,
        Some(serde_json::json!({"provider": id})),
    )
    .await?;
    let mut q = tx.sql();
    q.push("DELETE FROM identity_providers WHERE id = ")
        .param(Param::Uuid(id));
    match tx.execute(q).await? {
        0 => Err(StoreError::NotFound),
        _ => Ok(()),
    }
}

/// Opens a provider's client secret for the server's own sign-in code (the token request to
/// the provider). Never hand the result to a client.
pub async fn client_secret(
    tx: &mut Tx,
    id: ProviderId,
) -> Result<Option<Zeroizing<String>>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT client_secret FROM identity_providers WHERE id = ")
        .param(Param::Uuid(id));
    let Some(row) = tx.fetch_optional(q).await? else {
        return Ok(None);
    };
    let plain = tx
        .keys()?
        .open(&context(id), &row.bytes(0)?)
        .map_err(keys_error)?;
    String::from_utf8(plain.to_vec())
        .map(|s| Some(Zeroizing::new(s)))
        .map_err(|_| StoreError::internal("a stored client secret is not text"))
}

/// Re-seals one secret with the current key, if it is still what was read.
async fn replace_sealed(
    tx: &mut Tx,
    keys: &TenantKeys,
    id: ProviderId,
    old: Vec<u8>,
) -> Result<bool, StoreError> {
    let plain = keys.open(&context(id), &old).map_err(keys_error)?;
    let new = keys.seal(&context(id), &plain).map_err(keys_error)?;
    let mut q = tx.sql();
    q.push("UPDATE identity_providers SET client_secret = ")
        .param(Param::Bytes(new))
        .push(" WHERE id = ")
        .param(Param::Uuid(id))
        .push(" AND client_secret = ")
        .param(Param::Bytes(old));
    Ok(tx.execute(q).await? == 1)
}

/// Re-seals every client secret not sealed with the tenant's current data key (after a
/// rotation). Idempotent and resumable; returns how many were rewritten.
pub async fn reseal_all(ts: &crate::TenantStore) -> Result<usize, StoreError> {
    let keys = ts.data_keys().await?;
    let Some(current) = keys.current_version() else {
        return Ok(0);
    };
    let all: Vec<(ProviderId, Vec<u8>)> = ts
        .read(|tx: &mut Tx| {
            Box::pin(async move {
                let mut q = tx.sql();
                q.push("SELECT id, client_secret FROM identity_providers");
                tx.fetch_all(q)
                    .await?
                    .iter()
                    .map(|r| Ok((r.uuid(0)?, r.bytes(1)?)))
                    .collect()
            })
        })
        .await?;
    crate::keys::reseal::stale(ts, current, all, |id, sealed| {
        let keys = std::sync::Arc::clone(&keys);
        move |tx: &mut Tx| {
            Box::pin(async move { replace_sealed(tx, &keys, id, sealed).await })
                as crate::TxFuture<'_, bool>
        }
    })
    .await
}
