-- Three more states for tenant keys, wrapped by the KEK like every data key:
-- 'audit' keys seal what the audit chain holds and sign its checkpoints (kept for the
-- tenant's life); 'blind_index' keys hold a field's blind index key once the data key it
-- was derived from is retired; 'pinned' marks a retired data key that the audit chain still
-- names (chains written before audit keys existed), kept for the tenant's life.
-- SQLite cannot change a CHECK in place: the table is rebuilt.
CREATE TABLE tenant_keys_new (
    tenant_id TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version > 0),
    kek_id TEXT NOT NULL,
    wrapped BLOB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('active', 'retired', 'pinned', 'audit', 'blind_index')),
    created_at INTEGER NOT NULL,
    retired_at INTEGER,
    PRIMARY KEY (tenant_id, version)
);
INSERT INTO tenant_keys_new (tenant_id, version, kek_id, wrapped, state, created_at, retired_at)
    SELECT tenant_id, version, kek_id, wrapped, state, created_at, retired_at FROM tenant_keys;
DROP TABLE tenant_keys;
ALTER TABLE tenant_keys_new RENAME TO tenant_keys;
