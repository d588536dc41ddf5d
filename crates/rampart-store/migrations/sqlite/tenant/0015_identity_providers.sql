-- The tenant's identity providers (OpenID Connect) for single sign-on. The client secret is
-- sealed with the tenant's data key and bound to the provider's id; clients see a keyed
-- fingerprint of it, never the value.
CREATE TABLE identity_providers (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    protocol TEXT NOT NULL CHECK (protocol IN ('oidc')),
    issuer TEXT NOT NULL,
    client_id TEXT NOT NULL,
    client_secret BLOB NOT NULL,
    secret_fingerprint TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT
);
