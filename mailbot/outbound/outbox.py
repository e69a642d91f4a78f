"""Every message we send: stored first under an idempotency key, then delivered by SMTP or to files.

Each message is marked the moment the server answers it, recipient by recipient: accepted is done for
good, a 5xx fails that recipient at once, a 4xx or a lost connection waits (retry_minutes) and tries again
for the recipients still pending. Failures are flagged for the administrator's grouped alert.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Protocol

import aiosmtplib
from aiosmtplib.protocol import normalize_message_line_endings
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, defer

from mailbot.config import Agency, DeliverySettings, Endpoint
from mailbot.outbound.render import serialise
from mailbot.storage import coordination
from mailbot.storage.db import Database
from mailbot.storage.models import OutboxMessage, OutboxStatus

log = logging.getLogger("mailbot.outbox")

def enqueue(session: Session, agency: Agency, key: str, kind: str, msg: EmailMessage, now: datetime, *,
            article_id: int | None = None, inbound_id: int | None = None,
            question_id: int | None = None) -> OutboxMessage:
    """Store a message to send. A key already stored returns the stored one: nothing is made twice."""
    existing = session.scalar(select(OutboxMessage).where(
        OutboxMessage.agency == agency.slug, OutboxMessage.idempotency_key == key))
    if existing is not None:
        return existing
    recipients = list({a.lower(): a for _, a in getaddresses(msg.get_all("To", []) + msg.get_all("Cc", []))
                       if a}.values())
    row = OutboxMessage(
        agency=agency.slug, idempotency_key=key, kind=kind, message_id=str(msg["Message-ID"]).strip("<>"),
        article_id=article_id, question_id=question_id, inbound_id=inbound_id, recipients=recipients, subject=str(msg["Subject"]),
        raw=serialise(msg), status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, created_at=now,
        deliveries={a: {"state": PENDING} for a in recipients})
    session.add(row)
    session.flush()
    return row



def answers_since(session: Session, agency: Agency, address: str, since: datetime) -> int:
    """Automatic answers to `address` stored since `since` (the per-correspondent cap)."""
    return session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.agency == agency.slug, OutboxMessage.answer_to == address,
        OutboxMessage.created_at >= since)) or 0


def first_answer_since(session: Session, agency: Agency, address: str, since: datetime) -> datetime | None:
    return session.scalar(select(func.min(OutboxMessage.created_at)).where(
        OutboxMessage.agency == agency.slug, OutboxMessage.answer_to == address,
        OutboxMessage.created_at >= since))


# -- what a transport is given and says back ----------------------------------------------------

PENDING, SENT, FAILED = "pending", "sent", "failed"   # one recipient's state in OutboxMessage.deliveries
# The administrator's alert of failed mail; its own failures are never alerted about (no loop).
ALERT_KIND = "admin.delivery_failed"


@dataclass(frozen=True)
class Outgoing:
    """One message to hand to the server, for the recipients still to be reached."""

    id: int
    message_id: str
    raw: bytes
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class Attempt:
    """What the server said of one message: recipients accepted, refused (code, text) one by one, or an
    error for the whole message (`code` 0 when the connection itself failed)."""

    accepted: tuple[str, ...] = ()
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)
    error: str = ""
    code: int = 0


def permanent(code: int) -> bool:
    """An SMTP reply that will not change by trying again (5xx)."""
    return 500 <= code < 600


# How long a sending thread keeps its SMTP connection between sends (SmtpTransport).
KEEP_CONNECTION_SECONDS = 5.0

# Told of each message as soon as the server answered; returns False to stop (our claim is running out).
OnResult = Callable[[Outgoing, Attempt], bool]


class Transport(Protocol):
    def send(self, messages: Sequence[Outgoing], sender: str, on_result: OnResult) -> None:
        """Send each message in turn, calling `on_result` for each one before the next is accepted by the
        server (SmtpTransport calls it from its recorder thread while the next one is on its way)."""

    def close(self) -> None:
        """End what the calling thread keeps open between sends (an SMTP connection)."""


class FileTransport:
    """Writes each message as an .eml file: for hosts without SMTP, the demo and tests."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def send(self, messages: Sequence[Outgoing], sender: str, on_result: OnResult) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for m in messages:
            name = re.sub(r"[^A-Za-z0-9._-]", "_", m.message_id)[:150] + ".eml"
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(m.raw)
            os.replace(tmp, self.folder / name)
            if not on_result(m, Attempt(accepted=m.recipients)):
                return

    def close(self) -> None:
        pass


