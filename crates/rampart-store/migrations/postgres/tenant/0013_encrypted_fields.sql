-- Fields whose values are sealed at rest, optionally with a blind index (the data key
-- version its index key derives from).
ALTER TABLE data_fields ADD COLUMN encrypted boolean NOT NULL DEFAULT false;
ALTER TABLE data_fields ADD COLUMN blind_index_key bigint;
