-- The tenant's audit chain: each entry carries the hash of the one before it; personal
-- values in `detail` are sealed (per data subject when `subject` is set).
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY NOT NULL,
    entry_id TEXT NOT NULL UNIQUE,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    request_id TEXT,
    client_ip TEXT,
    action TEXT NOT NULL,
    target_table TEXT,
    target_record TEXT,
    subject TEXT,
    detail BLOB,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL
);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_record ON audit_log (target_table, target_record, seq);
CREATE INDEX audit_log_at ON audit_log (at);

-- Entries written in a change's transaction but not yet linked into the chain (PostgreSQL:
-- linking happens right after commit, so concurrent writers are not serialized by it).
CREATE TABLE audit_pending (
    pending_id INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id TEXT NOT NULL UNIQUE,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    request_id TEXT,
    client_ip TEXT,
    action TEXT NOT NULL,
    target_table TEXT,
    target_record TEXT,
    subject TEXT,
    detail BLOB
);

-- The chain's head, one row: appends lock it, so entries are numbered without gaps or forks.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash BLOB NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, zeroblob(32));

-- Signed checkpoints: (seq, hash) signed with a key derived from data key `key_version`.
CREATE TABLE audit_checkpoints (
    seq INTEGER PRIMARY KEY NOT NULL,
    hash BLOB NOT NULL,
    at INTEGER NOT NULL,
    key_version INTEGER NOT NULL,
    signature BLOB NOT NULL
);

-- One key per data subject, sealed with the tenant's data key; erasing a person deletes it.
CREATE TABLE audit_subject_keys (
    subject TEXT PRIMARY KEY NOT NULL,
    sealed_key BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
