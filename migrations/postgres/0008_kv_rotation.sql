-- Scheduled rotation of KV v2 secrets (ROTATION.md): one row per rotated secret holding its
-- configuration (encrypted under the barrier, the webhook HMAC key inside) and the persisted state
-- of the four-step rotation in flight. The leader's scheduler finds work through kv_rotation_due_idx
-- and claims it with FOR UPDATE SKIP LOCKED: `due_at` is the next scheduled start while idle, the
-- next attempt while a rotation waits for a retry, and a short claim while a node works on it.
-- `claim_epoch` is the leader epoch of that node; claims of a former epoch (a crashed or deposed
-- leader) are released at once by the new leader.
-- The row goes with its secret: deleting the key's metadata (or its mount) deletes it.
CREATE TABLE kv_rotation (
    mount_id         TEXT NOT NULL,
    path             TEXT COLLATE "C" NOT NULL,
    config           BYTEA NOT NULL,
    key_term         BIGINT NOT NULL,
    scheduled        BOOLEAN NOT NULL,
    fire_at          BIGINT,
    next_rotation_at BIGINT,
    due_at           BIGINT,
    claim_epoch      BIGINT,
    step             TEXT NOT NULL DEFAULT '',
    step_done        BOOLEAN NOT NULL DEFAULT false,
    cause            TEXT NOT NULL DEFAULT '',
    version_token    TEXT NOT NULL DEFAULT '',
    from_version     BIGINT,
    pending_version  BIGINT,
    new_value        BYTEA,
    attempts         BIGINT NOT NULL DEFAULT 0,
    started_at       BIGINT,
    last_rotated_at  BIGINT,
    last_outcome     TEXT NOT NULL DEFAULT '',
    last_error       TEXT NOT NULL DEFAULT '',
    succeeded        BIGINT NOT NULL DEFAULT 0,
    failed           BIGINT NOT NULL DEFAULT 0,
    abandoned        BIGINT NOT NULL DEFAULT 0,
    rev              BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (mount_id, path),
    FOREIGN KEY (mount_id, path) REFERENCES kv_metadata (mount_id, path) ON DELETE CASCADE
);
CREATE INDEX kv_rotation_due_idx ON kv_rotation (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX kv_rotation_claim_idx ON kv_rotation (claim_epoch) WHERE claim_epoch IS NOT NULL;
