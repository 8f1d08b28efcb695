--
-- PostgreSQL database dump
--


-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

--
-- Name: upgrade_v5; Type: SCHEMA; Schema: -; Owner: -
--

CREATE SCHEMA upgrade_v5;


SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: api_keys; Type: TABLE; Schema: upgrade_v5; Owner: -
--

CREATE TABLE upgrade_v5.api_keys (
    id bigint NOT NULL,
    workspace_id bigint NOT NULL,
    kind text NOT NULL,
    hash text NOT NULL,
    label text NOT NULL,
    created_at bigint NOT NULL,
    revoked_at bigint
);


--
-- Name: api_keys_id_seq; Type: SEQUENCE; Schema: upgrade_v5; Owner: -
--

CREATE SEQUENCE upgrade_v5.api_keys_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: api_keys_id_seq; Type: SEQUENCE OWNED BY; Schema: upgrade_v5; Owner: -
--

ALTER SEQUENCE upgrade_v5.api_keys_id_seq OWNED BY upgrade_v5.api_keys.id;


--
-- Name: event_names; Type: TABLE; Schema: upgrade_v5; Owner: -
--

CREATE TABLE upgrade_v5.event_names (
    workspace_id bigint NOT NULL,
    name text NOT NULL
);


--
-- Name: events; Type: TABLE; Schema: upgrade_v5; Owner: -
--

CREATE TABLE upgrade_v5.events (
    seq bigint NOT NULL,
    workspace_id bigint NOT NULL,
    profile_id bigint NOT NULL,
    message_id text NOT NULL,
    type smallint NOT NULL,
    event text,
    user_id text,
    anonymous_id text,
    ts bigint NOT NULL,
    received_at bigint NOT NULL,
    body text NOT NULL
);


--
-- Name: events_seq_seq; Type: SEQUENCE; Schema: upgrade_v5; Owner: -
--

CREATE SEQUENCE upgrade_v5.events_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: events_seq_seq; Type: SEQUENCE OWNED BY; Schema: upgrade_v5; Owner: -
--

ALTER SEQUENCE upgrade_v5.events_seq_seq OWNED BY upgrade_v5.events.seq;


--
-- Name: identities; Type: TABLE; Schema: upgrade_v5; Owner: -
--

CREATE TABLE upgrade_v5.identities (
    workspace_id bigint NOT NULL,
    kind smallint NOT NULL,
    external_id text NOT NULL,
    profile_id bigint NOT NULL
);


--
-- Name: journey_instances; Type: TABLE; Schema: upgrade_v5; Owner: -
--

CREATE TABLE upgrade_v5.journey_instances (
    workspace_id bigint NOT NULL,
    journey text NOT NULL,
    profile_id bigint NOT NULL,
    entry bigint NOT NULL,
    entry_key text,
    entered_at bigint NOT NULL,
    done boolean NOT NULL,
    state text NOT NULL,
    updated_at bigint NOT NULL
);


--
-- Name: meta; Type: TABLE; Schema: upgrade_v5; Owner: -
--

CREATE TABLE upgrade_v5.meta (
    key text NOT NULL,
    value text NOT NULL
);


--
-- Name: outbox; Type: TABLE; Schema: upgrade_v5; Owner: -
--

CREATE TABLE upgrade_v5.outbox (
    id bigint NOT NULL,
    workspace_id bigint NOT NULL,
    key text NOT NULL,
    profile_id bigint NOT NULL,
    message_id text NOT NULL,
    kind text NOT NULL,
    template text NOT NULL,
    source text NOT NULL,
    payload text NOT NULL,
    created_at bigint NOT NULL,
    not_before bigint NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    attempts bigint DEFAULT 0 NOT NULL,
    leased_until bigint DEFAULT 0 NOT NULL,
    sent_at bigint,
    detail text
);


--
-- Name: outbox_id_seq; Type: SEQUENCE; Schema: upgrade_v5; Owner: -
--

CREATE SEQUENCE upgrade_v5.outbox_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: outbox_id_seq; Type: SEQUENCE OWNED BY; Schema: upgrade_v5; Owner: -
--

