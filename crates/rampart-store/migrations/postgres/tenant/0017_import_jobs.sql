-- Imports run as jobs: what each read, wrote and refused, kept for a day. A rejected row's
-- cells are sealed with the tenant's data key (they may hold encrypted fields' values).
CREATE TABLE import_jobs (
    id uuid PRIMARY KEY,
    table_id uuid NOT NULL,
    created_by uuid NOT NULL,
    state text NOT NULL CHECK (state IN ('running', 'done', 'failed', 'cancelled', 'interrupted')),
    mode text NOT NULL CHECK (mode IN ('all_or_nothing', 'valid_rows')),
    dry_run boolean NOT NULL,
    format text NOT NULL,
    columns text NOT NULL,
    rows_read bigint NOT NULL DEFAULT 0,
    rows_written bigint NOT NULL DEFAULT 0,
    rows_rejected bigint NOT NULL DEFAULT 0,
    message text,
    runner uuid NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    finished_at timestamptz,
    expires_at timestamptz NOT NULL
);
CREATE INDEX import_jobs_expiry ON import_jobs (expires_at);
CREATE TABLE import_rejects (
    job_id uuid NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
    row_no bigint NOT NULL,
    errors text NOT NULL,
    cells bytea NOT NULL,
    PRIMARY KEY (job_id, row_no)
);
