//! Records: create, read, update with optimistic concurrency, delete with the link policy,
//! and keyset-paginated lists. Callers validate bodies with `rampart_core::record::parse_input`
//! and obtain permission from `rampart-auth::authz` in the same transaction.

mod bulk;
mod list;

pub use bulk::*;
pub use list::*;

use std::collections::{BTreeMap, BTreeSet};

use rampart_core::field::{FieldType, OnDelete, SystemField};
use rampart_core::{
    FieldDef, FieldError, FieldId, Invalid, Record, RecordId, TableDef, UserId, Value,
};
use rampart_rules::params::to_param;
use rampart_rules::sort::{SortKey, SortTarget};
use rampart_sql::{Ident, Param, Sql};

use crate::db::{DbRow, Tx};
use crate::error::StoreError;
use crate::schema::{MAX_LISTED, ident, incoming_links, load_table};
use crate::storage_types::from_row;

/// The alias of the record table in every query; filters compile against it.
pub fn alias() -> Ident {
    // "t" is a valid identifier; this cannot fail.
    Ident::new("t").unwrap_or_else(|_| unreachable!())
}

/// Appends the expression that reads system field `f` of the record aliased `t`.
pub fn push_system_column(sql: &mut Sql, f: SystemField) {
    sql.push(match f {
        SystemField::Id => "t.id",
        SystemField::CreatedAt => "t.created_at",
        SystemField::UpdatedAt => "t.updated_at",
        SystemField::CreatedBy => "t.created_by",
        SystemField::Owner => "t.owner",
        SystemField::Version => "t.version",
    });
}

/// Appends the SELECT list and FROM of a record query.
pub(crate) fn push_select(sql: &mut Sql, table: &TableDef) -> Result<(), StoreError> {
    push_select_with(sql, table, &[])
}

/// The SELECT list and FROM of a record query, with one boolean column per `flags`
/// predicate after the fields (the caller's grants, for per-record field visibility).
pub(crate) fn push_select_with(
    sql: &mut Sql,
    table: &TableDef,
    flags: &[Sql],
) -> Result<(), StoreError> {
    sql.push("SELECT t.id, t.created_at, t.updated_at, t.created_by, t.owner, t.version");
    for f in &table.fields {
        sql.push(", ");
        match &f.field_type {
            FieldType::Link(_) => push_link_array(sql, f)?,
            _ => {
                sql.column(&alias(), &ident(&f.column)?);
            }
        }
    }
    for flag in flags {
        sql.push(", COALESCE((")
            .append(flag.clone())
            .push("), FALSE)");
    }
    sql.push(" FROM ").ident(&ident(&table.storage)?).push(" t");
    Ok(())
}

/// A JSON array of the linked ids of the record aliased `t`, in link order.
pub(crate) fn push_link_array(sql: &mut Sql, field: &FieldDef) -> Result<(), StoreError> {
    crate::db::dialect::push_linked_ids(sql, &ident(&field.column)?);
    Ok(())
}

/// The flag columns after a record's fields (see [`push_select_with`]).
pub(crate) fn flags_from_row(
    table: &TableDef,
    row: &DbRow,
    count: usize,
) -> Result<Vec<bool>, StoreError> {
    (0..count)
        .map(|i| row.bool(6 + table.fields.len() + i))
        .collect()
}

pub(crate) fn record_from_row(
    table: &TableDef,
    row: &DbRow,
    keys: Option<&rampart_crypto::keyring::TenantKeys>,
) -> Result<Record, StoreError> {
    let id = RecordId(row.uuid(0)?);
    let mut values = BTreeMap::new();
    for (i, f) in table.fields.iter().enumerate() {
        let v = if f.encrypted {
            match row.opt_bytes(6 + i)? {
                None => Value::Null,
                Some(sealed) => {
                    let keys = keys.ok_or_else(|| {
                        StoreError::internal("an encrypted field read without keys")
                    })?;
                    crate::encryption::open(keys, f, id, &sealed)?
                }
            }
        } else {
            from_row(&f.field_type, row, 6 + i)?
        };
        if !v.is_null() {
            values.insert(f.id, v);
        }
    }
    Ok(Record {
        id,
        created_at: row.timestamp(1)?,
        updated_at: row.timestamp(2)?,
        created_by: row.opt_uuid(3)?.map(UserId),
        owner: row.opt_uuid(4)?.map(UserId),
        version: row.i64(5)?,
        values,
    })
}

