-- Two more kinds of tenant key live next to the data keys, wrapped the same way:
-- 'audit' keys seal what the audit chain holds and sign its checkpoints (kept for the
-- tenant's life), 'blind_index' keys hold a field's blind index key once the data key it
-- was derived from is retired.
ALTER TABLE tenant_keys DROP CONSTRAINT tenant_keys_state_check;
ALTER TABLE tenant_keys ADD CONSTRAINT tenant_keys_state_check
    CHECK (state IN ('active', 'retired', 'audit', 'blind_index'));
