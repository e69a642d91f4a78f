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
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from mailbot.config import LimitSettings

log = logging.getLogger("mailbot.extraction")

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def _child(kind: str, data: bytes, limit: int) -> tuple[str, str | None]:
    from mailbot.mail.attachments import extract_text

    text, encoding = extract_text(kind, data)
    return text[:limit], encoding


def _executor() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        context = multiprocessing.get_context("forkserver")
        # The server imports what extraction needs once. Each child still imports the parent's __main__,
        # as multiprocessing always does: an entry point must guard its main (mailbot/__main__.py does).
        context.set_forkserver_preload(["mailbot.mail.attachments"])
        _pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
    return _pool


def _discard(pool: ProcessPoolExecutor) -> None:
    """Kill a child that ran over its time, so the next file gets a fresh one."""
    global _pool
    for process in list(getattr(pool, "_processes", {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    if _pool is pool:
        _pool = None


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
            pool = _executor()
            try:
                return pool.submit(call, *args).result(timeout=seconds)
            except FutureTimeout:
                log.warning("file check over its time limit; child killed",
                            extra={"kind": kind, "size": size, "seconds": seconds, "check": call.__name__})
                _discard(pool)
                return f"không đọc được nội dung tệp trong {seconds:g} giây"
            except BrokenProcessPool:
                # A child may have died of an earlier file, or of something else: the file gets a fresh
                # child once, and is quarantined only if it kills that one too.
                log.warning("file check child died", extra={"kind": kind, "size": size, "try": attempt})
                _discard(pool)
            except Exception:  # noqa: BLE001 - a preview is a courtesy; the file itself was checked
                log.warning("file check failed", extra={"kind": kind, "size": size, "check": call.__name__})
                return None
        return "đọc nội dung tệp làm hỏng tiến trình đọc (tệp có thể được tạo để tấn công)"


def shutdown() -> None:
    global _pool
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=True)
            _pool = None
