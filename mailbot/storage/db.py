"""The database handle: engine, one transaction per use case, and Alembic upgrades to head."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

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
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return cfg

    def upgrade(self) -> None:
        """Migrate the database to the newest schema (creates it when empty).

        Under a lock: two processes starting together on an empty PostgreSQL database take turns, and
        the second finds the schema current. (SQLite's BEGIN IMMEDIATE does the same.)
        """
        cfg = self._alembic()
        with self.engine.begin() as conn:
            advisory_lock(conn, MIGRATION_LOCK)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def check_current(self) -> None:
        """Raise SchemaNotCurrent unless the schema is the one this code expects."""
        head = ScriptDirectory.from_config(self._alembic()).get_current_head()
        with self.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        if current != head:
            raise SchemaNotCurrent(
                f"the database schema is at {current or 'nothing (empty database)'}, this mailbot needs {head}: "
                "run `mailbot migrate` (or start `mailbot run`, which migrates first)")

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # let the "begin" listener issue BEGIN itself
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()
