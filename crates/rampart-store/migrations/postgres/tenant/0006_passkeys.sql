CREATE TABLE passkeys (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id bytea NOT NULL UNIQUE,
    name text NOT NULL,
    credential text NOT NULL,
    created_at timestamptz NOT NULL,
    last_used_at timestamptz
);

CREATE INDEX passkeys_user ON passkeys (user_id);

CREATE TABLE webauthn_ceremonies (
    id uuid PRIMARY KEY,
    user_id uuid REFERENCES users (id) ON DELETE CASCADE,
    purpose text NOT NULL,
    state text NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX webauthn_ceremonies_expiry ON webauthn_ceremonies (expires_at);
