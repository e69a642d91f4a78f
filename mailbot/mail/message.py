"""Raw bytes to one immutable ParsedMessage, at the edge; nothing after this touches MIME.

Why the standard `email` package with the compat32 policy, and not mail-parser or
`policy.default`: compat32 never raises when a header is read (policy.default parses headers
lazily and raises on some of the corpus's broken ones, and splits display names across
encoded-words: "t ỉnh"); it is about three times faster; and it lets us decide per part how to
decode bodies (windows-1258, mislabelled charsets, "quoted-printable" parts holding raw 8-bit
text). mail-parser wraps the same package, keeps attachments as base64 strings and would hide
these per-part decisions.
"""

from __future__ import annotations

import email
import email.parser
import email.utils
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.header import Header, decode_header, make_header
from email.headerregistry import HeaderRegistry
from email.message import Message
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mailbot.config import DEFAULT_LIMITS, LimitSettings
from mailbot.mail import htmltext
from mailbot.mail.raw import Lifted, RawMessage, lift, lift_bytes
from mailbot.mail.vntext import decode_bytes, nfc

if TYPE_CHECKING:
    from mailbot.mail.attachments import Verdict

MAX_DEPTH = 4  # nested message/rfc822 levels we look into (the corpus has an endless one)


@dataclass(frozen=True)
class Part:
    """An attachment or inline image as it came in, decoded from its transfer encoding."""

    filename: str
    content_type: str
    data: bytes
    content_id: str = ""
    inline: bool = False
    verdict: Verdict | None = None   # what the attachment checks found, once intake ran them (outside any transaction)


