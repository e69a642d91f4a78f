"""The schema: Alembic takes an empty database to head, and the models match what it builds."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from mailbot.storage.db import Database, head_revision
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
