"""An IMAP mailbox through imapclient: UID checkpoint under UIDVALIDITY, BODY.PEEK[], IDLE or polling."""

from __future__ import annotations

import logging
import os
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

from imapclient import IMAPClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.config import Endpoint
from mailbot.inbound.sources import BacklogDecisionNeeded, Pending
from mailbot.mail.raw import CHUNK, RawMessage
from mailbot.storage.db import Database
from mailbot.storage.models import MailboxState

log = logging.getLogger("mailbot.imap")

DONE_KEYWORD = b"$MailbotDone"
FETCH_BATCH = 20
IDLE_MAX = 300  # seconds in one IDLE before renewing it (servers drop idle clients after ~30 min)


def connect(endpoint: Endpoint, timeout: float = 60) -> IMAPClient:
    """The one place a connection is made; tests and other transports swap this factory."""
    client = IMAPClient(endpoint.host, port=endpoint.port, ssl=endpoint.scheme == "imaps", timeout=timeout,
                        ssl_context=ssl.create_default_context() if endpoint.scheme == "imaps" else None)
    encrypted = endpoint.scheme == "imaps"
    if endpoint.scheme == "imap" and endpoint.starttls and client.has_capability("STARTTLS"):
        client.starttls(ssl.create_default_context())
        encrypted = True
    if not encrypted and not endpoint.plaintext_ok:
        client.shutdown()
        raise PlaintextRefused(f"{endpoint.host} offers no STARTTLS: the IMAP password would go in clear; use "
                               "imaps://, enable STARTTLS on the server, or add ?plaintext=1 to the URL")
    client.login(endpoint.username, endpoint.password)
    return client


class PlaintextRefused(ConnectionError):
    """The server would have us send a password without TLS, and the URL does not allow it."""


class Checkpoints:
    """The last UID handled per mailbox, in the database, so a restart resumes where it stopped; and the UID up
    to which the handled messages carry DONE_KEYWORD on the server."""

    def __init__(self, db: Database, agency: str):
        self.db = db
        self.agency = agency

    def get(self, mailbox: str) -> tuple[int, int, int] | None:
        """(UIDVALIDITY, last UID handled, last UID up to which all are marked), or None for a new mailbox."""
        with self.db.transaction() as s:
            row = s.get(MailboxState, (self.agency, mailbox))
            return (row.uidvalidity, row.last_uid, row.flagged_uid) if row else None

    def set(self, mailbox: str, uidvalidity: int, last_uid: int) -> None:
        """A checkpoint of its own (a first start, a rebuilt mailbox): nothing up to it is owed a mark."""
        with self.db.transaction() as s:
            self.write(s, mailbox, uidvalidity, last_uid, last_uid)

    def write(self, s: Session, mailbox: str, uidvalidity: int, last_uid: int, flagged_uid: int) -> None:
        """In the caller's transaction: for intake, the one that files the message."""
        row = s.get(MailboxState, (self.agency, mailbox))
        now = datetime.now(timezone.utc)
        if row is None:
            s.add(MailboxState(agency=self.agency, mailbox=mailbox, uidvalidity=uidvalidity, last_uid=last_uid,
                               flagged_uid=min(flagged_uid, last_uid), updated_at=now))
            return
        if row.uidvalidity == uidvalidity and last_uid:
            # Never backwards under the same UIDVALIDITY: a process that lost the mailbox's lease may still
            # record a UID the new holder has passed.
            last_uid = max(last_uid, row.last_uid)
            flagged_uid = max(flagged_uid, row.flagged_uid)
        row.uidvalidity, row.last_uid, row.updated_at = uidvalidity, max(last_uid, 0), now
        row.flagged_uid = max(0, min(flagged_uid, row.last_uid))

    def all(self) -> list[MailboxState]:
        with self.db.transaction() as s:
            return list(s.scalars(select(MailboxState).where(MailboxState.agency == self.agency)))