ALTER SEQUENCE upgrade_v5.outbox_id_seq OWNED BY upgrade_v5.outbox.id;


--
-- Name: profiles; Type: TABLE; Schema: upgrade_v5; Owner: -
--

CREATE TABLE upgrade_v5.profiles (
    id bigint NOT NULL,
    workspace_id bigint NOT NULL,
    user_id text,
    traits text DEFAULT '{}'::text NOT NULL,
    created_at bigint NOT NULL,
    merged_into bigint
);


--
-- Name: profiles_id_seq; Type: SEQUENCE; Schema: upgrade_v5; Owner: -
--

CREATE SEQUENCE upgrade_v5.profiles_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: profiles_id_seq; Type: SEQUENCE OWNED BY; Schema: upgrade_v5; Owner: -
--

ALTER SEQUENCE upgrade_v5.profiles_id_seq OWNED BY upgrade_v5.profiles.id;


--
-- Name: send_decisions; Type: TABLE; Schema: upgrade_v5; Owner: -
--

CREATE TABLE upgrade_v5.send_decisions (
    id bigint NOT NULL,
    workspace_id bigint NOT NULL,
    profile_id bigint NOT NULL,
    key text NOT NULL,
    at bigint NOT NULL,
    decision text NOT NULL,
    reason text NOT NULL
);


--
-- Name: send_decisions_id_seq; Type: SEQUENCE; Schema: upgrade_v5; Owner: -
--

CREATE SEQUENCE upgrade_v5.send_decisions_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: send_decisions_id_seq; Type: SEQUENCE OWNED BY; Schema: upgrade_v5; Owner: -
--

ALTER SEQUENCE upgrade_v5.send_decisions_id_seq OWNED BY upgrade_v5.send_decisions.id;


--
-- Name: snapshots; Type: TABLE; Schema: upgrade_v5; Owner: -
--

CREATE TABLE upgrade_v5.snapshots (
    workspace_id bigint NOT NULL,
    name text NOT NULL,
    seq bigint NOT NULL,
    taken_at bigint NOT NULL,
    data bytea NOT NULL
);


--
-- Name: timers; Type: TABLE; Schema: upgrade_v5; Owner: -
--

CREATE TABLE upgrade_v5.timers (
    id bigint NOT NULL,
    workspace_id bigint NOT NULL,
    key text NOT NULL,
    due_at bigint NOT NULL,
    leased_until bigint DEFAULT 0 NOT NULL,
    payload text NOT NULL
);


--
-- Name: timers_id_seq; Type: SEQUENCE; Schema: upgrade_v5; Owner: -
--

CREATE SEQUENCE upgrade_v5.timers_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: timers_id_seq; Type: SEQUENCE OWNED BY; Schema: upgrade_v5; Owner: -
--

ALTER SEQUENCE upgrade_v5.timers_id_seq OWNED BY upgrade_v5.timers.id;


--
-- Name: workspaces; Type: TABLE; Schema: upgrade_v5; Owner: -
--

CREATE TABLE upgrade_v5.workspaces (
    id bigint NOT NULL,
    name text NOT NULL,
    created_at bigint NOT NULL,
    event_count bigint DEFAULT 0 NOT NULL,
    profile_count bigint DEFAULT 0 NOT NULL,
    last_seq bigint DEFAULT 0 NOT NULL
);


--
-- Name: workspaces_id_seq; Type: SEQUENCE; Schema: upgrade_v5; Owner: -
--

CREATE SEQUENCE upgrade_v5.workspaces_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: workspaces_id_seq; Type: SEQUENCE OWNED BY; Schema: upgrade_v5; Owner: -
--

ALTER SEQUENCE upgrade_v5.workspaces_id_seq OWNED BY upgrade_v5.workspaces.id;


--
-- Name: api_keys id; Type: DEFAULT; Schema: upgrade_v5; Owner: -
--

ALTER TABLE ONLY upgrade_v5.api_keys ALTER COLUMN id SET DEFAULT nextval('upgrade_v5.api_keys_id_seq'::regclass);


