CREATE TABLE tenants (
    id uuid PRIMARY KEY,
    slug text COLLATE "C" NOT NULL UNIQUE,
    name text NOT NULL,
    status text NOT NULL CHECK (status IN ('active', 'suspended', 'deleting')),
    storage text COLLATE "C" NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);

CREATE TABLE instance_secrets (
    name text PRIMARY KEY,
    value bytea NOT NULL
);

CREATE TABLE counters (
    name text PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO counters (name, value) VALUES ('tenant_storage', 0);
