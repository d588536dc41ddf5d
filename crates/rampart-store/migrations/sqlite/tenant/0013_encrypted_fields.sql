-- Fields whose values are sealed at rest, optionally with a blind index (the data key
-- version its index key derives from).
ALTER TABLE data_fields ADD COLUMN encrypted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE data_fields ADD COLUMN blind_index_key INTEGER;
