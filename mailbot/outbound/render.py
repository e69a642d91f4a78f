"""Outgoing mail built from Jinja2 templates: a plain-text part always, an HTML part beside it.

A mail named `article/author/received` is three files under templates/: `.subject.j2`,
`.txt.j2` and `.html.j2` (the HTML one optional: without it the text is set in the shared HTML
frame). The name says what it is about, who reads it, and the event.
"""

from __future__ import annotations

import base64
import email.policy
import functools
import io
import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from email.generator import BytesGenerator
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path

import jinja2

from mailbot.config import Agency
from mailbot.mail.vntext import collapse_space
from mailbot.worktime.calendar import TZ


class _MailPolicy(email.policy.EmailPolicy):
    """policy.default, except how non-ASCII Subject and address headers are folded.

    policy.default drops the space where it breaks a long header between two encoded-words
    ("của Văn" arrives as "củaVăn" in every client), which long Vietnamese subjects and the
    board's own display name hit. email.header.Header keeps the space inside the encoded text.
    """

    # Building a mail parses every header set on it and folding it walks the parse tree again; most values
    # (From, Reply-To, the Content-* headers, the flags) are the same in every mail, so both are remembered.
    # Header objects are immutable: setting a header again stores a new one, so sharing them is safe.

    def header_max_count(self, name):
        # The registry's lookup makes a new class each call; the count of each header name never changes.
        return _max_count(self.header_factory, name.lower())

    def header_store_parse(self, name, value):
        if type(value) is str:
            return _stored(self, name, value)
        return super().header_store_parse(name, value)

    def _fold(self, name, value, refold_binary=False):
        memo = getattr(value, "__dict__", None)   # a header object (a str holds none)
        if memo is None:
            return self._fold_now(name, value, refold_binary)
        # What the folding depends on (not the policy object itself: a memo per clone would grow without end).
        key = ("_mailbot_folded", name, type(self), self.linesep, self.max_line_length, self.utf8, refold_binary)
        folded = memo.get(key)
        if folded is None:
            folded = memo[key] = self._fold_now(name, value, refold_binary)
        return folded

    def _fold_now(self, name, value, refold_binary):
        text = str(value)
        if text.isascii() or name.lower() not in _FOLDED_HERE or name.lower() != "subject" and not all(
                a.addr_spec.isascii() for a in getattr(value, "addresses", ())):
            return super()._fold(name, value, refold_binary)   # an internationalised address: the default's way
        if name.lower() == "subject":
            folded = Header(text, "utf-8", header_name=name).encode(linesep=self.linesep)
        else:
            folded = ("," + self.linesep + " ").join(
                f"{Header(a.display_name, 'utf-8', header_name=name).encode(linesep=self.linesep)} <{a.addr_spec}>"
                if a.display_name else a.addr_spec for a in value.addresses)
        return f"{name}: {folded}{self.linesep}"


_FOLDED_HERE = ("subject", "from", "to", "cc", "reply-to")
MAIL_POLICY = _MailPolicy()


@functools.lru_cache(maxsize=256)
def _max_count(registry, name: str) -> int | None:
    return registry[name].max_count


@functools.lru_cache(maxsize=2048)
def _stored(policy: _MailPolicy, name: str, value: str):
    return email.policy.EmailPolicy.header_store_parse(policy, name, value)   # raises on a line end, uncached


_LINE_END = re.compile(r"\r\n|\r|\n")   # as email.generator splits a body into lines (its NLCRE)
PART_CACHE_BYTES = 8 * 1024 * 1024   # attachments kept encoded, between the mails of one intake


class _Generator(BytesGenerator):
    """The standard library's generator, writing a body in one piece: its own `_write_lines` writes each line
    and each line ending apart (a notice with 260 KB attached was some 7,000 writes). The bytes are the same."""

    def _write_lines(self, lines: str) -> None:
        if not lines:
            return
        nl = self._NL  # type: ignore[attr-defined]  # set by flatten()
        # A body already in the wanted line ends (base64 and quoted-printable always are) is written as it is.
        self.write(lines if nl == "\n" and "\r" not in lines else _LINE_END.sub(nl, lines))

    @classmethod
    def _make_boundary(cls, text: str | bytes | None = None) -> str:
        """The standard library's boundary, checked against the parts' text with one substring search instead
        of a multi-line regex (stricter: the boundary appears nowhere in the text, not only as a line)."""
        while True:
            boundary = "=" * 15 + f"{secrets.randbits(63):019d}" + "=="
            marker = "--" + boundary
            if text is None or (marker.encode() not in text if isinstance(text, bytes) else marker not in text):
                return boundary


def serialise(msg: EmailMessage) -> bytes:
    """`msg.as_bytes()`, faster."""
    out = io.BytesIO()
    _Generator(out, mangle_from_=False, policy=msg.policy).flatten(msg)
    return out.getvalue()


@dataclass(frozen=True)
class FileToAttach:
    filename: str
    content_type: str
    data: bytes


