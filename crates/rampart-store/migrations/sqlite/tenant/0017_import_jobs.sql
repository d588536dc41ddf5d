-- Imports run as jobs: what each read, wrote and refused, kept for a day. A rejected row's
-- cells are sealed with the tenant's data key (they may hold encrypted fields' values).
CREATE TABLE import_jobs (
    id TEXT PRIMARY KEY NOT NULL,
    table_id TEXT NOT NULL,
    created_by TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed', 'cancelled', 'interrupted')),
    mode TEXT NOT NULL CHECK (mode IN ('all_or_nothing', 'valid_rows')),
    dry_run INTEGER NOT NULL,
    format TEXT NOT NULL,
    columns TEXT NOT NULL,
    rows_read INTEGER NOT NULL DEFAULT 0,
    rows_written INTEGER NOT NULL DEFAULT 0,
    rows_rejected INTEGER NOT NULL DEFAULT 0,
    message TEXT,
    runner TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    finished_at INTEGER,
    expires_at INTEGER NOT NULL
);
CREATE INDEX import_jobs_expiry ON import_jobs (expires_at);
CREATE TABLE import_rejects (
    job_id TEXT NOT NULL REFERENCES import_jobs (id) ON DELETE CASCADE,
    row_no INTEGER NOT NULL,
    errors TEXT NOT NULL,
    cells BLOB NOT NULL,
    PRIMARY KEY (job_id, row_no)
);
