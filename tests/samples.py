"""Sample mail in the MIME shapes real clients produce (Gmail, Outlook, Thunderbird, Zimbra, Apple Mail).

Used by `mailbot demo` and by the tests. Each builder reproduces what its client puts on the
wire: the multipart layout, charsets, transfer encodings, how non-ASCII filenames are written
(RFC 2047 inside quotes for Gmail/Outlook/Zimbra, RFC 2231 for Thunderbird/Apple) and the
client's own headers. Apple Mail sends NFD text.
"""

from __future__ import annotations

import base64
import io
import quopri
import secrets
import unicodedata
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timezone
from email.header import Header
from email.utils import format_datetime, formataddr


@dataclass(frozen=True)
class File:
    filename: str
    content_type: str
    data: bytes


def docx_bytes(title: str, paragraphs: list[str]) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(title, 1)
    for p in paragraphs:
        document.add_paragraph(p)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def jpeg_bytes(seed: int = 0) -> bytes:
    """A tiny but well-formed JPEG (SOI ... EOI); distinct bytes per seed."""
    return (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
            + bytes([seed % 256]) * 64 + b"\xff\xd9")


def _b64(data: bytes) -> str:
    text = base64.b64encode(data).decode()
    return "\r\n".join(text[i:i + 76] for i in range(0, len(text), 76))


def _qp(text: str) -> str:
    return quopri.encodestring(text.replace("\n", "\r\n").encode("utf-8")).decode("ascii")


def _enc2047(name: str) -> str:
    return Header(name, "utf-8").encode()


def _enc2231(name: str) -> str:
    return "UTF-8''" + urllib.parse.quote(name.encode("utf-8"), safe="")


def _boundary() -> str:
    return "----=_Part_" + secrets.token_hex(8)


def _headers(fields: list[tuple[str, str]]) -> str:
    return "".join(f"{k}: {v}\r\n" for k, v in fields if v)


def _addr(name: str, addr: str) -> str:
    return formataddr((name, addr), charset="utf-8") if name else addr


def _attachment(f: File, style: str) -> str:
    if style == "2231":
        name_params = f"; name*={_enc2231(f.filename)}"
        disp = f"attachment; filename*={_enc2231(f.filename)}"
    else:
        name_params = f'; name="{_enc2047(f.filename)}"'
        disp = f'attachment; filename="{_enc2047(f.filename)}"'
    return (f"Content-Type: {f.content_type}{name_params}\r\nContent-Disposition: {disp}\r\n"
            f"Content-Transfer-Encoding: base64\r\n\r\n{_b64(f.data)}\r\n")


def _html_of(text: str, wrapper: str) -> str:
    from html import escape
    paras = "".join(f"<div>{escape(line) or '<br>'}</div>" for line in text.split("\n"))
    return wrapper.format(paras)


