-- A project's secrets and config values per environment, sealed with the tenant's data key.
-- Secrets are readable only by the server's own features; clients see a keyed fingerprint.
CREATE TABLE project_secrets (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    environment TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('secret', 'config')),
    sealed BLOB NOT NULL,
    fingerprint TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT,
    PRIMARY KEY (project_id, environment, name)
);
