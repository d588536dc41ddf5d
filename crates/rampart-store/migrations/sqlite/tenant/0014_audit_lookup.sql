-- The columns the admin API filters audit entries by, with their indexes, kept apart from the
-- chain and filled in batches (every 256 entries, and before every query) instead of in each
-- change's commit: a commit then writes only the chain's own pages.
CREATE TABLE audit_lookup (
    seq INTEGER PRIMARY KEY NOT NULL,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_table TEXT,
    target_record TEXT
);
INSERT INTO audit_lookup (seq, at, actor, action, target_table, target_record)
    SELECT seq, at, actor, action, target_table, target_record FROM audit_log;
CREATE INDEX audit_lookup_actor ON audit_lookup (actor, seq);
CREATE INDEX audit_lookup_action ON audit_lookup (action, seq);
CREATE INDEX audit_lookup_record ON audit_lookup (target_table, target_record, seq);
CREATE INDEX audit_lookup_at ON audit_lookup (at);
DROP INDEX audit_log_actor;
DROP INDEX audit_log_action;
DROP INDEX audit_log_record;
DROP INDEX audit_log_at;
