"""Passwords never go in clear: over real Dovecot and a real SMTP server without TLS, mailbot refuses to
log in unless the endpoint allows plaintext (loopback by default, or `?plaintext=1`)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mailbot import config
from mailbot.inbound.sources import imap
from mailbot.outbound.outbox import Attempt, Outgoing, SmtpTransport
from tests.servers import SmtpSink


def test_imap_login_without_starttls_is_refused_off_loopback(dovecot, tmp_path):
    """Security: Dovecot here offers no STARTTLS; as if it were a remote server, no LOGIN is sent."""
    endpoint = config.parse_endpoint(dovecot.url, ("imap", "imaps", "maildir"), tmp_path)
    endpoint = replace(endpoint, password=dovecot.PASSWORD)
    assert endpoint.plaintext_ok  # loopback: allowed by default
    imap.connect(endpoint).logout()
    with pytest.raises(imap.PlaintextRefused):
        imap.connect(replace(endpoint, plaintext_ok=False))


def test_smtp_auth_without_starttls_is_refused_off_loopback(tmp_path):
    """Security: the sink offers AUTH without TLS; as if it were remote, mailbot sends nothing."""
    sink = SmtpSink(login=("bbt", "mat-khau")).start()
    try:
        endpoint = config.parse_endpoint(f"smtp://bbt:mat-khau@127.0.0.1:{sink.port}", ("smtp", "smtps", "file"),
                                         tmp_path)
        mail = Outgoing(1, "x@binhphuoc.gov.vn", b"From: bbt@binhphuoc.gov.vn\r\nTo: a@binhphuoc.gov.vn\r\n"
                        b"Subject: x\r\n\r\nx\r\n", ("a@binhphuoc.gov.vn",))
        results: list[Attempt] = []
        sender = "bbt@binhphuoc.gov.vn"
        SmtpTransport(replace(endpoint, plaintext_ok=False), timeout=10).send([mail], sender, collect(results))
        assert "in clear" in results[0].error and not results[0].accepted and sink.messages == []
        SmtpTransport(endpoint, timeout=10).send([mail], sender, collect(results))
        assert results[1].accepted == ("a@binhphuoc.gov.vn",) and not results[1].error
        assert len(sink.messages) == 1
    finally:
        sink.stop()


def collect(results: list[Attempt]):
    def record(_message: Outgoing, attempt: Attempt) -> bool:
        results.append(attempt)
        return True
    return record
