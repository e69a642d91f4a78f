"""Fuzzing intake (issue 12): seeded mutants of the corpus's real messages through the whole intake (parse,
rules, files, answers) on SQLite. Not one may be an internal error; each is stored, filed, held or ignored
with a reason. The longer run with timings is bench/fuzz.py."""

from __future__ import annotations

import os

from sqlalchemy import select

from mailbot.app import App
from mailbot.storage.models import InboundMessage
from tests.conftest import write_settings
from tests.fuzz.mutants import mutants

COUNT = int(os.environ.get("MAILBOT_FUZZ_COUNT", "800"))


def test_mutants_of_real_mail_are_never_an_internal_error(tmp_path):
    settings = write_settings(tmp_path, f"sqlite:///{tmp_path / 'fuzz.sqlite3'}", f"maildir:{tmp_path / 'in'}",
                              f"file:{tmp_path / 'out'}")
    app = App(settings)
    app.migrate()
    intake = app.services(settings.agencies[0]).intake
    kinds: dict[str, int] = {}
    try:
        for n, name, raw in mutants(COUNT):
            outcome = intake.process(raw, source=f"fuzz#{n}")
            assert outcome.rule not in ("internal-error", "poison-message"), (n, name, outcome.reason)
            kinds[name.split("+")[0]] = kinds.get(name.split("+")[0], 0) + 1
        with app.db.transaction() as s:
            rules = set(s.scalars(select(InboundMessage.rule)))
    finally:
        app.close()
    assert "internal-error" not in rules and {"submission", "over-limit"} <= rules
    assert len(kinds) >= 9   # every kind of mutation was tried
