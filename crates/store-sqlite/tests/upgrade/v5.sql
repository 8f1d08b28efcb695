PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES('schema_version','5');
INSERT INTO meta VALUES('timer_seq','2');
CREATE TABLE workspaces (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    event_count   INTEGER NOT NULL DEFAULT 0,
    profile_count INTEGER NOT NULL DEFAULT 0
, last_seq INTEGER NOT NULL DEFAULT 0);
INSERT INTO workspaces VALUES(1,'shop',1767225600000000,4,2,4);
INSERT INTO workspaces VALUES(2,'other',1767225600000000,1,1,5);
CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
    kind         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    label        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER
);
INSERT INTO api_keys VALUES(1,1,'write','6951bea2e5c56e2ada3d163916e7ea5146a895a7e3157fbd24b40560bfb4c4ed','site',1767225600000000,NULL);
INSERT INTO api_keys VALUES(2,1,'admin','c29a0388c9a1ddbfc2f17330f224fc853b21f0868166bcd8fdb054f3d1df0295','ops',1767225600000000,NULL);
INSERT INTO api_keys VALUES(3,2,'write','8279018cc2dae7cefbc46b50bef63c396e0f1f4a5b73014e135b99a1f7bc1a83','old',1767225600000000,1767225660000000);
CREATE TABLE profiles (
    id           INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    user_id      TEXT,
    traits       TEXT NOT NULL DEFAULT '{}',
    created_at   INTEGER NOT NULL,
    merged_into  INTEGER
);
INSERT INTO profiles VALUES(1,1,'u1','{"values":{"email":"u1@example.com","plan":"pro"},"set_at":{"email":1767225720000000,"plan":1767225720000000}}',1767312000000000,NULL);
INSERT INTO profiles VALUES(2,1,'u2','{}',1767312000000000,NULL);
INSERT INTO profiles VALUES(3,2,'u1','{}',1767312000000000,NULL);
CREATE TABLE identities (
    workspace_id INTEGER NOT NULL,
    kind         INTEGER NOT NULL,
    external_id  TEXT NOT NULL,
    profile_id   INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, kind, external_id)
) WITHOUT ROWID;
INSERT INTO identities VALUES(1,0,'u1',1);
INSERT INTO identities VALUES(1,1,'anon-1',1);
INSERT INTO identities VALUES(1,0,'u2',2);
INSERT INTO identities VALUES(2,0,'u1',3);
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
INSERT INTO events VALUES(1,1,1,'up-1',1,'Product Viewed',NULL,'anon-1',1767225660000000,1767312000000000,'{"type":"track","anonymousId":"anon-1","event":"Product Viewed","properties":{"sku":"A-1","price":12.5},"messageId":"up-1"}');
INSERT INTO events VALUES(2,1,1,'up-2',0,NULL,'u1','anon-1',1767225720000000,1767312000000000,'{"type":"identify","anonymousId":"anon-1","userId":"u1","traits":{"email":"u1@example.com","plan":"pro"},"messageId":"up-2"}');
INSERT INTO events VALUES(3,1,1,'up-3',1,'Order Completed','u1',NULL,1767225780000000,1767312000000000,'{"type":"track","userId":"u1","event":"Order Completed","properties":{"revenue":40,"products":[{"sku":"A-1"}]},"messageId":"up-3"}');
INSERT INTO events VALUES(4,1,2,'up-4',2,'Home','u2',NULL,1767225840000000,1767312000000000,'{"type":"page","userId":"u2","name":"Home","messageId":"up-4"}');
INSERT INTO events VALUES(5,2,3,'up-1',1,'Signed Up','u1',NULL,1767225900000000,1767312000000000,'{"type":"track","userId":"u1","event":"Signed Up","messageId":"up-1"}');
CREATE TABLE event_names (
    workspace_id INTEGER NOT NULL,
    name         TEXT NOT NULL,
    PRIMARY KEY (workspace_id, name)
) WITHOUT ROWID;
INSERT INTO event_names VALUES(1,'Home');
INSERT INTO event_names VALUES(1,'Order Completed');
INSERT INTO event_names VALUES(1,'Product Viewed');
INSERT INTO event_names VALUES(2,'Signed Up');
CREATE TABLE snapshots (
    workspace_id INTEGER NOT NULL,
    name         TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    taken_at     INTEGER NOT NULL,
    data         BLOB NOT NULL,
    PRIMARY KEY (workspace_id, name)
) WITHOUT ROWID;
INSERT INTO snapshots VALUES(1,'engine',4,1767225900000000,X'0700ff01');
CREATE TABLE timers (
    due_at       INTEGER NOT NULL,
    id           INTEGER NOT NULL,
    workspace_id INTEGER NOT NULL,
    key          TEXT NOT NULL,
    leased_until INTEGER NOT NULL DEFAULT 0,
    payload      TEXT NOT NULL,
    PRIMARY KEY (due_at, id)
) WITHOUT ROWID;
INSERT INTO timers VALUES(1767229200000000,1,1,'journey:welcome:u1:1:wait',0,'{"timer":"journey:welcome:u1:1:wait"}');
INSERT INTO timers VALUES(1767232800000000,2,1,'broadcast:spring',0,'{"timer":"broadcast:spring"}');
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
INSERT INTO outbox VALUES(1,1,'welcome:u1:1:hello',1,'<welcome:u1:1:hello@tidings.test>','marketing','welcome','journey:welcome:hello','{"first":"u1"}',1767225960000000,1767225960000000,'sent',1,0,1767226020000000,'250 ok');
INSERT INTO outbox VALUES(2,1,'order:u1:1:receipt',1,'<order:u1:1:receipt@tidings.test>','transactional','welcome','journey:welcome:hello','{"first":"u1"}',1767225960000000,1767225960000000,'pending',0,0,NULL,NULL);
CREATE TABLE send_decisions (
    id           INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL,
    profile_id   INTEGER NOT NULL,
    key          TEXT NOT NULL,
    at           INTEGER NOT NULL,
    decision     TEXT NOT NULL,
    reason       TEXT NOT NULL
);
INSERT INTO send_decisions VALUES(1,1,1,'welcome:u1:1:hello',1767226020000000,'send','ok');
CREATE TABLE journey_instances (
    workspace_id INTEGER NOT NULL,
    journey      TEXT NOT NULL,
    profile_id   INTEGER NOT NULL,
    entry        INTEGER NOT NULL,
    entry_key    TEXT,
    entered_at   INTEGER NOT NULL,
    done         INTEGER NOT NULL,
    state        TEXT NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, journey, profile_id, entry)
);
INSERT INTO journey_instances VALUES(1,'welcome',1,1,'u1',1767225720000000,0,'{"step":1,"visits":{}}',1767226020000000);
CREATE INDEX identities_profile ON identities (profile_id);
CREATE UNIQUE INDEX events_message ON events (workspace_id, message_id);
CREATE INDEX events_profile ON events (profile_id, ts);
CREATE UNIQUE INDEX timers_key ON timers (workspace_id, key);
CREATE UNIQUE INDEX outbox_key ON outbox (workspace_id, key);
CREATE INDEX outbox_due ON outbox (status, not_before);
CREATE INDEX outbox_profile ON outbox (profile_id, created_at);
CREATE INDEX send_decisions_profile ON send_decisions (profile_id, at);
CREATE INDEX journey_instances_profile ON journey_instances (profile_id);
COMMIT;
