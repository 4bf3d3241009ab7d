-- Scheduled rotation of KV v2 secrets (ROTATION.md): one row per rotated secret holding its
-- configuration (encrypted under the barrier, the webhook HMAC key inside) and the persisted state
-- of the four-step rotation in flight. The leader's scheduler finds work through kv_rotation_due_idx:
-- `due_at` is the next scheduled start while idle, the next attempt while a rotation waits for a
-- retry, and a short claim while a node works on it. `claim_epoch` is the leader epoch of that node;
-- claims of a former epoch (a crashed or deposed leader) are released at once by the new leader.
-- The row goes with its secret: deleting the key's metadata (or its mount) deletes it.
CREATE TABLE kv_rotation (
    mount_id         TEXT NOT NULL,
    path             TEXT NOT NULL,
    config           BLOB NOT NULL,
    key_term         INTEGER NOT NULL,
    scheduled        INTEGER NOT NULL,
    fire_at          INTEGER,
    next_rotation_at INTEGER,
    due_at           INTEGER,
    claim_epoch      INTEGER,
    step             TEXT NOT NULL DEFAULT '',
    step_done        INTEGER NOT NULL DEFAULT 0,
    cause            TEXT NOT NULL DEFAULT '',
    version_token    TEXT NOT NULL DEFAULT '',
    from_version     INTEGER,
    pending_version  INTEGER,
    new_value        BLOB,
    attempts         INTEGER NOT NULL DEFAULT 0,
    started_at       INTEGER,
    last_rotated_at  INTEGER,
    last_outcome     TEXT NOT NULL DEFAULT '',
    last_error       TEXT NOT NULL DEFAULT '',
    succeeded        INTEGER NOT NULL DEFAULT 0,
    failed           INTEGER NOT NULL DEFAULT 0,
    abandoned        INTEGER NOT NULL DEFAULT 0,
    rev              INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (mount_id, path),
    FOREIGN KEY (mount_id, path) REFERENCES kv_metadata (mount_id, path) ON DELETE CASCADE
);
CREATE INDEX kv_rotation_due_idx ON kv_rotation (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX kv_rotation_claim_idx ON kv_rotation (claim_epoch) WHERE claim_epoch IS NOT NULL;
