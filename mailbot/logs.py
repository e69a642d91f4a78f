"""Logging: one logger per concern (mailbot.intake, mailbot.outbox ...), key=value lines, addresses and phones redacted."""

from __future__ import annotations

import logging
import re
import sys

_EMAIL = re.compile(r"([\w.+-])[\w.+-]*@([\w-]+(?:\.[\w-]+)+)")
_PHONE = re.compile(r"(?<!\d)(\+?84|0)(\d[\d .-]{6,12})(\d{2})(?!\d)")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def redact(text: str) -> str:
    """Citizens' addresses and phone numbers never reach a log in full."""
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return _PHONE.sub(lambda m: f"{m.group(1)}***{m.group(3)}", text)


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = f"{self.formatTime(record)} {record.levelname} {record.name}: {record.getMessage()}"
        extras = " ".join(f"{k}={v!r}" for k, v in vars(record).items() if k not in _STANDARD)
        line = redact(f"{base} {extras}".rstrip())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def setup_logging(level: str = "WARNING") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger("mailbot")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
