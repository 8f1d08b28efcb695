#!/usr/bin/env python3
"""Test helper for tidings-delivery: a real SMTP server and an independent checker.

  serve --dir DIR [--rule ADDRESS:REPLY:TIMES ...]
      Runs an aiosmtpd server on 127.0.0.1 at a free port, prints "READY <port>",
      and saves each accepted message as DIR/NNNN.eml with DIR/NNNN.json holding
      the envelope. A rule makes RCPT TO for ADDRESS answer REPLY (an SMTP code
      like 550 or 451, or "drop" to close the connection without a reply) for
      the first TIMES attempts ("always" for every one).

  check FILE --selector S --domain D --dns-txt RECORD
      Parses FILE with Python's email package and verifies its DKIM signature
      with dkimpy, answering the DNS query for S._domainkey.D with RECORD only.
      Prints a JSON report.
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import sys

REPLIES = {
    "421": "421 4.3.2 Service shutting down",
    "451": "451 4.3.0 Try again later",
    "452": "452 4.2.2 Mailbox full, try later",
    "550": "550 5.1.1 No such user here",
    "552": "552 5.2.2 Mailbox over quota",
}


def serve(args):
    from aiosmtpd.smtp import SMTP

    rules = []
    for rule in args.rule:
        address, reply, times = rule.rsplit(":", 2)
        rules.append((address.lower(), reply, times))

    class Handler:
        def __init__(self):
            self.attempts = {}
            self.saved = 0

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            key = address.lower()
            n = self.attempts.get(key, 0)
            self.attempts[key] = n + 1
            for rule_address, reply, times in rules:
                if rule_address == key and (times == "always" or n < int(times)):
                    if reply == "drop":
                        server.transport.close()
                        return "421 4.4.2 Connection dropped"
                    if reply == "421":
                        server.transport.close()
                    return REPLIES.get(reply, reply + " test reply")
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            self.saved += 1
            base = os.path.join(args.dir, "%04d" % self.saved)
            content = envelope.original_content or envelope.content
            with open(base + ".eml.tmp", "wb") as f:
                f.write(content)
            with open(base + ".json", "w") as f:
                json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}, f)
            os.rename(base + ".eml.tmp", base + ".eml")
            return "250 2.0.0 Accepted as %04d" % self.saved

    handler = Handler()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(
        loop.create_server(
            lambda: SMTP(handler, hostname="smtp.test", decode_data=False, enable_SMTPUTF8=True),
            host="127.0.0.1",
            port=0,
        )
    )
    port = server.sockets[0].getsockname()[1]
    print("READY %d" % port, flush=True)
    try:
        loop.run_forever()
    finally:
        server.close()


def check(args):
    import dkim

    raw = open(args.file, "rb").read()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    asked = []

    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        asked.append(name)
        if name.rstrip(".") == "%s._domainkey.%s" % (args.selector, args.domain):
            return args.dns_txt.encode()
        return None

    defects = [str(d) for part in msg.walk() for d in part.defects]
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    report = {
        "content_type": msg.get_content_type(),
        "parts": [p.get_content_type() for p in msg.iter_parts()] if msg.is_multipart() else [],
        "defects": defects,
        "headers": {k: str(v) for k, v in msg.items()},
        "header_names": [k for k, _ in msg.items()],
        "text": text.get_content() if text is not None else None,
        "html": html.get_content() if html is not None else None,
        "charsets": [p.get_content_charset() for p in msg.walk() if not p.is_multipart()],
        "transfer_encodings": [p.get("Content-Transfer-Encoding") for p in msg.walk() if not p.is_multipart()],
        "dkim": bool(dkim.verify(raw, dnsfunc=dnsfunc)),
        "dns_asked": asked,
    }
    # What a change after signing does: the signature must then fail.
    tampered = raw.replace(b"Subject: ", b"Subject: Re: ", 1)
    report["dkim_after_tampering"] = bool(dkim.verify(tampered, dnsfunc=dnsfunc))
    json.dump(report, sys.stdout)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--dir", required=True)
    s.add_argument("--rule", action="append", default=[])
    c = sub.add_parser("check")
    c.add_argument("file")
    c.add_argument("--selector", required=True)
    c.add_argument("--domain", required=True)
    c.add_argument("--dns-txt", required=True)
    args = parser.parse_args()
    serve(args) if args.command == "serve" else check(args)


if __name__ == "__main__":
    main()
