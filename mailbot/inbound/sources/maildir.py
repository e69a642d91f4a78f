"""A local Maildir: messages in new/ are taken, then moved to cur/ once stored."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy.orm import Session

from mailbot.inbound.sources import Pending
from mailbot.mail.raw import RawMessage


def delivered_at(name: str, mtime: float) -> datetime:
    """When the file was delivered: the seconds a Maildir name starts with ("1764234000.M1P2.host"), as the
    delivery agent wrote them; else the file's modification time (set when it was written into tmp/)."""
    head = name.split(".", 1)[0]
    if head.isdigit() and len(head) == 10:
        return datetime.fromtimestamp(int(head), timezone.utc)
    return datetime.fromtimestamp(mtime, timezone.utc)


class MaildirSource:
    def __init__(self, path: Path, poll_interval: float = 1.0, large_bytes: int = 2 * 1024 * 1024):
        self.path = Path(path)
        self.large_bytes = large_bytes   # a larger file is handed over as the file itself, not read into memory
        self.name = f"maildir:{self.path}"
        self.poll_interval = poll_interval
        for sub in ("new", "cur", "tmp"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)

    def pending(self) -> Iterator[Pending]:
        entries = sorted((st.st_mtime, p.name, p, st.st_size) for p in self.path.joinpath("new").iterdir()
                         for st in (p.stat(),))
        for mtime, name, entry, size in entries:
            if name.startswith(".") or not entry.is_file():
                continue
            raw = RawMessage(path=entry, size=size, owned=False) if size > self.large_bytes else entry.read_bytes()
            yield Pending(name, raw, delivered_at(name, mtime))

    def record(self, s: Session, key: str) -> None:
        pass   # the move into cur/ (done) is the record: a crash before it means a no-op repeat

    def done(self, key: str) -> None:
        # Into cur/ with no flags: read by mailbot, still unread for a person looking in.
        src = self.path / "new" / key
        if src.exists():
            os.replace(src, self.path / "cur" / f"{key.split(':', 1)[0]}:2,")

    def wait(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(not p.name.startswith(".") for p in self.path.joinpath("new").iterdir()):
                return "new file"
            time.sleep(min(self.poll_interval, max(0.0, deadline - time.monotonic())))
        return "timeout"

    def close(self) -> None:
        pass
