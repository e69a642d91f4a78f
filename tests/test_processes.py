"""`mailbot run` as real processes on Dovecot, an SMTP sink, SQLite and PostgreSQL: kill -9 while mail comes
in and goes out, two daemons on one database and one mailbox, a lease taken over after its holder is
killed, a second daemon on SQLite refused, and a database outage under a running daemon."""

from __future__ import annotations

import dataclasses
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import create_engine, select, text

from mailbot.app import App
from mailbot.storage.db import head_revision
from mailbot.storage.models import Lease
from tests.conftest import no_dns
from tests.daemons import (
    ENV,
    daemon,
    deliveries,
    outbox_ids,
    settings_file,
    stop,
    submissions,
    wait_until_quiet,
)
from tests.review_helpers import subject_of
from tests.servers import TcpProxy


def test_kill_9_during_intake_and_sending_loses_nothing_and_doubles_nothing(tmp_path, dovecot, smtp_sink):
    settings = settings_file(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", dovecot, smtp_sink)
    smtp_sink.handler.delay = 0.01   # sending takes a while: kills land mid-batch as well as mid-intake
    n, kills = 60, 6
    dovecot.deliver(*submissions(n))
    rng = random.Random(11)
    proc = daemon(settings, tmp_path / "daemon.log")
    try:
        for _ in range(kills):
            time.sleep(rng.uniform(0.8, 2.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            proc = daemon(settings, tmp_path / "daemon.log")
        inbound, articles, _, errors = wait_until_quiet(settings, n, timeout=120)
    finally:
        stop(proc)
    assert (inbound, articles, errors) == (n, n, 0)
    got = deliveries(smtp_sink)
    expected = outbox_ids(settings)
    assert {mid for mid, _ in got} == expected          # nothing lost, nothing the outbox does not hold
    repeats = sum(c - 1 for c in got.values())
    assert repeats <= kills, f"{repeats} repeats after {kills} kills"   # at most the one in flight per kill
    assert len(expected) >= 2 * n


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_daemons_on_postgres_share_the_work_and_one_takes_over(tmp_path, database_url, dovecot, smtp_sink):
    settings = settings_file(tmp_path, database_url, dovecot, smtp_sink, lease_seconds=5)
    dovecot.deliver(*submissions(30))
    # Started together on an empty database: they take turns at the migration; neither dies.
    a, b = daemon(settings, tmp_path / "a.log"), daemon(settings, tmp_path / "b.log")
    try:
        inbound, articles, _, errors = wait_until_quiet(settings, 30)
        assert (inbound, articles, errors) == (30, 30, 0)
        assert a.poll() is None and b.poll() is None, (tmp_path / "a.log").read_text()[-2000:]
        got = deliveries(smtp_sink)
        assert {mid for mid, _ in got} == outbox_ids(settings) and max(got.values()) == 1

        # The mailbox's lease names its holder; kill that process.
        engine = create_engine(database_url)
        with engine.connect() as c:
            holder = c.scalar(select(Lease.holder))
        engine.dispose()
        pid = int(holder.split(":")[1])
        holder_proc, other = (a, b) if a.pid == pid else (b, a)
        assert holder_proc.pid == pid
        holder_proc.send_signal(signal.SIGKILL)
        holder_proc.wait()
        killed_at = time.monotonic()
        dovecot.deliver(*submissions(5, start=30))
        inbound, articles, _, errors = wait_until_quiet(settings, 35, timeout=60)
        took = time.monotonic() - killed_at
        assert (inbound, articles, errors) == (35, 35, 0)
        assert took < 60, f"takeover took {took:.0f} s"
        assert other.poll() is None
        got = deliveries(smtp_sink)
        assert {mid for mid, _ in got} == outbox_ids(settings) and max(got.values()) == 1
        # Periodic mail due today (whether any is depends on the date the test runs) goes once in all.
        for prefix in ("Bản tin tuần", "Báo cáo"):
            assert len([m for m in smtp_sink.messages if subject_of(m).startswith(prefix)]) <= 1
    finally:
        stop(a, b)


def test_a_second_daemon_on_sqlite_is_refused(tmp_path, dovecot, smtp_sink):
    settings = settings_file(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", dovecot, smtp_sink)
    first = daemon(settings, tmp_path / "first.log")
    try:
        deadline = time.monotonic() + 30
        while not (settings.storage_dir / "heartbeat").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        second = subprocess.run([sys.executable, "-m", "mailbot", "--config", str(settings.source), "run"],
                                env={**os.environ, **ENV}, capture_output=True, text=True, timeout=60)
        assert second.returncode == 4
        assert "already running" in second.stderr and "SQLite serves one process" in second.stderr
        assert f"pid {first.pid}" in second.stderr
        assert first.poll() is None
    finally:
        stop(first)


def test_only_migrate_and_run_change_the_schema(tmp_path, dovecot, smtp_sink):
    settings = settings_file(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", dovecot, smtp_sink)

    def mailbot(*args):
        return subprocess.run([sys.executable, "-m", "mailbot", "--config", str(settings.source), *args],
                              env={**os.environ, **ENV}, capture_output=True, text=True, timeout=60)

    for command in (["list"], ["sweep"], ["digest", "--send"]):
        refused = mailbot(*command)
        assert refused.returncode == 1 and "mailbot migrate" in refused.stderr, (command, refused.stderr)
    assert mailbot("migrate").returncode == 0
    assert mailbot("list").returncode == 0
    # A schema left behind (an older database) is refused the same way, without touching it.
    engine = create_engine(settings.database_url)
    with engine.begin() as c:
        c.execute(text("UPDATE alembic_version SET version_num = '0006'"))
    engine.dispose()
    refused = mailbot("show", "BBT-2026-0001")
    assert refused.returncode == 1 and f"at 0006, this mailbot needs {head_revision()}" in refused.stderr


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_database_outage_under_a_running_daemon(tmp_path, database_url, dovecot, smtp_sink, caplog):
    """PostgreSQL behind a relay that the test cuts for seven seconds while mail is coming in."""
    port = int(re.search(r":(\d+)/", database_url).group(1))
    proxy = TcpProxy(port)
    url = database_url.replace(f":{port}/", f":{proxy.port}/")
    settings = settings_file(tmp_path, url, dovecot, smtp_sink)
    app = App(settings, dns=no_dns)
    app.migrate()
    worker = app.worker(settings.agencies[0], backlog="process")
    halt = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(halt,), kwargs={"wait": 1}, daemon=True)
    caplog.set_level("WARNING", logger="mailbot")
    thread.start()
    try:
        dovecot.deliver(*submissions(10))
        wait_until_quiet(settings, 10)
        proxy.cut()
        dovecot.deliver(*submissions(10, start=10))
        deadline = time.monotonic() + 20
        while not app.health.problems() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert app.health.problems() and "database unavailable" in app.health.problems()[0]
        time.sleep(7)
        assert thread.is_alive()
        proxy.restore()
        inbound, articles, _, errors = wait_until_quiet(settings, 20, timeout=60)
        assert (inbound, articles, errors) == (20, 20, 0)
        deadline = time.monotonic() + 20
        while app.health.problems() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert app.health.problems() == []
    finally:
        halt.set()
        thread.join(30)
        app.close()
        proxy.close()
    assert not thread.is_alive()
    outage_lines = [r for r in caplog.records if "unavailable; waiting" in r.getMessage()]
    assert len(outage_lines) == 1, [r.getMessage() for r in outage_lines]
    assert any("is back" in r.getMessage() for r in caplog.records)
    got = deliveries(smtp_sink)
    direct = dataclasses.replace(settings, database_url=database_url)   # the relay is closed now
    assert {mid for mid, _ in got} == outbox_ids(direct) and max(got.values()) == 1
    # Every message the mailbox holds is marked done, and only after its commit.
    flags = dovecot.flags()
    assert len(flags) == 20 and all(b"$MailbotDone" in f for f in flags.values())
