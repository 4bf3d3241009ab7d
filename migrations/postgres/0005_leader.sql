-- The leader lease for background singletons (token tidy, lease expiry, rotation scheduler) and
-- the nodes that share this store. Every singleton write is conditional on the epoch it holds.
CREATE TABLE leader (
    name TEXT COLLATE "C" PRIMARY KEY,
    holder TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE node (
    id TEXT COLLATE "C" PRIMARY KEY,
    address TEXT NOT NULL,
    last_seen BIGINT NOT NULL
);
