-- The leader lease for background singletons (token tidy, lease expiry, rotation scheduler) and
-- the nodes that share this store. Every singleton write is conditional on the epoch it holds.
CREATE TABLE leader (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE node (
    id TEXT PRIMARY KEY,
    address TEXT NOT NULL,
    last_seen INTEGER NOT NULL
);
