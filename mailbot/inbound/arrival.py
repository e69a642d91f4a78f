"""When a message reached the board's server: the moment its legal time limits start from.

The regulations count a citizen's 15 working days, the board's steps and a contributor's limit from
the moment the board received the mail, not from the moment mailbot read it: after a weekend or Tết
with the daemon stopped, Friday's question is still Friday's. The source gives that moment (IMAP
INTERNALDATE, a Maildir file's delivery time); the topmost Received header, stamped by the last
server that took the message in, cross-checks it:

- they agree (within DISAGREE): the source's time;
- the stamp is earlier, by no more than LOOKBACK: the stamp (the server had the mail before the
  mailbox showed it: a queue held it, or someone moved or restored it);
- the stamp is later, far earlier, or unreadable: the source's time, and the disagreement noted;
- no usable source time: the stamp if it is recent, else the time mailbot read the message.

A time after `now` (a server clock ahead of ours) is taken as `now`. The note, in Vietnamese, is kept
on the message's row and shown by `mailbot show`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from mailbot.mail.message import ParsedMessage
from mailbot.worktime.calendar import TZ

DISAGREE = timedelta(hours=1)
LOOKBACK = timedelta(days=30)
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Arrival:
    at: datetime
    note: str = ""   # how `at` was chosen, where it was not simply the source's time


def _vn(moment: datetime) -> str:
    return f"{moment.astimezone(TZ):%H:%M %d/%m/%Y}"


def received_stamp(msg: ParsedMessage) -> datetime | None:
    """The date of the topmost Received header (after its last ';'), or None."""
    _, semicolon, when = msg.received_top.rpartition(";")
    if not semicolon:
        return None
    try:
        stamp = parsedate_to_datetime(" ".join(when.split()))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if stamp.tzinfo is None:   # "-0000": the time is UTC, its zone unknown (RFC 5322 3.3)
        stamp = stamp.replace(tzinfo=timezone.utc)
    return stamp if stamp >= EARLIEST else None


def arrival(source_time: datetime | None, msg: ParsedMessage, now: datetime) -> Arrival:
    if source_time is not None and source_time.tzinfo is None:
        source_time = source_time.replace(tzinfo=timezone.utc)
    if source_time is not None and source_time < EARLIEST:
        source_time = None
    stamp = received_stamp(msg)
    if source_time is None:
        if stamp is not None and now - LOOKBACK <= stamp:
            return Arrival(min(stamp, now), f"hộp thư không cho biết giờ đến; theo tiêu đề Received: {_vn(stamp)}")
        return Arrival(now, "không rõ giờ thư đến máy chủ; tính từ lúc mailbot đọc thư")
    at = min(source_time, now)
    if stamp is None or abs(stamp - source_time) <= DISAGREE:
        return Arrival(at, "" if at == source_time else f"giờ máy chủ ({_vn(source_time)}) sau giờ mailbot; "
                                                         "tính từ lúc mailbot đọc thư")
    if source_time - LOOKBACK <= stamp < source_time:
        return Arrival(min(stamp, now), f"máy chủ nhận thư lúc {_vn(stamp)} (tiêu đề Received), hộp thư ghi "
                                        f"{_vn(source_time)}: tính từ giờ sớm hơn")
    return Arrival(at, f"tiêu đề Received ghi {_vn(stamp)}, khác giờ hộp thư ghi {_vn(source_time)}: "
                       "tính theo hộp thư")
