-- Staging labels of KV v2 versions (ROTATION.md): a label sits on at most one version of a key.
CREATE TABLE kv_stage (
    mount_id TEXT NOT NULL,
    path     TEXT COLLATE "C" NOT NULL,
    stage    TEXT COLLATE "C" NOT NULL,
    version  BIGINT NOT NULL,
    PRIMARY KEY (mount_id, path, stage)
);

-- Idempotency tokens of staged writes: the version a token made and an HMAC of its value.
CREATE TABLE kv_request_token (
    mount_id TEXT NOT NULL,
    path     TEXT COLLATE "C" NOT NULL,
    token    TEXT COLLATE "C" NOT NULL,
    version  BIGINT NOT NULL,
    digest   BYTEA NOT NULL,
    PRIMARY KEY (mount_id, path, token)
);
