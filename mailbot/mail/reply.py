"""Split a mail's text into what the sender wrote now, what it quotes, and what it forwards.

Mail clients mark quoted text in their own way and language; each pattern below names the
client it comes from. Matching is done on folded text (no diacritics, lowercase), so
"Vào ... đã viết:" and a phone's unaccented "Vao ... da viet:" are the same.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from mailbot.mail.vntext import fold

# A line that opens a quoted original (folded).
_QUOTE_HEADERS = [
    re.compile(r"^on\b.{0,300}\bwrote:?\s*$"),                       # Gmail, Apple Mail, Thunderbird (en)
    re.compile(r"^vao\b.{0,300}\bda viet:?\s*$"),                    # Gmail (vi)
    re.compile(r"^.{0,300}\bda viet:\s*$"),                          # Thunderbird, iPhone (vi)
    re.compile(r"^(vao|luc|ngay)\b.{0,300}\bviet:\s*$"),              # Thunderbird (vi): "Vào ..., X viết:"
    re.compile(r"^-{2,}\s*(original message|thu goc|tin nhan goc)\s*-{2,}\s*$"),  # Outlook, Zimbra
    re.compile(r"^le .{0,300}a ecrit\s*:?\s*$"),                     # French clients
    re.compile(r"^am .{0,300}schrieb.{0,100}:?\s*$"),                # German clients
    re.compile(r"^el .{0,300}escribio:?\s*$"),                       # Spanish clients
    re.compile(r"^.{0,200}\b(wrote|a ecrit|schrieb|escribio|scritto|escreveu|skrev|kirjoitti|napisal|написал)\b.{0,5}:\s*$"),
    re.compile(r"^.{0,200}<[^<>\s]+@[^<>\s]+>\s*:\s*$"),              # "..., John <john@x>:" (many webmails)
    re.compile(r"^message du\s*:"),                                    # French webmail
]
# Two lines Gmail breaks "On ..., X <x@y>\nwrote:" into.
_SPLIT_WROTE = re.compile(r"^\s*(wrote|da viet|a ecrit|schrieb|ha scritto|escribio|napisal)\s*:\s*$")
# Outlook's header block: "From:" then "Sent:"/"Date:" within the next lines (or Vietnamese).
_FROM_LINE = re.compile(r"^\*?\s*(from|tu|de|von|van|fra|da|od|от)\s*:\*?\s")
_SENT_LINE = re.compile(r"^\*?\s*(sent|date|da gui|ngay|gui|envoye|envoye le|gesendet|enviado|sendt|inviato|verzonden|"
                        r"отправлено|data|to|den|a|aan|an|cc|subject|chu de|objet|onderwerp|betreff|oggetto|assunto)"
                        r"\s*:")
_FORWARD_MARKERS = [
    re.compile(r"^-{2,}\s*(forwarded message|thu da chuyen tiep|thu chuyen tiep|tin nhan da chuyen tiep)\s*-{2,}\s*$"),
    re.compile(r"^-{2,}\s*(forwarded message|thu chuyen tiep)\s*-{2,}$"),
    re.compile(r"^begin forwarded message:?\s*$"),                   # Apple Mail
    re.compile(r"^bat dau thu (duoc )?chuyen tiep:?\s*$"),            # Apple Mail (vi)
]
_SIGNOFF_PHONE = re.compile(r"^(sent from my|gui tu|duoc gui tu|get outlook for|sent from outlook|envoye de mon)\b")


@dataclass(frozen=True)
class Split:
    new: str          # what the sender wrote in this message
    quoted: str       # the quoted original, if any
    forwarded: str    # a forwarded block (its header lines included), if any


def _is_quote_start(lines: list[str], i: int) -> bool:
    f = fold(lines[i].strip())
    if not f:
        return False
    if any(p.match(f) for p in _QUOTE_HEADERS):
        return True
    if i + 1 < len(lines) and _SPLIT_WROTE.match(fold(lines[i + 1])) and len(f) > 10:
        return True  # a quote header broken over two lines ("On ..., X <x>" / "wrote:")
    if _SIGNOFF_PHONE.match(f) and any(x.strip() for x in lines[i + 1:]):
        return True  # "Sent from my phone" with the original pasted under it
    if re.match(r"^_{10,}\s*$", f):  # Outlook's rule above its header block
        return _from_block_at(lines, i + 1)
    return _from_block_at(lines, i)


def _from_block_at(lines: list[str], i: int) -> bool:
    if i >= len(lines) or not _FROM_LINE.match(fold(lines[i].strip()) + " "):
        return False
    following = [fold(x.strip()) for x in lines[i + 1:i + 4]]
    return any(_SENT_LINE.match(x) for x in following)


def _is_forward_start(line: str) -> bool:
    f = fold(line.strip())
    return any(p.match(f) for p in _FORWARD_MARKERS)


@functools.lru_cache(maxsize=16)   # intake, the rules and the commands all split the same body
def split(text: str) -> Split:
    lines = text.replace("\r\n", "\n").split("\n")
    for i, line in enumerate(lines):
        if _is_forward_start(line):
            return Split("\n".join(lines[:i]).strip(), "", "\n".join(lines[i:]).strip())
        if line.lstrip().startswith(">"):
            # A '>' block: bottom-posting keeps new text below it too (Thunderbird).
            quoted = [x for x in lines[i:] if x.lstrip().startswith(">") or not x.strip()]
            below = [x for x in lines[i:] if x.strip() and not x.lstrip().startswith(">")]
            head = lines[:i]
            while head and not head[-1].strip():
                head = head[:-1]
            if head and _SPLIT_WROTE.match(fold(head[-1])):
                head = head[:-2]
            elif head and _is_quote_start(head, len(head) - 1):
                head = head[:-1]
            # Text under the quote is the reply only when nothing was written above it (bottom-posting);
            # under a top-posted reply it is the quoted original's own footer.
            new = "\n".join(head if any(x.strip() for x in head) else below)
            return Split(_strip_phone_signoff(new), "\n".join(quoted).strip(), "")
        if _is_quote_start(lines, i):
            if _next_is_chevron(lines, i):
                continue  # the '>' branch takes it, keeping new text written below the quote
            return Split(_strip_phone_signoff("\n".join(lines[:i])), "\n".join(lines[i:]).strip(), "")
    return Split(_strip_phone_signoff(text), "", "")


def _next_is_chevron(lines: list[str], i: int) -> bool:
    for line in lines[i + 1:i + 4]:
        if line.strip() and not _SPLIT_WROTE.match(fold(line)):
            return line.lstrip().startswith(">")
    return False


def _strip_phone_signoff(text: str) -> str:
    lines = text.strip().split("\n")
    while lines and (not lines[-1].strip() or _SIGNOFF_PHONE.match(fold(lines[-1].strip()))):
        lines.pop()
    return "\n".join(lines).strip()


@dataclass(frozen=True)
class Forwarded:
    from_name: str
    from_addr: str
    subject: str
    body: str


_HEADER_FIELD = re.compile(r"^\*?\s*(?P<label>[^:]{1,20}):\*?\s*(?P<value>.*)$")
_ADDR = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")


# Subject prefixes that mean a forward: "Fwd:", "FW:", Outlook's Vietnamese "TR:" (chuyển tiếp), German "WG:".
_FORWARD_PREFIX = re.compile(r"^\s*((re|tl|trl|aw|sv|vs)\s*:\s*)*(fwd?|tr|wg|chuyen\s*tiep)\s*(\[\d+\])?\s*:")


def is_forward_subject(subject: str) -> bool:
    return bool(_FORWARD_PREFIX.match(fold(subject)))


def forwarded_block(parts: Split, subject: str) -> str:
    """The forwarded original in a message: the block under a forward marker, or, where the subject says
    the message is a forward, the quoted block under a quote header (Outlook desktop and web forward
    with the same "Từ: / Đã gửi: / Đến: / Chủ đề:" block they reply with, with no marker line)."""
    if parts.forwarded:
        return parts.forwarded
    return parts.quoted if parts.quoted and is_forward_subject(subject) else ""


def parse_forwarded(block: str) -> Forwarded | None:
    """Read the original sender, subject and body out of a forwarded block."""
    lines = block.split("\n")
    if not lines:
        return None
    start = 1 if _is_forward_start(lines[0]) else 0
    # Outlook puts a rule above its header block, and some clients an "original message" line.
    while start < len(lines) and (not lines[start].strip() or re.match(r"^\s*(_{10,}|-{2,}[^-]{0,40}-{2,})\s*$",
                                                                      lines[start])):
        start += 1
    name = addr = subject = ""
    i = start
    while i < len(lines):
        line = lines[i].strip()
        if not line:
            if addr or subject:
                i += 1
                break
            i += 1
            continue
        m = _HEADER_FIELD.match(line)
        if not m:
            break
        label = fold(m["label"]).strip()
        value = m["value"].strip()
        if label in ("from", "tu", "nguoi gui"):
            found = _ADDR.search(value)
            addr = found.group(0).lower() if found else ""
            name = re.sub(r"<[^>]*>|\[mailto:[^\]]*\]|" + re.escape(addr), "", value).strip(' "\'<>') if addr else value
        elif label in ("subject", "chu de", "tieu de"):
            subject = value
        i += 1
    if not addr and not name:
        return None
    body = "\n".join(lines[i:]).strip()
    return Forwarded(from_name=name.strip(), from_addr=addr, subject=subject, body=body)
