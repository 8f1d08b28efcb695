#!/usr/bin/env python3
"""`tidings segments eval` on the UCI Online Retail data, checked against DuckDB.

usage: online_retail_duckdb.py TIDINGS_BINARY [CSV_GZ]

Turns the real transactions into Segment messages (one `Order Completed` per
invoice, with its revenue, and the customer's country as a trait, set at their
first invoice), imports them with `tidings import`, evaluates a set of rules
with `tidings segments eval` as of several dates, and asks DuckDB the same
questions in SQL straight from the CSV. Prints every difference; exits 1 if
there is one. Needs `pip install duckdb`.

Definitions (both sides): rows without a CustomerID and cancelled invoices
(InvoiceNo starting with C) are left out; an invoice's time is its
InvoiceDate read as UTC; its revenue is round(sum(Quantity * UnitPrice), 2).
"""
import csv, gzip, json, os, subprocess, sys, tempfile
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from shared_data import shared  # noqa: E402

BIN = sys.argv[1]
CSV = sys.argv[2] if len(sys.argv) > 2 else shared("data", "online-retail", "online_retail.csv.gz")
AS_OF = ["2011-03-01T00:00:00Z", "2011-06-30T12:00:00Z", "2011-09-30T23:59:59Z", "2011-12-10T00:00:00Z"]

RULES = """
segment frequent_90d { did "Order Completed" at least 3 times in last 90d }
segment big_spenders { total revenue of "Order Completed" in last 365d >= 1000 }
segment high_aov { average revenue of "Order Completed" in last 180d > 400 }
segment small_max { max revenue of "Order Completed" in last 60d < 100 }
segment many_sizes { distinct items of "Order Completed" ever >= 4 }
segment lapsed { last "Order Completed" more than 90d ago }
segment recent_first { first "Order Completed" less than 30d ago }
segment sunday_share { share of "Order Completed" on sundays in last 365d >= 25% }
segment morning_buyers { share of "Order Completed" on hours 6 to 11 in last 180d > 50% }
segment big_then_quiet { did "Order Completed" where revenue > 200 then not "Order Completed" within 60d in last 365d }
segment quick_repeat { did "Order Completed" then "Order Completed" within 7d in last 180d }
segment mid_window { did "Order Completed" at least 2 times between 30d and 120d ago }
segment active_days { active on at least 5 days in last 180d }
segment germans { trait country == "Germany" }
segment continental { trait country in ["France", "Germany", "Spain", "Netherlands", "Belgium"] }
segment loyal_continental { in segment frequent_90d and in segment continental }
segment uk_not_frequent { trait country == "United Kingdom" and not in segment frequent_90d }
segment big_orders_exact { did "Order Completed" where (revenue >= 500 and items > 10) exactly 1 time in last 365d }
"""

# The same questions in SQL, as of a timestamp bound as $now. `o` holds one row per order.
SQL = {
    "frequent_90d": "SELECT cust FROM o WHERE ts > $now - INTERVAL 90 DAY GROUP BY cust HAVING count(*) >= 3",
    "big_spenders": "SELECT cust FROM o WHERE ts > $now - INTERVAL 365 DAY GROUP BY cust HAVING sum(revenue) >= 1000",
    "high_aov": "SELECT cust FROM o WHERE ts > $now - INTERVAL 180 DAY GROUP BY cust HAVING avg(revenue) > 400",
    "small_max": "SELECT cust FROM o WHERE ts > $now - INTERVAL 60 DAY GROUP BY cust HAVING max(revenue) < 100",
    "many_sizes": "SELECT cust FROM o GROUP BY cust HAVING count(DISTINCT items) >= 4",
    "lapsed": "SELECT cust FROM o GROUP BY cust HAVING max(ts) < $now - INTERVAL 90 DAY",
    "recent_first": "SELECT cust FROM o GROUP BY cust HAVING min(ts) > $now - INTERVAL 30 DAY",
    "sunday_share": "SELECT cust FROM o WHERE ts > $now - INTERVAL 365 DAY GROUP BY cust "
                    "HAVING avg(CASE WHEN dayofweek(ts) = 0 THEN 1.0 ELSE 0.0 END) >= 0.25",
    "morning_buyers": "SELECT cust FROM o WHERE ts > $now - INTERVAL 180 DAY GROUP BY cust "
                      "HAVING avg(CASE WHEN hour(ts) >= 6 AND hour(ts) < 11 THEN 1.0 ELSE 0.0 END) > 0.5",
    "big_then_quiet": "SELECT DISTINCT a.cust FROM o a WHERE a.revenue > 200 AND a.ts > $now - INTERVAL 365 DAY "
                      "AND a.ts + INTERVAL 60 DAY <= $now AND NOT EXISTS (SELECT 1 FROM o b WHERE b.cust = a.cust "
                      "AND b.ts > a.ts AND b.ts <= a.ts + INTERVAL 60 DAY)",
    "quick_repeat": "SELECT DISTINCT a.cust FROM o a JOIN o b ON a.cust = b.cust AND b.ts > a.ts "
                    "AND b.ts <= a.ts + INTERVAL 7 DAY AND b.ts <= $now WHERE a.ts > $now - INTERVAL 180 DAY",
    "mid_window": "SELECT cust FROM o WHERE ts > $now - INTERVAL 120 DAY AND ts <= $now - INTERVAL 30 DAY "
                  "GROUP BY cust HAVING count(*) >= 2",
    "active_days": "SELECT cust FROM o WHERE ts > $now - INTERVAL 180 DAY GROUP BY cust "
                   "HAVING count(DISTINCT CAST(ts AS DATE)) >= 5",
    "germans": "SELECT cust FROM c WHERE country = 'Germany'",
    "continental": "SELECT cust FROM c WHERE country IN ('France', 'Germany', 'Spain', 'Netherlands', 'Belgium')",
    "loyal_continental": "SELECT cust FROM ({frequent_90d}) INTERSECT SELECT cust FROM ({continental})",
    "uk_not_frequent": "SELECT cust FROM c WHERE country = 'United Kingdom' EXCEPT SELECT cust FROM ({frequent_90d})",
    "big_orders_exact": "SELECT cust FROM o WHERE revenue >= 500 AND items > 10 AND ts > $now - INTERVAL 365 DAY "
                        "GROUP BY cust HAVING count(*) = 1",
}


