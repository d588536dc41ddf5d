//! Versioned, append-only migrations, one list per (dialect, database kind).
//!
//! A released migration is never edited: the checksum of every applied migration is checked
//! at start-up. Migrations run in one transaction under a lock (the SQLite writer's
//! `BEGIN IMMEDIATE`, or a PostgreSQL advisory lock), so several nodes may start together, and
//! a database whose schema is newer than this build is refused.

use rampart_sql::{Dialect, Param};

use crate::db::{Tx, dialect};
use crate::error::StoreError;

/// One migration step.
#[derive(Debug)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Which database a migration list is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaKind {
    Instance,
    Tenant,
}

const SQLITE_INSTANCE: &[Migration] = &[
    Migration {
        version: 1,
        name: "tenants",
        sql: include_str!("../migrations/sqlite/instance/0001_tenants.sql"),
    },
    Migration {
        version: 2,
        name: "tenant_keys",
        sql: include_str!("../migrations/sqlite/instance/0002_tenant_keys.sql"),
    },
    Migration {
        version: 3,
        name: "instance_secrets_kek",
        sql: include_str!("../migrations/sqlite/instance/0003_instance_secrets_kek.sql"),
    },
    Migration {
        version: 4,
        name: "audit_and_blind_index_keys",
        sql: include_str!("../migrations/sqlite/instance/0004_audit_and_blind_index_keys.sql"),
    },
];

const POSTGRES_INSTANCE: &[Migration] = &[
    Migration {
        version: 1,
        name: "tenants",
        sql: include_str!("../migrations/postgres/instance/0001_tenants.sql"),
    },
    Migration {
        version: 2,
        name: "tenant_keys",
        sql: include_str!("../migrations/postgres/instance/0002_tenant_keys.sql"),
    },
    Migration {
        version: 3,
        name: "instance_secrets_kek",
        sql: include_str!("../migrations/postgres/instance/0003_instance_secrets_kek.sql"),
    },
    Migration {
        version: 4,
        name: "audit_and_blind_index_keys",
        sql: include_str!("../migrations/postgres/instance/0004_audit_and_blind_index_keys.sql"),
    },
];

const SQLITE_TENANT: &[Migration] = &[
    Migration {
        version: 1,
        name: "identity_and_schema",
        sql: include_str!("../migrations/sqlite/tenant/0001_identity_and_schema.sql"),
    },
    Migration {
        version: 2,
        name: "groups_attributes_permission_sets",
        sql: include_str!("../migrations/sqlite/tenant/0002_groups_attributes_permission_sets.sql"),
    },
    Migration {
        version: 3,
        name: "authz_epoch",
        sql: include_str!("../migrations/sqlite/tenant/0003_authz_epoch.sql"),
    },
    Migration {
        version: 4,
        name: "second_factors_and_throttling",
        sql: include_str!("../migrations/sqlite/tenant/0004_second_factors_and_throttling.sql"),
    },
    Migration {
        version: 5,
        name: "token_scopes",
        sql: include_str!("../migrations/sqlite/tenant/0005_token_scopes.sql"),
    },
    Migration {
        version: 6,
        name: "passkeys",
        sql: include_str!("../migrations/sqlite/tenant/0006_passkeys.sql"),
    },
    Migration {
        version: 7,
        name: "project_second_factor",
        sql: include_str!("../migrations/sqlite/tenant/0007_project_second_factor.sql"),
    },
    Migration {
        version: 8,
        name: "password_resets",
        sql: include_str!("../migrations/sqlite/tenant/0008_password_resets.sql"),
    },
    Migration {
        version: 9,
        name: "email_tokens",
        sql: include_str!("../migrations/sqlite/tenant/0009_email_tokens.sql"),
    },
    Migration {
        version: 10,
        name: "reset_tokens_in_email_tokens",
        sql: include_str!("../migrations/sqlite/tenant/0010_reset_tokens_in_email_tokens.sql"),
    },
    Migration {
        version: 11,
        name: "audit_chain",
        sql: include_str!("../migrations/sqlite/tenant/0011_audit_chain.sql"),
    },
    Migration {
        version: 12,
        name: "project_secrets",
        sql: include_str!("../migrations/sqlite/tenant/0012_project_secrets.sql"),
    },
    Migration {
        version: 13,
        name: "encrypted_fields",
        sql: include_str!("../migrations/sqlite/tenant/0013_encrypted_fields.sql"),
    },
    Migration {
        version: 14,
        name: "audit_lookup",
        sql: include_str!("../migrations/sqlite/tenant/0014_audit_lookup.sql"),
    },
    Migration {
        version: 15,
        name: "identity_providers",
        sql: include_str!("../migrations/sqlite/tenant/0015_identity_providers.sql"),
    },
    Migration {
        version: 16,
        name: "primary_field",
        sql: include_str!("../migrations/sqlite/tenant/0016_primary_field.sql"),
    },
    Migration {
        version: 17,
        name: "import_jobs",
        sql: include_str!("../migrations/sqlite/tenant/0017_import_jobs.sql"),
    },
    Migration {
        version: 18,
        name: "import_updates",
        sql: include_str!("../migrations/sqlite/tenant/0018_import_updates.sql"),
    },
];