def new_message_id(domain: str, token: str | None = None) -> str:
    """A Message-ID on the agency's domain, without angle brackets."""
    return f"mailbot.{token or secrets.token_urlsafe(18)}@{domain}"


def _signature_line(found: dict | None) -> str:
    from mailbot.mail.signatures import summary_vi

    return summary_vi(found)


class Renderer:
    def __init__(self, templates: Path):
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(templates)),
            undefined=jinja2.StrictUndefined,
            autoescape=lambda name: bool(name and name.endswith(".html.j2")),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters["vndate"] = _vndate
        self.env.filters["size"] = _human_size
        self.env.filters["signature"] = _signature_line
        self._parts: OrderedDict[FileToAttach, EmailMessage] = OrderedDict()
        self._parts_bytes = 0
        self._lock = threading.Lock()

    def has(self, name: str) -> bool:
        try:
            self.env.get_template(name)
        except jinja2.TemplateNotFound:
            return False
        return True

    def compose(self, name: str, agency: Agency, to: list[str], context: dict, *, now: datetime,
                in_reply_to: str | None = None, references: tuple[str, ...] = (), auto: str = "auto-generated",
                reply_to: str | None = None, files: tuple[FileToAttach, ...] = (),
                message_id: str | None = None, inline: dict[str, FileToAttach] | None = None) -> EmailMessage:
        ctx = {"agency": agency, **context}
        subject = collapse_space(self.env.get_template(f"{name}.subject.j2").render(ctx))
        text = self.env.get_template(f"{name}.txt.j2").render(ctx)
        msg = EmailMessage(policy=MAIL_POLICY)
        msg["From"] = formataddr((f"Ban Biên tập {agency.name}", agency.board_address))
        msg["To"] = ", ".join(to)
        msg["Subject"] = subject
        msg["Date"] = format_datetime(now)
        msg["Message-ID"] = f"<{message_id or new_message_id(agency.message_id_domain)}>"
        if in_reply_to:
            msg["In-Reply-To"] = f"<{in_reply_to}>"
            chain = [r for r in references if r != in_reply_to][-20:] + [in_reply_to]
            msg["References"] = " ".join(f"<{r}>" for r in chain)
        # RFC 3834: nobody's autoresponder should answer us, and we never answer them.
        msg["Auto-Submitted"] = auto
        msg["X-Auto-Response-Suppress"] = "All"
        msg["Content-Language"] = "vi"
        if reply_to:
            msg["Reply-To"] = reply_to
        msg.set_content(text, subtype="plain", charset="utf-8")
        if self.has(f"{name}.html.j2"):
            html = self.env.get_template(f"{name}.html.j2").render(ctx)
        else:  # the plain text in the shared frame: every mail has an HTML part that reads the same
            body = text.split("\n-- \n")[0].rstrip()
            html = self.env.get_template("_plain.html.j2").render({**ctx, "subject": subject, "text": body})
        msg.add_alternative(html, subtype="html", charset="utf-8")
        html_part = msg.get_body(("html",))
        assert html_part is not None  # added just above
        for cid, f in (inline or {}).items():  # images the HTML shows as <img src="cid:...">
            maintype, _, subtype = f.content_type.partition("/")
            html_part.add_related(f.data, maintype=maintype, subtype=subtype, cid=f"<{cid}>", filename=f.filename,
                                  disposition="inline")
        if files and msg.get_content_type() != "multipart/mixed":
            msg.make_mixed()
        for f in files:
            msg.attach(self._attachment(f))
        return msg

    def _attachment(self, f: FileToAttach) -> EmailMessage:
        """The file as a MIME part, encoded once for every mail it goes with: an article's files go to the
        secretary and to each reviewer. Small files' parts are kept (PART_CACHE_BYTES in all) and shared
        between messages, which only read them."""
        with self._lock:
            part = self._parts.get(f)
            if part is not None:
                self._parts.move_to_end(f)
                return part
        maintype, _, subtype = f.content_type.partition("/")
        part = EmailMessage(policy=MAIL_POLICY)
        part.set_content(b"", maintype=maintype or "application", subtype=subtype or "octet-stream",
                         filename=f.filename, disposition="attachment", cte="base64")
        # The same lines the standard library writes (57 bytes each), encoded in C rather than line by line in Python.
        part.set_payload(base64.encodebytes(f.data).decode("ascii"))
        if len(f.data) <= PART_CACHE_BYTES // 4:
            with self._lock:
                self._parts[f] = part
                self._parts_bytes += len(f.data)
                while self._parts_bytes > PART_CACHE_BYTES:
                    self._parts_bytes -= len(self._parts.popitem(last=False)[0].data)
        return part


def _vndate(d: datetime | None) -> str:
    """A moment as people here read it: Vietnam's time, whatever zone it was stored in."""
    if not d:
        return ""
    return (d.astimezone(TZ) if d.tzinfo else d).strftime("%H:%M ngày %d/%m/%Y")


def _human_size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n / 1024 / 1024:.1f} MB"
