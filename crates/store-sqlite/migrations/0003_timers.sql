-- Durable timers: journeys' waits and other work due at a time. A timer is
-- claimed (leased, in memory: one process owns the folder) by the runner that
-- fires it and deleted when its effects are recorded. `leased_until` is
-- unused here (kept in step with PostgreSQL's schema). The table is
-- clustered by due time, so firing a million due timers reads and deletes
-- neighbouring rows instead of pages all over the file.
CREATE TABLE timers (
    due_at       INTEGER NOT NULL,
    id           INTEGER NOT NULL,
    workspace_id INTEGER NOT NULL,
    key          TEXT NOT NULL,
    leased_until INTEGER NOT NULL DEFAULT 0,
    payload      TEXT NOT NULL,
    PRIMARY KEY (due_at, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX timers_key ON timers (workspace_id, key);
INSERT INTO meta (key, value) VALUES ('timer_seq', '0');