@dataclass(frozen=True)
class ParsedMessage:
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    from_addr: str
    from_name: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    reply_to: str
    subject: str
    date: datetime | None
    content_type: str
    text: str
    html: str
    text_from_html: bool
    attachments: tuple[Part, ...]
    headers: dict[str, tuple[str, ...]]
    # Message-IDs of messages enclosed or quoted by a report (a bounce names what it bounces).
    enclosed_ids: tuple[str, ...] = ()
    report_type: str = ""
    defects: tuple[str, ...] = ()
    # Why the sender is not one unambiguous mailbox (two From headers, a group, a second address, a
    # Sender that differs from From, a From the parser had to guess at); "" when it is. A message
    # with a sender problem never carries a command.
    sender_problem: str = ""
    # Authentication-Results values as they stand in the header (unfolded, not decoded), top first.
    auth_results: tuple[str, ...] = ()
    # The HTML alternative of a message whose plain text was kept, as sent (untrusted; only read through
    # htmltext.to_text): commands are read from the plain text, and an HTML part that shows a
    # different command makes the reply unclear.
    alternative_html: str = ""
    # Why the MIME structure could not be read at all (nested deeper than the parser goes); "" when it
    # could. Such a message is held: nothing in it is filed or obeyed.
    structure_problem: str = ""
    # Which of the agency's limits the message goes over (parts, nesting, a header's length, addresses,
    # HTML depth), in Vietnamese; "" when none. Such a message is held with this reason.
    over_limit: str = ""
    # The topmost Received header (the last server's stamp, its date after the last ';'), unfolded; "" if none.
    received_top: str = ""

    def header(self, name: str) -> str:
        values = self.headers.get(name.lower())
        return values[0] if values else ""

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Every Message-ID this message says it follows, nearest first."""
        seen: list[str] = []
        for mid in (*self.in_reply_to, *reversed(self.references)):
            if mid not in seen:
                seen.append(mid)
        return tuple(seen)


# Headers worth keeping decoded for the rules; the raw message keeps the rest.
_KEPT_HEADERS = (
    "auto-submitted", "precedence", "list-id", "list-unsubscribe", "list-post", "x-autoreply",
    "x-autorespond", "x-auto-response-suppress", "x-failed-recipients", "return-path", "x-mailer",
    "user-agent", "authentication-results", "x-ms-exchange-generated-message-source",
    "x-zimbra-auto-reply", "feedback-id", "x-loop", "content-language", "thread-topic",
)

# No whitespace, no control characters (one would break the header of our reply), at most 250 characters.
_MSGID_RE = re.compile(r"<([^<>\s\x00-\x1f\x7f]{1,250})>")
_BARE_MSGID_RE = re.compile(r"[^<>\s\x00-\x1f\x7f]{1,250}")
# A thread is known by its first and newest ids; a References header of thousands is cut to these.
MAX_THREAD_IDS = LimitSettings.thread_ids


def msgids(value: str, keep: int = MAX_THREAD_IDS) -> tuple[str, ...]:
    """Message-IDs in a header value, without angle brackets; a bare id is accepted too. Ids with control
    characters or of absurd length are left out; of very many, the first and the newest are kept
    (`keep` in all)."""
    found = _MSGID_RE.findall(value or "")
    if not found and value:
        bare = value.strip().strip("<>")
        if _BARE_MSGID_RE.fullmatch(bare):
            found = [bare]
    if len(found) > keep:
        found = found[:1] + found[-(keep - 1):]   # the thread's first message, and the newest
    return tuple(dict.fromkeys(found))


def _raw_text(value: object) -> str:
    """A header value as its sender wrote it, unfolded: encoded-words left alone, raw 8-bit read as UTF-8."""
    if isinstance(value, Header):
        # compat32 wraps raw 8-bit header text in a Header whose str() is U+FFFD: take the text back.
        chunks = value._chunks  # type: ignore[attr-defined]  # the text, without Header's U+FFFD
        value = "".join(chunk if isinstance(chunk, str) else chunk.decode("latin-1") for chunk, _ in chunks)
    value = str(value)
    if any("\udc80" <= c <= "\udcff" for c in value):
        # compat32 hands raw 8-bit header bytes over as surrogate escapes (RFC 6532 mail).
        value, _ = decode_bytes(value.encode("ascii", "surrogateescape"), "utf-8")
    return re.sub(r"\r?\n[ \t]*", " ", value)


def decode_header_value(value: object) -> str:
    """RFC 2047 words and raw 8-bit header bytes to NFC text; never raises."""
    if value is None:
        return ""
    value = _raw_text(value)
    try:
        chunks = decode_header(value)
    except Exception:  # noqa: BLE001 - a malformed encoded-word: keep the text as it is
        return nfc(_unfold(value))
    try:
        # make_header puts back the space decode_header drops between a word and plain text.
        return nfc(_unfold(str(make_header(chunks))))
    except Exception:  # noqa: BLE001 - an unknown, lying or malformed charset (LookupError, UnicodeError,
        pass            # CharsetError...): decode chunk by chunk with fallbacks
    out = []
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            text, _ = decode_bytes(chunk, charset or "ascii")
            out.append(text)
        else:
            out.append(chunk)
    return nfc(_unfold("".join(out)))


def _unfold(value: str) -> str:
    return re.sub(r"\r?\n[ \t]+", " ", value).replace("\r", "").replace("\n", " ").strip()


_REGISTRY = HeaderRegistry()
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0080-\u009f\u2028\u2029]")
MAX_ADDRESS_HEADER = 16_384  # characters of an address header given to the parser; the rest is a defect




@dataclass(frozen=True)
class _AddressList:
    pairs: tuple[tuple[str, str], ...]   # (display name, lower-cased addr-spec), in order
    problem: str                         # "" when the header is one clean address list


def _address_list(msg: Message, name: str) -> _AddressList:
    """Addresses from the header's structure (RFC 5322 address-list), never from decoded display text.

    A display name may decode to "Phạm Quốc Bảo <bao.pq@agency>": it stays a name, and the address is
    the addr-spec that follows it.
    """
    values = [_raw_text(v) for v in msg.get_all(name, [])]
    pairs: list[tuple[str, str]] = []
    problems: list[str] = []
    for value in values:
        if len(value) > MAX_ADDRESS_HEADER:
            problems.append(f"{name} dài quá {MAX_ADDRESS_HEADER} ký tự")
            value = value[:MAX_ADDRESS_HEADER].rsplit(",", 1)[0]
        try:
            header: Any = _REGISTRY(name, value)  # an AddressHeader: .addresses, .groups, .defects
        except Exception:  # noqa: BLE001 - the parser gave up: no structure to trust
            problems.append(f"không đọc được {name}")
            continue
        if header.defects:
            problems.append(f"{name} sai cú pháp")
        if any(group.display_name is not None for group in header.groups):
            problems.append(f"{name} là một nhóm địa chỉ")
        for address in header.addresses:
            spec = _readable(address.addr_spec).lower()
            if _CONTROL.search(spec) or " " in spec:
                # A bare CR or a control character inside an address: no mailbox, and never a header of ours.
                problems.append(f"{name} có ký tự điều khiển trong địa chỉ")
            elif address.username and address.domain and "@" in address.addr_spec:
                pairs.append((_CONTROL.sub(" ", _readable(address.display_name)).strip(), spec))
            else:
                problems.append(f"{name} có địa chỉ không đầy đủ")
    return _AddressList(tuple(pairs), "; ".join(dict.fromkeys(problems)))


def _readable(text: str) -> str:
    """Text the header parser left with escaped bytes (an encoded-word in a charset it could not use):
    the bytes decoded with our fallbacks, so nothing unencodable goes further."""
    if any("\udc80" <= c <= "\udcff" for c in text):
        text, _ = decode_bytes(text.encode("utf-8", "surrogateescape"), "utf-8")
    return nfc(text)


def _addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    return list(_address_list(msg, name).pairs)


def _sender(msg: Message) -> tuple[str, str, str]:
    """(display name, address, problem) of the one mailbox the message is from."""
    count = len(msg.get_all("from", []))
    parsed = _address_list(msg, "from")
    problems = [parsed.problem] if parsed.problem else []
    if count > 1:
        problems.append(f"thư có {count} dòng From")
    if len(parsed.pairs) > 1:
        problems.append(f"From có {len(parsed.pairs)} địa chỉ")
    name, addr = parsed.pairs[0] if parsed.pairs else ("", "")
    if not addr and count:
        problems.append("From không có địa chỉ hợp lệ")
    if msg.get_all("sender"):
        sender = _address_list(msg, "sender")
        if len(msg.get_all("sender", [])) > 1 or len(sender.pairs) != 1 or sender.problem:
            problems.append("dòng Sender không phải một địa chỉ")
        elif sender.pairs[0][1] != addr:
            problems.append(f"Sender ({sender.pairs[0][1]}) khác From ({addr})")
    return name, addr, "; ".join(problems)


def _date(msg: Message) -> datetime | None:
    raw = msg.get("date")
    if not raw:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(str(raw))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    try:
        return parsed.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        return None


def part_bytes(part: Message, defects: list[str]) -> bytes:
    """A leaf part's payload, decoded from its transfer encoding as well as it allows."""
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    try:
        raw = part.get_payload(decode=False)
    except Exception:  # noqa: BLE001 - the stdlib decodes 8-bit text with the part's charset label here
        # and fails on labels that are not text codecs ("undefined", a NUL in the name): take the bytes.
        raw = part._payload  # type: ignore[attr-defined]  # the payload as parsed, 8-bit bytes escaped
    if isinstance(raw, list):
        return b""
    # The payload as parsed: 8-bit bytes are surrogate escapes there (get_payload(decode=False) has already
    # decoded them with the part's charset where that is a known one, so it cannot tell).
    parsed = getattr(part, "_payload", raw)
    if cte == "quoted-printable" and isinstance(parsed, str) and any("\udc80" <= c <= "\udcff" for c in parsed):
        # Real QP never carries 8-bit bytes: this part is raw text mislabelled, and decoding
        # it as QP would eat "=35" in "(=35/40" (seen in the wild).
        defects.append("quoted-printable part holds raw 8-bit text; taken as 8bit")
        return parsed.encode("ascii", "surrogateescape")
    try:
        data = part.get_payload(decode=True)
    except Exception as exc:  # noqa: BLE001
        defects.append(f"payload could not be decoded ({exc}); kept as is")
        data = None
    if not isinstance(data, bytes):
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    return data


