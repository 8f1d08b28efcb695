#!/usr/bin/env python3
"""The DuckDB side of the report benchmark (crates/bench/src/bin/report.rs).

Per segment the recipient was in when each email was sent: emails sent,
opened by a person (or clicked), clicked, converted, and revenue, where an
order counts for the email last clicked within the window before it, else
the one last opened by a person (machine opens never count). The same
definition as tidings_insights::email, in SQL (ASOF joins for last touch).

usage: report_duckdb.py EVENTS.csv WINDOW_MICROS   -> JSON on stdout
"""

import json
import sys
import time

import duckdb

csv, window = sys.argv[1], int(sys.argv[2])
con = duckdb.connect()
t = time.perf_counter()
con.execute(
    """CREATE TABLE e AS SELECT * FROM read_csv(?, header = true, columns = {
        'profile': 'BIGINT', 'name': 'VARCHAR', 'ts': 'BIGINT', 'message_id': 'VARCHAR',
        'segment': 'VARCHAR', 'source': 'VARCHAR', 'template': 'VARCHAR', 'machine': 'BOOLEAN',
        'revenue': 'DOUBLE'})""",
    [csv],
)
load = time.perf_counter() - t
t = time.perf_counter()
rows = con.execute(
    f"""
    WITH msgs AS (SELECT profile, message_id, ts FROM e WHERE name = 'Email Sent'),
    touches AS (
        SELECT profile, ts, message_id, name = 'Email Clicked' AS click FROM e
        WHERE name = 'Email Clicked' OR (name = 'Email Opened' AND NOT coalesce(machine, false))),
    clicks AS (SELECT profile, ts, message_id FROM touches WHERE click),
    opens AS (SELECT profile, ts, message_id FROM touches WHERE NOT click),
    orders AS (SELECT profile, ts, revenue FROM e WHERE name = 'Order Completed'),
    oc AS (
        SELECT o.profile, o.ts, o.revenue, c.message_id AS cm, c.ts AS cts
        FROM orders o ASOF LEFT JOIN clicks c ON o.profile = c.profile AND o.ts >= c.ts),
    oo AS (
        SELECT oc.*, op.message_id AS om, op.ts AS ots
        FROM oc ASOF LEFT JOIN opens op ON oc.profile = op.profile AND oc.ts >= op.ts),
    attributed AS (
        SELECT CASE WHEN cts IS NOT NULL AND ts - cts <= {window} THEN cm
                    WHEN ots IS NOT NULL AND ts - ots <= {window} THEN om END AS message_id,
               revenue
        FROM oo),
    conv AS (SELECT message_id, sum(revenue) AS revenue FROM attributed WHERE message_id IS NOT NULL GROUP BY 1),
    flags AS (
        SELECT m.profile, m.message_id, m.ts,
               EXISTS (SELECT 1 FROM touches t WHERE t.message_id = m.message_id) AS opened,
               EXISTS (SELECT 1 FROM clicks c WHERE c.message_id = m.message_id) AS clicked,
               conv.message_id IS NOT NULL AS converted,
               coalesce(conv.revenue, 0) AS revenue
        FROM msgs m LEFT JOIN conv USING (message_id)),
    enters AS (
        SELECT profile, segment, ts, row_number() OVER (PARTITION BY profile, segment ORDER BY ts) AS rn
        FROM e WHERE name = 'Segment Entered'),
    exits AS (
        SELECT profile, segment, ts, row_number() OVER (PARTITION BY profile, segment ORDER BY ts) AS rn
        FROM e WHERE name = 'Segment Exited'),
    intervals AS (
        SELECT en.profile, en.segment, en.ts AS t0, ex.ts AS t1
        FROM enters en LEFT JOIN exits ex ON en.profile = ex.profile AND en.segment = ex.segment AND en.rn = ex.rn)
    SELECT i.segment, count(*), sum(f.opened::INT), sum(f.clicked::INT), sum(f.converted::INT), sum(f.revenue)
    FROM flags f JOIN intervals i ON f.profile = i.profile AND i.t0 < f.ts AND (i.t1 IS NULL OR f.ts < i.t1)
    GROUP BY 1 ORDER BY 1
    """
).fetchall()
query = time.perf_counter() - t
print(json.dumps({"load_seconds": load, "query_seconds": query, "rows": [list(r) for r in rows]}))
