//! The SQL that differs between SQLite and PostgreSQL, in one place: column types, row locks,
//! functions spelled differently, and what each engine's concurrency model asks of the audit
//! chain. Store modules build one statement and ask here for the pieces that differ, so a
//! reader of a store module sees one query, not two.

use rampart_sql::{Dialect, Ident, Sql};

/// The type of a column holding ids (UUIDs).
pub fn uuid_type(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => "TEXT",
        Dialect::Postgres => "uuid",
    }
}

/// The type of a column holding bytes (sealed values, hashes).
pub fn bytes_type(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => "BLOB",
        Dialect::Postgres => "bytea",
    }
}

/// The system columns of a record table, after its name in `CREATE TABLE`.
pub fn record_table_columns(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => {
            " (id TEXT PRIMARY KEY NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, \
             created_by TEXT, owner TEXT, version INTEGER NOT NULL)"
        }
        Dialect::Postgres => {
            " (id uuid PRIMARY KEY, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, \
             created_by uuid, owner uuid, version bigint NOT NULL)"
        }
    }
}

/// Appended to a `SELECT` of one row to lock it for the transaction. SQLite has one writer at
/// a time, so a write transaction holds every row already.
pub fn for_update(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE",
    }
}

/// Like [`for_update`], but yields nothing when another transaction holds the row.
pub fn for_update_skip_locked(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
    }
}

/// Whether an audit entry is linked into the chain in its change's own transaction. SQLite
/// (one writer anyway) does; on PostgreSQL the entry waits in `audit_pending` and is linked
/// right after commit, so that concurrent writers are not serialized by the chain's head.
pub fn links_audit_entries_inline(d: Dialect) -> bool {
    d == Dialect::Sqlite
}

/// The prefix that makes a query answer with its plan.
pub fn explain_prefix(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => "EXPLAIN QUERY PLAN ",
        Dialect::Postgres => "EXPLAIN ",
    }
}

/// The first `n` bytes of a bytes column.
pub fn push_leading_bytes(sql: &mut Sql, column: &Ident, n: &'static str) {
    match sql.dialect() {
        Dialect::Sqlite => sql
            .push("substr(")
            .ident(column)
            .push(", 1, ")
            .push(n)
            .push(")"),
        Dialect::Postgres => sql
            .push("substring(")
            .ident(column)
            .push(" FROM 1 FOR ")
            .push(n)
            .push(")"),
    };
}

/// A record's linked ids through link table `links`, in their order, as a JSON array
/// (`t` is the record table's alias).
pub fn push_linked_ids(sql: &mut Sql, links: &Ident) {
    match sql.dialect() {
        Dialect::Sqlite => {
            sql.push("(SELECT json_group_array(dst) FROM (SELECT l.dst FROM ")
                .ident(links)
                .push(" l WHERE l.src = t.id ORDER BY l.pos))");
        }
        Dialect::Postgres => {
            sql.push("(SELECT COALESCE(json_agg(l.dst ORDER BY l.pos), '[]'::json) FROM ")
                .ident(links)
                .push(" l WHERE l.src = t.id)");
        }
    }
}
