"""Throughput and memory of intake: N sample submissions through parse, rules, filing and outbox (SQLite).

Run by hand: .venv/bin/python bench/intake.py [N]. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import samples
from tests.conftest import BOARD, Board, Clock, write_settings


def main(n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="mailbot-bench-"))
    # One sender sends them all: the flood brakes are lifted, so each is answered as a board's mail would be.
    settings = write_settings(tmp, f"sqlite:///{tmp / 'bench.sqlite3'}", f"maildir:{tmp / 'in'}", f"file:{tmp / 'out'}",
                              extra="[agency.limits]\nsubmissions_per_hour = 100000\nanswers_per_day = 100000\n")
    board = Board(settings, None, None, Clock())
    doc = samples.docx_bytes("Tin hội nghị", ["Nội dung tin hội nghị tổng kết. " * 40])
    files = (samples.File("tin.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", doc),
             samples.File("anh.jpg", "image/jpeg", samples.jpeg_bytes(1) * 1))
    raws = [samples.build("gmail", sender=("Nguyễn Văn An", "an.nv@binhphuoc.gov.vn"), to=BOARD,
                          subject=f"[TIN] Hội nghị số {i}",
                          text=f"Nội dung số {i}.\n\nNguyễn Văn An\nChuyên viên Phòng PBGDPL\nĐT: 0912 345 678", files=files)
            for i in range(n)]
    big = samples.build("outlook", sender=("Nguyễn Văn An", "an.nv@binhphuoc.gov.vn"), to=BOARD,
                        subject="[ẢNH] Ảnh lớn", text="Ảnh.\n\nNguyễn Văn An\nPhòng PBGDPL\nĐT: 0912 345 678",
                        files=(samples.File("lon.jpg", "image/jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * (20 << 20) + b"\xff\xd9"),))
    intake = board.worker.intake
    start = time.perf_counter()
    for raw in raws:
        intake.process(raw)
    took = time.perf_counter() - start
    print(f"intake: {n} messages of {len(raws[0]) // 1024} KB in {took:.2f} s = {n / took:.0f} msg/s")
    start = time.perf_counter()
    from mailbot.outbound import outbox
    sent = outbox.deliver(board.app.db, board.agency, board.worker.transport, board.clock()).sent
    print(f"outbox: {sent} messages written in {time.perf_counter() - start:.2f} s")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    intake.process(big)
    print(f"one 20 MB attachment: {time.perf_counter() - start:.2f} s; peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (was {before / 1024:.0f})")
    board.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
