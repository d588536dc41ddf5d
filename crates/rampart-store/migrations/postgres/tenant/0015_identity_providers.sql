-- The tenant's identity providers (OpenID Connect) for single sign-on. The client secret is
-- sealed with the tenant's data key and bound to the provider's id; clients see a keyed
-- fingerprint of it, never the value.
CREATE TABLE identity_providers (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    name_key text COLLATE "C" NOT NULL UNIQUE,
    protocol text NOT NULL CHECK (protocol IN ('oidc')),
    issuer text NOT NULL,
    client_id text NOT NULL,
    client_secret bytea NOT NULL,
    secret_fingerprint text NOT NULL,
    scopes text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    updated_by uuid
);
