"""Where mail comes from: an IMAP mailbox or a local Maildir, behind one small interface."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import NamedTuple, Protocol

from sqlalchemy.orm import Session

from mailbot.mail.raw import RawMessage


class Pending(NamedTuple):
    """One message waiting in the source: its key there, its bytes (a large message as a file, never held
    whole), and when it reached the server (IMAP INTERNALDATE, a Maildir file's delivery time; None when the
    source cannot say)."""

    key: str
    raw: bytes | RawMessage
    arrived: datetime | None = None


class BacklogDecisionNeeded(Exception):
    """First start against a mailbox that already holds mail: the administrator must choose."""

    def __init__(self, count: int, mailbox: str):
        self.count = count
        self.mailbox = mailbox
        super().__init__(f"{mailbox} already holds {count} message(s)")


class Source(Protocol):
    name: str

    def pending(self) -> Iterator[Pending]:
        """Messages not yet handled, oldest first."""

    def record(self, s: Session, key: str) -> None:
        """Write down, in the caller's transaction (the one that files the message), that the source is past
        `key` (IMAP: the UID checkpoint); nothing where done() is the record itself (Maildir)."""

    def done(self, key: str) -> None:
        """Mark a message handled; called only after its database commit."""

    def wait(self, timeout: float) -> str:
        """Block until new mail may be there, or `timeout` seconds pass; say which woke it (for the pass log)."""

    def close(self) -> None: ...
