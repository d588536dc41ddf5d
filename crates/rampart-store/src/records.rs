//! Records: create, read, update with optimistic concurrency, delete with the link policy,
//! and keyset-paginated lists. Callers validate bodies with `rampart_core::record::parse_input`
//! and obtain permission from `rampart-auth::authz` in the same transaction.

use std::collections::{BTreeMap, BTreeSet};

use rampart_core::field::{FieldType, OnDelete, SystemField};
use rampart_core::{
    FieldDef, FieldError, FieldId, Invalid, Record, RecordId, TableDef, UserId, Value,
};
use rampart_sql::{Dialect, Ident, Param, ParamType, Sql};

use crate::db::{DbRow, Tx};
use crate::error::StoreError;
use crate::schema::{MAX_LISTED, ident, incoming_links, load_table};
use rampart_rules::params::to_param;
use rampart_rules::sort::{SortKey, SortTarget};

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
fn push_select(sql: &mut Sql, table: &TableDef) -> Result<(), StoreError> {
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
    sql.push(" FROM ").ident(&ident(&table.storage)?).push(" t");
    Ok(())
}

/// A JSON array of the linked ids of the record aliased `t`, in link order.
fn push_link_array(sql: &mut Sql, field: &FieldDef) -> Result<(), StoreError> {
    let l = ident(&field.column)?;
    match sql.dialect() {
        Dialect::Sqlite => {
            sql.push("(SELECT json_group_array(dst) FROM (SELECT l.dst FROM ")
                .ident(&l)
                .push(" l WHERE l.src = t.id ORDER BY l.pos))");
        }
        Dialect::Postgres => {
            sql.push("(SELECT COALESCE(json_agg(l.dst ORDER BY l.pos), '[]'::json) FROM ")
                .ident(&l)
                .push(" l WHERE l.src = t.id)");
        }
    }
    Ok(())
}