def _filename(part: Message) -> str:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001
        name = None
    if not name:
        ctype_name = part.get_param("name")
        if isinstance(ctype_name, tuple):  # RFC 2231 triple
            ctype_name = email.utils.collapse_rfc2231_value(ctype_name)
        name = ctype_name if isinstance(ctype_name, str) else None
    if not name:
        return ""
    if isinstance(name, str) and any("\udc80" <= c <= "\udcff" for c in name):
        name, _ = decode_bytes(name.encode("ascii", "surrogateescape"), "utf-8")
    # Outlook and Zimbra put RFC 2047 words inside the quoted parameter, against the RFC.
    name = decode_header_value(name) if "=?" in name else nfc(name)
    return name.replace("/", "_").replace("\\", "_").strip()


class _Misread(Exception):
    """A lifted run's token stands somewhere other than as the whole body of a base64 part: the message is parsed
    as it came instead."""


@dataclass
class _Runs:
    """The lifted runs of one message (mailbot.mail.raw.lift) and which of them the walk has read."""
    lifted: Lifted
    read: set[str] = field(default_factory=set)

    def data(self, part: Message) -> bytes | None:
        """The part's decoded payload when its body is a lifted run, exactly what the standard library would
        have decoded from the run; None when the part holds no token. Raises _Misread for a token anywhere else."""
        payload = part._payload  # type: ignore[attr-defined]
        if not isinstance(payload, str) or self.lifted.nonce not in payload:
            return None
        token = payload.strip()
        # The standard library's own test for decoding base64 (Message.get_payload), not a looser one.
        if str(part.get("content-transfer-encoding", "")).lower() != "base64" or token in self.read \
                or token not in self.lifted.runs:
            raise _Misread(token[:80])
        self.read.add(token)
        return self.lifted.data(token)


