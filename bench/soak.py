"""Soak: `mailbot run` killed with SIGKILL again and again while 500 submissions come in and their mail
goes out; then every message the outbox holds is looked for at the SMTP sink.

Run by hand: .venv/bin/python bench/soak.py [--submissions 500] [--kills 20] [--postgres URL] [--daemons 2]
Real Dovecot (started here), an aiosmtpd sink that takes 10 ms per message (so kills land mid-batch),
SQLite by default. Prints: filed, lost, repeated deliveries (the same Message-ID to the same recipient
twice), and the time it took.
"""

from __future__ import annotations

import argparse
import random
import secrets
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text

from tests.daemons import daemon, deliveries, outbox_ids, settings_file, stop, submissions, wait_until_quiet
from tests.servers import Dovecot, SmtpSink


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--submissions", type=int, default=500)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--postgres", help="an admin URL: a scratch database is made there")
    parser.add_argument("--daemons", type=int, default=1, help="with --postgres: daemons side by side")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mailbot-soak-"))
    server = Dovecot().start()
    sink = SmtpSink().start()
    sink.handler.delay = 0.01
    url, drop = f"sqlite:///{tmp / 'soak.sqlite3'}", None
    if args.postgres:
        name = f"mailbot_soak_{secrets.token_hex(4)}"
        admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        url, drop = args.postgres.rsplit("/", 1)[0] + f"/{name}", (admin, name)
    mailbox = server.add_user()
    settings = settings_file(tmp, url, mailbox, sink)
    rng = random.Random(args.seed)
    started = time.monotonic()
    n = args.submissions
    raws = submissions(n)
    procs = [daemon(settings, tmp / f"daemon{i}.log") for i in range(args.daemons if args.postgres else 1)]
    try:
        # Mail arrives in bursts while the kills go on.
        per_kill = max(1, n // max(args.kills, 1))
        sent_in = 0
        for _ in range(args.kills):
            burst = raws[sent_in:sent_in + per_kill]
            sent_in += len(burst)
            if burst:
                mailbox.deliver(*burst)
            time.sleep(rng.uniform(0.5, 2.5))
            victim = rng.randrange(len(procs))
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait()
            procs[victim] = daemon(settings, tmp / f"daemon{victim}.log")
        if sent_in < n:
            mailbox.deliver(*raws[sent_in:])
        inbound, articles, _, errors = wait_until_quiet(settings, n, timeout=900)
        took = time.monotonic() - started
    finally:
        stop(*procs)
    got = deliveries(sink)
    expected = outbox_ids(settings)
    seen = {mid for mid, _ in got}
    lost = len(expected - seen)
    repeated = sum(c - 1 for c in got.values())
    per_mail = Counter(m.message["Message-ID"] for m in sink.messages)
    again = sum(1 for c in per_mail.values() if c > 1)
    backend = f"PostgreSQL, {len(procs)} daemon(s)" if args.postgres else "SQLite, 1 daemon"
    print(f"{backend}: {n} submissions, {args.kills} kills: filed {articles} articles from {inbound} messages, "
          f"{errors} internal errors; {len(expected)} outgoing mails, {lost} lost, {again} mails sent again "
          f"under their Message-ID ({repeated} recipient deliveries); {took:.0f} s")
    sink.stop()
    server.cleanup()
    if drop:
        with drop[0].connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{drop[1]}" WITH (FORCE)'))
    return 0 if (lost, errors, articles) == (0, 0, n) else 1


if __name__ == "__main__":
    sys.exit(main())