class SmtpTransport:
    """aiosmtplib; smtps:// is TLS from the start, smtp:// upgrades with STARTTLS.

    A password goes only over TLS, unless the endpoint allows plaintext (loopback, or `?plaintext=1`).
    Each message's outcome is handed back the moment the server answers, recipient by recipient.

    Each thread keeps its connection (and the event loop it lives on) from one send to the next for up to
    `keep_seconds`, checked with a NOOP before it is used again: the sender sends a batch for each message
    filed, and a connection each time was a greeting, an EHLO and a QUIT more for every three mails. `close()`
    ends the calling thread's connection.
    """

    def __init__(self, endpoint: Endpoint, timeout: float = 60, tls_context: ssl.SSLContext | None = None,
                 keep_seconds: float = KEEP_CONNECTION_SECONDS):
        self.endpoint = endpoint
        self.timeout = timeout
        self.tls_context = tls_context
        self.keep_seconds = keep_seconds
        self._held = threading.local()   # this thread's own: .loop, .client, .used (monotonic), .recorder

    def send(self, messages: Sequence[Outgoing], sender: str, on_result: OnResult) -> None:
        held = self._held
        if getattr(held, "loop", None) is None:
            held.loop, held.client, held.used = asyncio.new_event_loop(), None, 0.0
        held.loop.run_until_complete(self._send(messages, sender, on_result))

    def close(self) -> None:
        held = self._held
        loop = getattr(held, "loop", None)
        if loop is None:
            return
        try:
            loop.run_until_complete(self._drop())
        finally:
            loop.close()
            held.loop = None
            recorder, held.recorder = getattr(held, "recorder", None), None
            if recorder is not None:
                recorder.shutdown()

    async def _drop(self) -> None:
        client, self._held.client = self._held.client, None
        if client is not None and client.is_connected:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                client.close()

    async def _connection(self) -> aiosmtplib.SMTP:
        """This thread's connection if it is recent and still answers, a new one otherwise."""
        held = self._held
        if held.client is not None:
            if held.client.is_connected and time.monotonic() - held.used < self.keep_seconds:
                try:
                    await held.client.noop()
                    return held.client
                except (aiosmtplib.SMTPException, OSError):
                    pass
            await self._drop()
        e = self.endpoint
        client = aiosmtplib.SMTP(hostname=e.host, port=e.port, timeout=self.timeout, use_tls=e.scheme == "smtps",
                                 start_tls=None if e.starttls else False, tls_context=self.tls_context,
                                 local_hostname=_local_hostname())
        held.client = client
        await client.connect()
        if e.username and e.password:
            if client.get_transport_info("sslcontext") is None and not e.plaintext_ok:
                raise aiosmtplib.SMTPException(
                    f"{e.host} offers no STARTTLS: the SMTP password would go in clear; use smtps://, "
                    "enable STARTTLS on the server, or add ?plaintext=1 to the URL")
            await client.login(e.username, e.password)
        return client

    async def _send(self, messages: Sequence[Outgoing], sender: str, on_result: OnResult) -> None:
        """Each message's exchange up to its final dot goes on while the one before it is recorded (in the
        recorder thread, where the record waits for its turn at the database); its final dot waits for that
        record. So at most one message is ever accepted by the server and not yet recorded, as when each was
        sent and recorded in turn, and a crash still re-sends at most that one."""
        todo = list(messages)
        loop = asyncio.get_running_loop()
        recording: asyncio.Future[bool] | None = None   # the previous message's record, under way
        started = False   # a message is written but for its final dot
        try:
            client = await self._connection()
            while todo:
                m = todo[0]
                attempt, started = await self._start(client, sender, m)
                if recording is not None:
                    go_on, recording = await recording, None
                    if not go_on:   # stopped (our claim is running out): the rest are released untried
                        return
                if started:
                    attempt, started = await self._finish(client, attempt), False
                todo.pop(0)
                if attempt.code == 0 and attempt.error:
                    await self._drop()   # the connection went: the next send makes a new one
                    on_result(m, attempt)
                    return   # the rest are released untried
                recording = loop.run_in_executor(self._recorder(), on_result, m, attempt)
            if recording is not None:
                await recording
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Connecting, the greeting or the login failed: every message waits for its next attempt, the
            # same as a 4xx (a typo'd password is not a 5xx on a mail: the administrator sees the error in
            # the log, and the mail goes once it is fixed).
            if not started:
                await self._drop()
            code = exc.code if isinstance(exc, aiosmtplib.SMTPResponseException) and not permanent(exc.code) else 0
            for m in todo:
                if not on_result(m, Attempt(error=f"{type(exc).__name__}: {exc}", code=code)):
                    break
        except BaseException:
            started = True   # whatever state the exchange is in, it is cut, not ended with QUIT
            raise
        finally:
            if started:
                # A message without its final dot: the connection is cut, and the server discards the message
                # (a QUIT now would be read as more of it).
                self._cut()
            self._held.used = time.monotonic()

    def _cut(self) -> None:
        client, self._held.client = self._held.client, None
        if client is not None:
            client.close()

    def _recorder(self) -> ThreadPoolExecutor:
        """The calling thread's recorder: one thread, so records keep their order."""
        held = self._held
        if getattr(held, "recorder", None) is None:
            held.recorder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox-record")
        return held.recorder

    async def _start(self, client: aiosmtplib.SMTP, sender: str, m: Outgoing) -> tuple[Attempt, bool]:
        """MAIL, RCPT for each recipient, DATA and the message, without its final dot: what `SMTP.sendmail`
        does up to there, without its second pass over the message to count its size (counted here without a
        regex), and without its two regexes over every line (`wire`). Returns the attempt so far and whether the
        message awaits its final dot (False: it was refused, or the connection went, and the attempt says so)."""
        refused: dict[str, tuple[int, str]] = {}
        try:
            if client.is_ehlo_or_helo_needed:
                try:
                    await client.ehlo()
                except aiosmtplib.SMTPHeloError:
                    await client.helo()
            options = [f"SIZE={wire_size(m.raw)}"] if client.supports_extension("size") else []
            await client.mail(sender, options=options)
            for r in m.recipients:
                try:
                    await client.rcpt(r)
                except aiosmtplib.SMTPRecipientRefused as exc:
                    refused[r] = (exc.code, exc.message)
                except ValueError:   # a character no SMTP command line may carry: no server would take it
                    refused[r] = (553, "địa chỉ có ký tự không gửi được qua SMTP")
            if len(refused) == len(m.recipients):
                await _reset(client)
                return Attempt(refused=refused), False
            reply = await client.execute_command(b"DATA")
            if reply.code != 354:
                raise aiosmtplib.SMTPDataError(reply.code, reply.message)
            if client.protocol is None:
                raise aiosmtplib.SMTPServerDisconnected("Connection lost")
            client.protocol.write(wire(m.raw))
        except aiosmtplib.SMTPResponseException as exc:   # MAIL FROM or DATA refused: the whole message
            await _reset(client)
            return Attempt(error=f"{exc.code} {exc.message}", code=exc.code), False
        except (aiosmtplib.SMTPException, OSError) as exc:  # the connection went: the outcome is unknown
            return Attempt(error=f"{type(exc).__name__}: {exc}"), False
        return Attempt(accepted=tuple(r for r in m.recipients if r not in refused), refused=refused), True

    async def _finish(self, client: aiosmtplib.SMTP, attempt: Attempt) -> Attempt:
        """The final dot, and the server's answer to the whole message."""
        try:
            if client.protocol is None:
                raise aiosmtplib.SMTPServerDisconnected("Connection lost")
            client.protocol.write(b".\r\n")
            done = await client.protocol.read_response(timeout=self.timeout)
            if done.code != 250:
                raise aiosmtplib.SMTPDataError(done.code, done.message)
        except aiosmtplib.SMTPResponseException as exc:   # the message refused
            await _reset(client)
            return Attempt(error=f"{exc.code} {exc.message}", code=exc.code)
        except (aiosmtplib.SMTPException, OSError) as exc:  # the connection went (or timed out): outcome unknown
            client.close()
            return Attempt(error=f"{type(exc).__name__}: {exc}")
        return attempt