/// Reads one record; `visible` is the caller's record predicate (none yet: all records).
pub async fn get(
    tx: &mut Tx,
    table: &TableDef,
    id: RecordId,
) -> Result<Option<Record>, StoreError> {
    let mut q = tx.sql();
    push_select(&mut q, table)?;
    q.push(" WHERE t.id = ").param(Param::Uuid(id.0));
    let keys = tx.keys().ok();
    tx.fetch_optional(q)
        .await?
        .map(|r| record_from_row(table, &r, keys.as_deref()))
        .transpose()
}

/// Reads one record if `visible` admits it, with one flag per `flags` predicate.
pub async fn get_visible(
    tx: &mut Tx,
    table: &TableDef,
    id: RecordId,
    visible: Option<Sql>,
    flags: &[Sql],
) -> Result<Option<(Record, Vec<bool>)>, StoreError> {
    let mut q = tx.sql();
    push_select_with(&mut q, table, flags)?;
    q.push(" WHERE t.id = ").param(Param::Uuid(id.0));
    if let Some(v) = visible {
        q.push(" AND (").append(v).push(")");
    }
    let keys = tx.keys().ok();
    match tx.fetch_optional(q).await? {
        None => Ok(None),
        Some(row) => Ok(Some((
            record_from_row(table, &row, keys.as_deref())?,
            flags_from_row(table, &row, flags.len())?,
        ))),
    }
}

/// Evaluates predicates on one record: `None` if it does not exist, else one answer each.
pub async fn check_flags(
    tx: &mut Tx,
    table: &TableDef,
    id: RecordId,
    preds: Vec<Sql>,
) -> Result<Option<Vec<bool>>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT t.id");
    let n = preds.len();
    for p in preds {
        q.push(", COALESCE((").append(p).push("), FALSE)");
    }
    q.push(" FROM ")
        .ident(&ident(&table.storage)?)
        .push(" t WHERE t.id = ")
        .param(Param::Uuid(id.0));
    match tx.fetch_optional(q).await? {
        None => Ok(None),
        Some(row) => (1..=n)
            .map(|i| row.bool(i))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
    }
}

/// The records among `ids` that `pred` does not admit.
pub async fn not_admitted(
    tx: &mut Tx,
    table: &TableDef,
    ids: &[RecordId],
    pred: Sql,
) -> Result<Vec<RecordId>, StoreError> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        let mut q = tx.sql();
        q.push("SELECT t.id FROM ")
            .ident(&ident(&table.storage)?)
            .push(" t WHERE t.id IN (")
            .param_list(chunk.iter().map(|id| Param::Uuid(id.0)))
            .push(") AND NOT COALESCE((")
            .append(pred.clone())
            .push("), FALSE)");
        for row in tx.fetch_all(q).await? {
            out.push(RecordId(row.uuid(0)?));
        }
    }
    Ok(out)
}

/// A new owner must be a user of the tenant.
pub(crate) async fn check_owner(tx: &mut Tx, owner: UserId, path: &str) -> Result<(), StoreError> {
    if crate::identity::user_by_id(tx, owner).await?.is_none() {
        let at = path
            .strip_suffix("fields")
            .map_or_else(|| "owner".to_owned(), |p| format!("{p}owner"));
        return Err(Invalid::one(at, "unknown_user", "no such user in this tenant").into());
    }
    Ok(())
}

