"""IDLE latency: a submission APPENDed to the mailbox, to its acknowledgement accepted by the SMTP sink (issue 13:
p95 under 1 s, no stall).

A real `mailbot run` daemon (SQLite, the default 60 s lease, IDLE) reads one Dovecot mailbox and answers into an
aiosmtpd sink that notes when each message arrives. N realistic submissions (about 300 KB: text with a
signature, a Word file, a photo; bench/imap_intake.py's) are APPENDed one at a time, each from its own sender,
with a pause between them drawn from --gap (seconds, uniform); a pause shorter than a message's handling means the
next one arrives while the last is still being read, as in a busy hour. The latency of each is the time from
just before its APPEND to the sink's acceptance of the acknowledgement to its sender. The daemon's log goes to
--log (its "slow pass" warnings name any stall).

Run by hand: .venv/bin/python bench/idle_latency.py [--count 100] [--gap 0.2 2.0] [--postgres ADMIN_URL].
Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.imap_intake import submission
from tests import samples
from tests.conftest import BOARD
from tests.daemons import ENV, scratch_database, settings_file, stop
from tests.servers import Dovecot, Received, SinkHandler, SmtpSink, postgres_admin_url


@dataclass
class TimedHandler(SinkHandler):
    """The sink's handler, noting the monotonic time each recipient's first message was accepted."""
    first: dict[str, float] = field(default_factory=dict)

    async def handle_DATA(self, server, session, envelope):
        at = time.monotonic()
        with self.lock:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
            for rcpt in envelope.rcpt_tos:
                self.first.setdefault(rcpt.lower(), at)
        return "250 OK"


def timed_sink() -> tuple[SmtpSink, TimedHandler]:
    sink = SmtpSink()
    handler = TimedHandler()
    sink.handler = handler
    sink.controller = sink._controller()
    return sink.start(), handler


def from_sender(raw: bytes, i: int) -> bytes:
    """The submission as sent by staff member i (one sender each, so each acknowledgement is told apart)."""
    return raw.replace(b"an.nv@binhphuoc.gov.vn", f"nv{i}@binhphuoc.gov.vn".encode())


def wait_for(handler: TimedHandler, rcpt: str, timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with handler.lock:
            at = handler.first.get(rcpt)
        if at is not None:
            return at
        time.sleep(0.005)
    return None


def bare_idle(box, raws: list[bytes], gaps: list[float]) -> list[float]:
    """The peer: the same APPENDs to a mailbox a plain imapclient session waits on in IDLE; each latency is to the
    EXISTS that announces it (Dovecot holds announcements back 0.5 s, mailbox-watch.c's NOTIFY_DELAY_MSECS)."""
    watcher = box.client()
    watcher.select_folder("INBOX")
    seen: dict[int, float] = {}
    done = threading.Event()

    def watch() -> None:
        watcher.idle()
        while not done.is_set():
            for response in watcher.idle_check(timeout=0.5):
                if isinstance(response, tuple) and response[1:2] == (b"EXISTS",):
                    for n in range(1, int(response[0]) + 1):   # two APPENDs within 0.5 s: one EXISTS
                        seen.setdefault(n, time.monotonic())
        watcher.idle_done()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    time.sleep(0.5)
    appender, sent = box.client(), []
    for raw, gap in zip(raws, gaps, strict=True):
        time.sleep(gap)
        sent.append(time.monotonic())
        appender.append("INBOX", raw)
    time.sleep(2)
    done.set()
    thread.join()
    appender.logout()
    watcher.logout()
    return [seen.get(n + 1, float("inf")) - at for n, at in enumerate(sent)]


def quantile(latencies: list[float], q: int) -> float:
    return statistics.quantiles(sorted(latencies), n=100)[q - 1]


def summary(latencies: list[float]) -> str:
    lost = sum(1 for x in latencies if x == float("inf"))
    got = sorted(x for x in latencies if x != float("inf"))
    q = statistics.quantiles(got, n=100) if len(got) > 1 else got * 99
    return (f"p50 {q[49]:.3f} s, p95 {q[94]:.3f} s, max {got[-1]:.3f} s; over 1 s: {sum(1 for x in got if x > 1)}; "
            f"never: {lost}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--gap", type=float, nargs=2, default=(0.2, 2.0), metavar=("LOW", "HIGH"))
    ap.add_argument("--postgres", nargs="?", const="", default=None, metavar="ADMIN_URL")
    ap.add_argument("--log", type=Path, default=None)
    ap.add_argument("--log-level", default="INFO", help="the daemon's; DEBUG logs every pass with what woke it")
    args = ap.parse_args()
    rnd = random.Random(13)
    raws = [from_sender(submission(i, rnd), i) for i in range(args.count)]
    gaps = [rnd.uniform(*args.gap) for _ in raws]
    server = Dovecot().start()
    sink, handler = timed_sink()
    tmp = Path(tempfile.mkdtemp(prefix="mailbot-idle-"))
    log = args.log or tmp / "daemon.log"
    admin = (args.postgres or postgres_admin_url()) if args.postgres is not None else None
    proc = None
    try:
        box, peer_box = server.add_user(), server.add_user()
        peer = bare_idle(peer_box, raws, gaps)
        settings = settings_file(tmp, scratch_database(tmp, admin, f"bench_idle_{os.getpid()}"), box, sink, lease_seconds=60)
        with open(log, "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "mailbot", "--config", str(settings.source), "--log-level",
                                     args.log_level, "run", "--backlog", "process"], env={**os.environ, **ENV},
                                    stdout=out, stderr=out)
        # Warm up: the daemon's first pass and its first answer (start-up and imports are not latency).
        box.deliver(samples.build("gmail", sender=("Nguyễn Văn An", "warm@binhphuoc.gov.vn"), to=BOARD,
                                  subject="Tin khởi động", text="Nội dung.\n\nNguyễn Văn An\nChuyên viên\nĐT: 0912 345 678"))
        if wait_for(handler, "warm@binhphuoc.gov.vn", 120) is None:
            raise SystemExit(f"the daemon did not answer within 120 s; see {log}")
        time.sleep(1)
        latencies: list[float] = []
        pending: list[tuple[int, float]] = []
        lock = threading.Lock()

        def collect() -> None:
            while True:
                with lock:
                    if not pending:
                        return
                    i, sent = pending[0]
                at = wait_for(handler, f"nv{i}@binhphuoc.gov.vn", 90)
                with lock:
                    pending.pop(0)
                    latencies.append(float("inf") if at is None else at - sent)
                    if at is None or at - sent > 1:
                        print(f"  submission {i}: {'no answer' if at is None else f'{at - sent:.3f} s'}", flush=True)

        collector: threading.Thread | None = None
        appender = box.client()   # logged in beforehand: the latency is the APPEND's, not a login's
        for i, (raw, gap) in enumerate(zip(raws, gaps, strict=True)):
            time.sleep(gap)
            with lock:
                pending.append((i, time.monotonic()))
            appender.append("INBOX", raw)
            if collector is None or not collector.is_alive():
                collector = threading.Thread(target=collect, daemon=True)
                collector.start()
        if collector is not None:
            collector.join()
        appender.logout()
        print(f"{args.count} submissions of {sum(map(len, raws)) // args.count // 1024} KB, gaps "
              f"{args.gap[0]:g}-{args.gap[1]:g} s, {'PostgreSQL' if admin else 'SQLite'}")
        print(f"bare IDLE client, APPEND -> EXISTS: {summary(peer)}")
        print(f"mailbot, APPEND -> acknowledgement at the sink: {summary(latencies)}")
        print(f"ratio mailbot / bare IDLE client: p50 {quantile(latencies, 50) / quantile(peer, 50):.2f}, "
              f"p95 {quantile(latencies, 95) / quantile(peer, 95):.2f} (issue 13's goal: mailbot's p95 under 1 s)")
        slow = [line for line in log.read_text(errors="replace").splitlines() if "slow pass" in line]
        print(f"slow passes logged: {len(slow)}" + "".join(f"\n  {line[:300]}" for line in slow[:5]))
    finally:
        if proc is not None:
            stop(proc)
        sink.stop()
        server.cleanup()


if __name__ == "__main__":
    main()