def wire(raw: bytes) -> bytes:
    """The message as DATA carries it, less the final dot (RFC 5321 4.5.2): every line end CRLF, the last line
    ended, a dot starting a line doubled. The bytes aiosmtplib's `data()` sends, without its two regexes over
    every line where the message has LF line ends only, as ours have."""
    if b"\r" in raw:
        text = normalize_message_line_endings(raw)
    else:
        text = raw.replace(b"\n", b"\r\n")
        if not text.endswith(b"\r\n"):
            text += b"\r\n"
    text = text.replace(b"\r\n.", b"\r\n..")
    return b"." + text if text.startswith(b".") else text


@functools.cache
def _local_hostname() -> str:
    """The name we greet the server with, looked up once a process: aiosmtplib's default looks it up for each
    connection, in a thread it starts for that (the sender connects for each batch)."""
    return socket.getfqdn()


async def _reset(client: aiosmtplib.SMTP) -> None:
    """RSET after a refusal, so the next message starts a clean envelope; a connection lost here shows on the
    next message."""
    try:
        await client.rset()
    except (aiosmtplib.SMTPException, OSError):
        pass


def wire_size(raw: bytes) -> int:
    """The message's size as DATA sends it (RFC 1870): every line end a CRLF, the last line ended. The same
    as `len(aiosmtplib.protocol.normalize_message_line_endings(raw))`, counted without a regex."""
    crlf = raw.count(b"\r\n")
    size = len(raw) + (raw.count(b"\n") - crlf) + (raw.count(b"\r") - crlf)
    return size if raw.endswith((b"\n", b"\r")) else size + 2


