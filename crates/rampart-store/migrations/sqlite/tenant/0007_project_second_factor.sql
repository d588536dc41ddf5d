ALTER TABLE projects ADD COLUMN require_second_factor INTEGER NOT NULL DEFAULT 0;
