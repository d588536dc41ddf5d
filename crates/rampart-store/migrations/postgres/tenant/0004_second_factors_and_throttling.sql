ALTER TABLE sessions ADD COLUMN public_id uuid;
ALTER TABLE sessions ADD COLUMN authenticated_at timestamptz;
ALTER TABLE users ADD COLUMN last_login_at timestamptz;

CREATE TABLE user_totp (
    user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    seed bytea NOT NULL,
    enabled boolean NOT NULL,
    last_step bigint NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE recovery_codes (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash bytea NOT NULL,
    used_at timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE login_challenges (
    token_hash bytea PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL,
    attempts bigint NOT NULL
);

CREATE TABLE login_throttle (
    key text COLLATE "C" PRIMARY KEY,
    failures bigint NOT NULL,
    blocked_until timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE tenant_settings (
    name text COLLATE "C" PRIMARY KEY,
    value text NOT NULL
);

CREATE INDEX login_throttle_updated ON login_throttle (updated_at);
