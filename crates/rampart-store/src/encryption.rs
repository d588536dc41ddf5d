//! Fields marked `encrypted`: each value is sealed with the tenant's data key, bound to its
//! field and record (a value copied to another record or field does not open). A field with
//! a blind index also stores a keyed HMAC of the value (with a key derived for that field
//! alone, from the data key version fixed when the field was made), so equality filters,
//! uniqueness and equality rules work without the database ever seeing a value.

use rampart_core::{FieldDef, FieldId, RecordId, Value};
use rampart_crypto::keyring::{Key, TenantKeys};
use rampart_sql::Param;

use crate::error::StoreError;

fn keys_error(e: rampart_crypto::keyring::KeyError) -> StoreError {
    StoreError::Keys(e.to_string())
}

fn context(field: FieldId, record: RecordId) -> Vec<u8> {
    format!("field/{field}/{record}").into_bytes()
}

/// The canonical bytes of a value: what is sealed and what the blind index tags.
pub fn canonical(field: &FieldDef, value: &Value) -> Vec<u8> {
    field.canonical(value)
}

fn index_key(keys: &TenantKeys, version: u32, field: FieldId) -> Result<Key, StoreError> {
    keys.key(version)
        .map(|k| k.derive(format!("rampart/blind-index/v1/{field}").as_bytes()))
        .ok_or_else(|| {
            StoreError::Keys(format!(
                "the data key version {version} of a blind index is missing"
            ))
        })
}

/// The blind index tag of canonical bytes.
pub fn tag(
    keys: &TenantKeys,
    version: u32,
    field: FieldId,
    canonical: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let key = index_key(keys, version, field)?;
    Ok(rampart_crypto::hmac_sha256(key.expose(), canonical).to_vec())
}

/// The parameters an encrypted field's value is stored as: the sealed value, and its tag
/// when the field has a blind index.
pub fn params(
    keys: &TenantKeys,
    field: &FieldDef,
    record: RecordId,
    value: &Value,
) -> Result<(Param, Option<Param>), StoreError> {
    if value.is_null() {
        let null = Param::Null(rampart_sql::ParamType::Bytes);
        return Ok((null.clone(), field.blind_index.map(|_| null)));
    }
    let plain = canonical(field, value);
    let sealed = keys
        .seal(&context(field.id, record), &plain)
        .map_err(keys_error)?;
    let tag = match field.blind_index {
        Some(version) => Some(Param::Bytes(tag(keys, version, field.id, &plain)?)),
        None => None,
    };
    Ok((Param::Bytes(sealed), tag))
}

/// Opens a stored value.
pub fn open(
    keys: &TenantKeys,
    field: &FieldDef,
    record: RecordId,
    sealed: &[u8],
) -> Result<Value, StoreError> {
    let plain = keys
        .open(&context(field.id, record), sealed)
        .map_err(keys_error)?;
    let json: serde_json::Value = serde_json::from_slice(&plain)
        .map_err(|e| StoreError::internal(format!("an encrypted value is not JSON: {e}")))?;
    Value::from_json(&field.field_type, &json, &field.name)
        .map_err(|e| StoreError::internal(format!("an encrypted value: {}", e.message)))
}

/// Re-seals one stored value with the current data key (after a rotation).
pub fn reseal(
    keys: &TenantKeys,
    field: &FieldDef,
    record: RecordId,
    sealed: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let ctx = context(field.id, record);
    let plain = keys.open(&ctx, sealed).map_err(keys_error)?;
    keys.seal(&ctx, &plain).map_err(keys_error)
}

/// Re-seals, with the current data key, every encrypted value sealed with an older one (after
/// `rampart keys rotate-dek`). Blind indexes keep their key. One record per transaction, each
/// replaced only if unchanged since it was read: resumable and safe next to live writes.
pub async fn reseal_all(ts: &crate::TenantStore) -> Result<usize, StoreError> {
    use crate::db::Tx;
    let keys = ts.data_keys().await?;
    let Some(current) = keys.current_version() else {
        return Ok(0);
    };
    let tables = ts
        .read(|tx: &mut Tx| {
            Box::pin(async move {
                let mut q = tx.sql();
                q.push("SELECT DISTINCT table_id FROM data_fields WHERE encrypted = ")
                    .param(Param::Bool(true));
                let ids: Vec<rampart_core::TableId> = tx
                    .fetch_all(q)
                    .await?
                    .iter()
                    .map(|r| r.uuid(0).map(rampart_core::TableId))
                    .collect::<Result<_, _>>()?;
                let mut tables = Vec::new();
                for id in ids {
                    tables.extend(crate::schema::load_table(tx, id).await?);
                }
                Ok(tables)
            })
        })
        .await?;
    let mut done = 0;
    for table in tables {
        for field in table.fields.iter().filter(|f| f.encrypted).cloned() {
            let (t, c) = (
                crate::schema::ident(&table.storage)?,
                crate::schema::ident(&field.column)?,
            );
            let rows = {
                let (t, c) = (t.clone(), c.clone());
                ts.read(move |tx: &mut Tx| {
                    Box::pin(async move {
                        let mut q = tx.sql();
                        q.push("SELECT id, ")
                            .ident(&c)
                            .push(" FROM ")
                            .ident(&t)
                            .push(" WHERE ")
                            .ident(&c)
                            .push(" IS NOT NULL");
                        tx.fetch_all(q)
                            .await?
                            .iter()
                            .map(|r| Ok((RecordId(r.uuid(0)?), r.bytes(1)?)))
                            .collect::<Result<Vec<_>, StoreError>>()
                    })
                })
                .await?
            };
            for (record, sealed) in rows {
                if rampart_crypto::keyring::sealed_version(&sealed) == Some(current) {
                    continue;
                }
                let new = reseal(&keys, &field, record, &sealed)?;
                let (t, c) = (t.clone(), c.clone());
                let replaced = ts
                    .write_unaudited(move |tx: &mut Tx| {
                        Box::pin(async move {
                            let mut q = tx.sql();
                            q.push("UPDATE ")
                                .ident(&t)
                                .push(" SET ")
                                .ident(&c)
                                .push(" = ")
                                .param(Param::Bytes(new))
                                .push(" WHERE id = ")
                                .param(Param::Uuid(record.0))
                                .push(" AND ")
                                .ident(&c)
                                .push(" = ")
                                .param(Param::Bytes(sealed));
                            tx.execute(q).await
                        })
                    })
                    .await?;
                done += usize::try_from(replaced).unwrap_or(0);
            }
        }
    }
    Ok(done)
}
