-- Durable timers: journeys' waits and other work due at a time. A timer is
-- claimed (leased) by the runner that fires it and deleted when its effects
-- are recorded; a lease that runs out makes it due again.
CREATE TABLE timers (
    id           BIGSERIAL PRIMARY KEY,
    workspace_id BIGINT NOT NULL,
    key          TEXT NOT NULL,
    due_at       BIGINT NOT NULL,
    leased_until BIGINT NOT NULL DEFAULT 0,
    payload      TEXT NOT NULL
);
CREATE UNIQUE INDEX timers_key ON timers (workspace_id, key);
CREATE INDEX timers_due ON timers (due_at);
