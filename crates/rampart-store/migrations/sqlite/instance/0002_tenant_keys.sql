-- Tenants' data keys, wrapped by the instance KEK named by kek_id. Kept in the instance
-- database, never in the tenant's own: a copy of a tenant's data never carries its key.
CREATE TABLE tenant_keys (
    tenant_id TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version > 0),
    kek_id TEXT NOT NULL,
    wrapped BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('active', 'retired')),
    created_at INTEGER NOT NULL,
    retired_at INTEGER,
    PRIMARY KEY (tenant_id, version)
);
