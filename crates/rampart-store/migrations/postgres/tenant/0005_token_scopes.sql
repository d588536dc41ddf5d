ALTER TABLE api_tokens ADD COLUMN scope_projects text;
ALTER TABLE api_tokens ADD COLUMN read_only boolean NOT NULL DEFAULT false;
ALTER TABLE api_tokens ADD COLUMN permission_set_id uuid REFERENCES permission_sets (id) ON DELETE CASCADE;
ALTER TABLE api_tokens ADD COLUMN last_used_ip text;
ALTER TABLE api_tokens ADD COLUMN rotated_at timestamptz;
