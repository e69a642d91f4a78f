"""Several processes on one database: PostgreSQL coordinates them, and nothing of our own does.

- A lease (a row in `leases` with an expiry) says which process reads a mailbox; its holder renews it,
  and when the holder dies another process takes it over once it expires.
- A sweep runs under a transaction-scoped advisory lock, so two processes never queue the same mail.
- Outbox rows are claimed with FOR UPDATE SKIP LOCKED (mailbot.outbound.outbox).

SQLite serves one process: `single_daemon` refuses a second `mailbot run` on the same file. Its
BEGIN IMMEDIATE transactions already serialise the short commands run beside the daemon.
"""

from __future__ import annotations

import fcntl
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailbot.storage.db import Database, advisory_lock
from mailbot.storage.models import Lease


def process_id() -> str:
    """This process, as leases and claims name it: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def database_now(s: Session) -> datetime:
    """The database's clock where several machines share it (PostgreSQL); this machine's for SQLite."""
    if s.get_bind().dialect.name == "postgresql":
        value = s.scalar(select(func.clock_timestamp()))
        assert isinstance(value, datetime)
        return value.astimezone(timezone.utc)
    return datetime.now(timezone.utc)


class Leases:
    """Named leases held by one process: acquire, renew, release."""

    def __init__(self, db: Database, agency: str, holder: str, seconds: float):
        self.db = db
        self.agency = agency
        self.holder = holder
        self.ttl = timedelta(seconds=seconds)

    def acquire(self, name: str) -> bool:
        """Take the lease, or renew it if it is ours. False while another live process holds it."""
        try:
            with self.db.transaction() as s:
                now = database_now(s)
                row = s.scalar(select(Lease).where(Lease.name == name).with_for_update())
                if row is None:
                    s.add(Lease(name=name, agency=self.agency, holder=self.holder, expires_at=now + self.ttl, acquired_at=now))
                    return True
                if row.holder != self.holder and row.expires_at > now:
                    return False
                if row.holder != self.holder:
                    row.holder, row.acquired_at = self.holder, now
                row.expires_at = now + self.ttl
                return True
        except IntegrityError:  # another process inserted it first
            return False

    def renew(self, name: str) -> bool:
        """Extend our lease; False when it is no longer ours (it expired and another process took it)."""
        with self.db.transaction() as s:
            now = database_now(s)
            row = s.scalar(select(Lease).where(Lease.name == name).with_for_update())
            if row is None or row.holder != self.holder:
                return False
            row.expires_at = now + self.ttl
            return True

    def release(self, name: str) -> None:
        with self.db.transaction() as s:
            row = s.scalar(select(Lease).where(Lease.name == name, Lease.holder == self.holder))
            if row is not None:
                s.delete(row)


def process_lease(agency: str, holder: str) -> str:
    """The lease a running process holds while it works for an agency: claims it left are freed as soon as it
    expires (a killed process), not only when each claim's own expiry comes."""
    return f"process:{agency}:{holder}"


def dead_processes(s: Session, agency: str) -> list[str]:
    """Holders whose process lease has expired: they were killed, or stopped renewing."""
    now = database_now(s)
    return list(s.scalars(select(Lease.holder).where(Lease.agency == agency, Lease.name.like("process:%"),
                                                     Lease.expires_at < now)))


def forget(s: Session, agency: str, holders: list[str]) -> None:
    for row in s.scalars(select(Lease).where(Lease.agency == agency, Lease.holder.in_(holders))):
        s.delete(row)


def serialise(s: Session, name: str) -> None:
    """Hold `name` until this transaction ends: another process's transaction doing the same waits."""
    advisory_lock(s, name)


class AlreadyRunning(RuntimeError):
    """A second daemon on an SQLite database."""


@contextmanager
def single_daemon(db: Database) -> Iterator[None]:
    """On SQLite, hold an exclusive lock beside the database file while the daemon runs; a second daemon
    fails at once with a clear message. PostgreSQL needs nothing: leases and claims share the work."""
    if db.engine.dialect.name != "sqlite" or db.sqlite_path is None:
        yield
        return
    path = Path(f"{db.sqlite_path}.daemon.lock")
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            other = fh.read().strip() or "another process"
            raise AlreadyRunning(
                f"mailbot run is already running on {db.sqlite_path} ({other}). SQLite serves one process: "
                "stop the other one, or use PostgreSQL (database = \"postgresql+psycopg://...\") to run "
                "several") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
