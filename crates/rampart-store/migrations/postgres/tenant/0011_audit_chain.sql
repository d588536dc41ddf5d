-- The tenant's audit chain: each entry carries the hash of the one before it; personal
-- values in `detail` are sealed (per data subject when `subject` is set).
CREATE TABLE audit_log (
    seq bigint PRIMARY KEY,
    entry_id uuid NOT NULL UNIQUE,
    at timestamptz NOT NULL,
    actor text NOT NULL,
    request_id text,
    client_ip text,
    action text NOT NULL,
    target_table uuid,
    target_record uuid,
    subject uuid,
    detail bytea,
    prev_hash bytea NOT NULL,
    hash bytea NOT NULL
);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_record ON audit_log (target_table, target_record, seq);
CREATE INDEX audit_log_at ON audit_log (at);

-- Entries written in a change's transaction but not yet linked into the chain (PostgreSQL:
-- linking happens right after commit, so concurrent writers are not serialized by it).
CREATE TABLE audit_pending (
    pending_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry_id uuid NOT NULL UNIQUE,
    at timestamptz NOT NULL,
    actor text NOT NULL,
    request_id text,
    client_ip text,
    action text NOT NULL,
    target_table uuid,
    target_record uuid,
    subject uuid,
    detail bytea
);

-- The chain's head, one row: appends lock it, so entries are numbered without gaps or forks.
CREATE TABLE audit_head (
    id integer PRIMARY KEY CHECK (id = 1),
    seq bigint NOT NULL,
    hash bytea NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

-- Signed checkpoints: (seq, hash) signed with a key derived from data key `key_version`.
CREATE TABLE audit_checkpoints (
    seq bigint PRIMARY KEY,
    hash bytea NOT NULL,
    at timestamptz NOT NULL,
    key_version bigint NOT NULL,
    signature bytea NOT NULL
);

-- One key per data subject, sealed with the tenant's data key; erasing a person deletes it.
CREATE TABLE audit_subject_keys (
    subject uuid PRIMARY KEY,
    sealed_key bytea NOT NULL,
    created_at timestamptz NOT NULL
);