--
-- Name: events seq; Type: DEFAULT; Schema: upgrade_v5; Owner: -
--

ALTER TABLE ONLY upgrade_v5.events ALTER COLUMN seq SET DEFAULT nextval('upgrade_v5.events_seq_seq'::regclass);


--
-- Name: outbox id; Type: DEFAULT; Schema: upgrade_v5; Owner: -
--

ALTER TABLE ONLY upgrade_v5.outbox ALTER COLUMN id SET DEFAULT nextval('upgrade_v5.outbox_id_seq'::regclass);


--
-- Name: profiles id; Type: DEFAULT; Schema: upgrade_v5; Owner: -
--

ALTER TABLE ONLY upgrade_v5.profiles ALTER COLUMN id SET DEFAULT nextval('upgrade_v5.profiles_id_seq'::regclass);


--
-- Name: send_decisions id; Type: DEFAULT; Schema: upgrade_v5; Owner: -
--

ALTER TABLE ONLY upgrade_v5.send_decisions ALTER COLUMN id SET DEFAULT nextval('upgrade_v5.send_decisions_id_seq'::regclass);


--
-- Name: timers id; Type: DEFAULT; Schema: upgrade_v5; Owner: -
--

ALTER TABLE ONLY upgrade_v5.timers ALTER COLUMN id SET DEFAULT nextval('upgrade_v5.timers_id_seq'::regclass);


--
-- Name: workspaces id; Type: DEFAULT; Schema: upgrade_v5; Owner: -
--

ALTER TABLE ONLY upgrade_v5.workspaces ALTER COLUMN id SET DEFAULT nextval('upgrade_v5.workspaces_id_seq'::regclass);


--
-- Data for Name: api_keys; Type: TABLE DATA; Schema: upgrade_v5; Owner: -
--

INSERT INTO upgrade_v5.api_keys VALUES (1, 1, 'write', '6951bea2e5c56e2ada3d163916e7ea5146a895a7e3157fbd24b40560bfb4c4ed', 'site', 1767225600000000, NULL);
INSERT INTO upgrade_v5.api_keys VALUES (2, 1, 'admin', 'c29a0388c9a1ddbfc2f17330f224fc853b21f0868166bcd8fdb054f3d1df0295', 'ops', 1767225600000000, NULL);
INSERT INTO upgrade_v5.api_keys VALUES (3, 2, 'write', '8279018cc2dae7cefbc46b50bef63c396e0f1f4a5b73014e135b99a1f7bc1a83', 'old', 1767225600000000, 1767225660000000);


--
-- Data for Name: event_names; Type: TABLE DATA; Schema: upgrade_v5; Owner: -
--

INSERT INTO upgrade_v5.event_names VALUES (1, 'Home');
INSERT INTO upgrade_v5.event_names VALUES (1, 'Order Completed');
INSERT INTO upgrade_v5.event_names VALUES (1, 'Product Viewed');
INSERT INTO upgrade_v5.event_names VALUES (2, 'Signed Up');


--
-- Data for Name: events; Type: TABLE DATA; Schema: upgrade_v5; Owner: -
--

INSERT INTO upgrade_v5.events VALUES (1, 1, 1, 'up-1', 1, 'Product Viewed', NULL, 'anon-1', 1767225660000000, 1767312000000000, '{"type":"track","anonymousId":"anon-1","event":"Product Viewed","properties":{"sku":"A-1","price":12.5},"messageId":"up-1"}');
INSERT INTO upgrade_v5.events VALUES (2, 1, 1, 'up-2', 0, NULL, 'u1', 'anon-1', 1767225720000000, 1767312000000000, '{"type":"identify","anonymousId":"anon-1","userId":"u1","traits":{"email":"u1@example.com","plan":"pro"},"messageId":"up-2"}');
INSERT INTO upgrade_v5.events VALUES (3, 1, 1, 'up-3', 1, 'Order Completed', 'u1', NULL, 1767225780000000, 1767312000000000, '{"type":"track","userId":"u1","event":"Order Completed","properties":{"revenue":40,"products":[{"sku":"A-1"}]},"messageId":"up-3"}');
INSERT INTO upgrade_v5.events VALUES (4, 1, 2, 'up-4', 2, 'Home', 'u2', NULL, 1767225840000000, 1767312000000000, '{"type":"page","userId":"u2","name":"Home","messageId":"up-4"}');
INSERT INTO upgrade_v5.events VALUES (5, 2, 65, 'up-1', 1, 'Signed Up', 'u1', NULL, 1767225900000000, 1767312000000000, '{"type":"track","userId":"u1","event":"Signed Up","messageId":"up-1"}');


