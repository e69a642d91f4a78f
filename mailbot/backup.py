"""`mailbot backup` and `mailbot restore`: the database and the storage folder, consistent with each other.

The database is copied first (SQLite's online backup API, or pg_dump's custom format), then the raw
messages and files. Stored files are written once and always before the row that names them commits, so
the storage copied after the database holds every file the copied database names (and perhaps a few newer
ones, which are harmless). Restore goes into an empty place only, and checks what it restored.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import inspect as schema_of
from sqlalchemy.engine import make_url

from mailbot.config import Settings
from mailbot.storage.db import Database

STORES = ("raw", "files")
SQLITE_FILE, PG_FILE, ABOUT = "mailbot.sqlite3", "mailbot.pgdump", "BACKUP.json"


class BackupError(RuntimeError):
    pass


def _libpq(url: str) -> tuple[list[str], dict[str, str]]:
    """pg_dump/pg_restore connection arguments for a SQLAlchemy URL; the password goes in the environment,
    never on a command line another user can read."""
    u = make_url(url)
    args = [f"--dbname={u.database}"]
    if u.host:
        args.append(f"--host={u.host}")
    if u.port:
        args.append(f"--port={u.port}")
    if u.username:
        args.append(f"--username={u.username}")
    env = {**os.environ, **({"PGPASSWORD": u.password} if u.password else {})}
    return args, env


def _run(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()[:500]}")


def backup(settings: Settings, out: Path) -> dict:
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"{out} is not empty; a backup goes into a new folder")
    out.mkdir(parents=True, exist_ok=True)
    db = Database(settings.database_url)
    try:
        revision = db.current_revision()
        if db.engine.dialect.name == "sqlite":
            if db.sqlite_path is None:
                raise BackupError("an in-memory database cannot be backed up")
            with sqlite3.connect(db.sqlite_path) as source, sqlite3.connect(out / SQLITE_FILE) as target:
                source.backup(target)   # online: a running daemon may go on writing
            kind = "sqlite"
        else:
            args, env = _libpq(settings.database_url)
            _run(["pg_dump", "--format=custom", "--no-owner", f"--file={out / PG_FILE}", *args], env)
            kind = "postgresql"
    finally:
        db.dispose()
    for store in STORES:
        source_dir = settings.storage_dir / store
        if source_dir.exists():
            shutil.copytree(source_dir, out / "storage" / store)
    about = {"created_at": datetime.now(timezone.utc).isoformat(), "database": kind, "schema": revision}
    (out / ABOUT).write_text(json.dumps(about, indent=2), encoding="utf-8")
    return about


def restore(settings: Settings, source: Path) -> dict:
    about_file = source / ABOUT
    if not about_file.exists():
        raise BackupError(f"{source} is not a mailbot backup (no {ABOUT})")
    about = json.loads(about_file.read_text(encoding="utf-8"))
    for store in STORES:
        target = settings.storage_dir / store
        if target.exists() and any(target.iterdir()):
            raise BackupError(f"{target} is not empty; restore goes into an empty place")
    db = Database(settings.database_url)
    try:
        dialect = "sqlite" if db.engine.dialect.name == "sqlite" else "postgresql"
        if dialect != about["database"]:
            raise BackupError(f"the backup is of {about['database']}, the configuration names {dialect}")
        with db.engine.connect() as conn:
            if schema_of(conn).get_table_names():
                raise BackupError("the database is not empty; restore goes into an empty one")
        if dialect == "sqlite":
            assert db.sqlite_path is not None
            db.dispose()
            with sqlite3.connect(source / SQLITE_FILE) as backup_db, sqlite3.connect(db.sqlite_path) as target_db:
                backup_db.backup(target_db)
        else:
            args, env = _libpq(settings.database_url)
            _run(["pg_restore", "--no-owner", "--exit-on-error", *args, str(source / PG_FILE)], env)
    finally:
        db.dispose()
    for store in STORES:
        if (source / "storage" / store).exists():
            shutil.copytree(source / "storage" / store, settings.storage_dir / store, dirs_exist_ok=True)
    return about
