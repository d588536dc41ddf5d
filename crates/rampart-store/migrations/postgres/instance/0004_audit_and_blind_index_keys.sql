-- Three more states for tenant keys, wrapped by the KEK like every data key:
-- 'audit' keys seal what the audit chain holds and sign its checkpoints (kept for the
-- tenant's life); 'blind_index' keys hold a field's blind index key once the data key it
-- was derived from is retired; 'pinned' marks a retired data key that the audit chain still
-- names (chains written before audit keys existed), kept for the tenant's life.
ALTER TABLE tenant_keys DROP CONSTRAINT tenant_keys_state_check;
ALTER TABLE tenant_keys ADD CONSTRAINT tenant_keys_state_check
    CHECK (state IN ('active', 'retired', 'pinned', 'audit', 'blind_index'));
