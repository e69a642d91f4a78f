"""Where mail comes from: an IMAP mailbox or a local Maildir, behind one small interface."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol


class BacklogDecisionNeeded(Exception):
    """First start against a mailbox that already holds mail: the administrator must choose."""

    def __init__(self, count: int, mailbox: str):
        self.count = count
        self.mailbox = mailbox
        super().__init__(f"{mailbox} already holds {count} message(s)")


class Source(Protocol):
    name: str

    def pending(self) -> Iterator[tuple[str, bytes]]:
        """Messages not yet handled, as (key, raw bytes), oldest first."""

    def done(self, key: str) -> None:
        """Mark a message handled; called only after its database commit."""

    def wait(self, timeout: float) -> None:
        """Block until new mail may be there, or `timeout` seconds pass."""

    def close(self) -> None: ...
