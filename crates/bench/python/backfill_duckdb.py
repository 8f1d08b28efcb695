#!/usr/bin/env python3
"""The DuckDB side of the backfill benchmark (crates/bench/src/bin/backfill.rs).

The same 20 segments as the rules in backfill.rs, as SQL over the generated
log, as of T: each query returns the member profiles. The meanings follow
spec/segments.md and tidings_engine::reference: windows are (T - D, T],
`between A and B ago` is (T - B, T - A], `more than D ago` is T - t > D,
`then` needs a follower in (t, t + D], `then not` needs t + D <= T and none
there (`matching` pairs equal, present values), activity is every track
event (not identify), local time is UTC, a trait's value is the one set by
the latest identify row that sets it. Totals and averages compare exactly
(prices are multiples of 0.25, and averages are compared as sums).

usage: backfill_duckdb.py EVENTS.csv T_MICROS OUT_DIR
  -> JSON on stdout (times, the segment keys in order); OUT_DIR/KEY.csv holds each segment's members
"""

import json
import os
import resource
import sys
import time

import duckdb

csv, T, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
DAY, HOUR = 86_400_000_000, 3_600_000_000


def ago(days):
    return T - days * DAY


def last(days, alias=""):
    """`in last N d` on the column ts (of table `alias`)."""
    ts = f"{alias}.ts" if alias else "ts"
    return f"{ts} > {ago(days)} AND {ts} <= {T}"


def then(first, follower, within, days, matching=None, negated=False):
    """`did FIRST then [not] FOLLOWER within WITHIN [matching P] in last DAYS d`; FIRST and FOLLOWER are conditions on a and b."""
    pair = f"b.profile = a.profile AND {follower} AND b.ts > a.ts AND b.ts <= a.ts + {within} AND b.ts <= {T}"
    if matching:
        pair += f" AND b.{matching} = a.{matching}"
    if negated:
        return (f"SELECT DISTINCT a.profile FROM e a WHERE {first} AND {last(days, 'a')} AND a.ts + {within} <= {T} "
                f"AND NOT EXISTS (SELECT 1 FROM e b WHERE {pair})")
    return f"SELECT DISTINCT a.profile FROM e a JOIN e b ON {pair} WHERE {first} AND {last(days, 'a')}"


ORDERS = "name = 'Order Completed'"
VIEWS = "name = 'Product Viewed'"
ACTIVITY = f"name <> 'identify' AND ts <= {T}"

