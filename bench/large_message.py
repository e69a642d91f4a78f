"""Peak memory for one message with a 25 MB attachment (issue 13: under 150 MiB), beside a bare fetch and parse.

One Dovecot mailbox holds a submission with a 25 MB PDF (about 34 MB as base64 in the message). Three processes are
measured one after the other, each its own peak RSS (VmHWM as it exits):
- the bare peer: imapclient fetches the message and the standard library parses it and decodes the attachment;
- `mailbot run --once` over an empty mailbox: start-up, migration, the services;
- the same over the same submission with a 25 KB PDF (the floor for a submission: its checks, hints, answers);
- the same over the mailbox with the large message, on SQLite, answering into an SMTP sink.

Run by hand: .venv/bin/python bench/large_message.py [MB]. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import samples
from tests.conftest import BOARD
from tests.daemons import ENV, settings_file
from tests.servers import Dovecot, SmtpSink

# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec, and this process holds
# the large message several times over.
PEAK = ("import atexit, sys\n"
        "def _peak():\n"
        "    hwm = next(line for line in open('/proc/self/status') if line.startswith('VmHWM'))\n"
        "    print(f'peak {int(hwm.split()[1]) // 1024} MiB', file=sys.stderr)\n"
        "atexit.register(_peak)\n")

BARE = PEAK + """
import email, email.policy
from imapclient import IMAPClient
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
with IMAPClient("127.0.0.1", port=port, ssl=False) as c:
    c.login(user, password)
    c.select_folder("INBOX", readonly=True)
    for data in c.fetch(c.search(["ALL"]), ["BODY.PEEK[]"]).values():
        msg = email.message_from_bytes(data[b"BODY[]"], policy=email.policy.default)
        sizes = [len(p.get_content()) for p in msg.walk() if not p.is_multipart()]
        print("parts", sizes, file=sys.stderr)
"""

MAILBOT = PEAK + """
import runpy
sys.argv = ["mailbot", *sys.argv[1:]]
runpy.run_module("mailbot", run_name="__main__")
"""


def message(mb: float) -> bytes:
    # random bytes without "/": by chance they would hold "/JS", and the PDF be quarantined as active content
    pdf = b"%PDF-1.4\n" + os.urandom(int(mb * 1_000_000) - 16).replace(b"/", b"x") + b"\n%%EOF\n"
    return samples.build("gmail", sender=("Nguyễn Văn An", "an.nv@binhphuoc.gov.vn"), to=BOARD,
                         subject="[VB] Báo cáo tổng kết năm 2026 (bản scan)",
                         text="Kính gửi Ban Biên tập,\nEm gửi bản scan báo cáo tổng kết.\n\nNguyễn Văn An\n"
                              "Chuyên viên Phòng PBGDPL\nĐT: 0912 345 678",
                         files=(samples.File("Báo cáo tổng kết 2026.pdf", "application/pdf", pdf),))


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*/children"):
            try:
                kids = [int(k) for k in task.read_text().split()]
            except OSError:
                continue
            found.extend(kids)
            todo.extend(kids)
    return found


def _hwm(pid: int) -> int:
    try:
        return next(int(line.split()[1]) // 1024 for line in open(f"/proc/{pid}/status") if line.startswith("VmHWM"))
    except (OSError, StopIteration):
        return 0


def peak(code: str, *args: str) -> str:
    """The process's own peak (printed as it exits), and the largest peak among its children (the extraction
    child, with python-docx and the language model), sampled every 20 ms."""
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, **ENV})
    children: dict[int, int] = {}
    while proc.poll() is None:
        for pid in _descendants(proc.pid):
            children[pid] = max(children.get(pid, 0), _hwm(pid))
        time.sleep(0.02)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(err[-3000:])
    said = " ".join(line for line in err.splitlines() if line.startswith(("peak", "parts")))
    if children:
        said += f" (its child: {max(children.values())} MiB)"
    return f"{said}; {out.strip()}" if out.strip() else said


def main(mb: float) -> None:
    raw = message(mb)
    print(f"one message of {len(raw) / 1e6:.1f} MB with a {mb:g} MB PDF")
    server = Dovecot().start()
    sink = SmtpSink().start()
    try:
        full, empty, small = server.add_user(), server.add_user(), server.add_user()
        full.deliver(raw)
        small.deliver(message(0.025))
        print("bare fetch and parse:", peak(BARE, str(full.port), full.USER, full.PASSWORD))
        tmp = Path(tempfile.mkdtemp(prefix="mailbot-large-"))
        for name, box in (("empty mailbox", empty), ("the same with a 25 KB PDF", small), ("the large message", full)):
            (tmp / name).mkdir()
            settings = settings_file(tmp / name, f"sqlite:///{tmp / name / 'db.sqlite3'}", box, sink)
            print(f"mailbot run --once, {name}:", peak(MAILBOT, "--config", str(settings.source), "run", "--once",
                                                      "--backlog", "process"))
        print("sent to the sink:", len(sink.messages), "messages")
        import sqlite3

        with sqlite3.connect(tmp / "the large message" / "db.sqlite3") as db:
            for disposition, rule, reason in db.execute("SELECT disposition, rule, reason FROM inbound_messages"):
                print(f"the large message: {disposition} ({rule}){': ' + reason if reason else ''}")
    finally:
        sink.stop()
        server.cleanup()


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 25)