--
-- Data for Name: identities; Type: TABLE DATA; Schema: upgrade_v5; Owner: -
--

INSERT INTO upgrade_v5.identities VALUES (1, 0, 'u2', 2);
INSERT INTO upgrade_v5.identities VALUES (1, 1, 'anon-1', 1);
INSERT INTO upgrade_v5.identities VALUES (1, 0, 'u1', 1);
INSERT INTO upgrade_v5.identities VALUES (2, 0, 'u1', 65);


--
-- Data for Name: journey_instances; Type: TABLE DATA; Schema: upgrade_v5; Owner: -
--

INSERT INTO upgrade_v5.journey_instances VALUES (1, 'welcome', 1, 1, 'u1', 1767225720000000, false, '{"step":1,"visits":{}}', 1767226020000000);


--
-- Data for Name: meta; Type: TABLE DATA; Schema: upgrade_v5; Owner: -
--

INSERT INTO upgrade_v5.meta VALUES ('schema_version', '5');


--
-- Data for Name: outbox; Type: TABLE DATA; Schema: upgrade_v5; Owner: -
--

INSERT INTO upgrade_v5.outbox VALUES (2, 1, 'order:u1:1:receipt', 1, '<order:u1:1:receipt@tidings.test>', 'transactional', 'welcome', 'journey:welcome:hello', '{"first":"u1"}', 1767225960000000, 1767225960000000, 'pending', 0, 0, NULL, NULL);
INSERT INTO upgrade_v5.outbox VALUES (1, 1, 'welcome:u1:1:hello', 1, '<welcome:u1:1:hello@tidings.test>', 'marketing', 'welcome', 'journey:welcome:hello', '{"first":"u1"}', 1767225960000000, 1767225960000000, 'sent', 1, 0, 1767226020000000, '250 ok');


--
-- Data for Name: profiles; Type: TABLE DATA; Schema: upgrade_v5; Owner: -
--

INSERT INTO upgrade_v5.profiles VALUES (2, 1, 'u2', '{}', 1767312000000000, NULL);
INSERT INTO upgrade_v5.profiles VALUES (1, 1, 'u1', '{"values":{"email":"u1@example.com","plan":"pro"},"set_at":{"email":1767225720000000,"plan":1767225720000000}}', 1767312000000000, NULL);
INSERT INTO upgrade_v5.profiles VALUES (65, 2, 'u1', '{}', 1767312000000000, NULL);


--
-- Data for Name: send_decisions; Type: TABLE DATA; Schema: upgrade_v5; Owner: -
--

INSERT INTO upgrade_v5.send_decisions VALUES (1, 1, 1, 'welcome:u1:1:hello', 1767226020000000, 'send', 'ok');


--
-- Data for Name: snapshots; Type: TABLE DATA; Schema: upgrade_v5; Owner: -
--

INSERT INTO upgrade_v5.snapshots VALUES (1, 'engine', 4, 1767225900000000, '\x0700ff01');


--
-- Data for Name: timers; Type: TABLE DATA; Schema: upgrade_v5; Owner: -
--

INSERT INTO upgrade_v5.timers VALUES (1, 1, 'broadcast:spring', 1767232800000000, 0, '{"timer":"broadcast:spring"}');
INSERT INTO upgrade_v5.timers VALUES (2, 1, 'journey:welcome:u1:1:wait', 1767229200000000, 0, '{"timer":"journey:welcome:u1:1:wait"}');


