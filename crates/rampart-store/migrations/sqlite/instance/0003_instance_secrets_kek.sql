-- Instance secrets wrapped by the KEK named by kek_id; NULL: stored in the clear by an
-- earlier version, wrapped on first use.
ALTER TABLE instance_secrets ADD COLUMN kek_id TEXT;