/// Checks that linked records and referenced users exist.
pub(crate) async fn check_references(
    tx: &mut Tx,
    table: &TableDef,
    values: &BTreeMap<FieldId, Value>,
    path: &str,
) -> Result<(), StoreError> {
    let mut errors = Vec::new();
    for (field_id, value) in values {
        let Some(field) = table.field(*field_id) else {
            continue;
        };
        let at = || {
            if path.is_empty() {
                field.name.clone()
            } else {
                format!("{path}.{}", field.name)
            }
        };
        match (&field.field_type, value) {
            (FieldType::Link(o), Value::Links(ids)) if !ids.is_empty() => {
                let target = if o.table_id == table.id {
                    table.clone()
                } else {
                    load_table(tx, o.table_id)
                        .await?
                        .ok_or_else(|| StoreError::internal("link target table is gone"))?
                };
                let mut found = BTreeSet::new();
                for chunk in ids.chunks(500) {
                    let mut q = tx.sql();
                    q.push("SELECT id FROM ")
                        .ident(&ident(&target.storage)?)
                        .push(" WHERE id IN (")
                        .param_list(chunk.iter().map(|id| Param::Uuid(id.0)))
                        .push(")");
                    for row in tx.fetch_all(q).await? {
                        found.insert(row.uuid(0)?);
                    }
                }
                let missing: Vec<String> = ids
                    .iter()
                    .filter(|id| !found.contains(&id.0))
                    .take(MAX_LISTED)
                    .map(ToString::to_string)
                    .collect();
                if !missing.is_empty() {
                    errors.push(FieldError::new(
                        at(),
                        "unknown_record",
                        format!("no such record in the linked table: {}", missing.join(", ")),
                    ));
                }
            }
            (FieldType::User, Value::User(u)) => {
                let known = crate::identity::user_by_id(tx, *u).await?.is_some();
                if !known {
                    errors.push(FieldError::new(
                        at(),
                        "unknown_user",
                        "no such user in this tenant",
                    ));
                }
            }
            _ => {}
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Invalid { errors }.into())
    }
}

pub(crate) async fn write_links(
    tx: &mut Tx,
    field: &FieldDef,
    record: RecordId,
    ids: &[RecordId],
    replace: bool,
) -> Result<(), StoreError> {
    let l = ident(&field.column)?;
    if replace {
        let mut q = tx.sql();
        q.push("DELETE FROM ")
            .ident(&l)
            .push(" WHERE src = ")
            .param(Param::Uuid(record.0));
        tx.execute(q).await?;
    }
    for (chunk_no, chunk) in ids.chunks(300).enumerate() {
        let mut q = tx.sql();
        q.push("INSERT INTO ")
            .ident(&l)
            .push(" (src, dst, pos) VALUES ");
        for (i, dst) in chunk.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push("(")
                .param_list([
                    Param::Uuid(record.0),
                    Param::Uuid(dst.0),
                    Param::I64((chunk_no * 300 + i) as i64),
                ])
                .push(")");
        }
        tx.execute(q).await?;
    }
    Ok(())
}

/// The columns and parameters a field's value is stored as: its own column, plus the blind
/// index of an encrypted field; encrypted values are sealed for `record`.
pub(crate) fn stored_params(
    keys: &Option<std::sync::Arc<rampart_crypto::keyring::TenantKeys>>,
    field: &FieldDef,
    record: RecordId,
    value: &Value,
) -> Result<Vec<(rampart_sql::Ident, Param)>, StoreError> {
    if !field.encrypted {
        return Ok(vec![(
            ident(&field.column)?,
            to_param(&field.field_type, value),
        )]);
    }
    let keys = keys
        .as_ref()
        .ok_or_else(|| StoreError::internal("an encrypted field written without keys"))?;
    let (sealed, tag) = crate::encryption::params(keys, field, record, value)?;
    let mut out = vec![(ident(&field.column)?, sealed)];
    if let Some(tag) = tag {
        out.push((ident(&field.index_column())?, tag));
    }
    Ok(out)
}