def orders_from_csv(path):
    """The Python side of the definitions: invoices → orders."""
    inv = {}
    with gzip.open(path, "rt", encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            if not r["CustomerID"] or r["InvoiceNo"].startswith("C"):
                continue
            cust = str(int(float(r["CustomerID"])))
            o = inv.setdefault(r["InvoiceNo"], {"cust": cust, "ts": r["InvoiceDate"], "revenue": Decimal(0),
                                                 "items": 0, "country": r["Country"]})
            o["revenue"] += Decimal(r["Quantity"]) * Decimal(r["UnitPrice"])
            o["items"] += 1
            o["ts"] = min(o["ts"], r["InvoiceDate"])
    return inv


def write_messages(inv, out):
    first = {}
    for no, o in inv.items():
        if o["cust"] not in first or (o["ts"], no) < first[o["cust"]][:2]:
            first[o["cust"]] = (o["ts"], no, o["country"])
    n = 0
    with open(out, "w") as f:
        for cust, (ts, _, country) in sorted(first.items()):
            f.write(json.dumps({"type": "identify", "userId": cust, "messageId": f"id-{cust}",
                                "traits": {"country": country}, "timestamp": ts.replace(" ", "T") + "Z"}) + "\n")
            n += 1
        for no, o in sorted(inv.items()):
            rev = float(o["revenue"].quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
            f.write(json.dumps({"type": "track", "userId": o["cust"], "event": "Order Completed",
                                "messageId": f"inv-{no}", "timestamp": o["ts"].replace(" ", "T") + "Z",
                                "properties": {"order_id": no, "revenue": rev, "items": o["items"]}}) + "\n")
            n += 1
    return n


def duckdb_members(path, now):
    import duckdb
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"""
        CREATE TABLE raw AS SELECT * FROM read_csv('{path}', header = true,
            columns = {{'InvoiceNo': 'VARCHAR', 'StockCode': 'VARCHAR', 'Description': 'VARCHAR',
                        'Quantity': 'BIGINT', 'InvoiceDate': 'TIMESTAMP', 'UnitPrice': 'DECIMAL(18,3)',
                        'CustomerID': 'DOUBLE', 'Country': 'VARCHAR'}});
        CREATE TABLE all_orders AS
            SELECT CAST(CAST(CustomerID AS BIGINT) AS VARCHAR) AS cust, InvoiceNo AS inv, min(InvoiceDate) AS ts,
                   CAST(round(sum(Quantity * UnitPrice), 2) AS DOUBLE) AS revenue, count(*) AS items,
                   min(Country) AS country
            FROM raw WHERE CustomerID IS NOT NULL AND NOT starts_with(InvoiceNo, 'C')
            GROUP BY CustomerID, InvoiceNo;
    """)
    con.execute("CREATE TEMP TABLE o AS SELECT * FROM all_orders WHERE ts <= CAST($now AS TIMESTAMP)", {"now": now})
    con.execute("""CREATE TEMP TABLE c AS SELECT cust, arg_min(country, strftime(ts, '%Y%m%d%H%M%S') || inv) AS country FROM o GROUP BY cust""")
    out = {}
    for key in SQL:
        q = SQL[key]
        while "{" in q:
            q = q.format(**SQL)
        params = {"now": now} if "$now" in q else {}
        rows = con.execute(q.replace("$now", "CAST($now AS TIMESTAMP)"), params).fetchall()
        out[key] = sorted(r[0] for r in rows)
    return out


def main():
    with tempfile.TemporaryDirectory() as tmp:
        inv = orders_from_csv(CSV)
        nd = os.path.join(tmp, "orders.ndjson")
        n = write_messages(inv, nd)
        rules = os.path.join(tmp, "retail.rules")
        with open(rules, "w") as f:
            f.write(RULES)
        data = os.path.join(tmp, "data")
        subprocess.run([BIN, "import", "--quiet", "--data", data, nd], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        print(f"imported {n} messages ({len(inv)} orders)")
        failures = 0
        for now in AS_OF:
            out = subprocess.run([BIN, "segments", "eval", "--data", data, "--definitions", rules, "--as-of", now],
                                 check=True, capture_output=True, text=True).stdout
            ours = defaultdict(list)
            for line in out.splitlines():
                k, u = line.split(",", 1)
                ours[k].append(u)
            theirs = duckdb_members(CSV, now.replace("T", " ").rstrip("Z"))
            for key in SQL:
                a, b = sorted(ours.get(key, [])), theirs[key]
                if a != b:
                    failures += 1
                    only_ours, only_theirs = sorted(set(a) - set(b)), sorted(set(b) - set(a))
                    print(f"MISMATCH {key} as of {now}: tidings {len(a)}, duckdb {len(b)}; "
                          f"only tidings {only_ours[:5]}, only duckdb {only_theirs[:5]}")
                else:
                    print(f"ok {key:<20} as of {now}: {len(a)} members")
        if failures:
            print(f"{failures} mismatches")
            sys.exit(1)
        print("all segments agree with DuckDB")


if __name__ == "__main__":
    main()