const POSTGRES_TENANT: &[Migration] = &[
    Migration {
        version: 1,
        name: "identity_and_schema",
        sql: include_str!("../migrations/postgres/tenant/0001_identity_and_schema.sql"),
    },
    Migration {
        version: 2,
        name: "groups_attributes_permission_sets",
        sql: include_str!(
            "../migrations/postgres/tenant/0002_groups_attributes_permission_sets.sql"
        ),
    },
    Migration {
        version: 3,
        name: "authz_epoch",
        sql: include_str!("../migrations/postgres/tenant/0003_authz_epoch.sql"),
    },
    Migration {
        version: 4,
        name: "second_factors_and_throttling",
        sql: include_str!("../migrations/postgres/tenant/0004_second_factors_and_throttling.sql"),
    },
    Migration {
        version: 5,
        name: "token_scopes",
        sql: include_str!("../migrations/postgres/tenant/0005_token_scopes.sql"),
    },
    Migration {
        version: 6,
        name: "passkeys",
        sql: include_str!("../migrations/postgres/tenant/0006_passkeys.sql"),
    },
    Migration {
        version: 7,
        name: "project_second_factor",
        sql: include_str!("../migrations/postgres/tenant/0007_project_second_factor.sql"),
    },
    Migration {
        version: 8,
        name: "password_resets",
        sql: include_str!("../migrations/postgres/tenant/0008_password_resets.sql"),
    },
    Migration {
        version: 9,
        name: "email_tokens",
        sql: include_str!("../migrations/postgres/tenant/0009_email_tokens.sql"),
    },
    Migration {
        version: 10,
        name: "reset_tokens_in_email_tokens",
        sql: include_str!("../migrations/postgres/tenant/0010_reset_tokens_in_email_tokens.sql"),
    },
    Migration {
        version: 11,
        name: "audit_chain",
        sql: include_str!("../migrations/postgres/tenant/0011_audit_chain.sql"),
    },
    Migration {
        version: 12,
        name: "project_secrets",
        sql: include_str!("../migrations/postgres/tenant/0012_project_secrets.sql"),
    },
    Migration {
        version: 13,
        name: "encrypted_fields",
        sql: include_str!("../migrations/postgres/tenant/0013_encrypted_fields.sql"),
    },
    Migration {
        version: 14,
        name: "audit_lookup",
        sql: include_str!("../migrations/postgres/tenant/0014_audit_lookup.sql"),
    },
    Migration {
        version: 15,
        name: "identity_providers",
        sql: include_str!("../migrations/postgres/tenant/0015_identity_providers.sql"),
    },
    Migration {
        version: 16,
        name: "primary_field",
        sql: include_str!("../migrations/postgres/tenant/0016_primary_field.sql"),
    },
    Migration {
        version: 17,
        name: "import_jobs",
        sql: include_str!("../migrations/postgres/tenant/0017_import_jobs.sql"),
    },
    Migration {
        version: 18,
        name: "import_updates",
        sql: include_str!("../migrations/postgres/tenant/0018_import_updates.sql"),
    },
];

pub fn migrations(dialect: Dialect, kind: SchemaKind) -> &'static [Migration] {
    match (dialect, kind) {
        (Dialect::Sqlite, SchemaKind::Instance) => SQLITE_INSTANCE,
        (Dialect::Sqlite, SchemaKind::Tenant) => SQLITE_TENANT,
        (Dialect::Postgres, SchemaKind::Instance) => POSTGRES_INSTANCE,
        (Dialect::Postgres, SchemaKind::Tenant) => POSTGRES_TENANT,
    }
}

fn checksum(sql: &str) -> String {
    hex::encode(rampart_crypto::sha256(sql.as_bytes()))
}

/// Brings the database (or schema) the transaction points at up to date.
/// `lock_key` names the schema for PostgreSQL's advisory lock.
pub async fn migrate(tx: &mut Tx, kind: SchemaKind, lock_key: &str) -> Result<usize, StoreError> {
    let dialect = tx.dialect();
    if let Some(lock) = dialect::migration_lock(tx.sql(), lock_key) {
        tx.execute(lock).await?;
    }
    tx.execute_script(dialect::schema_migrations_table(dialect))
        .await?;

    let known = migrations(dialect, kind);
    let known_max = known.last().map_or(0, |m| m.version);
    let mut q = tx.sql();
    q.push("SELECT version, checksum FROM schema_migrations ORDER BY version");
    let applied = tx.fetch_all(q).await?;
    let mut applied_versions = Vec::with_capacity(applied.len());
    for row in &applied {
        let version = row.i64(0)?;
        if version > known_max {
            return Err(StoreError::SchemaTooNew {
                found: version,
                known: known_max,
            });
        }
        let sum = row.text(1)?;
        match known.iter().find(|m| m.version == version) {
            Some(m) if checksum(m.sql) == sum => applied_versions.push(version),
            _ => return Err(StoreError::MigrationChanged { version }),
        }
    }

    let mut ran = 0;
    for m in known
        .iter()
        .filter(|m| !applied_versions.contains(&m.version))
    {
        tx.execute_script(m.sql).await?;
        let mut ins = tx.sql();
        ins.push("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (")
            .param(Param::I64(m.version))
            .push(", ")
            .param(Param::Text(m.name.to_owned()))
            .push(", ")
            .param(Param::Text(checksum(m.sql)))
            .push(", ")
            .param(Param::Timestamp(chrono::Utc::now()))
            .push(")");
        tx.execute(ins).await?;
        ran += 1;
    }
    Ok(ran)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_lists_are_dense_and_ordered() {
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            for kind in [SchemaKind::Instance, SchemaKind::Tenant] {
                for (i, m) in migrations(dialect, kind).iter().enumerate() {
                    assert_eq!(m.version, i as i64 + 1, "{dialect:?} {kind:?}");
                }
            }
        }
        // Both dialects evolve together.
        assert_eq!(
            migrations(Dialect::Sqlite, SchemaKind::Tenant).len(),
            migrations(Dialect::Postgres, SchemaKind::Tenant).len()
        );
    }
}
