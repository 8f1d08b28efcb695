-- The event log, profiles, identities, workspaces and keys (PostgreSQL dialect
-- of store-sqlite's 0001_init.sql; the two must describe the same data).
CREATE TABLE workspaces (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    event_count   BIGINT NOT NULL DEFAULT 0,
    profile_count BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE api_keys (
    id           BIGSERIAL PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces(id),
    kind         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    label        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT
);

CREATE TABLE profiles (
    id           BIGSERIAL PRIMARY KEY,
    workspace_id BIGINT NOT NULL,
    user_id      TEXT,
    traits       TEXT NOT NULL DEFAULT '{}',
    created_at   BIGINT NOT NULL,
    merged_into  BIGINT
);

-- kind 0: user id, 1: anonymous id
CREATE TABLE identities (
    workspace_id BIGINT NOT NULL,
    kind         SMALLINT NOT NULL,
    external_id  TEXT NOT NULL,
    profile_id   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, kind, external_id)
);
CREATE INDEX identities_profile ON identities (profile_id);

CREATE TABLE events (
    seq          BIGSERIAL PRIMARY KEY,
    workspace_id BIGINT NOT NULL,
    profile_id   BIGINT NOT NULL,
    message_id   TEXT NOT NULL,
    type         SMALLINT NOT NULL,
    event        TEXT,
    user_id      TEXT,
    anonymous_id TEXT,
    ts           BIGINT NOT NULL,
    received_at  BIGINT NOT NULL,
    body         TEXT NOT NULL
);
CREATE UNIQUE INDEX events_message ON events (workspace_id, message_id);
CREATE INDEX events_profile ON events (profile_id, ts, seq);

CREATE TABLE event_names (
    workspace_id BIGINT NOT NULL,
    name         TEXT NOT NULL,
    PRIMARY KEY (workspace_id, name)
);
