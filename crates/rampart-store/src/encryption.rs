//! Fields marked `encrypted`: each value is sealed with the tenant's data key, bound to its
//! field and record (a value copied to another record or field does not open). A field with
//! a blind index also stores a keyed HMAC of the value (with a key derived for that field
//! alone, from the data key version fixed when the field was made), so equality filters,
//! uniqueness and equality rules work without the database ever seeing a value.

use rampart_core::{FieldDef, FieldId, RecordId, Value};
use rampart_crypto::keyring::{
    AUDIT_VERSIONS, BLIND_INDEX_VERSIONS, Key, TenantKeys, is_data_version,
};
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

/// A field's blind index key: derived for the field from the data key `version`, or, once
/// kept apart from that data key ([`BLIND_INDEX_VERSIONS`] on), the stored derived key itself.
fn index_key(keys: &TenantKeys, version: u32, field: FieldId) -> Result<Key, StoreError> {
    keys.key(version)
        .map(|k| {
            if is_data_version(version) {
                derive_index_key(k, field)
            } else {
                k.clone()
            }
        })
        .ok_or_else(|| {
            StoreError::Keys(format!(
                "the data key version {version} of a blind index is missing"
            ))
        })
}

fn derive_index_key(data_key: &Key, field: FieldId) -> Key {
    data_key.derive(format!("rampart/blind-index/v1/{field}").as_bytes())
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

/// Blind index fields whose key still derives from a retired data key: `(table, field, version)`.
async fn blind_indexes_on_retired_keys(
    ts: &crate::TenantStore,
    keys: &TenantKeys,
) -> Result<Vec<(rampart_core::TableId, FieldId, u32)>, StoreError> {
    use crate::db::Tx;
    let current = keys.current_version();
    let fields = ts
        .read(|tx: &mut Tx| {
            Box::pin(async move {
                let mut q = tx.sql();
                q.push(
                    "SELECT table_id, id, blind_index_key FROM data_fields \
                     WHERE blind_index_key IS NOT NULL ORDER BY id",
                );
                tx.fetch_all(q)
                    .await?
                    .iter()
                    .map(|r| {
                        Ok((
                            rampart_core::TableId(r.uuid(0)?),
                            FieldId(r.uuid(1)?),
                            u32::try_from(r.i64(2)?)
                                .map_err(|_| StoreError::internal("blind index key version"))?,
                        ))
                    })
                    .collect::<Result<Vec<_>, StoreError>>()
            })
        })
        .await?;
    Ok(fields
        .into_iter()
        .filter(|(_, _, v)| is_data_version(*v) && Some(*v) != current)
        .collect())
}

/// First half of moving blind indexes off retired data keys (after `rampart keys
/// rotate-dek`): keeps each such field's derived key as a key of its own. Tags do not change.
/// Returns how many keys were stored now; servers must hold them (one key refresh) before
/// [`use_kept_blind_index_keys`] points the fields at them.
pub async fn keep_blind_index_keys(
    ts: &crate::TenantStore,
    key_cache: &crate::keys::KeyCache,
) -> Result<usize, StoreError> {
    let keys = ts.data_keys().await?;
    let mut stored = 0;
    for (_, field, version) in blind_indexes_on_retired_keys(ts, &keys).await? {
        let data_key = keys.key(version).ok_or_else(|| {
            StoreError::Keys(format!(
                "the data key version {version} of a blind index is missing"
            ))
        })?;
        let (_, new) = key_cache
            .keep_blind_index_key(ts.tenant_id(), &derive_index_key(data_key, field))
            .await?;
        stored += usize::from(new);
    }
    Ok(stored)
}

/// Second half: points every blind index still on a retired data key at its kept key (the
/// same key, so every stored tag still matches). Returns how many fields moved.
pub async fn use_kept_blind_index_keys(
    ts: &crate::TenantStore,
    key_cache: &crate::keys::KeyCache,
) -> Result<usize, StoreError> {
    use crate::db::Tx;
    let keys = key_cache.reload(ts.tenant_id()).await?;
    let mut moved = 0;
    for (table, field, version) in blind_indexes_on_retired_keys(ts, &keys).await? {
        let Some(data_key) = keys.key(version) else {
            continue;
        };
        let derived = derive_index_key(data_key, field);
        let Some(kept) = keys.versions().into_iter().find(|v| {
            (BLIND_INDEX_VERSIONS..AUDIT_VERSIONS).contains(v)
                && keys.key(*v).is_some_and(|k| k.expose() == derived.expose())
        }) else {
            continue;
        };
        let changed = ts
            .write(move |tx: &mut Tx| {
                Box::pin(async move {
                    let mut q = tx.sql();
                    q.push("UPDATE data_fields SET blind_index_key = ")
                        .param(Param::I64(i64::from(kept)))
                        .push(" WHERE id = ")
                        .param(Param::Uuid(field.0))
                        .push(" AND blind_index_key = ")
                        .param(Param::I64(i64::from(version)));
                    let n = tx.execute(q).await?;
                    if n > 0 {
                        crate::schema::bump_version(tx, table).await?;
                        crate::epoch::bump(tx).await?;
                        crate::audit::record(
                            tx,
                            crate::audit::Event::new(crate::audit::Action::KeysBlindIndexKeyKept)
                                .table(table.0)
                                .detail(serde_json::json!({
                                    "field": field.0,
                                    "from_version": version,
                                    "to_version": kept,
                                })),
                        )
                        .await?;
                    }
                    Ok(n)
                })
            })
            .await?;
        moved += usize::try_from(changed).unwrap_or(0);
    }
    Ok(moved)
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
