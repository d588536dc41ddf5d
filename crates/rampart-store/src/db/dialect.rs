//! The SQL that differs between SQLite and PostgreSQL, in one place: column types, row locks,
//! functions spelled differently, and what each engine's concurrency model asks of the audit
//! chain. Store modules build one statement and ask here for the pieces that differ, so a
//! reader of a store module sees one query, not two.

use rampart_core::field::FieldType;
use rampart_sql::{Dialect, Ident, Param, Sql};

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

/// The column type of a field of type `ty` (links have a table of their own, not a column).
pub fn column_type(d: Dialect, ty: &FieldType) -> &'static str {
    let pg = d == Dialect::Postgres;
    match ty {
        FieldType::Text(_)
        | FieldType::LongText
        | FieldType::Email
        | FieldType::Url
        | FieldType::SingleSelect(_) => {
            // Byte order on PostgreSQL, as SQLite compares text: sorts agree on both.
            if pg { "text COLLATE \"C\"" } else { "TEXT" }
        }
        FieldType::Integer(_) | FieldType::Decimal(_) => {
            if pg {
                "bigint"
            } else {
                "INTEGER"
            }
        }
        FieldType::Boolean => {
            if pg {
                "boolean"
            } else {
                "INTEGER"
            }
        }
        FieldType::Date => {
            if pg {
                "date"
            } else {
                "TEXT"
            }
        }
        FieldType::Datetime => {
            if pg {
                "timestamptz"
            } else {
                "INTEGER"
            }
        }
        FieldType::MultiSelect(_) | FieldType::Json => {
            if pg {
                "jsonb"
            } else {
                "TEXT"
            }
        }
        FieldType::User => {
            if pg {
                "uuid"
            } else {
                "TEXT"
            }
        }
        FieldType::Link(_) => "",
    }
}

/// The statement that makes migrations of `lock_key` wait for each other across processes,
/// if the engine needs one: PostgreSQL takes a transaction-scoped advisory lock; SQLite's
/// `BEGIN IMMEDIATE` already admits one writer.
pub fn migration_lock(sql: Sql, lock_key: &str) -> Option<Sql> {
    if sql.dialect() != Dialect::Postgres {
        return None;
    }
    let mut sql = sql;
    sql.push("SELECT pg_advisory_xact_lock(hashtext(")
        .param(Param::Text(format!("rampart-migrate:{lock_key}")))
        .push("))");
    Some(sql)
}

/// Creates the table recording applied migrations, if missing.
pub fn schema_migrations_table(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => {
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY NOT NULL, \
             name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at INTEGER NOT NULL)"
        }
        Dialect::Postgres => {
            "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint PRIMARY KEY, \
             name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL)"
        }
    }
}
