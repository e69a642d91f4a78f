"""Text extraction of Word and OpenDocument files in a child process, bounded in time and size; the child also
holds what only some messages need and would weigh on the daemon (the language model, PDF signature checks).

python-docx and odfpy parse whatever XML a file holds; a hostile file can keep them busy for minutes.
They run in one long-lived child (a forkserver, so the daemon's threads are never forked); a file that
takes longer than `extraction_seconds` (or kills the child) has the child replaced, and is quarantined with
the reason. A file the libraries merely fail on is filed without a preview: it was checked already.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from mailbot.config import LimitSettings

log = logging.getLogger("mailbot.extraction")

_lock = threading.Lock()


def _child(kind: str, data: bytes, limit: int) -> tuple[str, str | None]:
    from mailbot.mail.attachments import extract_text

    text, encoding = extract_text(kind, data)
    return text[:limit], encoding


def _serve(conn: Connection) -> None:
    """The child's loop: a call and its arguments in, ("ok", result) or ("error", the exception's name) out."""
    while True:
        try:
            call, args = conn.recv()
        except (EOFError, OSError):   # the daemon went, or shut us down
            return
        try:
            answer: tuple[str, Any] = ("ok", call(*args))
        except Exception as exc:  # noqa: BLE001 - told to the caller, who decides
            answer = ("error", type(exc).__name__)
        try:
            conn.send(answer)
        except OSError:   # the daemon went (killed) while we worked: nobody to answer
            return
        except Exception as exc:  # noqa: BLE001 - a result that cannot be sent back is an error too
            conn.send(("error", type(exc).__name__))


class _Worker:
    """One child process and the pipe to it. The calling thread writes the call and waits on the pipe itself:
    a process pool hands each call and result through two threads of its own, and with another thread of the
    daemon busy (the sender's SMTP) each hand-over waits for the interpreter's switch interval, about 15 ms a
    call in all instead of under 1 ms (issue 13)."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("forkserver")
        # The server imports what extraction needs once. Each child still imports the parent's __main__,
        # as multiprocessing always does: an entry point must guard its main (mailbot/__main__.py does).
        context.set_forkserver_preload(["mailbot.mail.attachments"])
        self.conn, theirs = context.Pipe()
        self.process: BaseProcess = context.Process(target=_serve, args=(theirs,), daemon=True,
                                                    name="mailbot-extraction")
        self.process.start()
        theirs.close()

    def call(self, call: Callable[..., Any], args: tuple, seconds: float) -> tuple[str, Any]:
        """("ok", result), ("error", name), ("timeout", None) or ("died", None)."""
        try:
            self.conn.send((call, args))
            if not self.conn.poll(seconds):
                return "timeout", None
            return self.conn.recv()
        except (EOFError, OSError):
            return "died", None

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        self.conn.close()   # the child's recv ends: it returns
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


_worker: _Worker | None = None


def _current() -> _Worker:
    """The child, started if there is none. One that died meanwhile is found out by its pipe (the call says
    "died"), without asking the system each time."""
    global _worker
    if _worker is None:
        _worker = _Worker()
    return _worker


def _discard(worker: _Worker) -> None:
    """Kill a child that ran over its time or died, so the next file gets a fresh one."""
    global _worker
    worker.stop(kill=True)
    if _worker is worker:
        _worker = None


@dataclass(frozen=True)
class Extracted:
    text: str = ""
    encoding: str | None = None   # the legacy font converted from, if any
    problem: str = ""             # why the file must be quarantined (over the time limit), in Vietnamese


def extract(kind: str, data: bytes, limits: LimitSettings) -> Extracted:
    """The text of a .docx or .odt, at most `extraction_chars`. One file at a time per process: the child
    is shared."""
    result = bounded(_child, (kind, data, limits.extraction_chars), limits.extraction_seconds, kind, len(data))
    if isinstance(result, str):
        return Extracted(problem=result)
    if result is None:
        return Extracted()
    text, encoding = result
    return Extracted(text, encoding)


def bounded(call: Callable[..., Any], args: tuple, seconds: float, kind: str = "", size: int = 0) -> Any:
    """`call(*args)` in the shared child, within `seconds`. Returns its result; None where it raised (a
    courtesy failed: the file itself was checked); or, in Vietnamese, why the file must be quarantined (over
    the time limit, or it kills the child twice). `call` must be a module-level function; `kind` and `size`
    (of the file) are for the log."""
    with _lock:
        for attempt in (1, 2):
            worker = _current()
            status, value = worker.call(call, args, seconds)
            if status == "ok":
                return value
            if status == "timeout":
                log.warning("file check over its time limit; child killed",
                            extra={"kind": kind, "size": size, "seconds": seconds, "check": call.__name__})
                _discard(worker)
                return f"không đọc được nội dung tệp trong {seconds:g} giây"
            if status == "died":
                # A child may have died of an earlier file, or of something else: the file gets a fresh
                # child once, and is quarantined only if it kills that one too.
                log.warning("file check child died", extra={"kind": kind, "size": size, "try": attempt})
                _discard(worker)
                continue
            # a preview is a courtesy; the file itself was checked
            log.warning("file check failed", extra={"kind": kind, "size": size, "check": call.__name__,
                                                    "error": value})
            return None
        return "đọc nội dung tệp làm hỏng tiến trình đọc (tệp có thể được tạo để tấn công)"


def shutdown() -> None:
    global _worker
    with _lock:
        if _worker is not None:
            _worker.stop()
            _worker = None
