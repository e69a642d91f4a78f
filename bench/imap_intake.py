"""Intake over IMAP side by side with a bare loop (issue 13: mailbot at half the bare loop's speed or better).

The same N realistic submissions (about 300 KB: Vietnamese text with a signature, a Word file of about
30 KB of text, a photo) go into two mailboxes of one Dovecot. The bare loop logs in, fetches them in
batches of 20 with imapclient and parses each with the standard library (every part's content decoded):
the floor any IMAP intake stands on. Then `mailbot run --once` takes in the other mailbox on SQLite, with
an SMTP sink answering, start-up included; its wall time is also given without the start-up of an empty
pass. Both runs in one process tree, one after the other, on the same machine.

Run by hand: .venv/bin/python bench/imap_intake.py [N] [--postgres]. With --postgres, mailbot's database is a
fresh one on the local PostgreSQL cluster (started if need be, as the tests do) instead of SQLite. Not a test:
numbers depend on the machine.
"""

from __future__ import annotations

import email
import email.policy
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imapclient import IMAPClient

from tests import samples
from tests.conftest import BOARD
from tests.daemons import ENV, scratch_database, settings_file
from tests.servers import Dovecot, SmtpSink, postgres_admin_url

WORDS = ("Sở Tư pháp tổ chức hội nghị tổng kết công tác phổ biến giáo dục pháp luật năm 2026 tại hội trường "
         "với sự tham dự của lãnh đạo các phòng ban đơn vị trực thuộc và phòng tư pháp các huyện thị xã").split()


def submission(i: int, rnd: random.Random) -> bytes:
    text = " ".join(rnd.choice(WORDS) for _ in range(5000))   # about 30 KB of Vietnamese in the Word file
    doc = samples.docx_bytes(f"Tin hội nghị số {i}", [text[j:j + 600] for j in range(0, len(text), 600)])
    photo = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + rnd.randbytes(200_000) + b"\xff\xd9"
    return samples.build("gmail", sender=("Nguyễn Văn An", "an.nv@binhphuoc.gov.vn"), to=BOARD,
                         subject=f"[TIN] Hội nghị tổng kết số {i}",
                         text=f"Kính gửi Ban Biên tập,\nEm gửi tin hội nghị số {i} kèm ảnh.\n\nNguyễn Văn An\n"
                              "Chuyên viên Phòng PBGDPL\nĐT: 0912 345 678",
                         files=(samples.File(f"Tin {i}.docx", "application/vnd.openxmlformats-officedocument"
                                             ".wordprocessingml.document", doc),
                                samples.File(f"Ảnh {i}.jpg", "image/jpeg", photo)))


def bare_loop(user) -> tuple[int, float, float]:
    """(messages, wall seconds, CPU seconds) for fetch in batches of 20 and a full stdlib parse."""
    wall, cpu = time.perf_counter(), time.process_time()
    n = 0
    with IMAPClient("127.0.0.1", port=user.port, ssl=False, timeout=30) as c:
        c.login(user.USER, user.PASSWORD)
        c.select_folder("INBOX", readonly=True)
        uids = c.search(["ALL"])
        for i in range(0, len(uids), 20):
            for data in c.fetch(uids[i:i + 20], ["RFC822"]).values():
                msg = email.message_from_bytes(data[b"RFC822"], policy=email.policy.default)
                for part in msg.walk():
                    if not part.is_multipart():
                        part.get_content()
                n += 1
    return n, time.perf_counter() - wall, time.process_time() - cpu


def mailbot_once(config: Path) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the child, its summary line) for one `mailbot run --once`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mailbot", "--config", str(config), "run", "--once",
                           "--backlog", "process"], capture_output=True, text=True, env={**os.environ, **ENV})
    took = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return took, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), done.stdout.strip()


def main(n: int, postgres: bool = False) -> None:
    rnd = random.Random(13)
    raws = [submission(i, rnd) for i in range(n)]
    print(f"{n} submissions of {sum(map(len, raws)) // n // 1024} KB on average")
    server = Dovecot().start()
    sink = SmtpSink().start()
    admin = postgres_admin_url() if postgres else None
    try:
        bare_box, mailbot_box, empty_box = server.add_user(), server.add_user(), server.add_user()
        bare_box.deliver(*raws)
        mailbot_box.deliver(*raws)
        count, bare_wall, bare_cpu = bare_loop(bare_box)
        print(f"bare loop (imapclient, batches of 20, stdlib parse): {count / bare_wall:.1f} msg/s, "
              f"{1000 * bare_cpu / count:.0f} ms CPU a message")
        tmp = Path(tempfile.mkdtemp(prefix="mailbot-bench-"))
        (tmp / "empty").mkdir()
        empty = settings_file(tmp / "empty", scratch_database(tmp / "empty", admin, f"mailbot_bench_{os.getpid()}_empty"),
                              empty_box, sink)
        start_wall, _, _ = mailbot_once(empty.source)   # start-up, migration, one empty pass
        (tmp / "full").mkdir()
        full = settings_file(tmp / "full", scratch_database(tmp / "full", admin, f"mailbot_bench_{os.getpid()}_full"),
                             mailbot_box, sink)
        wall, cpu, summary = mailbot_once(full.source)
        store = "PostgreSQL" if postgres else "SQLite"
        print(f"mailbot run --once ({store}, answers sent to the sink): {n / wall:.1f} msg/s with start-up, "
              f"{n / (wall - start_wall):.1f} msg/s without ({start_wall:.1f} s for an empty pass); "
              f"{1000 * cpu / n:.0f} ms CPU a message; {summary}")
        print(f"ratio mailbot / bare loop: {(n / (wall - start_wall)) / (count / bare_wall):.2f} "
              f"(issue 13's goal: 0.5 or more)")
    finally:
        sink.stop()
        server.cleanup()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--postgres"]
    main(int(args[0]) if args else 200, postgres="--postgres" in sys.argv[1:])
