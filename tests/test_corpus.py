"""Every raw message of the public corpus (tests/corpus) goes through intake: filed, ignored or held, with a reason; never a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from mailbot.storage.models import Article, InboundMessage
from tests.conftest import Board, Clock, write_settings

CORPUS = Path(__file__).resolve().parent / "corpus"   # copied with their licences; see its README
# Body-only reply texts (no headers): they feed the reply parser's tests, not intake.
RAW_FOLDERS = ("mikel_mail", "mailgun_flanker")


def corpus_files() -> list[Path]:
    files = []
    for folder in RAW_FOLDERS:
        # The folder's own top level holds its licence; the messages are below it.
        files.extend(p for p in sorted((CORPUS / folder).rglob("*")) if p.is_file() and p.parent != CORPUS / folder)
    return files


def test_the_whole_corpus_goes_through_intake(tmp_path):
    files = corpus_files()
    if not files:
        pytest.fail(f"corpus not found under {CORPUS}")
    settings = write_settings(tmp_path, f"sqlite:///{tmp_path / 'corpus.sqlite3'}", f"maildir:{tmp_path / 'inbox'}",
                              f"file:{tmp_path / 'out'}")
    board = Board(settings, None, None, Clock())
    intake = board.worker.intake
    outcomes = {}
    for path in files:
        outcome = intake.process(path.read_bytes(), source=str(path.relative_to(CORPUS)))
        outcomes[path] = outcome
    unique = {o.inbound_id for o in outcomes.values()}

    with board.transaction() as s:
        rows = {m.id: m for m in s.scalars(select(InboundMessage))}
        articles = s.scalars(select(Article)).all()
    assert set(rows) == unique
    for path, outcome in outcomes.items():
        row = rows[outcome.inbound_id]
        assert row.disposition in ("filed", "ignored", "held", "duplicate", "followup"), path
        assert row.rule and row.reason, path
        # Our own failure is a hold with the reason "internal-error": none may happen on this corpus.
        assert row.rule != "internal-error", (path, row.reason)
    dispositions = [r.disposition for r in rows.values()]
    # The corpus holds bounces, complaint reports and list mail: they must be recognised as such.
    assert dispositions.count("ignored") >= 10
    assert dispositions.count("filed") >= 50
    assert all(a.title and "\ufffd" not in a.title for a in articles)
    # Every filed article has a gap-free reference.
    numbers = sorted(int(a.reference.rsplit("-", 1)[1]) for a in articles)
    assert numbers == list(range(1, len(numbers) + 1))
    outcome = outcomes[CORPUS / "mailgun_flanker/tests/fixtures/messages/bounce/gmail-no-dns.eml"]
    assert rows[outcome.inbound_id].rule == "bounce"
    board.close()
