-- The outbox: a message is recorded here before it is sent and marked after,
-- so a crash between the two resends it with the same Message-ID. `key` is the
-- idempotency key of the step that asked for it (journey, profile, entry,
-- step): a step that runs twice enqueues once.
CREATE TABLE outbox (
    id           INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    key          TEXT NOT NULL,
    profile_id   INTEGER NOT NULL,
    message_id   TEXT NOT NULL,
    kind         TEXT NOT NULL,
    template     TEXT NOT NULL,
    source       TEXT NOT NULL,
    payload      TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    not_before   INTEGER NOT NULL,
    status       TEXT NOT NULL DEFAULT 'pending',
    attempts     INTEGER NOT NULL DEFAULT 0,
    leased_until INTEGER NOT NULL DEFAULT 0,
    sent_at      INTEGER,
    detail       TEXT
);
CREATE UNIQUE INDEX outbox_key ON outbox (workspace_id, key);
CREATE INDEX outbox_due ON outbox (status, not_before);
CREATE INDEX outbox_profile ON outbox (profile_id, created_at);

-- Why a send was deferred or skipped (and that it was allowed), per profile.
CREATE TABLE send_decisions (
    id           INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    profile_id   INTEGER NOT NULL,
    key          TEXT NOT NULL,
    at           INTEGER NOT NULL,
    decision     TEXT NOT NULL,
    reason       TEXT NOT NULL
);
CREATE INDEX send_decisions_profile ON send_decisions (profile_id, at);
