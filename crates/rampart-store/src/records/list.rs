//! Keyset-paginated lists and counts.

use rampart_core::field::SystemField;
use rampart_core::{TableDef, Value};
use rampart_rules::params::to_param;
use rampart_rules::sort::{SortKey, SortTarget};
use rampart_sql::{Param, ParamType, Sql};

use crate::db::{DbRow, Tx};
use crate::error::StoreError;
use crate::schema::ident;

use super::*;

pub(crate) fn push_key_column(sql: &mut Sql, key: &SortKey) -> Result<(), StoreError> {
    match &key.target {
        SortTarget::System(s) => push_system_column(sql, *s),
        SortTarget::Field(f) => {
            sql.column(&alias(), &ident(&f.column)?);
        }
    }
    Ok(())
}

pub(crate) fn key_param(key: &SortKey, value: &Value) -> Param {
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
pub(crate) fn push_after(
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
    let flags = query.flags.clone();
    let rows = match single_key {
        _ if !query.branches.is_empty() && query.sort.is_empty() => {
            list_union(tx, table, query).await?
        }
        Some(key) => list_by_one_key(tx, table, &key, query).await?,
        None => {
            list_general(
                tx,
                table,
                query.filter,
                &flags,
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
    let keys = tx.keys().ok();
    let records = rows
        .iter()
        .take(limit)
        .map(|r| record_from_row(table, r, keys.as_deref()))
        .collect::<Result<Vec<_>, _>>()?;
    let flags = rows
        .iter()
        .take(limit)
        .map(|r| flags_from_row(table, r, flags.len()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page {
        records,
        flags,
        has_more,
    })
}

pub(crate) fn push_where(q: &mut Sql, conditions: Vec<Sql>) {
    for (i, c) in conditions.into_iter().enumerate() {
        q.push(if i == 0 { " WHERE (" } else { " AND (" });
        q.append(c);
        q.push(")");
    }
}

/// Any sort: one query whose cursor condition expands key by key (correct for mixed
/// directions and nulls, but not always a single index range).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn list_general(
    tx: &mut Tx,
    table: &TableDef,
    filter: Option<Sql>,
    flags: &[Sql],
    sort: &[SortKey],
    id_descending: bool,
    after: Option<&After>,
    limit: u32,
) -> Result<(Vec<DbRow>, u32), StoreError> {
    let mut q = tx.sql();
    push_select_with(&mut q, table, flags)?;
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
pub(crate) async fn list_by_one_key(
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
        push_select_with(&mut q, table, &query.flags)?;
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
        push_select_with(&mut q, table, &query.flags)?;
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

/// The SQL of a by-id page over several branches (see [`ListQuery::branches`]): each branch
/// is one range scan for the ids of its first page (index-only where the branch and filter
/// name indexed columns), the branches' ids are merged without copies (`UNION`), and only
/// the page's own rows are then read by primary key. Reading whole rows per branch and
/// merging those cost twice as much: every branch's page was copied and sorted.
pub(crate) fn union_sql(tx: &Tx, table: &TableDef, query: &ListQuery) -> Result<Sql, StoreError> {
    let (op, dir): (&'static str, &'static str) = if query.id_descending {
        (" < ", " DESC")
    } else {
        (" > ", " ASC")
    };
    let wanted = i64::from(query.limit) + 1;
    let mut ids = tx.sql();
    for (i, branch) in query.branches.iter().enumerate() {
        if i > 0 {
            ids.push(" UNION ");
        }
        let mut inner = tx.sql();
        inner
            .push("SELECT t.id FROM ")
            .ident(&ident(&table.storage)?)
            .push(" t");
        let mut conditions: Vec<Sql> = query.filter.iter().cloned().collect();
        conditions.push(branch.clone());
        if let Some(after) = &query.after {
            let mut c = tx.sql();
            c.push("t.id").push(op).param(Param::Uuid(after.id.0));
            conditions.push(c);
        }
        push_where(&mut inner, conditions);
        inner
            .push(" ORDER BY t.id")
            .push(dir)
            .push(" LIMIT ")
            .param(Param::I64(wanted));
        ids.push("SELECT id FROM (").append(inner).push(") b");
    }
    ids.push(" ORDER BY 1")
        .push(dir)
        .push(" LIMIT ")
        .param(Param::I64(wanted));
    let mut q = tx.sql();
    push_select_with(&mut q, table, &query.flags)?;
    q.push(" WHERE t.id IN (")
        .append(ids)
        .push(") ORDER BY t.id")
        .push(dir);
    Ok(q)
}

async fn list_union(
    tx: &mut Tx,
    table: &TableDef,
    query: ListQuery,
) -> Result<(Vec<DbRow>, u32), StoreError> {
    let q = union_sql(tx, table, &query)?;
    Ok((tx.fetch_all(q).await?, query.limit))
}

/// The database's plan for a page (`EXPLAIN QUERY PLAN` on SQLite, `EXPLAIN` on PostgreSQL),
/// one line per step: for tests that pin plans, and for `explain`.
pub async fn plan(
    tx: &mut Tx,
    table: &TableDef,
    query: ListQuery,
) -> Result<Vec<String>, StoreError> {
    let body = if !query.branches.is_empty() && query.sort.is_empty() {
        union_sql(tx, table, &query)?
    } else {
        let mut q = tx.sql();
        push_select_with(&mut q, table, &query.flags)?;
        let mut conditions: Vec<Sql> = query.filter.iter().cloned().collect();
        if let Some(after) = &query.after {
            let mut c = tx.sql();
            push_after(&mut c, &query.sort, query.id_descending, after)?;
            conditions.push(c);
        }
        push_where(&mut q, conditions);
        q.push(" ORDER BY t.id LIMIT ")
            .param(Param::I64(i64::from(query.limit) + 1));
        q
    };
    let mut q = tx.sql();
    q.push(crate::db::dialect::explain_prefix(tx.dialect()));
    q.append(body);
    let rows = tx.fetch_all(q).await?;
    rows.iter()
        .map(|r| match r {
            DbRow::Sqlite(_) => r.text(3),
            DbRow::Pg(_) => r.text(0),
        })
        .collect()
}
