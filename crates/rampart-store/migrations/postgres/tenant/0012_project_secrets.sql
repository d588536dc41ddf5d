-- A project's secrets and config values per environment, sealed with the tenant's data key.
-- Secrets are readable only by the server's own features; clients see a keyed fingerprint.
CREATE TABLE project_secrets (
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    environment text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    kind text NOT NULL CHECK (kind IN ('secret', 'config')),
    sealed bytea NOT NULL,
    fingerprint text NOT NULL,
    updated_at timestamptz NOT NULL,
    updated_by uuid,
    PRIMARY KEY (project_id, environment, name)
);