class _Walker:
    def __init__(self, limits: LimitSettings, runs: _Runs | None = None) -> None:
        self.limits = limits
        self.runs = runs
        self.plain: list[str] = []
        self.html: list[str] = []
        self.alternative_html: list[str] = []
        self.attachments: list[Part] = []
        self.enclosed_ids: list[str] = []
        self.defects: list[str] = []
        self.over: list[str] = []    # limits an enclosed message goes over

    def bytes_of(self, part: Message) -> bytes:
        lifted = self.runs.data(part) if self.runs is not None else None
        return lifted if lifted is not None else part_bytes(part, self.defects)

    def walk(self, part: Message, depth: int) -> None:
        ctype = part.get_content_type()
        disposition = str(part.get("content-disposition", "")).split(";")[0].strip().lower()
        if part.is_multipart():
            payload = part.get_payload()
            if not isinstance(payload, list):
                return
            if ctype == "multipart/alternative":
                self._alternative(payload, depth)
            else:
                for sub in payload:
                    if isinstance(sub, Message):
                        self.walk(sub, depth)
            return
        if ctype in ("message/rfc822", "message/global"):
            self._enclosed(part, depth)
            return
        if ctype in ("text/rfc822-headers", "message/rfc822-headers"):
            data = self.bytes_of(part)
            for line in data.decode("latin-1").splitlines():
                if line.lower().startswith("message-id:"):
                    self.enclosed_ids.extend(msgids(line.split(":", 1)[1], self.limits.thread_ids))
            return
        filename = _filename(part)
        is_text = ctype in ("text/plain", "text/html") and disposition != "attachment" and not (
            filename and disposition == "inline" and ctype != "text/plain")
        if is_text and not (filename and disposition == "attachment"):
            text, note = decode_bytes(self.bytes_of(part), part.get_content_charset())
            if note:
                self.defects.append(note)
            if ctype == "text/html":
                self.html.append(text)
            elif _is_flowed(part):
                self.plain.append(_unflow(text, part.get_param("delsp")))
            else:
                self.plain.append(text)
            return
        if ctype.startswith("multipart/"):
            return
        data = self.bytes_of(part)
        if not data and not filename:
            return
        cid = str(part.get("content-id", "") or "").strip().strip("<>")
        self.attachments.append(Part(filename=filename, content_type=ctype, data=data, content_id=cid,
                                     inline=disposition == "inline" or (bool(cid) and disposition != "attachment")))

    def _alternative(self, payload: list, depth: int) -> None:
        # Keep the plain text when the sender's client made one; the HTML only otherwise.
        before_plain, before_html = len(self.plain), len(self.html)
        for sub in payload:
            if isinstance(sub, Message):
                self.walk(sub, depth)
        if len(self.plain) > before_plain and any(t.strip() for t in self.plain[before_plain:]):
            self.alternative_html.extend(self.html[before_html:])
            del self.html[before_html:]

    def _enclosed(self, part: Message, depth: int) -> None:
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if not isinstance(inner, Message):
            data = self.bytes_of(part)
            try:
                inner = email.message_from_bytes(data) if data else None
            except RecursionError:
                self.defects.append("enclosed message nested too deeply for the parser; not read")
                return
            if inner is not None:
                bounds = _bounds(inner, self.limits)
                if bounds.problems:
                    self.over.extend(bounds.problems)
                if not bounds.walkable:
                    return
        if inner is None:
            return
        self.enclosed_ids.extend(msgids(decode_header_value(inner.get("message-id")), self.limits.thread_ids))
        if depth >= MAX_DEPTH:
            self.defects.append(f"enclosed messages nested deeper than {MAX_DEPTH}; not read further")
            return
        # An enclosed message (Outlook's forward-as-attachment) is read as a forwarded block,
        # so a forwarded article keeps its author; its files become the article's files. The
        # raw original, enclosure and all, is stored anyway.
        subject = decode_header_value(inner.get("subject"))
        nested = _Walker(self.limits, self.runs)
        nested.walk(inner, depth + 1)
        text = "\n".join(nested.plain) or htmltext.to_text("\n".join(nested.html))
        sender = decode_header_value(inner.get("from"))
        self.plain.append("\n".join([
            "---------- Forwarded message ---------",
            f"From: {sender}",
            f"Subject: {subject}",
            "",
            text,
        ]))
        self.attachments.extend(nested.attachments)
        self.enclosed_ids.extend(nested.enclosed_ids)
        self.defects.extend(nested.defects)
        self.over.extend(nested.over)


