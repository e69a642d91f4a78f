"""Real servers on loopback for the tests: Dovecot (IMAP), an aiosmtpd sink (SMTP), PostgreSQL."""

from __future__ import annotations

import asyncio
import email
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import Message
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from imapclient import IMAPClient


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                if s.recv(100).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"Dovecot did not answer on port {port}")


class Dovecot:
    """A private Dovecot instance: its own config, base dir and mail folders in a 0755 temp folder.

    One serves the whole test session; each test gets a user of its own (`add_user`): an empty
    mailbox without a server start.
    """

    USER = "board"
    PASSWORD = "secret-board"
    USERS = 3000

    def __init__(self) -> None:
        # The auth process cannot read pytest's 0700 temp folders when running as root.
        self.dir = Path(tempfile.mkdtemp(prefix="mailbot-dovecot-", dir="/tmp"))
        self.dir.chmod(0o755)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self._write_config()

    def _write_config(self) -> None:
        d = self.dir
        (d / "mail").mkdir()
        me = pwd.getpwuid(os.getuid())
        if os.getuid() == 0:
            mail_user = pwd.getpwnam("dovecot")
            login_user, internal_user = "dovenull", "dovecot"
        else:
            mail_user = me
            login_user = internal_user = me.pw_name
        os.chown(d / "mail", mail_user.pw_uid, mail_user.pw_gid)
        # Every user a session may hand out, written before the start: Dovecot caches the file.
        users = [self.USER] + [f"board{n}" for n in range(1, self.USERS + 1)]
        (d / "passwd").write_text("".join(f"{u}:{{PLAIN}}{self.PASSWORD}\n" for u in users))
        self._users = 0
        (d / "passwd").chmod(0o644)
        (d / "dovecot.conf").write_text(f"""
instance_name = mailbot-test-{self.port}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {internal_user}
mail_location = maildir:{d}/mail/%u
# Dovecot's IDLE keepalive ("* OK Still here") every second instead of every 2 minutes, at a moment that
# depends on the user: a daemon must sleep through it, not take it for news (issue 13).
imap_idle_notify_interval = 1 secs
first_valid_uid = 1
first_valid_gid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={d}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  chroot =
}}
""")

    def start(self) -> Dovecot:
        binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
        self.proc = subprocess.Popen([binary, "-F", "-c", str(self.dir / "dovecot.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _wait_port(self.port)
        except RuntimeError:
            self.stop()
            log = (self.dir / "dovecot.log").read_text() if (self.dir / "dovecot.log").exists() else ""
            raise RuntimeError(f"Dovecot failed to start:\n{log}") from None
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()  # nothing to keep: skip the second-long orderly shutdown
            self.proc.wait()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def add_user(self) -> DovecotUser:
        """A new user with an empty mailbox on this server."""
        self._users += 1
        name = f"board{self._users}"
        if self._users > self.USERS:
            raise RuntimeError(f"more than {self.USERS} mailboxes in one session: raise Dovecot.USERS")
        return DovecotUser(self, name)

    @property
    def url(self) -> str:
        return f"imap://{self.USER}@127.0.0.1:{self.port}/INBOX?starttls=0"

    def client(self) -> IMAPClient:
        c = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        c.login(self.USER, self.PASSWORD)
        return c

    # What "now" is for the test's mailbot (a Board sets it to its clock): mail delivered without `at` arrives then,
    # so its INTERNALDATE, the time limits count from, is the test's time and not the machine's.
    clock: Callable[[], datetime] | None = None

    def deliver(self, *raws: bytes, folder: str = "INBOX", at: datetime | None = None) -> None:
        """APPEND each message; `at` is its INTERNALDATE, its arrival at the server (default: the clock's now)."""
        when = at or (self.clock() if self.clock else None)
        # Dovecot takes an INTERNALDATE at most two hours ahead of its own clock (cmd-append.c); a test's clock can
        # be months ahead. With Maildir storage the date is the file's mtime, so it is set on the file instead.
        ahead = when is not None and when > datetime.now(timezone.utc) + timedelta(hours=1)
        box = self.dir / "mail" / self.USER / ("" if folder == "INBOX" else f".{folder}")
        with self.client() as c:
            for raw in raws:
                before = set(self._files(box)) if ahead else set()
                c.append(folder, raw, msg_time=None if ahead else when)
                if ahead and when is not None:
                    for path in set(self._files(box)) - before:
                        os.utime(path, (when.timestamp(), when.timestamp()))

    @staticmethod
    def _files(box: Path) -> list[Path]:
        return [p for sub in ("new", "cur") if (box / sub).is_dir() for p in (box / sub).iterdir()]

    def flags(self) -> dict[int, tuple[bytes, ...]]:
        with self.client() as c:
            c.select_folder("INBOX", readonly=True)
            uids = c.search(["ALL"])
            return {uid: data[b"FLAGS"] for uid, data in c.fetch(uids, ["FLAGS"]).items()} if uids else {}

    def drop_connections(self) -> int:
        """Kill the imap processes serving clients now: a connection lost mid-run, as far as the client sees."""
        if not self.proc:
            return 0
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid), "-x", "imap"], capture_output=True, text=True)
        pids = [int(p) for p in out.stdout.split()]
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        return len(pids)


