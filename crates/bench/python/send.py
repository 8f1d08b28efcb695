#!/usr/bin/env python3
"""The Python side of the render-and-send benchmark (crates/bench/src/bin/send.rs).

What a team would write without Tidings: python-liquid renders the same
compiled HTML and subject for each person, links are rewritten to
HMAC-signed tracking URLs and an open pixel added, a text part is made from
the HTML, the message is built with the standard library's email package
(with List-Unsubscribe headers), optionally DKIM-signed with dkimpy, and
sent with smtplib over one connection per process.

Prints {"seconds": S, "emails": N} on stdout.
"""

import argparse
import base64
import hashlib
import hmac
import html
import json
import multiprocessing
import re
import smtplib
import time
from email.message import EmailMessage
from email.utils import formatdate

import liquid

KEY = b"benchmark-signing-key-32-bytes!!"
BASE = "https://t.shop.example"
HREF = re.compile(r'href="(https?://[^"]+)"')
TAG = re.compile(r"<[^>]+>")


def token(message, profile, action):
    payload = json.dumps([1, message, profile, action], separators=(",", ":")).encode()
    mac = hmac.new(KEY, payload, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(payload + mac).rstrip(b"=").decode()


def escape(value):
    if isinstance(value, str):
        return html.escape(value)
    if isinstance(value, list):
        return [escape(v) for v in value]
    if isinstance(value, dict):
        return {k: escape(v) for k, v in value.items()}
    return value


def money(value, currency="USD"):
    return "$%.2f" % float(value) if currency == "USD" else "%.2f %s" % (float(value), currency)


def work(job):
    people, port, body_src, subject_src, dkim_key = job
    env = liquid.Environment()
    env.filters["money"] = money
    body = env.from_string(body_src)
    subject = env.from_string(subject_src)
    key = open(dkim_key, "rb").read() if dkim_key else None
    if key:
        import dkim
    smtp = smtplib.SMTP("127.0.0.1", port)
    sent = 0
    for p in people:
        message_id = "<m%d.py@shop.example>" % p["id"]
        ctx = p["context"]
        unsubscribe = "%s/u/%s" % (BASE, token(message_id, p["id"], "unsubscribe"))
        ctx["links"] = {
            "unsubscribe_url": unsubscribe,
            "preferences_url": "%s/p/%s" % (BASE, token(message_id, p["id"], "preferences")),
        }
        links = []

        def track(m):
            links.append(m.group(1))
            t = token(message_id, p["id"], ["click", len(links) - 1, m.group(1)])
            return 'href="%s/t/c/%s"' % (BASE, t)

        page = body.render(**escape(ctx))
        page = HREF.sub(track, page)
        page = page.replace(
            "</body>",
            '<img src="%s/t/o/%s" width="1" height="1" alt="" /></body>' % (BASE, token(message_id, p["id"], "open")),
        )
        text = html.unescape(re.sub(r"\n\s*\n+", "\n\n", TAG.sub("", page)))
        msg = EmailMessage()
        msg["From"] = "Example Shop <news@shop.example>"
        msg["To"] = "%s <%s>" % (p["name"], p["email"])
        msg["Subject"] = subject.render(**ctx)
        msg["Date"] = formatdate(1767225600)
        msg["Message-ID"] = message_id
        msg["List-Unsubscribe"] = "<%s>" % unsubscribe
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg.set_content(text)
        msg.add_alternative(page, subtype="html")
        data = msg.as_bytes()
        if key:
            signature = dkim.sign(
                data,
                b"bench",
                b"shop.example",
                key,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=[
                    b"from",
                    b"to",
                    b"subject",
                    b"date",
                    b"message-id",
                    b"list-unsubscribe",
                    b"list-unsubscribe-post",
                ],
            )
            data = signature + data
        smtp.sendmail("news@shop.example", [p["email"]], data)
        sent += 1
    smtp.quit()
    return sent


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--people", required=True, help="NDJSON: id, email, name, context")
    ap.add_argument("--body", required=True, help="the compiled HTML with its Liquid")
    ap.add_argument("--subject", required=True)
    ap.add_argument("--dkim-key", help="PEM private key; signs relaxed/relaxed when given")
    a = ap.parse_args()
    people = [json.loads(line) for line in open(a.people)]
    body = open(a.body).read()
    n = max(1, a.processes)
    jobs = [(people[i::n], a.port, body, a.subject, a.dkim_key) for i in range(n)]
    t = time.perf_counter()
    with multiprocessing.Pool(n) as pool:
        sent = sum(pool.map(work, jobs))
    print(json.dumps({"seconds": time.perf_counter() - t, "emails": sent}))


if __name__ == "__main__":
    main()