def _is_flowed(part: Message) -> bool:
    return str(part.get_param("format") or "").lower() == "flowed"


def _unflow(text: str, delsp: object) -> str:
    """RFC 3676 format=flowed: join soft-broken lines (Thunderbird, Apple Mail).

    A line joins the next only at the same quote depth: a flowed "> Hi " never swallows the unquoted
    line below it, which may be the member's command.
    """
    out: list[str] = []
    buffer: str | None = None
    buffered_depth = 0
    delete_space = str(delsp or "").lower() == "yes"

    def flush() -> None:
        out.append((">" * buffered_depth + " " if buffered_depth else "") + (buffer or ""))

    for raw_line in text.split("\n"):
        line = raw_line.rstrip("\r")
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffing, after any quote marks
        if buffer is not None and depth != buffered_depth:
            flush()
            buffer = None
        flowed = content.endswith(" ") and content.strip() != "--"
        piece = content[:-1] if flowed and delete_space else content
        buffer, buffered_depth = (buffer or "") + piece, depth
        if not flowed:
            flush()
            buffer = None
    if buffer is not None:
        flush()
    return "\n".join(out)


_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*?(/?)>")


def html_depth(html: str, stop: int) -> int:
    """How deep the HTML's elements nest, counted cheaply (void and self-closed elements aside); stops
    counting at `stop`."""
    depth = deepest = 0
    for m in _TAG.finditer(html):
        if m.group(1):
            depth = max(depth - 1, 0)
        elif not m.group(3) and m.group(2).lower() not in htmltext.VOID:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest >= stop:
                    break
    return deepest


