"""Daemons as real processes, for the process tests and bench/soak.py: start, count, wait, compare with the sink."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import create_engine, func, select, text

from mailbot import config
from mailbot.storage.models import Article, InboundMessage, OutboxMessage, OutboxStatus
from tests import samples
from tests.conftest import BOARD, write_settings
from tests.servers import Dovecot

SIGNATURE = "Nguyễn Văn An\nChuyên viên Phòng PBGDPL\nĐT: 0912 345 678"
ENV = {"MAILBOT_TEST_IMAP_PASSWORD": Dovecot.PASSWORD}


def submissions(n: int, start: int = 0) -> list[bytes]:
    return [samples.build("gmail", sender=("Nguyễn Văn An", "an.nv@binhphuoc.gov.vn"), to=BOARD,
                          subject=f"Tin hoạt động số {i}", text=f"Nội dung tin số {i}.\n\n{SIGNATURE}")
            for i in range(start, start + n)]


def settings_file(tmp_path: Path, database_url: str, dovecot, sink, lease_seconds: float = 5) -> config.Settings:
    # Hundreds of submissions from one sender: the flood brakes (test_brakes.py) are lifted here, so every
    # article is answered and every answer counted.
    # The kills are the test's, not the messages': the poison guard (tests/test_hostile.py) would rightly hold a
    # message two kills happened to land on, as one did when restarts kept landing on the first message.
    settings = write_settings(tmp_path, database_url, dovecot.url, sink.url,
                              extra="[agency.limits]\nsubmissions_per_hour = 100000\nanswers_per_day = 100000\n"
                                    "attempts = 10\n")
    with open(settings.source, "a", encoding="utf-8") as fh:
        fh.write(f"\n[service]\nlease_seconds = {lease_seconds}\ndatabase_retry_max_seconds = 2\n")
    return config.load(settings.source, environ=ENV)


def scratch_database(where: Path, admin: str | None, name: str) -> str:
    """A database for one benchmark run: SQLite in `where`, or `name` made afresh on PostgreSQL at `admin`."""
    if admin is None:
        return f"sqlite:///{where / 'db.sqlite3'}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin.rsplit("/", 1)[0] + f"/{name}"


def daemon(settings: config.Settings, log: Path, *extra: str) -> subprocess.Popen:
    out = open(log, "ab")
    return subprocess.Popen([sys.executable, "-m", "mailbot", "--config", str(settings.source), "--log-level",
                             "INFO", "run", "--backlog", "process", "--wait", "2", *extra],
                            env={**os.environ, **ENV}, stdout=out, stderr=out)


def counts(settings: config.Settings) -> tuple[int, int, int, int]:
    """(inbound messages, articles, outbox rows not yet settled, held as internal-error)"""
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as c:
            inbound = c.scalar(select(func.count()).select_from(InboundMessage)) or 0
            articles = c.scalar(select(func.count()).select_from(Article)) or 0
            pending = c.scalar(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.status == OutboxStatus.PENDING)) or 0
            errors = c.scalar(select(func.count()).select_from(InboundMessage).where(
                InboundMessage.rule == "internal-error")) or 0
            return inbound, articles, pending, errors
    except Exception:  # noqa: BLE001 - not migrated yet, or the database is being restarted
        return 0, 0, 1, 0
    finally:
        engine.dispose()


def wait_until_quiet(settings: config.Settings, inbound: int, timeout: float = 90) -> tuple[int, int, int, int]:
    deadline = time.monotonic() + timeout
    seen = counts(settings)
    while time.monotonic() < deadline:
        seen = counts(settings)
        if seen[0] >= inbound and seen[2] == 0:
            return seen
        time.sleep(0.25)
    raise AssertionError(f"not done within {timeout} s: {seen}")


def outbox_ids(settings: config.Settings) -> set[str]:
    engine = create_engine(settings.database_url)
    with engine.connect() as c:
        ids = {f"<{m}>" for m in c.scalars(select(OutboxMessage.message_id))}
    engine.dispose()
    return ids


def deliveries(sink) -> Counter:
    """(Message-ID, recipient) -> how many times the sink received it."""
    return Counter((m.message["Message-ID"], r) for m in sink.messages for r in m.rcpt_tos)


def stop(*procs: subprocess.Popen) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