--
-- Data for Name: workspaces; Type: TABLE DATA; Schema: upgrade_v5; Owner: -
--

INSERT INTO upgrade_v5.workspaces VALUES (1, 'shop', 1767225600000000, 4, 2, 4);
INSERT INTO upgrade_v5.workspaces VALUES (2, 'other', 1767225600000000, 1, 1, 5);


--
-- Name: api_keys_id_seq; Type: SEQUENCE SET; Schema: upgrade_v5; Owner: -
--

SELECT pg_catalog.setval('upgrade_v5.api_keys_id_seq', 3, true);


--
-- Name: events_seq_seq; Type: SEQUENCE SET; Schema: upgrade_v5; Owner: -
--

SELECT pg_catalog.setval('upgrade_v5.events_seq_seq', 5, true);


--
-- Name: outbox_id_seq; Type: SEQUENCE SET; Schema: upgrade_v5; Owner: -
--

SELECT pg_catalog.setval('upgrade_v5.outbox_id_seq', 2, true);


--
-- Name: profiles_id_seq; Type: SEQUENCE SET; Schema: upgrade_v5; Owner: -
--

SELECT pg_catalog.setval('upgrade_v5.profiles_id_seq', 128, true);


--
-- Name: send_decisions_id_seq; Type: SEQUENCE SET; Schema: upgrade_v5; Owner: -
--

SELECT pg_catalog.setval('upgrade_v5.send_decisions_id_seq', 1, true);


--
-- Name: timers_id_seq; Type: SEQUENCE SET; Schema: upgrade_v5; Owner: -
--

SELECT pg_catalog.setval('upgrade_v5.timers_id_seq', 2, true);


--
-- Name: workspaces_id_seq; Type: SEQUENCE SET; Schema: upgrade_v5; Owner: -
--

SELECT pg_catalog.setval('upgrade_v5.workspaces_id_seq', 2, true);


--
-- Name: api_keys api_keys_hash_key; Type: CONSTRAINT; Schema: upgrade_v5; Owner: -
--

ALTER TABLE ONLY upgrade_v5.api_keys
    ADD CONSTRAINT api_keys_hash_key UNIQUE (hash);


--
-- Name: api_keys api_keys_pkey; Type: CONSTRAINT; Schema: upgrade_v5; Owner: -
--

ALTER TABLE ONLY upgrade_v5.api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (id);


--
-- Name: event_names event_names_pkey; Type: CONSTRAINT; Schema: upgrade_v5; Owner: -
--

ALTER TABLE ONLY upgrade_v5.event_names
    ADD CONSTRAINT event_names_pkey PRIMARY KEY (workspace_id, name);


--
-- Name: events events_pkey; Type: CONSTRAINT; Schema: upgrade_v5; Owner: -
--

ALTER TABLE ONLY upgrade_v5.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (seq);


--
-- Name: identities identities_pkey; Type: CONSTRAINT; Schema: upgrade_v5; Owner: -
--

ALTER TABLE ONLY upgrade_v5.identities
    ADD CONSTRAINT identities_pkey PRIMARY KEY (workspace_id, kind, external_id);


--
-- Name: journey_instances journey_instances_pkey; Type: CONSTRAINT; Schema: upgrade_v5; Owner: -
--

ALTER TABLE ONLY upgrade_v5.journey_instances
    ADD CONSTRAINT journey_instances_pkey PRIMARY KEY (workspace_id, journey, profile_id, entry);


--
-- Name: meta meta_pkey; Type: CONSTRAINT; Schema: upgrade_v5; Owner: -
--

ALTER TABLE ONLY upgrade_v5.meta
    ADD CONSTRAINT meta_pkey PRIMARY KEY (key);


--
-- Name: outbox outbox_pkey; Type: CONSTRAINT; Schema: upgrade_v5; Owner: -
--

ALTER TABLE ONLY upgrade_v5.outbox
    ADD CONSTRAINT outbox_pkey PRIMARY KEY (id);


--
-- Name: profiles profiles_pkey; Type: CONSTRAINT; Schema: upgrade_v5; Owner: -
--