@dataclass(frozen=True)
class _Bounds:
    problems: tuple[str, ...]   # each limit gone over, in Vietnamese
    walkable: bool              # False when there are too many parts or levels to read the body at all


def _bounds(msg: Message, limits: LimitSettings) -> _Bounds:
    """Check the parsed tree against the limits without recursion; header values over the length limit are
    cut to it in place, so nothing after this decodes an unbounded header."""
    problems: list[str] = []
    stack: list[tuple[Message, int]] = [(msg, 0)]
    leaves = deepest = 0
    while stack:
        part, depth = stack.pop()
        headers = part._headers  # type: ignore[attr-defined]  # (name, value) pairs as parsed
        for i, (name, value) in enumerate(headers):
            if isinstance(value, str) and len(value) > limits.header_chars:
                headers[i] = (name, value[:limits.header_chars])
                problems.append(f"dòng tiêu đề {name[:40]} dài quá {limits.header_chars:,} ký tự")
        payload = part._payload  # type: ignore[attr-defined]
        if isinstance(payload, list):
            deepest = max(deepest, depth)
            if depth >= limits.mime_depth:
                continue
            stack.extend((p, depth + 1) for p in payload if isinstance(p, Message))
        else:
            leaves += 1
    walkable = True
    if deepest >= limits.mime_depth:
        problems.append(f"cấu trúc MIME lồng nhau quá {limits.mime_depth} tầng")
        walkable = False
    if leaves > limits.parts:
        problems.append(f"thư có hơn {limits.parts} phần (nội dung, tệp đính kèm)")
        walkable = False
    return _Bounds(tuple(dict.fromkeys(problems)), walkable)


LIFT_RUN = 1 << 19   # base64 characters on lines of their own: a run this long is decoded outside the parser
MEMORY_LIFT_FROM = 1 << 16   # a message held in memory this large has its runs lifted too,
MEMORY_LIFT_RUN = 1 << 14    # those of this many characters or more


def parse_raw(raw: RawMessage, limits: LimitSettings = DEFAULT_LIMITS, spool: Path | None = None) -> ParsedMessage:
    """`parse`, for a message that may be large. One over `limits.large_message_bytes` is streamed through
    `lift` first: the parser reads a skeleton with each long base64 run (an attachment's body) replaced by a
    token, and a part whose whole body is a token gets the run's bytes, decoded once in chunks; the same bytes
    the parser would have decoded. Where a token stands anywhere else, the message is parsed as it came."""
    data = raw.read() if raw.size <= limits.large_message_bytes else None
    if data is None:
        lifted = lift(raw.chunks(), LIFT_RUN, spool)
    else:
        # An ordinary message's photo and documents are most of its lines; the parser reads each line in Python,
        # so their runs are lifted out first, in memory (issue 13).
        lifted = lift_bytes(data, MEMORY_LIFT_RUN, spool) if len(data) >= MEMORY_LIFT_FROM else None
    if lifted is None:
        return parse(raw.read() if data is None else data, limits)
    try:
        return parse(lifted.skeleton, limits, _Runs(lifted))
    except _Misread:
        return parse(raw.read() if data is None else data, limits)
    finally:
        lifted.discard()   # spool files, where the runs are in them