def transport_for(endpoint: Endpoint, delivery: DeliverySettings | None = None) -> Transport:
    if endpoint.scheme == "file":
        return FileTransport(Path(endpoint.path))
    return SmtpTransport(endpoint, timeout=(delivery or DeliverySettings()).smtp_timeout_seconds)


# -- delivery -----------------------------------------------------------------------------------

@dataclass
class Delivered:
    sent: int = 0       # messages every recipient of which has now been reached
    failed: int = 0     # messages that failed for a recipient this time, for now or for good


def pending_recipients(row: OutboxMessage) -> tuple[str, ...]:
    """Recipients not yet reached nor given up on (rows from before per-recipient delivery count all)."""
    return tuple(a for a in row.recipients if (row.deliveries or {}).get(a, {}).get("state", PENDING) == PENDING)


def deliver(db: Database, agency: Agency, transport: Transport, now: datetime | Callable[[], datetime], *,
            policy: DeliverySettings | None = None, claimer: str = "",
            keep_going: Callable[[], bool] = lambda: True) -> Delivered:
    """Send what is due: claim a batch, send it, record each message as the server answers; the next batch is
    claimed in the transaction that records the last message of one, until a claim finds nothing.

    A crash re-sends at most the message in flight, under the same Message-ID. Rows are claimed with FOR
    UPDATE SKIP LOCKED and a claim expiry, so several senders (threads, processes, machines) never take the
    same row; a claim left by a dead process expires after `claim_minutes`.
    """
    policy = policy or DeliverySettings()
    clock = now if callable(now) else (lambda: now)
    claimer = claimer or f"pid{os.getpid()}"
    claim_for = timedelta(minutes=policy.claim_minutes)
    total = Delivered()
    if not keep_going():
        return total
    with db.transaction() as s:
        batch = _claim(s, agency, clock(), claimer, claim_for, policy.batch)
    while batch:
        # Each transaction is a turn at SQLite's one write lock, behind intake's filings: the next claim rides
        # on the last record instead of taking a turn of its own.
        batch = _send_batch(db, agency, transport, batch, clock, claimer, claim_for, policy, total, keep_going)
    return total


