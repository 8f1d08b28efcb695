-- Engine snapshots, and the log position kept with the counts.
CREATE TABLE snapshots (
    workspace_id INTEGER NOT NULL,
    name         TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    taken_at     INTEGER NOT NULL,
    data         BLOB NOT NULL,
    PRIMARY KEY (workspace_id, name)
) WITHOUT ROWID;

ALTER TABLE workspaces ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;
UPDATE workspaces SET last_seq = coalesce((SELECT max(seq) FROM events WHERE events.workspace_id = workspaces.id), 0);