class ImapSource:
    def __init__(self, endpoint: Endpoint, checkpoints: Checkpoints, backlog: str = "ask",
                 connect_factory: Callable[[Endpoint], IMAPClient] = connect, poll_interval: float = 60,
                 large_bytes: int = 2 * 1024 * 1024, spool: Path | None = None):
        # A message over `large_bytes` (RFC822.SIZE) is fetched alone, in chunks, into a file in `spool`.
        self.large_bytes = large_bytes
        self.spool = spool
        self.endpoint = endpoint
        self.checkpoints = checkpoints
        self.backlog = backlog  # "ask" | "process" | "skip": only for a first start on a non-empty mailbox
        self.connect_factory = connect_factory
        self.poll_interval = poll_interval
        self.key = f"{endpoint.scheme}://{endpoint.username}@{endpoint.host}:{endpoint.port}/{endpoint.folder}"
        self.name = self.key
        self.client: IMAPClient | None = None
        self._idling: int | None = None   # the thread waiting in IDLE on this connection, if one is
        self.uidvalidity = 0
        self.last_uid = 0
        self.flagged_uid = 0   # every message handled up to this UID carries DONE_KEYWORD

    def _ensure(self) -> IMAPClient:
        if self.client is None:
            client = self.connect_factory(self.endpoint)
            try:
                info = client.select_folder(self.endpoint.folder)
            except Exception:
                client.shutdown()
                raise
            client.normalise_times = False   # INTERNALDATE with its zone, not as naive local time
            self.client = client
            self.uidvalidity = int(info[b"UIDVALIDITY"])
            uidnext = int(info.get(b"UIDNEXT", 1))
            state = self.checkpoints.get(self.key)
            if state is not None and state[0] == self.uidvalidity:
                self.last_uid = state[1]
                self._mark_owed(client, state[2])
            elif state is not None:
                # The mailbox was rebuilt: read it all again; bytes already stored make repeats no-ops.
                log.warning("UIDVALIDITY changed; rereading mailbox", extra={"mailbox": self.key})
                self.last_uid = self.flagged_uid = 0
                self.checkpoints.set(self.key, self.uidvalidity, 0)
            else:
                count = int(info.get(b"EXISTS", 0))
                if count and self.backlog == "ask":
                    self.close()
                    raise BacklogDecisionNeeded(count, self.key)
                self.last_uid = self.flagged_uid = uidnext - 1 if self.backlog == "skip" else 0
                self.checkpoints.set(self.key, self.uidvalidity, self.last_uid)
        return self.client

    def pending(self) -> Iterator[Pending]:
        fresh = self.client is None
        client = self._ensure()
        if not fresh:
            client.noop()  # let the server bring this session's view up to date before searching
        # imapclient 4 rejects "N:*" ranges in fetch(): search for the UIDs, then fetch lists of them.
        uids = sorted(u for u in client.search(["UID", f"{self.last_uid + 1}:*"]) if u > self.last_uid)
        for start in range(0, len(uids), FETCH_BATCH):
            batch = uids[start:start + FETCH_BATCH]
            # Sizes first: a batch holds at most FETCH_BATCH small messages, and a large one is fetched alone.
            meta = client.fetch(batch, ["RFC822.SIZE", "INTERNALDATE"])
            small = [u for u in batch if u in meta and int(meta[u].get(b"RFC822.SIZE", 0)) <= self.large_bytes]
            data = client.fetch(small, ["BODY.PEEK[]"]) if small else {}
            for uid in batch:
                arrived = meta.get(uid, {}).get(b"INTERNALDATE")
                arrived = arrived if isinstance(arrived, datetime) else None
                raw: bytes | RawMessage | None = None
                if uid in small:
                    raw = data.get(uid, {}).get(b"BODY[]")
                elif uid in meta:
                    raw = self._spooled(client, uid, int(meta[uid].get(b"RFC822.SIZE", 0)))
                if raw is None:
                    log.warning("message vanished before fetch", extra={"uid": uid})
                    continue
                yield Pending(str(uid), raw, arrived)
            del data

    def _spooled(self, client: IMAPClient, uid: int, size: int) -> RawMessage | None:
        """A large message fetched in CHUNK-sized pieces (BODY.PEEK[]<offset.length>) into a spool file; None
        when it vanished before its `size` (RFC822.SIZE) bytes came, rather than a message cut short. A short
        piece is the server's end of the message, whatever its RFC822.SIZE said."""
        if self.spool is not None:
            self.spool.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.spool, prefix=".fetch-")
        path, offset = Path(name), 0
        try:
            with os.fdopen(fd, "wb") as out:
                while True:
                    got = client.fetch([uid], [f"BODY.PEEK[]<{offset}.{CHUNK}>"]).get(uid, {})
                    piece = got.get(f"BODY[]<{offset}>".encode())
                    if piece is None and offset >= size:
                        break   # the size was a multiple of CHUNK: nothing after it
                    if piece is None:
                        path.unlink(missing_ok=True)
                        return None
                    out.write(piece)
                    offset += len(piece)
                    if len(piece) < CHUNK:
                        break
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return RawMessage(path=path, size=offset)

    def record(self, s: Session, key: str) -> None:
        """The checkpoint past `key`, written in the transaction that files the message: one commit for both,
        and a crash can no longer fall between them. Its keyword follows (done)."""
        self.checkpoints.write(s, self.key, self.uidvalidity, int(key), self.flagged_uid)

    def done(self, key: str) -> None:
        uid = int(key)
        self.last_uid = max(self.last_uid, uid)
        client = self._ensure()
        client.add_flags([uid], [DONE_KEYWORD], silent=True)
        self.flagged_uid = max(self.flagged_uid, uid)   # the next record() writes it down

    def _mark_owed(self, client: IMAPClient, flagged_uid: int) -> None:
        """The keyword for messages handled after the last one known marked: the one whose commit a crash or a
        dropped connection separated from its keyword (a handful at most)."""
        if flagged_uid < self.last_uid:
            owed = client.search(["UID", f"{flagged_uid + 1}:{self.last_uid}"])
            owed = [u for u in owed if flagged_uid < u <= self.last_uid]
            if owed:
                client.add_flags(owed, [DONE_KEYWORD], silent=True)
                log.info("handled messages marked on reconnecting", extra={"mailbox": self.key, "count": len(owed)})
            self.checkpoints.set(self.key, self.uidvalidity, self.last_uid)
        self.flagged_uid = self.last_uid

    def wait(self, timeout: float) -> str:
        client = self._ensure()
        if not client.has_capability("IDLE"):
            time.sleep(min(timeout, self.poll_interval))
            return "poll interval"
        client.idle()
        self._idling = threading.get_ident()
        deadline = time.monotonic() + min(timeout, IDLE_MAX)
        try:
            while True:
                # A keepalive ("* OK Still here", Dovecot's every imap_idle_notify_interval) is no news:
                # waking for it only ran an empty pass and named the wrong reason.
                got = client.idle_check(timeout=max(0.0, deadline - time.monotonic()))
                responses = [r for r in got if not (isinstance(r, tuple) and r and r[0] == b"OK")]
                if responses or not got or time.monotonic() >= deadline:
                    break
        finally:
            self._idling = None
            closed = self.client is not client   # by another thread, under us
            if not closed:
                client.idle_done()
        # What the server said during IDLE: "2 EXISTS" is new mail, "1 EXPUNGE" or FETCH someone else's change.
        said = sorted({str(r[1], "ascii", "replace") if isinstance(r[1], bytes) else str(r[1])
                       for r in responses if isinstance(r, tuple) and len(r) > 1})
        return f"IDLE: {', '.join(said)}" if said else "IDLE timeout"

    def close(self) -> None:
        client, self.client = self.client, None
        idling = self._idling
        if client is not None and idling is not None and idling != threading.get_ident():
            # Another thread is reading this connection in IDLE: a LOGOUT's answer would go to either reader and
            # leave the other waiting out the socket timeout. Closing the socket wakes the IDLE at once.
            try:
                client.shutdown()
            except Exception:  # noqa: BLE001 - the connection may already be gone
                pass
            return
        if client is not None:
            try:
                client.logout()
            except Exception:  # noqa: BLE001 - the connection may already be gone
                try:
                    client.shutdown()
                except Exception:  # noqa: BLE001
                    pass
