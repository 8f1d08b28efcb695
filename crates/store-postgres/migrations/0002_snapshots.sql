-- Engine snapshots, and the log position kept with the counts.
CREATE TABLE snapshots (
    workspace_id BIGINT NOT NULL,
    name         TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    taken_at     BIGINT NOT NULL,
    data         BYTEA NOT NULL,
    PRIMARY KEY (workspace_id, name)
);

ALTER TABLE workspaces ADD COLUMN last_seq BIGINT NOT NULL DEFAULT 0;
UPDATE workspaces SET last_seq = coalesce((SELECT max(seq) FROM events WHERE events.workspace_id = workspaces.id), 0);