def build(client: str, *, sender: tuple[str, str], to: str, subject: str, text: str,
          files: tuple[File, ...] = (), date: datetime | None = None, message_id: str | None = None,
          in_reply_to: str | None = None, references: tuple[str, ...] = (), html_only: bool = False,
          extra_headers: tuple[tuple[str, str], ...] = (), html: str | None = None) -> bytes:
    """One message as `client` would send it."""
    date = date or datetime(2026, 11, 23, 8, 30, tzinfo=timezone.utc)
    domain = sender[1].rpartition("@")[2]
    ids = {
        "gmail": f"CAF{secrets.token_hex(12)}@mail.gmail.com",
        "outlook": f"SG2PR01MB{secrets.token_hex(8).upper()}@SG2PR01MB.apcprd01.prod.outlook.com",
        "thunderbird": f"{secrets.token_hex(4)}-{secrets.token_hex(2)}@{domain}",
        "zimbra": f"{secrets.randbelow(10**9)}.{secrets.randbelow(10**6)}.{secrets.randbelow(10**13)}.JavaMail.zimbra@{domain}",
        "apple": f"{secrets.token_hex(8).upper()}@{domain}",
        "yahoo": f"{secrets.randbelow(10**9)}.{secrets.randbelow(10**7)}@mail.yahoo.com",
    }
    if client == "apple":
        text = unicodedata.normalize("NFD", text)
        subject = unicodedata.normalize("NFD", subject)
        files = tuple(File(unicodedata.normalize("NFD", f.filename), f.content_type, f.data) for f in files)
    fields = [
        ("Date", format_datetime(date)),
        ("From", _addr(*sender)),
        ("To", to),
        ("Subject", _enc2047(subject) if not subject.isascii() else subject),
        ("Message-ID", f"<{message_id or ids[client]}>"),
        ("In-Reply-To", f"<{in_reply_to}>" if in_reply_to else ""),
        ("References", " ".join(f"<{r}>" for r in references)),
        ("MIME-Version", "1.0 (Mac OS X Mail 16.0 \\(3731.700.6\\))" if client == "apple" else "1.0"),
    ]
    fields += {
        "gmail": [],
        "outlook": [("Thread-Topic", _enc2047(subject)), ("Thread-Index", "AdpN" + secrets.token_hex(10)),
                    ("Content-Language", "vi-VN"), ("X-MS-Has-Attach", "yes" if files else ""),
                    ("X-Mailer", "Microsoft Outlook 16.0")],
        "thunderbird": [("User-Agent", "Mozilla Thunderbird"), ("Content-Language", "vi")],
        "zimbra": [("X-Mailer", "Zimbra 8.8.15_GA_4484 (ZimbraWebClient - GC119 (Win)/8.8.15_GA_4484)"),
                   ("Thread-Topic", _enc2047(subject)), ("Thread-Index", secrets.token_hex(8))],
        "apple": [("X-Mailer", "Apple Mail (2.3731.700.6)")],
        "yahoo": [("X-Mailer", "WebService/1.1.22806 YMailNorrin")],
    }[client]
    fields += list(extra_headers)

    if html is not None:  # a client's own HTML, sent alone (the iPhone's reply with its blockquote)
        body_part = (f"Content-Type: text/html; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: quoted-printable"
                     f"\r\n\r\n{_qp(html)}\r\n")
        style = "2231" if client in ("thunderbird", "apple") else "2047"
    elif client in ("thunderbird", "apple"):
        flowed = "; format=flowed" if client == "thunderbird" else ""
        body_part = (f"Content-Type: text/plain; charset=UTF-8{flowed}\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
                     f"{text.replace(chr(10), chr(13) + chr(10))}\r\n")
        style = "2231"
    else:
        html_text = _html_of(text, {
            "gmail": '<div dir="ltr">{}</div>',
            "outlook": '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
                       '<style>p.MsoNormal{{margin:0}}</style></head><body lang="VI"><div class="WordSection1">'
                       '{}</div></body></html>',
            "zimbra": '<html><body><div style="font-family: arial, helvetica, sans-serif; font-size: 12pt;">'
                      '{}</div></body></html>',
            "yahoo": '<html><body><div class="ydp" style="font-family:Helvetica">{}</div></body></html>',
        }[client])
        plain = (f"Content-Type: text/plain; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
                 f"{_qp(text)}\r\n")
        html_part = (f"Content-Type: text/html; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
                     f"{_qp(html_text)}\r\n")
        if html_only:
            body_part = html_part
        else:
            alt = _boundary()
            body_part = (f"Content-Type: multipart/alternative; boundary=\"{alt}\"\r\n\r\n"
                         f"--{alt}\r\n{plain}--{alt}\r\n{html_part}--{alt}--\r\n")
        style = "2047"
    if files:
        mixed = _boundary()
        parts = "".join(f"--{mixed}\r\n{_attachment(f, style)}" for f in files)
        body = (f"Content-Type: multipart/mixed; boundary=\"{mixed}\"\r\n\r\n"
                f"--{mixed}\r\n{body_part}{parts}--{mixed}--\r\n")
    else:
        body = body_part
    head, rest = body.split("\r\n\r\n", 1)
    return (_headers(fields) + head + "\r\n\r\n" + rest).encode("utf-8")