def _send_batch(db: Database, agency: Agency, transport: Transport, batch: list[Outgoing],
                clock: Callable[[], datetime], claimer: str, claim_for: timedelta, policy: DeliverySettings,
                total: Delivered, keep_going: Callable[[], bool]) -> list[Outgoing]:
    """Send one claimed batch; what was not tried is released. Returns the next batch, claimed with the last
    message's record (none when the batch stopped short, or nothing more is due)."""
    claimed_at = time.monotonic()
    done: set[int] = set()
    following = {m.id: n.id for m, n in zip(batch, batch[1:], strict=False)}
    last = batch[-1].id
    claimed: list[Outgoing] = []

    def record(m: Outgoing, attempt: Attempt) -> bool:
        nonlocal claimed
        with db.transaction() as s:
            ours = _record(s, m, attempt, clock(), policy, total, following.get(m.id), claimer)
            if m.id == last and keep_going():
                claimed = _claim(s, agency, clock(), claimer, claim_for, policy.batch)
        done.add(m.id)
        # The next message must be answered well inside our claim, or another sender may take it.
        left = claim_for.total_seconds() - (time.monotonic() - claimed_at)
        return ours and keep_going() and left > 2 * policy.smtp_timeout_seconds + 5

    transport.send(batch, agency.board_address, record)
    untried = [m.id for m in batch if m.id not in done]
    if untried:
        _release(db, untried, claimer)
    return claimed


def _claim(s: Session, agency: Agency, now: datetime, claimer: str, claim_for: timedelta,
           limit: int) -> list[Outgoing]:
    """Up to `limit` due messages, now ours (in the caller's transaction)."""
    dead = coordination.dead_processes(s, agency.slug)
    if dead:   # a killed sender's claims: free them now rather than when they expire
        for row in s.scalars(select(OutboxMessage).where(
                OutboxMessage.agency == agency.slug, OutboxMessage.status == OutboxStatus.PENDING,
                OutboxMessage.claimed_by.in_(dead)).with_for_update(skip_locked=True)):
            row.claimed_by = row.claimed_until = None
        coordination.forget(s, agency.slug, dead)
        s.flush()
    rows = list(s.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.agency == agency.slug, OutboxMessage.status == OutboxStatus.PENDING,
               OutboxMessage.next_attempt_at <= now,
               or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit)
        .with_for_update(skip_locked=True)))
    out = []
    for row in rows:
        row.claimed_by, row.claimed_until = claimer, now + claim_for
        recipients = pending_recipients(row)
        if recipients:
            out.append(Outgoing(row.id, row.message_id, row.raw, recipients))
        else:  # nothing left to reach (an old row): settle it
            _settle(row, now)
    return out


def _release(db: Database, ids: list[int], claimer: str) -> None:
    with db.transaction() as s:
        for row in s.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids),
                                                         OutboxMessage.claimed_by == claimer)):
            row.claimed_by = row.claimed_until = None


