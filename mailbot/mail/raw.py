"""A message's raw bytes, held in memory (most mail) or in a spool file (a large message, read in chunks).

A 25 MB attachment is about 34 MB of base64 in its message. Held as bytes, parsed by the standard library and
decoded, such a message took several hundred MiB. A source hands a large message over as a spool file
instead; intake archives it by copying in chunks, and `lift` takes its long base64 runs out before the parser
sees them (mailbot.mail.message.parse_raw). Nothing then holds the whole message, and the attachment is held
once, decoded.
"""

from __future__ import annotations

import binascii
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

CHUNK = 1 << 20


class RawMessage:
    """The bytes of one message: `data` in memory, or a file at `path` (removed by `discard` when `owned`)."""

    def __init__(self, data: bytes | None = None, path: Path | None = None, size: int | None = None,
                 owned: bool = True):
        if (data is None) == (path is None):
            raise ValueError("a RawMessage is either bytes or a spool file")
        self.data = data
        self.path = path
        self.owned = owned   # a spool file of ours, removed by `discard` (not a Maildir's file, nor an archived one)
        self.size = len(data) if data is not None else (size if size is not None else os.path.getsize(path or ""))

    @classmethod
    def of(cls, raw: bytes | RawMessage) -> RawMessage:
        return raw if isinstance(raw, RawMessage) else cls(raw)

    @property
    def spooled(self) -> bool:
        return self.path is not None

    def read(self) -> bytes:
        """The whole message in memory (what the few readers that need all of it get: DKIM, a replay's fallback)."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        if self.data is not None:
            view = memoryview(self.data)
            for start in range(0, len(view), size):
                yield bytes(view[start:start + size])
            return
        assert self.path is not None
        with self.path.open("rb") as fh:
            while chunk := fh.read(size):
                yield chunk

    def discard(self) -> None:
        if self.path is not None and self.owned:
            self.path.unlink(missing_ok=True)

    def __len__(self) -> int:
        return self.size


def clear_spool(spool: Path, older_than: float = 3600) -> None:
    """Remove spool files an earlier process left (killed mid-message); a file younger than `older_than`
    seconds may be another process's, at work on it now."""
    if not spool.is_dir():
        return
    now = time.time()
    for path in spool.iterdir():
        try:
            if path.name.startswith((".fetch-", ".lift-")) and now - path.stat().st_mtime > older_than:
                path.unlink()
        except OSError:
            pass


# -- lifting long base64 runs out of a message ------------------------------------------------------------

_B64_LINE = re.compile(rb"[A-Za-z0-9+/]+")
_B64_LAST = re.compile(rb"[A-Za-z0-9+/]*={1,2}")
LINE_MAX = 1 << 16   # a longer line is never part of a lifted run (it is kept in the skeleton as it is)


@dataclass
class Lifted:
    """A message with each long run of base64 lines replaced by one token line: `skeleton` is what the parser
    reads; `runs` maps each token to the run decoded, in a spool file (`lift`) or in memory (`lift_bytes`).
    `nonce` is in every token and nowhere in the message."""

    skeleton: bytes
    nonce: str
    runs: dict[str, Path | bytes] = field(default_factory=dict)

    def data(self, token: str) -> bytes:
        run = self.runs[token]
        return run if isinstance(run, bytes) else run.read_bytes()

    def discard(self) -> None:
        for run in self.runs.values():
            if isinstance(run, Path):
                run.unlink(missing_ok=True)


class _Run:
    """Base64 lines being collected: held as they came until the run is long enough to lift, then decoded into
    a spool file as it goes (whole groups of 4 characters, which decode exactly as the whole run would)."""

    def __init__(self, spool: Path | None):
        self.spool = spool
        self.lines: list[bytes] = []
        self.chars = 0
        self.pending = bytearray()   # characters not yet decoded
        self.file: IO[bytes] | None = None
        self.path: Path | None = None

    def add(self, line: bytes, chars: bytes, min_run: int) -> None:
        self.chars += len(chars)
        if self.file is not None:
            self.pending += chars
            if len(self.pending) >= CHUNK:
                self._decode(len(self.pending) - len(self.pending) % 4)
            return
        self.lines.append(line)
        if self.chars >= min_run:
            if self.spool is not None:
                self.spool.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=self.spool, prefix=".lift-")
            self.file, self.path = os.fdopen(fd, "wb"), Path(name)
            for held in self.lines:
                self.pending += held.rstrip(b"\r\n")
            self.lines = []

    def _decode(self, upto: int) -> None:
        assert self.file is not None
        with memoryview(self.pending) as view:
            self.file.write(binascii.a2b_base64(view[:upto]))
        del self.pending[:upto]

    def finish(self) -> Path | None:
        """The decoded file when the run was lifted; None to keep its lines (then in `lines`). Raises _KeepWhole
        when a lifted run is not whole base64 after all (its characters not a multiple of four)."""
        if self.file is None:
            return None
        aligned = len(self.pending) % 4 == 0
        if aligned:
            self._decode(len(self.pending))
        self.file.close()
        self.file = None
        assert self.path is not None
        if not aligned:
            self.path.unlink(missing_ok=True)
            raise _KeepWhole
        return self.path

    def abandon(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)


