"""A local Maildir: messages in new/ are taken, then moved to cur/ once stored."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path


class MaildirSource:
    def __init__(self, path: Path, poll_interval: float = 1.0):
        self.path = Path(path)
        self.name = f"maildir:{self.path}"
        self.poll_interval = poll_interval
        for sub in ("new", "cur", "tmp"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)

    def pending(self) -> Iterator[tuple[str, bytes]]:
        entries = sorted(self.path.joinpath("new").iterdir(), key=lambda p: (p.stat().st_mtime, p.name))
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_file():
                continue
            yield entry.name, entry.read_bytes()

    def done(self, key: str) -> None:
        # Into cur/ with no flags: read by mailbot, still unread for a person looking in.
        src = self.path / "new" / key
        if src.exists():
            os.replace(src, self.path / "cur" / f"{key.split(':', 1)[0]}:2,")

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(not p.name.startswith(".") for p in self.path.joinpath("new").iterdir()):
                return
            time.sleep(min(self.poll_interval, max(0.0, deadline - time.monotonic())))

    def close(self) -> None:
        pass
