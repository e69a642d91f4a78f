"""The schema: Alembic takes an empty database to head, and the models match what it builds."""

from __future__ import annotations

import threading
import time

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from mailbot.storage.db import Database, Turns, head_revision
from mailbot.storage.models import Base


def test_alembic_migrates_an_empty_database_to_head(database_url):
    db = Database(database_url)
    db.upgrade()
    tables = set(inspect(db.engine).get_table_names())
    assert {"agencies", "inbound_messages", "articles", "attachments", "events", "outbox",
            "reference_counters", "mailbox_state", "alembic_version"} <= tables
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        alembic_reads = MigrationContext.configure(conn).get_current_revision()
    # The read-only commands' own reading of the revisions agrees with Alembic's.
    assert db.current_revision() == alembic_reads == head_revision()
    assert head_revision() == ScriptDirectory.from_config(db._alembic()).get_current_head()
    assert diff == [], f"models and migrations differ: {diff}"
    db.upgrade()  # a second upgrade is a no-op
    db.dispose()


def test_every_table_but_the_tenant_list_belongs_to_an_agency():
    for table in Base.metadata.sorted_tables:
        if table.name != "agencies":
            assert "agency" in table.columns, table.name


def test_a_thread_waiting_for_sqlite_goes_before_the_thread_that_just_wrote(tmp_path):
    """Issue 13: the intake thread, opening one transaction after another, kept the sender thread out (SQLite's
    busy handler sleeps between tries); in one process the writers now take turns in the order they came."""
    db = Database(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    db.upgrade()
    assert db.writers is not None
    order: list[str] = []
    holding = threading.Event()

    def other() -> None:
        holding.wait(10)
        with db.transaction() as s:
            s.execute(text("SELECT 1"))
            order.append("other")

    thread = threading.Thread(target=other)
    thread.start()
    with db.transaction() as s:
        s.execute(text("SELECT 1"))
        holding.set()
        deadline = time.monotonic() + 10
        while db.writers.waiting == 0 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert db.writers.waiting == 1
    with db.transaction() as s:            # straight back: behind the thread that was waiting
        s.execute(text("SELECT 1"))
        order.append("again")
    thread.join(10)
    assert order == ["other", "again"]
    db.dispose()


def test_turns_give_up_after_their_timeout_and_let_the_next_in():
    turns = Turns()
    assert turns.acquire(timeout=0) and turns.acquire(timeout=0)   # reentrant
    got: list[bool] = []
    late = threading.Thread(target=lambda: got.append(turns.acquire(timeout=0.05)))
    late.start()
    late.join(10)
    assert got == [False] and turns.waiting == 0
    turns.release()
    turns.release()
    with pytest.raises(RuntimeError):
        turns.release()
    second = threading.Thread(target=lambda: got.append(turns.acquire(timeout=0)))
    second.start()
    second.join(10)
    assert got == [False, True]