SQL = {
    "frequent_viewers": f"SELECT profile FROM e WHERE {VIEWS} AND {last(30)} GROUP BY 1 HAVING count(*) >= 5",
    "mid_window_buyers": f"SELECT profile FROM e WHERE {ORDERS} AND ts > {ago(120)} AND ts <= {ago(30)} "
                         "GROUP BY 1 HAVING count(*) >= 2",
    "big_spenders": f"SELECT profile FROM e WHERE {ORDERS} AND {last(365)} GROUP BY 1 HAVING sum(revenue) >= 1000",
    "high_aov": f"SELECT profile FROM e WHERE {ORDERS} AND {last(180)} GROUP BY 1 "
                "HAVING count(revenue) > 0 AND sum(revenue) > 150 * count(revenue)",
    "small_baskets": f"SELECT profile FROM e WHERE {ORDERS} AND {last(90)} GROUP BY 1 HAVING max(revenue) < 60",
    "pricey_taste": f"SELECT profile FROM e WHERE {VIEWS} AND category = 'electronics' AND {last(60)} "
                    "GROUP BY 1 HAVING min(price) >= 200",
    "explorers": f"SELECT profile FROM e WHERE {VIEWS} AND {last(90)} GROUP BY 1 HAVING count(DISTINCT category) >= 4",
    "lapsed_buyers": f"SELECT profile FROM e WHERE {ORDERS} AND ts <= {T} GROUP BY 1 HAVING max(ts) < {ago(90)}",
    "first_order_recent": f"SELECT profile FROM e WHERE {ORDERS} AND ts <= {T} GROUP BY 1 "
                          f"HAVING min(ts) > {ago(30)} AND count(*) = 1",
    "new_visitors": f"SELECT profile FROM e WHERE {ACTIVITY} GROUP BY 1 "
                    f"HAVING min(ts) > {ago(14)} AND count(*) FILTER (WHERE {ORDERS}) = 0",
    "dormant": f"SELECT profile FROM e WHERE {ACTIVITY} GROUP BY 1 HAVING max(ts) < {ago(60)}",
    "weekend_shoppers": f"SELECT profile FROM e WHERE {ORDERS} AND {last(180)} GROUP BY 1 HAVING count(*) >= 2 "
                        "AND 2 * count(*) FILTER (WHERE dayofweek(make_timestamp(ts)) IN (0, 6)) >= count(*)",
    "night_owls": f"SELECT profile FROM e WHERE {VIEWS} AND {last(90)} GROUP BY 1 "
                  "HAVING 10 * count(*) FILTER (WHERE hour(make_timestamp(ts)) >= 22 OR hour(make_timestamp(ts)) < 6) "
                  "> 4 * count(*)",
    "regulars": f"SELECT profile FROM e WHERE name <> 'identify' AND {last(60)} GROUP BY 1 "
                f"HAVING count(DISTINCT ts // {DAY}) >= 8",
    "quick_repeat": then(f"a.{ORDERS}", f"b.{ORDERS}", 14 * DAY, 180),
    "cart_abandoners": then("a.name = 'Product Added'", f"b.{ORDERS}", HOUR, 7, negated=True),
    "viewed_then_bought": then(f"a.{VIEWS} AND a.price >= 100", f"b.{ORDERS}", 2 * DAY, 60, matching="product_id"),
    "abandoned_items": then("a.name = 'Product Added'", f"b.{ORDERS}", DAY, 30, matching="product_id", negated=True),
    "engaged_pros": "SELECT profile FROM traits WHERE plan IN ('pro', 'team') INTERSECT "
                    f"SELECT profile FROM e WHERE name = 'Email Clicked' AND campaign <= 5 AND {last(30)}",
    "loyal_europeans": "(SELECT profile FROM s_big_spenders INTERSECT "
                       "SELECT profile FROM traits WHERE country IN ('DE', 'FR', 'NL')) "
                       "EXCEPT SELECT profile FROM s_lapsed_buyers",
}



def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def peak_rss_gb():
    """This process's own peak (ru_maxrss would count the parent's, inherited at fork)."""
    with open("/proc/self/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    return kb / 1e6


con = duckdb.connect()
t, c = time.perf_counter(), cpu()
con.execute(
    """CREATE TABLE e AS SELECT * FROM read_csv(?, header = true, columns = {
        'profile': 'UINTEGER', 'name': 'VARCHAR', 'ts': 'BIGINT', 'product_id': 'UINTEGER',
        'category': 'VARCHAR', 'price': 'DOUBLE', 'revenue': 'DOUBLE', 'campaign': 'UTINYINT',
        'country': 'VARCHAR', 'plan': 'VARCHAR'})""",
    [csv],
)
load, load_cpu = time.perf_counter() - t, cpu() - c

t, c = time.perf_counter(), cpu()
# Traits as of T: per key, the value of the latest identify row that sets it.
con.execute(
    f"""CREATE TEMP TABLE traits AS SELECT profile,
        arg_max(country, ts) FILTER (WHERE country IS NOT NULL) AS country,
        arg_max(plan, ts) FILTER (WHERE plan IS NOT NULL) AS plan
    FROM e WHERE name = 'identify' AND ts <= {T} GROUP BY 1"""
)
for key, q in SQL.items():
    con.execute(f"CREATE TEMP TABLE s_{key} AS {q}")
query, query_cpu = time.perf_counter() - t, cpu() - c

for key in SQL:
    con.execute(f"COPY (SELECT profile FROM s_{key}) TO '{os.path.join(out, key + '.csv')}' (HEADER false)")
print(json.dumps({"load_seconds": load, "query_seconds": query, "load_cpu_seconds": load_cpu,
                  "query_cpu_seconds": query_cpu, "peak_rss_gb": peak_rss_gb(), "segments": list(SQL)}))
