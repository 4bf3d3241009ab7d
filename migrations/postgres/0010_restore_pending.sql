-- The store as it was before a forced snapshot restore (`sys/storage/raft/snapshot-force`), in the
-- snapshot format, kept until the first unseal proves the restored keys (then deleted) or fails
-- (then put back). At most one row. Never part of a snapshot (D194).
CREATE TABLE restore_pending (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    snapshot BYTEA NOT NULL
);
