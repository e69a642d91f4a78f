"""Every message we send: stored first under an idempotency key, then delivered by SMTP or to files."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import ssl
import tempfile
from collections.abc import Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Protocol

import aiosmtplib
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.config import Agency, Endpoint
from mailbot.storage.db import Database
from mailbot.storage.models import OutboxMessage

log = logging.getLogger("mailbot.outbox")

# Waits between attempts: a minute, then longer, up to six hours; given up after the last.
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
           timedelta(hours=6), timedelta(hours=6), timedelta(hours=6), timedelta(hours=6))


def enqueue(session: Session, agency: Agency, key: str, kind: str, msg: EmailMessage, now: datetime, *,
            article_id: int | None = None, inbound_id: int | None = None,
            question_id: int | None = None) -> OutboxMessage:
    """Store a message to send. A key already stored returns the stored one: nothing is made twice."""
    existing = session.scalar(select(OutboxMessage).where(
        OutboxMessage.agency == agency.slug, OutboxMessage.idempotency_key == key))
    if existing is not None:
        return existing
    recipients = [a for _, a in getaddresses(msg.get_all("To", []) + msg.get_all("Cc", [])) if a]
    row = OutboxMessage(
        agency=agency.slug, idempotency_key=key, kind=kind, message_id=str(msg["Message-ID"]).strip("<>"),
        article_id=article_id, question_id=question_id, inbound_id=inbound_id, recipients=recipients, subject=str(msg["Subject"]),
        raw=msg.as_bytes(), status="pending", attempts=0, next_attempt_at=now, created_at=now)
    session.add(row)
    session.flush()
    return row


class Transport(Protocol):
    def send(self, messages: Sequence[OutboxMessage], sender: str) -> dict[int, str | None]:
        """Send each message; map its id to None when sent, or to the error."""


class FileTransport:
    """Writes each message as an .eml file: for hosts without SMTP, the demo and tests."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def send(self, messages: Sequence[OutboxMessage], sender: str) -> dict[int, str | None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        results: dict[int, str | None] = {}
        for m in messages:
            name = re.sub(r"[^A-Za-z0-9._-]", "_", m.message_id)[:150] + ".eml"
            fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(m.raw)
            os.replace(tmp, self.folder / name)
            results[m.id] = None
        return results


class SmtpTransport:
    """aiosmtplib over one connection per batch; smtps:// is TLS from the start, smtp:// upgrades with STARTTLS.

    A password goes only over TLS, unless the endpoint allows plaintext (loopback, or `?plaintext=1`).
    """

    def __init__(self, endpoint: Endpoint, timeout: float = 60, tls_context: ssl.SSLContext | None = None):
        self.endpoint = endpoint
        self.timeout = timeout
        self.tls_context = tls_context

    def send(self, messages: Sequence[OutboxMessage], sender: str) -> dict[int, str | None]:
        return asyncio.run(self._send(messages, sender))

    async def _send(self, messages: Sequence[OutboxMessage], sender: str) -> dict[int, str | None]:
        e = self.endpoint
        client = aiosmtplib.SMTP(hostname=e.host, port=e.port, timeout=self.timeout, use_tls=e.scheme == "smtps",
                                 start_tls=None if e.starttls else False, tls_context=self.tls_context)
        results: dict[int, str | None] = {}
        try:
            await client.connect()
            if e.username and e.password:
                if client.get_transport_info("sslcontext") is None and not e.plaintext_ok:
                    raise aiosmtplib.SMTPException(
                        f"{e.host} offers no STARTTLS: the SMTP password would go in clear; use smtps://, "
                        "enable STARTTLS on the server, or add ?plaintext=1 to the URL")
                await client.login(e.username, e.password)
            for m in messages:
                try:
                    await client.sendmail(sender, m.recipients, m.raw)
                    results[m.id] = None
                except aiosmtplib.SMTPRecipientsRefused as exc:
                    results[m.id] = f"recipients refused: {exc}"
                except aiosmtplib.SMTPResponseException as exc:
                    results[m.id] = f"{exc.code} {exc.message}"
        except (aiosmtplib.SMTPException, OSError) as exc:
            for m in messages:
                results.setdefault(m.id, f"{type(exc).__name__}: {exc}")
        finally:
            if client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()
        return results


def transport_for(endpoint: Endpoint) -> Transport:
    if endpoint.scheme == "file":
        return FileTransport(Path(endpoint.path))
    return SmtpTransport(endpoint)


def deliver(db: Database, agency: Agency, transport: Transport, now: datetime, limit: int = 200) -> tuple[int, int]:
    """Send what is due; returns (sent, failed). A failure waits longer each time, then gives up."""
    with db.transaction() as s:
        due = list(s.scalars(select(OutboxMessage).where(
            OutboxMessage.agency == agency.slug, OutboxMessage.status == "pending",
            OutboxMessage.next_attempt_at <= now).order_by(OutboxMessage.id).limit(limit)))
    if not due:
        return 0, 0
    results = transport.send(due, agency.board_address)
    sent = failed = 0
    with db.transaction() as s:
        for m in due:
            row = s.get_one(OutboxMessage, m.id)
            error = results.get(m.id, "not attempted")
            row.attempts += 1
            if error is None:
                row.status, row.sent_at, row.last_error = "sent", now, ""
                sent += 1
                continue
            failed += 1
            row.last_error = error[:2000]
            if row.attempts > len(BACKOFF):
                row.status = "failed"
                log.error("giving up on outbox message", extra={"outbox_id": row.id, "error": error})
            else:
                row.next_attempt_at = now + BACKOFF[row.attempts - 1]
                log.warning("outbox delivery failed; will retry", extra={"outbox_id": row.id, "error": error})
    return sent, failed
