-- Tenants' data keys, wrapped by the instance KEK named by kek_id. Kept in the instance
-- schema, which tenant roles cannot read: a copy of a tenant's data never carries its key.
CREATE TABLE tenant_keys (
    tenant_id uuid NOT NULL,
    version bigint NOT NULL CHECK (version > 0),
    kek_id text NOT NULL,
    wrapped bytea NOT NULL,
    state text NOT NULL CHECK (state IN ('active', 'retired')),
    created_at timestamptz NOT NULL,
    retired_at timestamptz,
    PRIMARY KEY (tenant_id, version)
);
