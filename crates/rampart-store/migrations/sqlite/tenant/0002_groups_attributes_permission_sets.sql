CREATE TABLE groups (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

CREATE TABLE user_attributes (
    name TEXT PRIMARY KEY NOT NULL,
    multiple INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

ALTER TABLE users ADD COLUMN attributes TEXT;

CREATE TABLE permission_sets (
    id TEXT PRIMARY KEY NOT NULL,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    definition TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (project_id, name_key)
);

CREATE TABLE permission_set_users (
    set_id TEXT NOT NULL REFERENCES permission_sets (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (set_id, user_id)
);
CREATE INDEX permission_set_users_user ON permission_set_users (user_id);

CREATE TABLE permission_set_groups (
    set_id TEXT NOT NULL REFERENCES permission_sets (id) ON DELETE CASCADE,
    group_id TEXT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (set_id, group_id)
);
CREATE INDEX permission_set_groups_group ON permission_set_groups (group_id);
