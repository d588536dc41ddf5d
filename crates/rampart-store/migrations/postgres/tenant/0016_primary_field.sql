ALTER TABLE data_tables ADD COLUMN primary_field uuid;
