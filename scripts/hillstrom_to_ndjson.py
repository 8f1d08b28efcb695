#!/usr/bin/env python3
"""The Hillstrom email test as Segment messages, for `tidings import`.

usage: hillstrom_to_ndjson.py [CSV] [OUT]   (OUT: a path, .gz for gzip; default stdout)
       [--no-exposure]                      (leave out the `Experiment Viewed` events)

The MineThatData E-Mail Analytics challenge data: 64,000 customers who had
bought in the past year, randomly assigned to a men's merchandise email, a
women's merchandise email or no email, with whether they visited the site,
whether they bought and how much they spent in the two weeks after. Row i
(1-based) of the CSV becomes customer `h{i:06d}` and these messages, in this
order:

- `identify` at 2008-03-03T12:00:00Z, the day before the send, with the
  customer's traits as of the test: recency (months since last purchase),
  history_segment and history (last year's spend), mens and womens (bought
  men's / women's merchandise last year, 0 or 1), zip_code, newbie (new in
  the last year, 0 or 1), channel (where they bought last year).
- the assignment, at the send time (2008-03-04T14:00:00Z plus a stagger of up
  to 30 minutes, as a broadcast goes out): for the two email arms an
  `Email Sent` track with properties {experiment: "hillstrom", variant: arm};
  for "No E-Mail" -- the holdout, which was sent nothing, so an `Email Sent`
  would be false -- a track `Experiment Assigned` with the same properties.
- `Experiment Viewed` at the same time, {experiment_id: "hillstrom",
  experiment_name: "hillstrom", variation_name: arm}: the exposure event of
  spec/insights.md (Segment's A/B testing spec), for every arm, holdout
  included, so `tidings experiments report hillstrom` sees the test.
  `--no-exposure` leaves these out.
- `Site Visited` when visit = 1, at a time within the two weeks after the send.
- `Order Completed` when conversion = 1, {revenue: spend, currency: "USD",
  order_id}, 1 to 120 minutes after the visit (every converter visited) and
  before the window ends.

The data records only that a visit and a purchase happened within the two
weeks, not when: the times within the window are made up, deterministically
(from a SHA-256 of the customer and the event), as are the messageIds
(`hillstrom-h000001-identify`, `-assigned`, `-exposure`, `-visit`,
`-order`), so the output is the same on every run and importing it twice
stores it once. Every outcome lies inside [send, send + 14 days).
"""
import csv
import gzip
import hashlib
import json
import os
import sys
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from shared_data import shared  # noqa: E402

DEFAULT_CSV = shared("data", "hillstrom", "hillstrom.csv")

EXPERIMENT = "hillstrom"
HOLDOUT = "No E-Mail"
IDENTIFY_AT = datetime(2008, 3, 3, 12, 0, 0, tzinfo=timezone.utc)
SEND_AT = datetime(2008, 3, 4, 14, 0, 0, tzinfo=timezone.utc)
STAGGER = timedelta(minutes=30)
WINDOW = timedelta(days=14)
WINDOW_END = SEND_AT + WINDOW
ORDER_DELAY = (timedelta(minutes=1), timedelta(minutes=120))
TRAITS = {
    "recency": int,
    "history_segment": str,
    "history": float,
    "mens": int,
    "womens": int,
    "zip_code": str,
    "newbie": int,
    "channel": str,
}


def fraction(customer, what):
    """A deterministic number in [0, 1) for this customer and event."""
    digest = hashlib.sha256(f"{EXPERIMENT}:{customer}:{what}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def at(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def seconds(td):
    return td.total_seconds()


def messages(row, index, exposure=True):
    customer = f"h{index:06d}"
    arm = row["segment"]

    def message(kind, when, **fields):
        return {"type": "track" if kind != "identify" else "identify", "messageId": f"hillstrom-{customer}-{kind}",
                "userId": customer, "timestamp": at(when), **fields}

    yield message("identify", IDENTIFY_AT, traits={k: cast(row[k]) for k, cast in TRAITS.items()})
    sent = SEND_AT + timedelta(seconds=int(fraction(customer, "send") * seconds(STAGGER)))
    event = "Experiment Assigned" if arm == HOLDOUT else "Email Sent"
    yield message("assigned", sent, event=event, properties={"experiment": EXPERIMENT, "variant": arm})
    if exposure:
        yield message("exposure", sent, event="Experiment Viewed",
                      properties={"experiment_id": EXPERIMENT, "experiment_name": EXPERIMENT, "variation_name": arm})
    visited, converted = row["visit"] == "1", row["conversion"] == "1"
    if converted and not visited:
        raise ValueError(f"{customer}: a conversion without a visit")
    if visited:
        # a minute after the send at the earliest; room for the order before the window ends
        earliest, latest = sent + timedelta(minutes=1), WINDOW_END - ORDER_DELAY[1] - timedelta(seconds=1)
        visit = earliest + timedelta(seconds=int(fraction(customer, "visit") * seconds(latest - earliest)))
        yield message("visit", visit, event="Site Visited", properties={})
        if converted:
            delay = ORDER_DELAY[0] + (ORDER_DELAY[1] - ORDER_DELAY[0]) * fraction(customer, "order")
            order = visit + timedelta(seconds=int(seconds(delay)))
            assert sent < visit < order < WINDOW_END
            yield message("order", order, event="Order Completed",
                          properties={"order_id": f"hillstrom-{customer}", "revenue": float(row["spend"]),
                                      "currency": "USD"})


def main(argv):
    exposure = "--no-exposure" not in argv
    args = [a for a in argv if a != "--no-exposure"]
    path = args[0] if args else DEFAULT_CSV
    out_path = args[1] if len(args) > 1 else None
    if out_path is None:
        out = sys.stdout
    elif out_path.endswith(".gz"):
        out = gzip.open(out_path, "wt", encoding="utf-8", compresslevel=6)
    else:
        out = open(out_path, "w", encoding="utf-8")
    counts = {}
    with open(path, newline="") as f:
        for index, row in enumerate(csv.DictReader(f), start=1):
            for m in messages(row, index, exposure):
                key = m.get("event", m["type"])
                counts[key] = counts.get(key, 0) + 1
                out.write(json.dumps(m, separators=(",", ":"), ensure_ascii=False))
                out.write("\n")
    if out is not sys.stdout:
        out.close()
    print(json.dumps({"customers": counts["identify"], "messages": counts}), file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
