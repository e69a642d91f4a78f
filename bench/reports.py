"""The monthly report and the weekly digest over a large history: stats, workbook and chart (SQLite).

Run by hand: .venv/bin/python bench/reports.py [ARTICLES_PER_MONTH] [MONTHS] [DIR]. Not a test.
With DIR, the history is seeded there once and reused by later runs (100,000 articles take minutes to write).
The history is written straight into the tables: a busy agency's years of articles, each with
its approval and publication events, a photo, a closed deadline; and a question in ten.
"""

from __future__ import annotations

import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mailbot.jobs import periodic
from mailbot.reports import stats
from mailbot.reports.workbook import chart_png, workbook
from mailbot.storage.models import Article, Attachment, Deadline, Event, InboundMessage, Question
from tests.conftest import Board, Clock, write_settings

UNITS = ("Phòng PBGDPL", "Văn phòng", None)


def seed(board: Board, per_month: int, months: int) -> int:
    rnd = random.Random(7)
    start = datetime(2026, 12, 1, tzinfo=timezone.utc) - timedelta(days=30 * months)
    n = 0
    with board.transaction() as s:
        inbound = InboundMessage(agency="stp", raw_sha256="0" * 64, raw_size=1, received_at=start, disposition="filed")
        s.add(inbound)
        s.flush()
        for _ in range(per_month * months):
            n += 1
            at = start + timedelta(minutes=rnd.randrange(30 * months * 24 * 60))
            unit = rnd.choice(UNITS) or "Báo ngoài"
            a = Article(agency="stp", reference=f"BBT-X-{n:06d}", status="published", category=rnd.choice(
                ("news", "article", "photos")), title=f"Tin {n}", author={"name": f"Tác giả {n % 40}", "unit": unit,
                                                                         "email": f"a{n % 40}@binhphuoc.gov.vn"},
                        submitter_email=f"a{n % 40}@binhphuoc.gov.vn", received_at=at, updated_at=at)
            s.add(a)
            s.flush()
            s.add_all([Event(agency="stp", article_id=a.id, at=at + timedelta(days=1), actor="x", kind="final_approved"),
                       Event(agency="stp", article_id=a.id, at=at + timedelta(days=2), actor="x", kind="published"),
                       Attachment(agency="stp", inbound_id=inbound.id, article_id=a.id, filename="a.jpg", kind="jpg",
                                  size=1, sha256="1" * 64, status="ok"),
                       Deadline(agency="stp", article_id=a.id, position="review:edit", rule_name="r", rule={},
                                start_at=at, due_at=at + timedelta(days=1), closed_at=at + timedelta(hours=20),
                                outcome="met")])
            if n % 10 == 0:
                s.add(Question(agency="stp", reference=f"HD-X-{n:06d}", kind="question", status="answered", title="q",
                               asker_email="x@gmail.com", unit="Văn phòng Sở", due_at=at + timedelta(days=21),
                               received_at=at, updated_at=at, answered_at=at + timedelta(days=10)))
    return n


def main(per_month: int, months: int, keep: str | None) -> None:
    tmp = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="mailbot-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    seeded = (tmp / "bench.sqlite3").exists()
    settings = write_settings(tmp, f"sqlite:///{tmp / 'bench.sqlite3'}", f"maildir:{tmp / 'in'}", f"file:{tmp / 'out'}")
    board = Board(settings, None, None, Clock(datetime(2026, 12, 1, 1, tzinfo=timezone.utc)))
    if not seeded:
        t = time.perf_counter()
        n = seed(board, per_month, months)
        print(f"seeded {n} articles over {months} months in {time.perf_counter() - t:.1f} s")
    now = datetime(2026, 12, 1, 1, tzinfo=timezone.utc)
    with board.transaction() as s:
        t = time.perf_counter()
        month = stats.gather(s, board.agency, stats.Period.month(2026, 11), now)
        print(f"monthly stats: {time.perf_counter() - t:.2f} s ({month.published} published in the month)")
        t = time.perf_counter()
        periodic.weekly_stats(s, board.agency, periodic.digest_due(board.agency, now), now)
        print(f"weekly digest stats (week + month so far): {time.perf_counter() - t:.2f} s")
    t = time.perf_counter()
    data = workbook(month, board.agency)
    print(f"workbook: {time.perf_counter() - t:.2f} s, {len(data) // 1024} KB")
    t = time.perf_counter()
    png = chart_png(month, board.agency)
    print(f"chart: {time.perf_counter() - t:.2f} s (first draw includes loading matplotlib), {len(png) // 1024} KB")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB")
    board.close()
    # The commands as an administrator runs them, start-up included (issue 13: under 2 s each).
    mailbot = [sys.executable, "-m", "mailbot", "--config", str(settings.source)]
    for label, argv in (("mailbot digest --preview", ["digest", "--preview"]),
                        ("mailbot report monthly --month 2026-11", ["report", "monthly", "--month", "2026-11",
                                                                    "--out", str(tmp / "r.xlsx")])):
        walls = []
        for _ in range(3):
            t = time.perf_counter()
            done = subprocess.run([*mailbot, *argv], capture_output=True, text=True,
                                  env={**os.environ, "MAILBOT_TEST_IMAP_PASSWORD": "unused"})
            walls.append(time.perf_counter() - t)
            assert done.returncode == 0, done.stderr
        print(f"{label}: {sorted(walls)[1]:.2f} s (median of 3)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300, int(sys.argv[2]) if len(sys.argv) > 2 else 36,
         sys.argv[3] if len(sys.argv) > 3 else None)
