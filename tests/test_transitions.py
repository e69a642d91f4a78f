"""The transition tables of articles and questions, one entry at a time, on the one machine that applies them."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from mailbot.articles import workflow
from mailbot.cases.machine import Machine, TransitionError
from mailbot.questions import service as questions
from mailbot.storage.db import Database
from mailbot.storage.models import AgencyRow, Article, Event, Question

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('transitions') / 'm.sqlite3'}")
    database.upgrade()
    with database.transaction() as s:
        s.add(AgencyRow(slug="stp", name="Sở Tư pháp"))
    yield database
    database.dispose()


def new_case(machine: Machine, n: int):
    if machine is workflow.MACHINE:
        return Article(agency="stp", reference=f"BBT-2026-{n:04d}", status="", category="news", title="t",
                       submitter_email="an@binhphuoc.gov.vn", received_at=NOW, updated_at=NOW)
    return Question(agency="stp", reference=f"HD-2026-{n:04d}", kind="question", status="", title="t",
                    asker_email="dan@yahoo.com", due_at=NOW, received_at=NOW, updated_at=NOW)


def placed(s, machine: Machine, status: str | None, n: int):
    """A case standing at `status` (None: not filed yet), put there without the machine."""
    case = new_case(machine, n)
    if status is not None:
        case.status = status
        case.step = "edit" if status == machine.stepped else ""
        s.add(case)
        s.flush()
    return case


TABLES = [(workflow.MACHINE, key, nxt) for key, nxt in workflow.TRANSITIONS.items()] + \
         [(questions.MACHINE, key, nxt) for key, nxt in questions.TRANSITIONS.items()]


@pytest.mark.parametrize("machine, key, nxt", TABLES, ids=[f"{m.kind}:{k[0]}+{k[1]}" for m, k, _ in TABLES])
def test_each_transition_moves_the_case_and_writes_its_audit_event(db, machine, key, nxt):
    status, event = key
    with db.transaction() as s:
        case = placed(s, machine, status, TABLES.index((machine, key, nxt)) + 1)
        before = machine.position(case) if status is not None else ""
        assert machine.can(case if status is not None else None, event)
        machine.apply(s, case, event, actor="tester@binhphuoc.gov.vn", now=NOW, step="verify", detail="d")
        assert case.status == nxt
        assert case.step == ("verify" if nxt == machine.stepped else "")
        [row] = s.scalars(select(Event).where(getattr(Event, machine.owner) == case.id, Event.kind == event)).all()
        assert (row.from_status, row.to_status, row.actor, row.detail) == (
            before, machine.position(case), "tester@binhphuoc.gov.vn", "d")
        s.rollback()


@pytest.mark.parametrize("machine", [workflow.MACHINE, questions.MACHINE], ids=lambda m: m.kind)
def test_an_event_the_table_lacks_changes_nothing(db, machine):
    statuses = {k[0] for k in machine.transitions} | set(machine.transitions.values())
    events = {k[1] for k in machine.transitions}
    with db.transaction() as s:
        for i, status in enumerate(sorted(x for x in statuses if x is not None)):
            case = placed(s, machine, status, 500 + i)
            for event in sorted(events):
                if (status, event) in machine.transitions:
                    continue
                with pytest.raises(TransitionError):
                    machine.apply(s, case, event, actor="x", now=NOW)
                assert case.status == status
        assert not s.scalars(select(Event)).all()
        s.rollback()


@pytest.mark.parametrize("machine", [workflow.MACHINE, questions.MACHINE], ids=lambda m: m.kind)
def test_every_status_is_reachable_from_filing(machine):
    reached, frontier = set(), {None}
    while frontier:
        reached |= frontier
        frontier = {nxt for (src, _), nxt in machine.transitions.items() if src in reached} - reached
    assert reached - {None} == set(machine.transitions.values()) | {k[0] for k in machine.transitions} - {None}


def test_undo_goes_back_only_across_a_transition_the_table_has(db):
    with db.transaction() as s:
        article = placed(s, workflow.MACHINE, workflow.APPROVED, 900)
        workflow.restore(s, article, "review:final_check", actor="x", now=NOW)
        assert workflow.position(article) == "review:final_check"
        with pytest.raises(TransitionError):
            workflow.restore(s, article, workflow.PUBLISHED, actor="x", now=NOW)
        s.rollback()
