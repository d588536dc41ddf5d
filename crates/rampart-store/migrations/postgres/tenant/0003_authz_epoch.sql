-- Grows with every change that can alter an authorization decision (schema, permission sets
-- and their holders, groups, user attributes, project members, user roles), so that decisions
-- cached by any node are recognised as stale.
INSERT INTO counters (name, value) VALUES ('authz', 0);
