-- An upsert's rows that updated a record (counted among the rows written).
ALTER TABLE import_jobs ADD COLUMN rows_updated BIGINT NOT NULL DEFAULT 0;
