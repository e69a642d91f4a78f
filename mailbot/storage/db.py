"""The database handle: engine, one transaction per use case, and Alembic upgrades to head."""

from __future__ import annotations

import hashlib
import re
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

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One use case, one transaction: committed on success, rolled back on any error."""
        with self._sessions() as session, session.begin():
            yield session

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
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()
