-- Leases of dynamic secrets (database credentials). The expiry worker streams due rows through
-- secret_lease_due_idx in batches; nothing is loaded at unseal. `secret` is the engine's internal data
-- (e.g. the database user name), encrypted under the barrier with key term `key_term`.
CREATE TABLE secret_lease (
    id           TEXT PRIMARY KEY,
    mount_id     TEXT NOT NULL,
    path         TEXT NOT NULL,
    role         TEXT NOT NULL,
    token_hash   BLOB,
    issue_time   INTEGER NOT NULL,
    expire_time  INTEGER NOT NULL,
    max_expire   INTEGER NOT NULL,
    last_renewal INTEGER,
    renewable    INTEGER NOT NULL,
    key_term     INTEGER NOT NULL,
    secret       BLOB NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    last_error   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX secret_lease_due_idx ON secret_lease (next_attempt, id);
CREATE INDEX secret_lease_token_idx ON secret_lease (token_hash) WHERE token_hash IS NOT NULL;
CREATE INDEX secret_lease_role_idx ON secret_lease (role);
