ALTER TABLE api_tokens ADD COLUMN scope_projects TEXT;
ALTER TABLE api_tokens ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0;
ALTER TABLE api_tokens ADD COLUMN permission_set_id TEXT REFERENCES permission_sets (id) ON DELETE CASCADE;
ALTER TABLE api_tokens ADD COLUMN last_used_ip TEXT;
ALTER TABLE api_tokens ADD COLUMN rotated_at INTEGER;