def _record(s: Session, m: Outgoing, attempt: Attempt, now: datetime, policy: DeliverySettings,
            total: Delivered, next_id: int | None, claimer: str) -> bool:
    """One message's answer, in a transaction of its own that the caller commits at once: accepted recipients
    are done for good. Returns whether the next message of the batch is still ours (not freed meanwhile, as a
    stalled sender's claims are)."""
    ours = next_id is None or s.scalar(select(OutboxMessage.claimed_by).where(
        OutboxMessage.id == next_id)) == claimer
    # Not the mail itself (up to the size of its files): this transaction holds SQLite's one write lock.
    row = s.get_one(OutboxMessage, m.id, options=[defer(OutboxMessage.raw)])
    deliveries = {a: dict(row.deliveries.get(a, {"state": PENDING})) for a in row.recipients}
    stamp = now.isoformat()
    for a in attempt.accepted:
        deliveries[a] = {"state": SENT, "at": stamp}
    retry = []
    for a in m.recipients:
        if a in attempt.accepted:
            continue
        code, text = attempt.refused.get(a, (attempt.code, attempt.error))
        if permanent(code):
            deliveries[a] = {"state": FAILED, "code": code, "error": text[:500], "at": stamp}
        else:
            deliveries[a] = {"state": PENDING, "code": code, "error": text[:500], "at": stamp}
            retry.append(a)
    row.attempts += 1
    if retry and row.attempts > len(policy.retry_minutes):
        for a in retry:
            last = deliveries[a]
            deliveries[a] = {**last, "state": FAILED,
                             "error": f"hết {row.attempts} lần thử: {last.get('error', '')}"[:500]}
        retry = []
    row.deliveries = deliveries
    if row.kind != ALERT_KIND and any(d["state"] == FAILED and d.get("at") == stamp for d in deliveries.values()):
        row.needs_alert = True   # told now, even while other recipients are still being retried
    errors = "; ".join(f"{a}: {d.get('code') or ''} {d.get('error', '')}".strip()
                       for a, d in deliveries.items() if d.get("at") == stamp and d["state"] != SENT)
    row.last_error = errors[:2000]
    # The log carries the server's codes, never the recipients' addresses (personal data).
    codes = sorted({str(d.get("code") or "connection") for d in deliveries.values()
                    if d.get("at") == stamp and d["state"] != SENT})
    row.claimed_by = row.claimed_until = None
    if retry:
        row.next_attempt_at = now + timedelta(minutes=policy.retry_minutes[row.attempts - 1])
        total.failed += 1
        log.warning("outbox delivery deferred; will retry", extra={
            "outbox_id": row.id, "attempt": row.attempts, "codes": codes,
            "retry_at": row.next_attempt_at.isoformat()})
    else:
        _settle(row, now)
    if row.status == OutboxStatus.SENT:
        total.sent += 1
    elif row.status in (OutboxStatus.FAILED, OutboxStatus.PARTIAL):
        total.failed += 1
        log.error("outbox delivery failed for good", extra={"outbox_id": row.id, "codes": codes})
    return ours


def _settle(row: OutboxMessage, now: datetime) -> None:
    """Every recipient reached or given up on: the message's status follows from theirs."""
    states = [(row.deliveries or {}).get(a, {}).get("state", SENT) for a in row.recipients]
    reached = states.count(SENT)
    row.status = (OutboxStatus.SENT if reached == len(states) else
                  OutboxStatus.FAILED if reached == 0 else OutboxStatus.PARTIAL)
    if reached:
        row.sent_at = now


def unreported_failures(s: Session, agency: Agency, now: datetime, every: timedelta) -> list[OutboxMessage]:
    """Failed mail the administrator has not been told of, unless an alert went out less than `every` ago
    (failures then wait for the next one: one alert per period, never a storm)."""
    rows = list(s.scalars(select(OutboxMessage).where(
        OutboxMessage.agency == agency.slug, OutboxMessage.needs_alert.is_(True))
        .order_by(OutboxMessage.id).limit(500).with_for_update(skip_locked=True)))
    if not rows:
        return []
    last = s.scalar(select(OutboxMessage.created_at).where(
        OutboxMessage.agency == agency.slug, OutboxMessage.kind == ALERT_KIND)
        .order_by(OutboxMessage.created_at.desc()).limit(1))
    if last is not None and now - last < every:
        return []
    return rows
