CREATE TABLE groups (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    name_key text COLLATE "C" NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);

CREATE TABLE group_members (
    group_id uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

CREATE TABLE user_attributes (
    name text COLLATE "C" PRIMARY KEY,
    multiple boolean NOT NULL,
    created_at timestamptz NOT NULL
);

ALTER TABLE users ADD COLUMN attributes jsonb;

CREATE TABLE permission_sets (
    id uuid PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name text NOT NULL,
    name_key text COLLATE "C" NOT NULL,
    definition text NOT NULL,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (project_id, name_key)
);

CREATE TABLE permission_set_users (
    set_id uuid NOT NULL REFERENCES permission_sets (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (set_id, user_id)
);
CREATE INDEX permission_set_users_user ON permission_set_users (user_id);

CREATE TABLE permission_set_groups (
    set_id uuid NOT NULL REFERENCES permission_sets (id) ON DELETE CASCADE,
    group_id uuid NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (set_id, group_id)
);
CREATE INDEX permission_set_groups_group ON permission_set_groups (group_id);
