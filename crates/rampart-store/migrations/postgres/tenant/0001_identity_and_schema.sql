CREATE TABLE counters (
    name text PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO counters (name, value) VALUES ('storage', 0);

CREATE TABLE users (
    id uuid PRIMARY KEY,
    email text NOT NULL,
    email_key text COLLATE "C" NOT NULL UNIQUE,
    display_name text NOT NULL,
    password_hash text,
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    disabled boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE sessions (
    id_hash bytea PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    ip text,
    user_agent text
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name text NOT NULL,
    token_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    last_used_at timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE setup_tokens (
    token_hash bytea PRIMARY KEY,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE TABLE projects (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    name_key text COLLATE "C" NOT NULL UNIQUE,
    created_by uuid,
    created_at timestamptz NOT NULL
);

CREATE TABLE project_members (
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_user ON project_members (user_id);

CREATE TABLE data_tables (
    id uuid PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES projects (id),
    name text NOT NULL,
    name_key text COLLATE "C" NOT NULL,
    storage text COLLATE "C" NOT NULL UNIQUE,
    schema_version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    UNIQUE (project_id, name_key)
);

CREATE TABLE data_fields (
    id uuid PRIMARY KEY,
    table_id uuid NOT NULL REFERENCES data_tables (id),
    name text NOT NULL,
    name_key text COLLATE "C" NOT NULL,
    field_type text NOT NULL,
    required boolean NOT NULL,
    is_unique boolean NOT NULL,
    indexed boolean NOT NULL,
    default_value text,
    storage text COLLATE "C" NOT NULL,
    position bigint NOT NULL,
    link_table_id uuid,
    created_at timestamptz NOT NULL,
    UNIQUE (table_id, name_key)
);
CREATE INDEX data_fields_link_target ON data_fields (link_table_id);
