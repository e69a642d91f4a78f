"""The database handle: engine, one transaction per use case, and Alembic upgrades to head."""

from __future__ import annotations

import hashlib
import re
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
MIGRATION_LOCK = "migrate:schema"
BUSY_SECONDS = 10   # how long SQLite waits for another writer before "database is locked" (busy_timeout)


def advisory_lock(conn: Connection | Session, name: str) -> None:
    """Hold `name` until the transaction on `conn` ends; another transaction doing the same waits.

    PostgreSQL: pg_advisory_xact_lock. SQLite: the transaction already holds the write lock (BEGIN IMMEDIATE).
    """
    dialect = conn.get_bind().dialect if isinstance(conn, Session) else conn.dialect
    if dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def is_unavailable(exc: BaseException) -> bool:
    """The database went away or refused for now (down, restarting, connection cut, too many clients,
    a serialisation conflict): wait and try again; nothing about the message is wrong."""
    if isinstance(exc, OperationalError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


class SchemaNotCurrent(RuntimeError):
    """The database is older (or newer) than this mailbot: `mailbot migrate` first."""


class Database:
    def __init__(self, url: str):
        self.url = url
        self.sqlite_path: Path | None = None
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            self.sqlite_path = Path(url[len("sqlite:///"):])
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url, future=True, hide_parameters=True)  # errors never quote a row's values
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            # pysqlite's own transaction handling defers BEGIN; take the write lock at the start of
            # each transaction instead, so two processes never interleave a read-modify-write.
            event.listen(self.engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer at a time, and every transaction here is a writer (BEGIN IMMEDIATE). A thread
        # that finds the database locked is put to sleep by SQLite's busy handler for 1, 2, 5, 10, 15, 20 ms and
        # more, and tries again only then: the intake thread, starting a transaction a millisecond after its
        # last one ended, took the lock again and again while the sender thread slept, and the sender fell a
        # pass behind. Within this process the threads queue on this lock instead, and the one waiting is woken
        # the moment the lock is free, in the order they came. Other processes still meet SQLite's own lock.
        self.writers: Turns | None = Turns() if self.engine.dialect.name == "sqlite" else None

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One use case, one transaction: committed on success, rolled back on any error."""
        # Bounded as SQLite's own wait is: past it, SQLite's busy handler takes over and says "locked".
        held = self.writers is not None and self.writers.acquire(timeout=BUSY_SECONDS)
        try:
            with self._sessions() as session, session.begin():
                yield session
        finally:
            if held:
                assert self.writers is not None
                self.writers.release()

    def _alembic(self) -> AlembicConfig:
        from alembic.config import Config as AlembicConfig  # only to migrate: it takes 0.15 s to load

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return cfg

    def upgrade(self) -> None:
        """Migrate the database to the newest schema (creates it when empty).

        Under a lock: two processes starting together on an empty PostgreSQL database take turns, and
        the second finds the schema current. (SQLite's BEGIN IMMEDIATE does the same.)
        """
        from alembic import command

        cfg = self._alembic()
        with self.engine.begin() as conn:
            advisory_lock(conn, MIGRATION_LOCK)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def current_revision(self) -> str | None:
        """The revision alembic_version records (what Alembic's MigrationContext reads), or None."""
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def check_current(self) -> None:
        """Raise SchemaNotCurrent unless the schema is the one this code expects."""
        head = head_revision()
        current = self.current_revision()
        if current != head:
            raise SchemaNotCurrent(
                f"the database schema is at {current or 'nothing (empty database)'}, this mailbot needs {head}: "
                "run `mailbot migrate` (or start `mailbot run`, which migrates first)")

    def check_ready(self, agencies: list[str]) -> None:
        """The schema is current and every configured agency is known: what commands other than `migrate`
        and `run` need (they never change the schema themselves). Raises SchemaNotCurrent or NotSetUp."""
        from mailbot.storage.models import AgencyRow

        self.check_current()
        with self.transaction() as s:
            known = set(s.scalars(select(AgencyRow.slug)))
        missing = [slug for slug in agencies if slug not in known]
        if missing:
            raise NotSetUp(f"agencies not yet in the database: {', '.join(missing)}; run `mailbot migrate`")

    def dispose(self) -> None:
        self.engine.dispose()


class Turns:
    """A reentrant lock handed over in the order it was asked for: a thread that has just released it and asks
    again waits behind those already waiting (threading.RLock would let it straight back in, and a thread
    running one transaction after another would keep the others out). A transaction opened inside another
    in the same thread goes on holding it, as it did without the lock."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._queue: deque[int] = deque()   # the threads waiting, first come first
        self._owner: int | None = None
        self._depth = 0

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._queue)

    def acquire(self, timeout: float) -> bool:
        """True once this thread holds it; False after `timeout` seconds without."""
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
                return True
            self._queue.append(me)
            if not self._cond.wait_for(lambda: self._owner is None and self._queue[0] == me, timeout):
                self._queue.remove(me)
                self._cond.notify_all()   # the thread behind may be first now
                return False
            self._queue.popleft()
            self._owner, self._depth = me, 1
            return True

    def release(self) -> None:
        with self._cond:
            if self._owner != threading.get_ident():
                raise RuntimeError("released by a thread that does not hold it")
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._cond.notify_all()


class NotSetUp(RuntimeError):
    """The configuration names an agency the database does not know yet."""


_REVISION = re.compile(r"^(down_revision|revision) = ['\"]?(\w+|None)['\"]?$", re.MULTILINE)


@cache
def head_revision() -> str:
    """The newest migration: the one no other names as its down_revision. Read from the files, as
    Alembic's ScriptDirectory does, without loading Alembic (read-only commands start faster);
    tests/test_storage.py checks the two agree."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = dict((k, v) for k, v in _REVISION.findall(path.read_text(encoding="utf-8")))
        revisions.add(found["revision"])
        parents.add(found.get("down_revision", "None"))
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads: {sorted(heads)}")
    return heads.pop()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # let the "begin" listener issue BEGIN itself
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000}")
    cur.close()