/// The columns a field is stored in (see [`stored_params`]).
pub(crate) fn stored_columns(field: &FieldDef) -> Result<Vec<rampart_sql::Ident>, StoreError> {
    let mut out = vec![ident(&field.column)?];
    if field.blind_index.is_some() {
        out.push(ident(&field.index_column())?);
    }
    Ok(out)
}

pub(crate) fn duplicate(table: &TableDef, err: StoreError) -> StoreError {
    match crate::db::unique_violation(&err) {
        Some(column) => match table
            .fields
            .iter()
            .find(|f| f.column == column || f.index_column() == column)
        {
            Some(f) => StoreError::Duplicate {
                field: f.name.clone(),
            },
            None => err,
        },
        None => err,
    }
}

/// The audit detail of a change: which fields changed, with their new values (sealed by the
/// chain with the record owner's subject key).
pub(crate) fn changed_detail(
    table: &TableDef,
    values: &BTreeMap<FieldId, Value>,
    owner: Option<UserId>,
) -> serde_json::Value {
    let fields: serde_json::Map<String, serde_json::Value> = table
        .fields
        .iter()
        .filter_map(|f| {
            values
                .get(&f.id)
                .map(|v| (f.id.to_string(), v.to_json(&f.field_type)))
        })
        .collect();
    let mut detail = serde_json::json!({ "fields": fields });
    if let Some(o) = owner {
        detail["owner"] = serde_json::Value::String(o.to_string());
    }
    detail
}

/// Records a record change in the audit chain; the owner is the data subject.
pub(crate) async fn audit_change(
    tx: &mut Tx,
    action: crate::audit::Action,
    table: &TableDef,
    (id, owner): (RecordId, Option<UserId>),
    detail: Option<serde_json::Value>,
) -> Result<(), StoreError> {
    let mut event = crate::audit::Event::new(action)
        .table(table.id.0)
        .record(id.0);
    if let Some(owner) = owner {
        event = event.subject(owner.0);
    }
    if let Some(d) = detail {
        event = event.detail(d);
    }
    crate::audit::record(tx, event).await.map(|_| ())
}

/// Creates a record owned by `actor`. `values` comes from `parse_input` in create mode.
pub async fn create(
    tx: &mut Tx,
    table: &TableDef,
    values: BTreeMap<FieldId, Value>,
    actor: UserId,
    path: &str,
) -> Result<Record, StoreError> {
    create_owned(tx, table, values, actor, actor, path).await
}

/// Creates a record owned by `owner` (which must be a user of the tenant).
pub async fn create_owned(
    tx: &mut Tx,
    table: &TableDef,
    values: BTreeMap<FieldId, Value>,
    actor: UserId,
    owner: UserId,
    path: &str,
) -> Result<Record, StoreError> {
    check_references(tx, table, &values, path).await?;
    if owner != actor {
        check_owner(tx, owner, path).await?;
    }
    let now = crate::now();
    let id = RecordId::generate();
    let mut q = tx.sql();
    q.push("INSERT INTO ")
        .ident(&ident(&table.storage)?)
        .push(" (id, created_at, updated_at, created_by, owner, version");
    let columns: Vec<&FieldDef> = table
        .fields
        .iter()
        .filter(|f| !matches!(f.field_type, FieldType::Link(_)) && values.contains_key(&f.id))
        .collect();
    let keys = tx.keys().ok();
    let mut stored = Vec::new();
    for f in &columns {
        stored.extend(stored_params(&keys, f, id, &values[&f.id])?);
    }
    for (column, _) in &stored {
        q.push(", ").ident(column);
    }
    q.push(") VALUES (").param_list([
        Param::Uuid(id.0),
        Param::Timestamp(now),
        Param::Timestamp(now),
        Param::Uuid(actor.0),
        Param::Uuid(owner.0),
        Param::I64(1),
    ]);
    for (_, param) in stored {
        q.push(", ").param(param);
    }
    q.push(")");
    tx.execute(q).await.map_err(|e| duplicate(table, e))?;
    for f in &table.fields {
        if let (FieldType::Link(_), Some(Value::Links(ids))) = (&f.field_type, values.get(&f.id)) {
            write_links(tx, f, id, ids, false).await?;
        }
    }
    let record = get(tx, table, id).await?.ok_or(StoreError::NotFound)?;
    audit_change(
        tx,
        crate::audit::Action::RecordCreate,
        table,
        (record.id, record.owner),
        Some(changed_detail(table, &values, None)),
    )
    .await?;
    Ok(record)
}

