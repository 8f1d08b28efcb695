-- Several nodes share one database. Each workspace's profiles fall into a
-- fixed number of partitions (profile_id % 64); a node works on a partition
-- only while it holds its lease. The fencing token grows with every change
-- of owner. Keyed by (workspace_id, partition): a Citus-style distribution
-- column pair.
CREATE TABLE nodes (
    node_id    TEXT PRIMARY KEY,
    started_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL
);
CREATE TABLE partition_leases (
    workspace_id INTEGER NOT NULL,
    partition_no INTEGER NOT NULL,
    owner        TEXT,
    token        INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, partition_no)
);
-- Every change of owner, for operators and tests.
CREATE TABLE lease_changes (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL,
    partition_no INTEGER NOT NULL,
    owner        TEXT,
    previous     TEXT,
    token        INTEGER NOT NULL,
    at           INTEGER NOT NULL,
    reason       TEXT NOT NULL
);
CREATE INDEX lease_changes_workspace ON lease_changes (workspace_id, id);
