-- Leases of dynamic secrets (database credentials). The expiry worker streams due rows through
-- secret_lease_due_idx in batches; nothing is loaded at unseal. `secret` is the engine's internal data
-- (e.g. the database user name), encrypted under the barrier with key term `key_term`.
CREATE TABLE secret_lease (
    id           TEXT COLLATE "C" PRIMARY KEY,
    mount_id     TEXT NOT NULL,
    path         TEXT NOT NULL,
    role         TEXT NOT NULL,
    token_hash   BYTEA,
    issue_time   BIGINT NOT NULL,
    expire_time  BIGINT NOT NULL,
    max_expire   BIGINT NOT NULL,
    last_renewal BIGINT,
    renewable    BOOLEAN NOT NULL,
    key_term     BIGINT NOT NULL,
    secret       BYTEA NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_attempt BIGINT NOT NULL,
    last_error   TEXT NOT NULL DEFAULT ''
);
CREATE INDEX secret_lease_due_idx ON secret_lease (next_attempt, id);
CREATE INDEX secret_lease_token_idx ON secret_lease (token_hash) WHERE token_hash IS NOT NULL;
CREATE INDEX secret_lease_role_idx ON secret_lease (role);