ALTER TABLE ONLY upgrade_v5.profiles
    ADD CONSTRAINT profiles_pkey PRIMARY KEY (id);


--
-- Name: send_decisions send_decisions_pkey; Type: CONSTRAINT; Schema: upgrade_v5; Owner: -
--

ALTER TABLE ONLY upgrade_v5.send_decisions
    ADD CONSTRAINT send_decisions_pkey PRIMARY KEY (id);


--
-- Name: snapshots snapshots_pkey; Type: CONSTRAINT; Schema: upgrade_v5; Owner: -
--

ALTER TABLE ONLY upgrade_v5.snapshots
    ADD CONSTRAINT snapshots_pkey PRIMARY KEY (workspace_id, name);


--
-- Name: timers timers_pkey; Type: CONSTRAINT; Schema: upgrade_v5; Owner: -
--

ALTER TABLE ONLY upgrade_v5.timers
    ADD CONSTRAINT timers_pkey PRIMARY KEY (id);


--
-- Name: workspaces workspaces_name_key; Type: CONSTRAINT; Schema: upgrade_v5; Owner: -
--

ALTER TABLE ONLY upgrade_v5.workspaces
    ADD CONSTRAINT workspaces_name_key UNIQUE (name);


--
-- Name: workspaces workspaces_pkey; Type: CONSTRAINT; Schema: upgrade_v5; Owner: -
--

ALTER TABLE ONLY upgrade_v5.workspaces
    ADD CONSTRAINT workspaces_pkey PRIMARY KEY (id);


--
-- Name: events_message; Type: INDEX; Schema: upgrade_v5; Owner: -
--

CREATE UNIQUE INDEX events_message ON upgrade_v5.events USING btree (workspace_id, message_id);


--
-- Name: events_profile; Type: INDEX; Schema: upgrade_v5; Owner: -
--

CREATE INDEX events_profile ON upgrade_v5.events USING btree (profile_id, ts, seq);


--
-- Name: identities_profile; Type: INDEX; Schema: upgrade_v5; Owner: -
--

CREATE INDEX identities_profile ON upgrade_v5.identities USING btree (profile_id);


--
-- Name: journey_instances_profile; Type: INDEX; Schema: upgrade_v5; Owner: -
--

CREATE INDEX journey_instances_profile ON upgrade_v5.journey_instances USING btree (profile_id);


--
-- Name: outbox_due; Type: INDEX; Schema: upgrade_v5; Owner: -
--

CREATE INDEX outbox_due ON upgrade_v5.outbox USING btree (status, not_before);


--
-- Name: outbox_key; Type: INDEX; Schema: upgrade_v5; Owner: -
--

CREATE UNIQUE INDEX outbox_key ON upgrade_v5.outbox USING btree (workspace_id, key);


--
-- Name: outbox_profile; Type: INDEX; Schema: upgrade_v5; Owner: -
--

CREATE INDEX outbox_profile ON upgrade_v5.outbox USING btree (profile_id, created_at);


--
-- Name: send_decisions_profile; Type: INDEX; Schema: upgrade_v5; Owner: -
--

CREATE INDEX send_decisions_profile ON upgrade_v5.send_decisions USING btree (profile_id, at);


--
-- Name: timers_due; Type: INDEX; Schema: upgrade_v5; Owner: -
--

CREATE INDEX timers_due ON upgrade_v5.timers USING btree (due_at);


--
-- Name: timers_key; Type: INDEX; Schema: upgrade_v5; Owner: -
--

CREATE UNIQUE INDEX timers_key ON upgrade_v5.timers USING btree (workspace_id, key);


--
-- Name: api_keys api_keys_workspace_id_fkey; Type: FK CONSTRAINT; Schema: upgrade_v5; Owner: -
--

ALTER TABLE ONLY upgrade_v5.api_keys
    ADD CONSTRAINT api_keys_workspace_id_fkey FOREIGN KEY (workspace_id) REFERENCES upgrade_v5.workspaces(id);


--
-- PostgreSQL database dump complete
--