fn record_from_row(table: &TableDef, row: &DbRow) -> Result<Record, StoreError> {
    let mut values = BTreeMap::new();
    for (i, f) in table.fields.iter().enumerate() {
        let v = from_row(&f.field_type, row, 6 + i)?;
        if !v.is_null() {
            values.insert(f.id, v);
        }
    }
    Ok(Record {
        id: RecordId(row.uuid(0)?),
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
    tx.fetch_optional(q)
        .await?
        .map(|r| record_from_row(table, &r))
        .transpose()
}

/// Checks that linked records and referenced users exist.
async fn check_references(
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
        let at = if path.is_empty() {
            field.name.clone()
        } else {
            format!("{path}.{}", field.name)
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
                        at,
                        "unknown_record",
                        format!("no such record in the linked table: {}", missing.join(", ")),
                    ));
                }
            }
            (FieldType::User, Value::User(u)) => {
                let known = crate::identity::user_by_id(tx, *u).await?.is_some();
                if !known {
                    errors.push(FieldError::new(
                        at,
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

async fn write_links(
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

fn duplicate(table: &TableDef, err: StoreError) -> StoreError {
    match crate::db::unique_violation(&err) {
        Some(column) => match table.fields.iter().find(|f| f.column == column) {
            Some(f) => StoreError::Duplicate {
                field: f.name.clone(),
            },
            None => err,
        },
        None => err,
    }
}

/// Creates a record owned by `actor`. `values` comes from `parse_input` in create mode.
pub async fn create(
    tx: &mut Tx,
    table: &TableDef,
    values: BTreeMap<FieldId, Value>,
    actor: UserId,
    path: &str,
) -> Result<Record, StoreError> {
    check_references(tx, table, &values, path).await?;
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
    for f in &columns {
        q.push(", ").ident(&ident(&f.column)?);
    }
    q.push(") VALUES (").param_list([
        Param::Uuid(id.0),
        Param::Timestamp(now),
        Param::Timestamp(now),
        Param::Uuid(actor.0),
        Param::Uuid(actor.0),
        Param::I64(1),
    ]);
    for f in &columns {
        q.push(", ").param(to_param(&f.field_type, &values[&f.id]));
    }
    q.push(")");
    tx.execute(q).await.map_err(|e| duplicate(table, e))?;
    for f in &table.fields {
        if let (FieldType::Link(_), Some(Value::Links(ids))) = (&f.field_type, values.get(&f.id)) {
            write_links(tx, f, id, ids, false).await?;
        }
    }
    get(tx, table, id).await?.ok_or(StoreError::NotFound)
}

/// Most parameters in one statement (SQLite allows 32766, PostgreSQL 65535).
const MAX_PARAMS: usize = 30_000;

/// Creates many records with multi-row INSERTs: the bulk path of batches and imports.
/// Each row is named (`create[3]`) so that an error says which one failed; rows come from
/// `parse_input` in create mode with the path `<name>.fields`.
pub async fn create_many(
    tx: &mut Tx,
    table: &TableDef,
    rows: Vec<(String, BTreeMap<FieldId, Value>)>,
    actor: UserId,
) -> Result<Vec<Record>, StoreError> {
    let in_row = |op: &str, e: StoreError| StoreError::InBatch {
        op: op.to_owned(),
        source: Box::new(e),
    };
    for (op, values) in &rows {
        check_references(tx, table, values, &format!("{op}.fields"))
            .await
            .map_err(|e| in_row(op, e))?;
    }
    check_unique_among(tx, table, &rows).await?;
    let now = crate::now();
    let columns: Vec<&FieldDef> = table
        .fields
        .iter()
        .filter(|f| !matches!(f.field_type, FieldType::Link(_)))
        .collect();
    let per_row = 6 + columns.len();
    let rows_per_statement = (MAX_PARAMS / per_row).max(1);
    let ids: Vec<RecordId> = rows.iter().map(|_| RecordId::generate()).collect();
    let t = ident(&table.storage)?;
    for (chunk_no, chunk) in rows.chunks(rows_per_statement).enumerate() {
        let mut q = tx.sql();
        q.push("INSERT INTO ")
            .ident(&t)
            .push(" (id, created_at, updated_at, created_by, owner, version");
        for f in &columns {
            q.push(", ").ident(&ident(&f.column)?);
        }
        q.push(") VALUES ");
        for (i, (_, values)) in chunk.iter().enumerate() {
            let id = ids[chunk_no * rows_per_statement + i];
            q.push(if i == 0 { "(" } else { ", (" }).param_list([
                Param::Uuid(id.0),
                Param::Timestamp(now),
                Param::Timestamp(now),
                Param::Uuid(actor.0),
                Param::Uuid(actor.0),
                Param::I64(1),
            ]);
            for f in &columns {
                q.push(", ").param(to_param(
                    &f.field_type,
                    values.get(&f.id).unwrap_or(&Value::Null),
                ));
            }
            q.push(")");
        }
        tx.execute(q).await.map_err(|e| duplicate(table, e))?;
    }
    for ((_, values), id) in rows.iter().zip(&ids) {
        for f in &table.fields {
            if let (FieldType::Link(_), Some(Value::Links(links))) =
                (&f.field_type, values.get(&f.id))
            {
                write_links(tx, f, *id, links, false).await?;
            }
        }
    }
    get_many(tx, table, &ids).await
}

/// Finds the first row whose unique value repeats an earlier row's or a stored record's,
/// so the error can name it (the unique index stays the final guard).
async fn check_unique_among(
    tx: &mut Tx,
    table: &TableDef,
    rows: &[(String, BTreeMap<FieldId, Value>)],
) -> Result<(), StoreError> {
    for f in table.fields.iter().filter(|f| f.unique) {
        let mut seen: Vec<&Value> = Vec::new();
        for (op, values) in rows {
            if let Some(v) = values.get(&f.id).filter(|v| !v.is_null()) {
                if seen.contains(&v) {
                    return Err(StoreError::InBatch {
                        op: op.clone(),
                        source: Box::new(StoreError::Duplicate {
                            field: f.name.clone(),
                        }),
                    });
                }
                seen.push(v);
            }
        }
        for chunk in seen.chunks(500) {
            let mut q = tx.sql();
            let c = ident(&f.column)?;
            q.push("SELECT ")
                .ident(&c)
                .push(" FROM ")
                .ident(&ident(&table.storage)?)
                .push(" WHERE ")
                .ident(&c)
                .push(" IN (")
                .param_list(chunk.iter().map(|v| to_param(&f.field_type, v)))
                .push(") LIMIT 1");
            if let Some(row) = tx.fetch_optional(q).await? {
                let taken = from_row(&f.field_type, &row, 0)?;
                let op = rows
                    .iter()
                    .find(|(_, values)| values.get(&f.id) == Some(&taken))
                    .map_or_else(String::new, |(op, _)| op.clone());
                return Err(StoreError::InBatch {
                    op,
                    source: Box::new(StoreError::Duplicate {
                        field: f.name.clone(),
                    }),
                });
            }
        }
    }
    Ok(())
}

/// Reads records by id, in the order of `ids`.
pub async fn get_many(
    tx: &mut Tx,
    table: &TableDef,
    ids: &[RecordId],
) -> Result<Vec<Record>, StoreError> {
    let mut found: BTreeMap<RecordId, Record> = BTreeMap::new();
    for chunk in ids.chunks(1000) {
        let mut q = tx.sql();
        push_select(&mut q, table)?;
        q.push(" WHERE t.id IN (")
            .param_list(chunk.iter().map(|id| Param::Uuid(id.0)))
            .push(")");
        for row in tx.fetch_all(q).await? {
            let r = record_from_row(table, &row)?;
            found.insert(r.id, r);
        }
    }
    Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
}

async fn current_version(
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
    check_references(tx, table, &values, path).await?;
    let mut q = tx.sql();
    q.push("UPDATE ")
        .ident(&ident(&table.storage)?)
        .push(" SET updated_at = ")
        .param(Param::Timestamp(crate::now()))
        .push(", version = version + 1");
    for f in &table.fields {
        if matches!(f.field_type, FieldType::Link(_)) {
            continue;
        }
        if let Some(v) = values.get(&f.id) {
            q.push(", ")
                .ident(&ident(&f.column)?)
                .push(" = ")
                .param(to_param(&f.field_type, v));
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
    get(tx, table, id).await?.ok_or(StoreError::NotFound)
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
    let mut q = tx.sql();
    q.push("DELETE FROM ")
        .ident(&ident(&table.storage)?)
        .push(" WHERE id = ")
        .param(Param::Uuid(id.0))
        .push(" AND version = ")
        .param(Param::I64(expected_version));
    tx.execute(q).await?;
    Ok(())
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
    pub filter: Option<Sql>,
    pub sort: Vec<SortKey>,
    /// The final tie-breaker is the id, ascending unless this is set (`sort=-id`).
    pub id_descending: bool,
    pub after: Option<After>,
    pub limit: u32,
}

#[derive(Debug)]
pub struct Page {
    pub records: Vec<Record>,
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

fn push_key_column(sql: &mut Sql, key: &SortKey) -> Result<(), StoreError> {
    match &key.target {
        SortTarget::System(s) => push_system_column(sql, *s),
        SortTarget::Field(f) => {
            sql.column(&alias(), &ident(&f.column)?);
        }
    }
    Ok(())
}

fn key_param(key: &SortKey, value: &Value) -> Param {
    match &key.target {
        SortTarget::Field(f) => to_param(&f.field_type, value),
        SortTarget::System(SystemField::Version) => match value {
            Value::Integer(n) => Param::I64(*n),
            _ => Param::Null(ParamType::I64),
        },
        SortTarget::System(SystemField::CreatedAt | SystemField::UpdatedAt) => match value {
            Value::Datetime(t) => Param::Timestamp(*t),
            _ => Param::Null(ParamType::Timestamp),
        },
        SortTarget::System(_) => match value {
            Value::User(u) => Param::Uuid(u.0),
            _ => Param::Null(ParamType::Uuid),
        },
    }
}

/// `(k1, k2, …, id)` strictly after the cursor, in the list's order with nulls last.
fn push_after(
    sql: &mut Sql,
    sort: &[SortKey],
    id_desc: bool,
    after: &After,
) -> Result<(), StoreError> {
    sql.push("(");
    let mut first_branch = true;
    for depth in 0..=sort.len() {
        // Branch `depth`: keys before it equal, key `depth` strictly after.
        let mut branch = Sql::new(sql.dialect());
        let mut possible = true;
        branch.push("(");
        for (i, key) in sort.iter().enumerate().take(depth) {
            if i > 0 {
                branch.push(" AND ");
            }
            let v = &after.values[i];
            push_key_column(&mut branch, key)?;
            if v.is_null() {
                branch.push(" IS NULL");
            } else {
                branch.push(" = ").param(key_param(key, v));
            }
        }
        if depth > 0 {
            branch.push(" AND ");
        }
        if depth < sort.len() {
            let key = &sort[depth];
            let v = &after.values[depth];
            if v.is_null() {
                // Nulls sort last: nothing of this key comes after a null.
                possible = false;
            } else {
                branch.push("(");
                push_key_column(&mut branch, key)?;
                branch
                    .push(if key.descending { " < " } else { " > " })
                    .param(key_param(key, v));
                branch.push(" OR ");
                push_key_column(&mut branch, key)?;
                branch.push(" IS NULL)");
            }
        } else {
            branch
                .push("t.id")
                .push(if id_desc { " < " } else { " > " })
                .param(Param::Uuid(after.id.0));
        }
        branch.push(")");
        if possible {
            if !first_branch {
                sql.push(" OR ");
            }
            sql.append(branch);
            first_branch = false;
        }
    }
    sql.push(")");
    Ok(())
}

/// One page of records in keyset order. The cost does not grow with the page number.
pub async fn list(tx: &mut Tx, table: &TableDef, query: ListQuery) -> Result<Page, StoreError> {
    if let Some(after) = &query.after
        && after.values.len() != query.sort.len()
    {
        return Err(StoreError::internal("cursor does not match the sort"));
    }
    let single_key = match query.sort.as_slice() {
        [key] if key.descending == query.id_descending => Some(key.clone()),
        _ => None,
    };
    let rows = match single_key {
        Some(key) => list_by_one_key(tx, table, &key, query).await?,
        None => {
            list_general(
                tx,
                table,
                query.filter,
                &query.sort,
                query.id_descending,
                query.after.as_ref(),
                query.limit,
            )
            .await?
        }
    };
    let limit = rows.1 as usize;
    let rows = rows.0;
    let has_more = rows.len() > limit;
    let records = rows
        .iter()
        .take(limit)
        .map(|r| record_from_row(table, r))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page { records, has_more })
}

fn push_where(q: &mut Sql, conditions: Vec<Sql>) {
    for (i, c) in conditions.into_iter().enumerate() {
        q.push(if i == 0 { " WHERE (" } else { " AND (" });
        q.append(c);
        q.push(")");
    }
}

/// Any sort: one query whose cursor condition expands key by key (correct for mixed
/// directions and nulls, but not always a single index range).
async fn list_general(
    tx: &mut Tx,
    table: &TableDef,
    filter: Option<Sql>,
    sort: &[SortKey],
    id_descending: bool,
    after: Option<&After>,
    limit: u32,
) -> Result<(Vec<DbRow>, u32), StoreError> {
    let mut q = tx.sql();
    push_select(&mut q, table)?;
    let mut conditions: Vec<Sql> = filter.into_iter().collect();
    if let Some(after) = after {
        let mut c = tx.sql();
        push_after(&mut c, sort, id_descending, after)?;
        conditions.push(c);
    }
    push_where(&mut q, conditions);
    q.push(" ORDER BY ");
    for key in sort {
        push_key_column(&mut q, key)?;
        q.push(if key.descending {
            " DESC NULLS LAST, "
        } else {
            " ASC NULLS LAST, "
        });
    }
    q.push(if id_descending {
        "t.id DESC"
    } else {
        "t.id ASC"
    });
    q.push(" LIMIT ").param(Param::I64(i64::from(limit) + 1));
    Ok((tx.fetch_all(q).await?, limit))
}

/// One key in the id's direction, the common case, in two index range scans over
/// `(key, id)`: first the records with a value, as one row-value range, then (nulls sort
/// last) the records without, by id. Deep pages cost the same as the first.
async fn list_by_one_key(
    tx: &mut Tx,
    table: &TableDef,
    key: &SortKey,
    query: ListQuery,
) -> Result<(Vec<DbRow>, u32), StoreError> {
    let limit = query.limit;
    let wanted = i64::from(limit) + 1;
    let (op, dir): (&'static str, &'static str) = if key.descending {
        (" < ", " DESC")
    } else {
        (" > ", " ASC")
    };
    let after_value = query.after.as_ref().map(|a| (&a.values[0], a.id));
    let mut rows = Vec::new();
    // Phase 1: records with a value, unless the cursor is already among the nulls.
    if !matches!(after_value, Some((v, _)) if v.is_null()) {
        let mut q = tx.sql();
        push_select(&mut q, table)?;
        let mut conditions: Vec<Sql> = query.filter.iter().cloned().collect();
        let mut c = tx.sql();
        push_key_column(&mut c, key)?;
        c.push(" IS NOT NULL");
        conditions.push(c);
        if let Some((v, id)) = after_value {
            let mut c = tx.sql();
            c.push("(");
            push_key_column(&mut c, key)?;
            c.push(", t.id)")
                .push(op)
                .push("(")
                .param(key_param(key, v))
                .push(", ")
                .param(Param::Uuid(id.0))
                .push(")");
            conditions.push(c);
        }
        push_where(&mut q, conditions);
        q.push(" ORDER BY ");
        push_key_column(&mut q, key)?;
        q.push(dir)
            .push(", t.id")
            .push(dir)
            .push(" LIMIT ")
            .param(Param::I64(wanted));
        rows = tx.fetch_all(q).await?;
    }
    // Phase 2: the records without a value, by id.
    let missing = wanted - rows.len() as i64;
    if missing > 0 {
        let mut q = tx.sql();
        push_select(&mut q, table)?;
        let mut conditions: Vec<Sql> = query.filter.into_iter().collect();
        let mut c = tx.sql();
        push_key_column(&mut c, key)?;
        c.push(" IS NULL");
        conditions.push(c);
        if let Some((v, id)) = after_value
            && v.is_null()
        {
            let mut c = tx.sql();
            c.push("t.id").push(op).param(Param::Uuid(id.0));
            conditions.push(c);
        }
        push_where(&mut q, conditions);
        q.push(" ORDER BY t.id")
            .push(dir)
            .push(" LIMIT ")
            .param(Param::I64(missing));
        rows.extend(tx.fetch_all(q).await?);
    }
    Ok((rows, limit))
}

/// Counts the records matching `filter`, up to `cap + 1`.
pub async fn count(
    tx: &mut Tx,
    table: &TableDef,
    filter: Option<Sql>,
    cap: u64,
) -> Result<u64, StoreError> {
    let mut q = tx.sql();
    q.push("SELECT COUNT(*) FROM (SELECT 1 FROM ")
        .ident(&ident(&table.storage)?)
        .push(" t");
    if let Some(f) = filter {
        q.push(" WHERE (").append(f).push(")");
    }
    q.push(" LIMIT ")
        .param(Param::I64(
            i64::try_from(cap.saturating_add(1)).unwrap_or(i64::MAX),
        ))
        .push(") c");
    Ok(u64::try_from(tx.fetch_one(q).await?.i64(0)?).unwrap_or(0))
}