pub(crate) async fn current_version(
    tx: &mut Tx,
    table: &TableDef,
    id: RecordId,
) -> Result<Option<i64>, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT version FROM ")
        .ident(&ident(&table.storage)?)
        .push(" WHERE id = ")
        .param(Param::Uuid(id.0));
    tx.fetch_optional(q).await?.map(|r| r.i64(0)).transpose()
}

/// Changes the given fields of a record if it is still at `expected_version`.
pub async fn update(
    tx: &mut Tx,
    table: &TableDef,
    id: RecordId,
    expected_version: i64,
    values: BTreeMap<FieldId, Value>,
    path: &str,
) -> Result<Record, StoreError> {
    update_owned(tx, table, id, expected_version, values, None, path).await
}

/// Like [`update`], also moving the record to a new owner when `owner` is given.
pub async fn update_owned(
    tx: &mut Tx,
    table: &TableDef,
    id: RecordId,
    expected_version: i64,
    values: BTreeMap<FieldId, Value>,
    owner: Option<UserId>,
    path: &str,
) -> Result<Record, StoreError> {
    if let Some(o) = owner {
        check_owner(tx, o, path).await?;
    }
    check_references(tx, table, &values, path).await?;
    let mut q = tx.sql();
    q.push("UPDATE ")
        .ident(&ident(&table.storage)?)
        .push(" SET updated_at = ")
        .param(Param::Timestamp(crate::now()))
        .push(", version = version + 1");
    if let Some(o) = owner {
        q.push(", owner = ").param(Param::Uuid(o.0));
    }
    let keys = tx.keys().ok();
    for f in &table.fields {
        if matches!(f.field_type, FieldType::Link(_)) {
            continue;
        }
        if let Some(v) = values.get(&f.id) {
            for (column, param) in stored_params(&keys, f, id, v)? {
                q.push(", ").ident(&column).push(" = ").param(param);
            }
        }
    }
    q.push(" WHERE id = ")
        .param(Param::Uuid(id.0))
        .push(" AND version = ")
        .param(Param::I64(expected_version));
    let changed = tx.execute(q).await.map_err(|e| duplicate(table, e))?;
    if changed == 0 {
        return Err(match current_version(tx, table, id).await? {
            None => StoreError::NotFound,
            Some(current) => StoreError::VersionConflict { current },
        });
    }
    for f in &table.fields {
        if let (FieldType::Link(_), Some(Value::Links(ids))) = (&f.field_type, values.get(&f.id)) {
            write_links(tx, f, id, ids, true).await?;
        }
    }
    let record = get(tx, table, id).await?.ok_or(StoreError::NotFound)?;
    audit_change(
        tx,
        crate::audit::Action::RecordUpdate,
        table,
        (record.id, record.owner),
        Some(changed_detail(table, &values, owner)),
    )
    .await?;
    Ok(record)
}

