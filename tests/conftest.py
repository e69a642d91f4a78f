"""Fixtures: real Dovecot, a real SMTP sink, SQLite and PostgreSQL; and a conversation helper over them."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from mailbot import config
from mailbot.app import App
from tests.servers import Dovecot, SmtpSink, postgres_admin_url

BOARD = "bbt@binhphuoc.gov.vn"
SECRETARY = "thu.nt@binhphuoc.gov.vn"
HEAD = "hung.tv@binhphuoc.gov.vn"
ADMIN = "quantri@binhphuoc.gov.vn"

AGENCY_TOML = """
[[agency]]
slug = "stp"
preset = "binhphuoc"
board_address = "{board}"
mailbox = "{mailbox}"
mailbox_password_env = "MAILBOT_TEST_IMAP_PASSWORD"
outgoing = "{outgoing}"
{extra}

[agency.intake]
admin_address = "{admin}"
{intake}

[[agency.members]]
name = "Nguyễn Thị Thu"
email = "{secretary}"
role = "secretary"

[[agency.members]]
name = "Trần Văn Hùng"
email = "{head}"
role = "head"

[[agency.units]]
name = "Phòng Phổ biến, giáo dục pháp luật"
aliases = ["PBGDPL", "Phòng PBGDPL"]

[[agency.units]]
name = "Văn phòng Sở"
aliases = ["VP", "Văn phòng"]

[[agency.staff]]
name = "Lê Thị Hoa"
email = "hoa.lt@binhphuoc.gov.vn"
unit = "Văn phòng Sở"
title = "Chuyên viên"
phone = "0271 3879 456"
"""


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    try:
        return postgres_admin_url()
    except Exception as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not available here: {exc}")


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mailbot.sqlite3'}"
        return
    admin = request.getfixturevalue("pg_admin_url")
    name = f"mailbot_test_{secrets.token_hex(6)}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield admin.rsplit("/", 1)[0] + f"/{name}"
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[Dovecot]:
    server = Dovecot().start()
    yield server
    server.cleanup()


@pytest.fixture
def dovecot(dovecot_server) -> Iterator[Dovecot]:
    """A mailbox of this test's own on the session's Dovecot."""
    mailbox = dovecot_server.add_user()
    yield mailbox
    mailbox.cleanup()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


def write_settings(tmp_path: Path, database_url: str, mailbox: str, outgoing: str, *, extra: str = "",
                   intake: str = "") -> config.Settings:
    path = tmp_path / "mailbot.toml"
    path.write_text(f'database = "{database_url}"\nstorage = "{tmp_path / "store"}"\n' + AGENCY_TOML.format(
        board=BOARD, mailbox=mailbox, outgoing=outgoing, extra=extra, admin=ADMIN, intake=intake,
        secretary=SECRETARY, head=HEAD), encoding="utf-8")
    return config.load(path, environ={"MAILBOT_TEST_IMAP_PASSWORD": Dovecot.PASSWORD})


def no_dns(name: bytes, timeout: float = 5) -> bytes | None:
    """Tests never ask the real DNS: a DKIM key nobody published is simply not found."""
    return None


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)):
        self.current = start

    def __call__(self) -> datetime:
        return self.current


class Board:
    """A conversation with mailbot: put mail in the mailbox, run one pass, read what came out."""

    def __init__(self, settings: config.Settings, dovecot: Dovecot | None, sink: SmtpSink | None,
                 clock: Clock, backlog: str = "process", dns=None):
        self.settings = settings
        self.dovecot = dovecot
        self.sink = sink
        self.clock = clock
        if dovecot is not None:
            dovecot.clock = clock   # mail put in the mailbox arrives at the test's time
        self.app = App(settings, now=clock, dns=dns or no_dns)
        self.app.migrate()
        self.agency = settings.agencies[0]
        self.backlog = backlog
        self.worker = self.app.worker(self.agency, backlog=backlog)

    def send(self, *raws: bytes, at: datetime | None = None) -> None:
        """Put mail in the mailbox, arriving `at` (default: the clock's now)."""
        when = at or self.clock()
        if self.dovecot is not None:
            self.dovecot.deliver(*raws, at=when)
        else:
            from mailbot.inbound.sources.maildir import MaildirSource
            box = MaildirSource(Path(self.agency.mailbox.path))
            for raw in raws:
                name = f"{secrets.token_hex(8)}.test"
                (box.path / "tmp" / name).write_bytes(raw)
                os.utime(box.path / "tmp" / name, (when.timestamp(), when.timestamp()))
                os.replace(box.path / "tmp" / name, box.path / "new" / name)

    def run_once(self):
        return self.worker.run_pass_resilient(sleep=lambda _: None)

    def say(self, raw: bytes):
        """Deliver one message, run a pass; return what the pass did."""
        self.send(raw)
        return self.run_once()

    def transaction(self):
        return self.app.db.transaction()

    def close(self) -> None:
        self.worker.source.close()
        self.app.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def board(tmp_path, database_url, dovecot, smtp_sink, clock) -> Iterator[Board]:
    settings = write_settings(tmp_path, database_url, dovecot.url, smtp_sink.url)
    b = Board(settings, dovecot, smtp_sink, clock)
    yield b
    b.close()
