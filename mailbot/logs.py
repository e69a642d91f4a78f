"""Logging: one logger per concern (mailbot.intake, mailbot.outbox ...), key=value lines or one JSON object a
line, addresses and phones redacted. A traceback is logged as its frames and its exception's type only: an exception's message may
quote a citizen's address, name or question (a database error quotes the row), and never reaches a log."""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from pathlib import Path
from types import TracebackType

_EMAIL = re.compile(r"([\w.+-])[\w.+-]*@([\w-]+(?:\.[\w-]+)+)")
_PHONE = re.compile(r"(?<!\d)(\+?84|0)(\d[\d .-]{6,12})(\d{2})(?!\d)")
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def redact(text: str) -> str:
    """Citizens' addresses and phone numbers never reach a log in full."""
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return _PHONE.sub(lambda m: f"{m.group(1)}***{m.group(3)}", text)


def frames(tb: TracebackType | None) -> list[str]:
    """A traceback's frames as "file:line in function", no source text and no values."""
    return [f"{Path(f.filename).name}:{f.lineno} in {f.name}" for f in traceback.extract_tb(tb)]


def where(exc: BaseException) -> str:
    """The frame an exception came from, for a log line or a held message's reason."""
    found = frames(exc.__traceback__)
    return found[-1] if found else "?"


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        base = f"{self.formatTime(record)} {record.levelname} {record.name}: {record.getMessage()}"
        extras = " ".join(f"{k}={v!r}" for k, v in vars(record).items() if k not in _STANDARD)
        line = redact(f"{base} {extras}".rstrip())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line

    def formatException(self, ei) -> str:
        exc_type, exc, tb = ei
        chain: list[str] = []
        while exc is not None and len(chain) < 5:
            chain.append(f"{type(exc).__name__} at " + " <- ".join(reversed(frames(exc.__traceback__))))
            exc = exc.__cause__ or exc.__context__
        return "\n".join(f"  {line}" for line in chain) if chain else f"  {getattr(exc_type, '__name__', '?')}"


class JsonFormatter(KeyValueFormatter):
    """One JSON object per line: time, level, logger, message, the record's extras, and the traceback's frames;
    every string redacted as in the key=value lines."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {"time": self.formatTime(record), "level": record.levelname,
                                    "logger": record.name, "message": redact(record.getMessage())}
        for key, value in vars(record).items():
            if key not in _STANDARD:
                entry[key] = redact(value) if isinstance(value, str) else value if isinstance(
                    value, (int, float, bool)) or value is None else redact(repr(value))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info).strip()
        return json.dumps(entry, ensure_ascii=False)


FORMATS = ("text", "json")


def setup_logging(level: str = "WARNING", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    root = logging.getLogger("mailbot")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