class _KeepWhole(Exception):
    """Lifting would change what the message says: it is parsed as it came."""


def lift(chunks: Iterable[bytes], min_run: int, spool: Path | None = None) -> Lifted | None:
    """The message streamed through once: every run of at least `min_run` base64 characters on lines of their
    own (a part's whole body, as mail clients write attachments) becomes one token line, its decoded bytes a
    spool file. Returns None when nothing was lifted, or when lifting could change the message's meaning (a run
    that is not whole base64, the nonce already in the message): the caller then parses the message as it is.
    Whether a token stands for a part's whole base64 body is for the parser to check (parse_raw)."""
    nonce = secrets.token_hex(12)
    marker = nonce.encode()
    out = bytearray()
    runs: dict[str, Path | bytes] = {}
    run: _Run | None = None
    buf = bytearray()

    def end_run() -> None:
        nonlocal run
        if run is None:
            return
        current, run = run, None
        path = current.finish()
        if path is None:
            out.extend(b"".join(current.lines))
            return
        token = f"mailbotlift{nonce}n{len(runs)}"
        runs[token] = path
        out.extend(token.encode() + b"\r\n")

    def take(line: bytes) -> None:
        nonlocal run
        body = line.rstrip(b"\r\n")
        if len(line) <= LINE_MAX and _B64_LINE.fullmatch(body):
            if run is None:
                run = _Run(spool)
            run.add(line, body, min_run)
        elif run is not None and len(line) <= LINE_MAX and _B64_LAST.fullmatch(body):
            run.add(line, body, min_run)   # a padded line ends its run
            end_run()
        else:
            end_run()
            out.extend(line)

    try:
        for chunk in chunks:
            buf += chunk
            last = buf.rfind(b"\n")
            if last < 0:
                continue
            complete = bytes(buf[:last + 1])
            del buf[:last + 1]
            if marker in complete:
                raise _KeepWhole
            start = 0
            while start < len(complete):
                end = complete.index(b"\n", start) + 1
                take(complete[start:end])
                start = end
        if buf:
            if marker in buf:
                raise _KeepWhole
            take(bytes(buf))
        end_run()
    except BaseException as exc:
        if run is not None:
            run.abandon()
        Lifted(b"", nonce, runs).discard()
        if isinstance(exc, _KeepWhole):
            return None
        raise
    if not runs:
        return None
    return Lifted(bytes(out), nonce, runs)


# The runs `lift` takes, found by one pass of the regular expression engine instead of line by line in Python: a
# line of base64 characters (at most LINE_MAX bytes with its line end, `_B64_LINE`) or, ending a run, one with
# its padding (`_B64_LAST`); each ends in any carriage returns and a line feed, or ends the message.
_RUN = re.compile(rb"(?m)^(?:[A-Za-z0-9+/]{1,%d}\r*(?:\n|\Z))+(?:[A-Za-z0-9+/]{0,%d}={1,2}\r*(?:\n|\Z))?"
                  % (LINE_MAX, LINE_MAX))


def lift_bytes(raw: bytes, min_run: int, spool: Path | None = None) -> Lifted | None:
    """`lift` for a message held in memory, its runs decoded in memory: the same skeleton and the same decoded
    runs (tests/test_large_messages.py compares the two over the corpus), at C speed rather than a line at a
    time. Used for ordinary messages, whose photos and documents are most of their lines (issue 13)."""
    nonce = secrets.token_hex(12)
    if nonce.encode() in raw:
        return None
    out: list[bytes] = []
    runs: dict[str, Path | bytes] = {}
    kept = 0
    for m in _RUN.finditer(raw):
        run = m.group()
        chars = run.translate(None, b"\r\n")
        if len(chars) < min_run:
            continue
        if len(run) > LINE_MAX and _over_long(run):
            return lift(iter((raw,)), min_run, spool)   # a line at the length limit: decided the slow, exact way
        if len(chars) % 4:
            return None   # not whole base64: it would decode otherwise (see `lift`)
        token = f"mailbotlift{nonce}n{len(runs)}"
        runs[token] = binascii.a2b_base64(chars)
        out.append(raw[kept:m.start()])
        out.append(token.encode() + b"\r\n")
        kept = m.end()
    if not runs:
        return None
    out.append(raw[kept:])
    return Lifted(b"".join(out), nonce, runs)


def _over_long(run: bytes) -> bool:
    """Whether a line of the run, its line end included, is longer than LINE_MAX (as `lift` counts)."""
    lines = run.split(b"\n")
    return max(len(line) + 1 for line in lines[:-1]) > LINE_MAX or len(lines[-1]) > LINE_MAX
