//! One key per data subject for the personal values in audit entries. The key is random,
//! stored sealed with the tenant's current audit key (moved onto the newest one by
//! [`reseal_all`] after a rotation); erasing a person deletes it, which makes their values in
//! the chain unreadable while every hash still verifies.

use rampart_crypto::keyring::{Key, TenantKeys, seal_with};
use rampart_sql::Param;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::db::Tx;
use crate::error::StoreError;

fn key_context(subject: Uuid) -> Vec<u8> {
    format!("audit-subject-key/{subject}").into_bytes()
}

fn keys_error(e: rampart_crypto::keyring::KeyError) -> StoreError {
    StoreError::Keys(e.to_string())
}

/// The subject's key, if it exists (it does not after erasure).
async fn existing(
    tx: &mut Tx,
    keys: &TenantKeys,
    subject: Uuid,
) -> Result<Option<Key>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT sealed_key FROM audit_subject_keys WHERE subject = ")
        .param(Param::Uuid(subject));
    let Some(row) = tx.fetch_optional(q).await? else {
        return Ok(None);
    };
    let plain = keys
        .open(&key_context(subject), &row.bytes(0)?)
        .map_err(keys_error)?;
    let bytes: [u8; 32] = plain
        .as_slice()
        .try_into()
        .map_err(|_| StoreError::internal("a subject key is not 32 bytes"))?;
    Ok(Some(Key::from_bytes(bytes)))
}

/// Seals `plain` with the subject's key, creating the key on first use.
pub(crate) async fn seal(
    tx: &mut Tx,
    keys: &TenantKeys,
    subject: Uuid,
    context: &[u8],
    plain: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let key = match existing(tx, keys, subject).await? {
        Some(k) => k,
        None => {
            let key = Key::generate();
            let sealed = keys
                .seal_audit(&key_context(subject), key.expose())
                .map_err(keys_error)?;
            let mut q = tx.sql();
            q.push("INSERT INTO audit_subject_keys (subject, sealed_key, created_at) VALUES (")
                .param_list([
                    Param::Uuid(subject),
                    Param::Bytes(sealed),
                    Param::Timestamp(crate::now()),
                ])
                .push(")");
            tx.execute(q).await?;
            key
        }
    };
    // Subject keys have no versions: version 0 marks them.
    Ok(seal_with(&key, 0, context, plain))
}

/// Opens a value sealed for `subject`; `None` once the subject was erased.
pub(crate) async fn open(
    tx: &mut Tx,
    keys: &TenantKeys,
    subject: Uuid,
    context: &[u8],
    sealed: &[u8],
) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
    let Some(key) = existing(tx, keys, subject).await? else {
        return Ok(None);
    };
    let mut one = TenantKeys::new();
    one.insert(0, key, true);
    one.open(context, sealed).map(Some).map_err(keys_error)
}

/// Destroys a subject's key: every personal value of theirs in the chain becomes unreadable;
/// the entries and their hashes stay. Returns whether a key existed.
pub async fn erase(tx: &mut Tx, subject: Uuid) -> Result<bool, StoreError> {
    let mut q = tx.sql();
    q.push("DELETE FROM audit_subject_keys WHERE subject = ")
        .param(Param::Uuid(subject));
    Ok(tx.execute(q).await? > 0)
}

/// Re-seals every subject key not sealed with the tenant's current audit key (after a key
/// rotation; also moves keys sealed with a data key before audit keys existed). One key per
/// transaction, each replaced only if unchanged since it was read: resumable, and safe next
/// to erasure. Returns how many were re-sealed.
pub async fn reseal_all(ts: &crate::TenantStore) -> Result<usize, StoreError> {
    let keys = ts.data_keys().await?;
    let Some(current) = keys.current_audit_version() else {
        return Ok(0);
    };
    let all = ts
        .read(|tx: &mut Tx| {
            Box::pin(async move {
                let mut q = tx.sql();
                q.push("SELECT subject, sealed_key FROM audit_subject_keys ORDER BY subject");
                tx.fetch_all(q)
                    .await?
                    .iter()
                    .map(|r| Ok((r.uuid(0)?, r.bytes(1)?)))
                    .collect::<Result<Vec<_>, StoreError>>()
            })
        })
        .await?;
    crate::keys::reseal::stale(ts, current, all, |subject, sealed| {
        let keys = std::sync::Arc::clone(&keys);
        move |tx: &mut Tx| {
            Box::pin(async move {
                let context = key_context(subject);
                let plain = keys.open(&context, &sealed).map_err(keys_error)?;
                let resealed = keys.seal_audit(&context, &plain).map_err(keys_error)?;
                let mut q = tx.sql();
                q.push("UPDATE audit_subject_keys SET sealed_key = ")
                    .param(Param::Bytes(resealed))
                    .push(" WHERE subject = ")
                    .param(Param::Uuid(subject))
                    .push(" AND sealed_key = ")
                    .param(Param::Bytes(sealed));
                Ok(tx.execute(q).await? == 1)
            }) as crate::TxFuture<'_, bool>
        }
    })
    .await
}