/// Deletes a record at `expected_version`. Links pointing at it follow their field's policy:
/// `restrict` refuses the delete (naming the linking fields), `clear` removes the links.
pub async fn delete(
    tx: &mut Tx,
    table: &TableDef,
    id: RecordId,
    expected_version: i64,
) -> Result<(), StoreError> {
    match current_version(tx, table, id).await? {
        None => return Err(StoreError::NotFound),
        Some(v) if v != expected_version => return Err(StoreError::VersionConflict { current: v }),
        Some(_) => {}
    }
    let mut blocking = Vec::new();
    for (source, field) in incoming_links(tx, table.id).await? {
        let FieldType::Link(o) = &field.field_type else {
            continue;
        };
        let l = ident(&field.column)?;
        match o.on_delete {
            OnDelete::Restrict => {
                let mut q = tx.sql();
                q.push("SELECT 1 FROM ")
                    .ident(&l)
                    .push(" WHERE dst = ")
                    .param(Param::Uuid(id.0))
                    .push(" AND src <> ")
                    .param(Param::Uuid(id.0))
                    .push(" LIMIT 1");
                if tx.fetch_optional(q).await?.is_some() {
                    blocking.push(format!("{}.{}", source.name, field.name));
                }
            }
            OnDelete::Clear => {
                let mut q = tx.sql();
                q.push("DELETE FROM ")
                    .ident(&l)
                    .push(" WHERE dst = ")
                    .param(Param::Uuid(id.0));
                tx.execute(q).await?;
            }
        }
    }
    if !blocking.is_empty() {
        return Err(StoreError::Referenced { by: blocking });
    }
    let record = get(tx, table, id).await?.ok_or(StoreError::NotFound)?;
    let mut q = tx.sql();
    q.push("DELETE FROM ")
        .ident(&ident(&table.storage)?)
        .push(" WHERE id = ")
        .param(Param::Uuid(id.0))
        .push(" AND version = ")
        .param(Param::I64(expected_version));
    tx.execute(q).await?;
    audit_change(
        tx,
        crate::audit::Action::RecordDelete,
        table,
        (record.id, record.owner),
        None,
    )
    .await
}

/// Where the previous page ended: its last record's sort values and id.
#[derive(Debug, Clone, PartialEq)]
pub struct After {
    pub values: Vec<Value>,
    pub id: RecordId,
}

/// A page request. `filter` is a predicate over alias `t`, compiled by `rampart-rules`.
#[derive(Debug)]
pub struct ListQuery {
    /// The caller's visibility and their filter, already combined.
    pub filter: Option<Sql>,
    /// Predicates answered per record (see [`push_select_with`]).
    pub flags: Vec<Sql>,
    /// When not empty: predicates whose union is the caller's visible set (ANDed with
    /// `filter`); they may overlap. Ordered by id, each becomes one index range scan and the
    /// pages are merged with UNION ALL, duplicates dropped, instead of one scan filtering an
    /// OR.
    pub branches: Vec<Sql>,
    pub sort: Vec<SortKey>,
    /// The final tie-breaker is the id, ascending unless this is set (`sort=-id`).
    pub id_descending: bool,
    pub after: Option<After>,
    pub limit: u32,
}

#[derive(Debug)]
pub struct Page {
    pub records: Vec<Record>,
    /// One list of flag answers per record.
    pub flags: Vec<Vec<bool>>,
    pub has_more: bool,
}

/// The value a record has for a sort key.
pub fn sort_value(record: &Record, key: &SortKey) -> Value {
    match &key.target {
        SortTarget::System(SystemField::Id) => Value::User(UserId(record.id.0)),
        SortTarget::System(SystemField::CreatedAt) => Value::Datetime(record.created_at),
        SortTarget::System(SystemField::UpdatedAt) => Value::Datetime(record.updated_at),
        SortTarget::System(SystemField::CreatedBy) => {
            record.created_by.map_or(Value::Null, Value::User)
        }
        SortTarget::System(SystemField::Owner) => record.owner.map_or(Value::Null, Value::User),
        SortTarget::System(SystemField::Version) => Value::Integer(record.version),
        SortTarget::Field(f) => record.value(f.id).clone(),
    }
}