def parse(raw: bytes, limits: LimitSettings = DEFAULT_LIMITS, runs: _Runs | None = None) -> ParsedMessage:
    """Parse raw RFC 5322 bytes. Never raises: what cannot be read becomes a recorded defect, and what goes
    over a limit is named in `over_limit`. `runs`: the lifted runs, when `raw` is a skeleton (parse_raw)."""
    structure_problem = ""
    try:
        msg = email.message_from_bytes(raw)
    except RecursionError:
        # The standard library's parser recurses once per nested multipart and gives up near 1,000:
        # read the headers only, and leave the body unread.
        msg = email.parser.BytesParser().parsebytes(raw, headersonly=True)
        msg.set_payload("")
        structure_problem = "cấu trúc MIME lồng nhau quá sâu, không đọc được nội dung"
    defects = [type(d).__name__ for d in msg.defects]
    bounds = _bounds(msg, limits)
    over = list(bounds.problems)
    walker = _Walker(limits, runs)
    if bounds.walkable:
        try:
            walker.walk(msg, 0)
        except RecursionError:
            walker.defects.append("MIME structure nested too deeply; stopped reading it")
    defects.extend(walker.defects)
    over.extend(walker.over)
    if structure_problem:
        defects.append("MIME structure nested too deeply for the parser; body not read")

    html = "\n".join(walker.html)
    if html and html_depth(html, limits.html_depth) >= limits.html_depth:
        over.append(f"HTML lồng nhau quá {limits.html_depth} tầng")
        html = ""
    text = "\n".join(t for t in walker.plain if t)
    text_from_html = False
    if not text.strip() and html.strip():
        text, text_from_html = htmltext.to_text(html), True
    text = text.replace("\r\n", "\n").replace("\r", "\n")

    from_name, from_addr, sender_problem = _sender(msg)
    if sender_problem:
        defects.append(f"sender: {sender_problem}")
    reply_to = _addresses(msg, "reply-to")
    to, cc = _addresses(msg, "to"), _addresses(msg, "cc")
    for name, found in (("To", to), ("Cc", cc)):
        if len(found) > limits.addresses_per_header:
            over.append(f"dòng {name} có hơn {limits.addresses_per_header:,} địa chỉ")
    headers = {}
    for name in _KEPT_HEADERS:
        values = msg.get_all(name)
        if values:
            headers[name] = tuple(decode_header_value(v) for v in values)
    received_top = " ".join(_raw_text(msg.get("received") or "").split())[:limits.header_chars]
    report_type = ""
    if msg.get_content_type() == "multipart/report":
        report_type = str(msg.get_param("report-type") or "").lower()
    message_ids = msgids(decode_header_value(msg.get("message-id")), limits.thread_ids)
    return ParsedMessage(
        message_id=message_ids[0] if message_ids else None,
        in_reply_to=msgids(decode_header_value(msg.get("in-reply-to")), limits.thread_ids),
        references=msgids(decode_header_value(msg.get("references")), limits.thread_ids),
        from_addr=from_addr,
        from_name=from_name,
        to=tuple(a for _, a in to[:limits.addresses_per_header]),
        cc=tuple(a for _, a in cc[:limits.addresses_per_header]),
        reply_to=reply_to[0][1] if len(reply_to) == 1 else "",   # several mailboxes name no one to answer
        subject=decode_header_value(msg.get("subject")),
        date=_date(msg),
        content_type=msg.get_content_type(),
        text=text,
        html=htmltext.sanitize(html) if html else "",
        text_from_html=text_from_html,
        attachments=tuple(walker.attachments),
        headers=headers, received_top=received_top,
        enclosed_ids=tuple(dict.fromkeys(walker.enclosed_ids)),
        report_type=report_type,
        defects=tuple(dict.fromkeys(defects)),
        sender_problem=sender_problem, structure_problem=structure_problem, over_limit="; ".join(over),
        auth_results=tuple(_raw_text(v).strip() for v in msg.get_all("authentication-results", [])),
        alternative_html="\n".join(walker.alternative_html),
    )
