-- The event log, profiles, identities, workspaces and keys.
CREATE TABLE workspaces (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    event_count   INTEGER NOT NULL DEFAULT 0,
    profile_count INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
    kind         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    label        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);

CREATE TABLE profiles (
    id           INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    user_id      TEXT,
    traits       TEXT NOT NULL DEFAULT '{}',
    created_at   INTEGER NOT NULL,
    merged_into  INTEGER
);

-- kind 0: user id, 1: anonymous id
CREATE TABLE identities (
    workspace_id INTEGER NOT NULL,
    kind         INTEGER NOT NULL,
    external_id  TEXT NOT NULL,
    profile_id   INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, kind, external_id)
) WITHOUT ROWID;
CREATE INDEX identities_profile ON identities (profile_id);

CREATE TABLE events (
    seq          INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    profile_id   INTEGER NOT NULL,
    message_id   TEXT NOT NULL,
    type         INTEGER NOT NULL,
    event        TEXT,
    user_id      TEXT,
    anonymous_id TEXT,
    ts           INTEGER NOT NULL,
    received_at  INTEGER NOT NULL,
    body         TEXT NOT NULL
);
CREATE UNIQUE INDEX events_message ON events (workspace_id, message_id);
CREATE INDEX events_profile ON events (profile_id, ts);

CREATE TABLE event_names (
    workspace_id INTEGER NOT NULL,
    name         TEXT NOT NULL,
    PRIMARY KEY (workspace_id, name)
) WITHOUT ROWID;
