-- Several nodes tail one log. An identity merge is recorded at the log
-- position of the append that made it, so every node's engine folds the
-- same two profiles at the same point of the log, whichever node ingested
-- it. A node announces where its API answers, so that the others can ask
-- it about the partitions it owns.
CREATE TABLE profile_merges (
    workspace_id BIGINT NOT NULL,
    seq          BIGINT NOT NULL,
    from_profile BIGINT NOT NULL,
    into_profile BIGINT NOT NULL
);
CREATE INDEX profile_merges_seq ON profile_merges (workspace_id, seq);
ALTER TABLE nodes ADD COLUMN address TEXT;
-- A timer that belongs to a person is fired by the node owning the
-- person's partition (NULL: a workspace-wide timer, fired by the owner of
-- partition 0).
ALTER TABLE timers ADD COLUMN profile_id BIGINT;
-- How far the partition's owner has recorded its segment changes: a node
-- taking the partition over records only what changed after it.
ALTER TABLE partition_leases ADD COLUMN recorded_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE partition_leases ADD COLUMN recorded_at BIGINT NOT NULL DEFAULT 0;
