"""The command line as an administrator uses it: demo, run --once, list, show, health."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from mailbot import samples
from tests.conftest import BOARD, write_settings


def mailbot(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mailbot", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_demo_files_the_samples_and_shows_what_it_did(tmp_path):
    run = mailbot("demo", "--dir", str(tmp_path / "demo"))
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "BBT-2026-0001 [review]" in out
    assert "[awaiting_details]" in out
    assert "ignored: auto-reply" in out
    assert "quarantined" in out or "cách ly" in out
    assert len(list((tmp_path / "demo" / "outbox").glob("*.eml"))) >= 6
    assert "mailbot show BBT-2026-0001" in out and "history:" in out


def test_run_once_list_and_show_against_dovecot(tmp_path, dovecot, smtp_sink):
    settings = write_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", dovecot.url, smtp_sink.url)
    env = {"MAILBOT_TEST_IMAP_PASSWORD": dovecot.PASSWORD}
    config_path = str(settings.source)
    dovecot.deliver(samples.build("outlook", sender=("Nguyễn Văn An", "an.nv@binhphuoc.gov.vn"), to=BOARD,
                                  subject="[BÀI] Phổ biến pháp luật ở cơ sở",
                                  text="Bài viết.\n\nNguyễn Văn An\nPhòng PBGDPL\nĐT: 0912 345 678"))
    first = mailbot("--config", config_path, "run", "--once", env=env)
    assert first.returncode == 3 and "--backlog process" in first.stderr  # a full mailbox: the admin chooses
    run = mailbot("--config", config_path, "run", "--once", "--backlog", "process", env=env)
    assert run.returncode == 0, run.stderr
    assert "stp: 1 filed; sent 3, failed 0" in run.stdout

    listed = json.loads(mailbot("--config", config_path, "list", "--json", env=env).stdout)
    assert [(a["reference"], a["category"], a["status"]) for a in listed] == [
        ("BBT-2026-0001", "article", "review")]
    shown = json.loads(mailbot("--config", config_path, "show", "BBT-2026-0001", "--json", env=env).stdout)
    assert shown["author"]["phone"] == "0912 345 678"
    assert [m["kind"] for m in shown["messages_out"]] == [
        "article.author.received", "article.secretary.new", "article.member.review_request"]
    assert all(m["status"] == "sent" for m in shown["messages_out"])
    text = mailbot("--config", config_path, "show", "BBT-2026-0001", env=env).stdout
    assert "filed_complete - -> submitted" in text
    missing = mailbot("--config", config_path, "show", "BBT-2026-9999", env=env)
    assert missing.returncode == 1 and "no article" in missing.stderr


def test_health_reflects_the_heartbeat(tmp_path):
    settings = write_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", f"maildir:{tmp_path / 'in'}",
                              f"file:{tmp_path / 'out'}")
    env = {"MAILBOT_TEST_IMAP_PASSWORD": "x"}
    sick = mailbot("--config", str(settings.source), "health", env=env)
    assert sick.returncode == 1 and "no heartbeat" in sick.stderr
    daemon = subprocess.Popen([sys.executable, "-m", "mailbot", "--config", str(settings.source), "run"],
                              env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not (settings.storage_dir / "heartbeat").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        healthy = mailbot("--config", str(settings.source), "health", env=env)
        assert healthy.returncode == 0, healthy.stderr
    finally:
        daemon.terminate()
        daemon.wait(20)
    assert daemon.returncode == 0
    stale = mailbot("--config", str(settings.source), "health", "--max-age", "0", env=env)
    assert stale.returncode == 1 and "older than" in stale.stderr
