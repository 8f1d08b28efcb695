-- Journey instances: one row per (journey, profile, entry), the machine's
-- state as JSON. A keyed journey (one instance per cart) keeps the key.
CREATE TABLE journey_instances (
    workspace_id BIGINT NOT NULL,
    journey      TEXT NOT NULL,
    profile_id   BIGINT NOT NULL,
    entry        BIGINT NOT NULL,
    entry_key    TEXT,
    entered_at   BIGINT NOT NULL,
    done         BOOLEAN NOT NULL,
    state        TEXT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, journey, profile_id, entry)
);
CREATE INDEX journey_instances_profile ON journey_instances (profile_id);
