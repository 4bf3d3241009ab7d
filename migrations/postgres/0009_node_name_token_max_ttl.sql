-- A node's configured name (`ha.node_name`), shown by sys/ha-status; and a login token's renewal
-- cap from its role or mount, kept apart from `explicit_max_ttl` as Vault does (D110).
ALTER TABLE node ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE token ADD COLUMN max_ttl BIGINT NOT NULL DEFAULT 0;
