-- Durable timers: journeys' waits and other work due at a time. A timer is
-- claimed (leased) by the runner that fires it and deleted when its effects
-- are recorded; a lease that runs out makes it due again.
CREATE TABLE timers (
    id           INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    key          TEXT NOT NULL,
    due_at       INTEGER NOT NULL,
    leased_until INTEGER NOT NULL DEFAULT 0,
    payload      TEXT NOT NULL
);
CREATE UNIQUE INDEX timers_key ON timers (workspace_id, key);
CREATE INDEX timers_due ON timers (due_at);
