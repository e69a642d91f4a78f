"""Backup and restore (issue 17): a live agency's database and storage, backed up online, restored into an
empty place, and verified there; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

from sqlalchemy import create_engine, text

from tests import samples
from tests.conftest import BOARD, write_settings


def mailbot(config, *args: str, password: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mailbot", "--config", str(config), *args], capture_output=True,
                          text=True, env={**os.environ, "MAILBOT_TEST_IMAP_PASSWORD": password}, timeout=120)


def empty_database(request, tmp_path, database_url) -> str:
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'restored' / 'mailbot.sqlite3'}"
    admin = request.getfixturevalue("pg_admin_url")
    name = f"mailbot_restore_{secrets.token_hex(6)}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()

    def drop() -> None:
        engine = create_engine(admin, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()

    request.addfinalizer(drop)
    return admin.rsplit("/", 1)[0] + f"/{name}"


def test_a_backup_restores_into_an_empty_place_and_verifies(request, tmp_path, database_url, dovecot, smtp_sink):
    (tmp_path / "live").mkdir()
    (tmp_path / "fresh").mkdir()
    live = write_settings(tmp_path / "live", database_url, dovecot.url, smtp_sink.url)
    pw = dovecot.PASSWORD
    dovecot.deliver(samples.build("gmail", sender=("Nguyễn Văn An", "an.nv@binhphuoc.gov.vn"), to=BOARD,
                                  subject="[ẢNH] Hội nghị tổng kết", text="Ảnh.\n\nNguyễn Văn An\nPhòng PBGDPL\n"
                                  "ĐT: 0912 345 678", files=(samples.File("anh.jpg", "image/jpeg", samples.jpeg_bytes(7)),)))
    assert mailbot(live.source, "run", "--once", "--backlog", "process", password=pw).returncode == 0
    backup = tmp_path / "backup"
    made = mailbot(live.source, "backup", "--out", str(backup), password=pw)
    assert made.returncode == 0, made.stderr
    about = json.loads((backup / "BACKUP.json").read_text())
    assert about["schema"] and about["database"] in ("sqlite", "postgresql")
    assert mailbot(live.source, "backup", "--out", str(backup), password=pw).returncode == 1   # never over one

    fresh = write_settings(tmp_path / "fresh", empty_database(request, tmp_path, database_url), dovecot.url,
                           smtp_sink.url)
    restored = mailbot(fresh.source, "restore", str(backup), password=pw)
    assert restored.returncode == 0, restored.stderr
    assert "restored" in restored.stdout and "2 stored files checked, 0 bad" in restored.stdout
    shown = mailbot(fresh.source, "show", "BBT-2026-0001", "--json", password=pw)
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert detail["title"] == "Hội nghị tổng kết" and [a["filename"] for a in detail["attachments"]] == ["anh.jpg"]
    # Restore goes into an empty place only.
    again = mailbot(fresh.source, "restore", str(backup), password=pw)
    assert again.returncode == 1 and "not empty" in again.stderr