class DovecotUser(Dovecot):
    """One test's mailbox on the session's Dovecot: the same helpers, another user."""

    def __init__(self, server: Dovecot, user: str) -> None:
        self.server = server
        self.USER = user
        self.dir = server.dir
        self.port = server.port

    @property
    def proc(self) -> subprocess.Popen | None:  # type: ignore[override]
        return self.server.proc

    def start(self) -> DovecotUser:
        return self

    def stop(self) -> None:
        """The server outlives the test."""

    def cleanup(self) -> None:
        shutil.rmtree(self.dir / "mail" / self.USER, ignore_errors=True)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes

    @property
    def message(self) -> Message:
        return email.message_from_bytes(self.raw)


@dataclass
class SinkHandler:
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # What the sink answers to RCPT TO for an address (e.g. "550 5.1.1 no such user"); others get 250.
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_reply: str = ""        # answer DATA with this instead of accepting (e.g. "554 5.7.1 spam")
    delay: float = 0.0          # seconds to think before accepting a message (to catch a kill mid-batch)
    greetings: int = 0          # EHLOs: one for each connection a client makes
    quits: int = 0
    drop_at_noop: bool = False  # hang up on the next NOOP, as a server does that closed an idle connection

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.lock:
            self.greetings += 1
        return responses

    async def handle_QUIT(self, server, session, envelope):
        with self.lock:
            self.quits += 1
        return "221 Bye"

    async def handle_NOOP(self, server, session, envelope, arg):
        if self.drop_at_noop:
            self.drop_at_noop = False
            server.transport.close()
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


class SmtpSink:
    """aiosmtpd in a thread: every message that reaches it is kept, with its envelope."""

    def __init__(self, login: tuple[str, str] | None = None) -> None:
        self.handler = SinkHandler()
        self.port = free_port()  # Controller(port=0) fails: pick one first
        self.login = login
        self.controller = self._controller()
        self.running = False

    def _controller(self) -> Controller:
        if self.login is None:
            return Controller(self.handler, hostname="127.0.0.1", port=self.port)
        user, password = self.login

        def authenticate(server, session, envelope, mechanism, data):
            ok = isinstance(data, LoginPassword) and (data.login, data.password) == (user.encode(), password.encode())
            return AuthResult(success=ok)

        # Plain-text AUTH on loopback only: the tests have no certificate to offer.
        return Controller(self.handler, hostname="127.0.0.1", port=self.port, authenticator=authenticate,
                          auth_required=True, auth_require_tls=False)

    def start(self) -> SmtpSink:
        self.controller.start()
        self.running = True
        return self

    def stop(self) -> None:
        if self.running:
            self.controller.stop()
            self.running = False

    def restart(self) -> None:
        """Back up on the same port, keeping what it received (a Controller cannot start twice)."""
        self.stop()
        self.controller = self._controller()
        self.start()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?starttls=0"

    @property
    def messages(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.messages)

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if address in m.rcpt_tos]


def postgres_admin_url() -> str:
    """A superuser URL for the local PostgreSQL cluster, starting it and making a test role if needed."""
    if os.environ.get("MAILBOT_TEST_PG_URL"):
        return os.environ["MAILBOT_TEST_PG_URL"]
    if not shutil.which("pg_ctlcluster"):
        raise RuntimeError("PostgreSQL is not installed (pg_ctlcluster not found)")
    status = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True).stdout.split()
    if len(status) >= 4 and status[3] != "online":
        subprocess.run(["pg_ctlcluster", status[0], status[1], "start"], check=True)
    port = status[2] if len(status) >= 3 else "5432"
    sql = ("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'mailbot_test') THEN "
           "CREATE ROLE mailbot_test LOGIN SUPERUSER PASSWORD 'mailbot_test'; END IF; END $$;")
    runner = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
    subprocess.run([*runner, "psql", "-p", port, "-q", "-c", sql], check=True, capture_output=True)
    return f"postgresql+psycopg://mailbot_test:mailbot_test@127.0.0.1:{port}/postgres"


class TcpProxy:
    """A loopback TCP relay in front of a server, which a test can cut (every connection dropped, new ones
    refused) and restore: a database outage as its clients see it, without stopping the shared server."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._open = threading.Event()
        self._open.set()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._server.settimeout(0.2)
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            if not self._open.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        self._open.clear()
        with self._lock:
            conns, self._conns = self._conns, []
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass

    def restore(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._stop.set()
        self.cut()
        self._server.close()
