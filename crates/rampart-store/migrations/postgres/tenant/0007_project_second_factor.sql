ALTER TABLE projects ADD COLUMN require_second_factor boolean NOT NULL DEFAULT false;
