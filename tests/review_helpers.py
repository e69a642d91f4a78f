"""Conversation helpers for review by reply: an agency with a full board, and replies in each client's form."""

from __future__ import annotations

import html
from email.header import decode_header, make_header
from pathlib import Path

from mailbot import config
from tests import samples
from tests.conftest import Board
from tests.servers import Received

BOARD = "bbt@binhphuoc.gov.vn"
HEAD = ("Trần Văn Hùng", "hung.tv@binhphuoc.gov.vn")
DEPUTY = ("Lê Thị Mai", "mai.lt@binhphuoc.gov.vn")
MEMBER = ("Phạm Quốc Bảo", "bao.pq@binhphuoc.gov.vn")
SECRETARY = ("Nguyễn Thị Thu", "thu.nt@binhphuoc.gov.vn")
DIRECTOR = ("Đỗ Minh Khoa", "khoa.dm@binhphuoc.gov.vn")
UNIT_HEAD = ("Lê Hoàng Sơn", "son.lh@binhphuoc.gov.vn")
AUTHOR = ("Nguyễn Văn An", "an.nv@binhphuoc.gov.vn")
SIGNATURE = "Trân trọng,\nNguyễn Văn An\nChuyên viên Phòng PBGDPL\nĐT: 0912 345 678"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

TOML = """
database = "{database}"
storage = "{storage}"

[[agency]]
slug = "stp"
preset = "{preset}"
board_address = "{board}"
mailbox = "{mailbox}"
mailbox_password_env = "MAILBOT_TEST_IMAP_PASSWORD"
outgoing = "{outgoing}"
accepted_domains = ["binhphuoc.gov.vn"]
{extra}

[agency.workflow]
trusted_authserv_id = "{authserv}"
reply_to_token = true
{workflow_extra}

[[agency.members]]
name = "{head[0]}"
email = "{head[1]}"
role = "head"

[[agency.members]]
name = "{deputy[0]}"
email = "{deputy[1]}"
role = "deputy_head"

[[agency.members]]
name = "{member[0]}"
email = "{member[1]}"
role = "member"

[[agency.members]]
name = "{secretary[0]}"
email = "{secretary[1]}"
role = "secretary"

[[agency.members]]
name = "{director[0]}"
email = "{director[1]}"
role = "director"

[[agency.units]]
name = "Phòng Phổ biến, giáo dục pháp luật"
aliases = ["PBGDPL", "Phòng PBGDPL"]
head = "{unit_head[1]}"
{unit_extra}

[[agency.staff]]
name = "{author[0]}"
email = "{author[1]}"
unit = "Phòng PBGDPL"
title = "Chuyên viên"
phone = "0912 345 678"
"""


# The board's own mail server, as it stamps Authentication-Results on what it receives.
AUTHSERV = "mx.binhphuoc.gov.vn"


def stamp(sender: str, dmarc: str = "pass") -> tuple[tuple[str, str], ...]:
    """The Authentication-Results the board's server adds to mail from `sender`."""
    domain = sender.rpartition("@")[2]
    return (("Authentication-Results", f"{AUTHSERV}; spf=pass smtp.mailfrom={domain}; dkim=none; "
                                       f"dmarc={dmarc} header.from={domain}"),)


def review_board(tmp_path: Path, database_url: str, dovecot, sink, clock, preset: str = "binhphuoc",
                 extra: str = "", authserv: str = AUTHSERV, without: tuple[str, ...] = (), unit_extra: str = "",
                 dns=None, workflow_extra: str = "") -> Board:
    text = TOML.format(database=database_url, storage=tmp_path / "store", preset=preset, board=BOARD,
                       mailbox=dovecot.url, outgoing=sink.url, extra=extra, authserv=authserv, head=HEAD,
                       deputy=DEPUTY, member=MEMBER, secretary=SECRETARY, director=DIRECTOR, unit_head=UNIT_HEAD,
                       author=AUTHOR, unit_extra=unit_extra, workflow_extra=workflow_extra)
    for email in without:  # drop a member's table: someone who has left the board
        start = text.index(f'email = "{email}"')
        text = text[:text.rindex("[[agency.members]]", 0, start)] + text[text.index("\n\n", start) + 2:]
    path = tmp_path / "mailbot.toml"
    path.write_text(text, encoding="utf-8")
    settings = config.load(path, environ={"MAILBOT_TEST_IMAP_PASSWORD": dovecot.PASSWORD})
    return Board(settings, dovecot, sink, clock, dns=dns)


def submission(subject: str = "[TIN] Hội nghị tổng kết công tác tư pháp", client: str = "gmail",
               sender: tuple[str, str] = AUTHOR, text: str | None = None) -> bytes:
    doc = samples.docx_bytes(subject.split("] ")[-1], ["Sáng 20/11, Sở Tư pháp tổ chức hội nghị.", "Ảnh: Toàn cảnh."])
    return samples.build(client, sender=sender, to=BOARD, subject=subject,
                         text=text or f"Kính gửi Ban Biên tập,\nGửi tin kèm ảnh.\n\n{SIGNATURE}",
                         files=(samples.File("Tin hội nghị.docx", DOCX, doc),
                                samples.File("Ảnh hội nghị.jpg", "image/jpeg", samples.jpeg_bytes(5))))


def subject_of(received: Received) -> str:
    return str(make_header(decode_header(received.message["Subject"])))


def plain_of(received: Received) -> str:
    import email.policy
    msg = __import__("email").message_from_bytes(received.raw, policy=email.policy.default)
    return msg.get_body(("plain",)).get_content()


def last_to(sink, address: str, contains: str = "") -> Received:
    found = [m for m in sink.to(address) if contains in subject_of(m)]
    assert found, f"nothing to {address} with {contains!r}: {[subject_of(m) for m in sink.to(address)]}"
    return found[-1]


def reply(received: Received, client: str, sender: tuple[str, str], text: str, files=(),
          extra_headers=None, sender_header: tuple[str, str] | None = None) -> bytes:
    """`sender` answers `received` from `client`, quoting it the way that client does.

    Unless `extra_headers` says otherwise, the board's server has authenticated the sender's domain.
    """
    if extra_headers is None:
        extra_headers = stamp((sender_header or sender)[1])
    orig = received.message
    subject = subject_of(received)
    mid = orig["Message-ID"].strip().strip("<>")
    refs = tuple(r.strip("<>") for r in str(orig.get("References", "")).split()) + (mid,)
    quoted = plain_of(received).strip().split("\n")
    chevrons = "\n".join(f"> {line}".rstrip() for line in quoted)
    plain = "\n".join(quoted)
    forms = {
        "gmail": (f"{text}\n\nVào Th 2, 23 thg 11, 2026 lúc 09:15 Ban Biên tập <{BOARD}> đã viết:\n\n{chevrons}",
                  "Re: "),
        "gmail_mobile": (f"{text}\n\nVào 09:15, Th 2, 23 thg 11, 2026 Ban Biên tập <{BOARD}>\nđã viết:\n\n"
                         f"{chevrons}", "Re: "),
        "outlook_vi": (f"{text}\n\n________________________________\nTừ: Ban Biên tập <{BOARD}>\n"
                       f"Đã gửi: Thứ Hai, ngày 23 tháng 11 năm 2026 9:15 SA\nĐến: {sender[0]} <{sender[1]}>\n"
                       f"Chủ đề: {subject}\n\n{plain}", "TL: "),
        "outlook_en": (f"{text}\n\nFrom: Ban Biên tập <{BOARD}>\nSent: Monday, November 23, 2026 9:15 AM\n"
                       f"To: {sender[0]} <{sender[1]}>\nSubject: {subject}\n\n{plain}", "RE: "),
        "thunderbird": (f"Vào 23/11/2026 09:15, Ban Biên tập viết:\n{chevrons}\n\n{text}\n", "Re: "),
        "zimbra": (f"{text}\n\n----- Thư gốc -----\nTừ: \"Ban Biên tập\" <{BOARD}>\nĐến: {sender[1]}\n"
                   f"Đã gửi: Thứ Hai, 23 Tháng Mười Một 2026 9:15:00\nChủ đề: {subject}\n\n{plain}", "Re: "),
    }
    base = {"gmail_mobile": "gmail", "outlook_vi": "outlook", "outlook_en": "outlook"}.get(client, client)
    if client == "iphone":
        quoted_html = "".join(f"<div>{html.escape(line) or '<br>'}</div>" for line in quoted)
        body = (f'<html><body><div dir="auto">{html.escape(text)}</div><div dir="auto"><br>'
                f'<div dir="ltr">Gửi từ iPhone của tôi</div><blockquote type="cite">Vào 23 thg 11, 2026, lúc 09:15, '
                f"Ban Biên tập &lt;{BOARD}&gt; đã viết:<br><br>{quoted_html}</blockquote></div></body></html>")
        return samples.build("apple", sender=sender_header or sender, to=BOARD, subject=f"Re: {subject}", text="",
                             html=body, in_reply_to=mid, references=refs, files=files, extra_headers=extra_headers)
    body, prefix = forms[client]
    reply_to = str(orig.get("Reply-To", BOARD))
    return samples.build(base, sender=sender_header or sender, to=reply_to, subject=f"{prefix}{subject}", text=body,
                         in_reply_to=mid, references=refs, files=files, extra_headers=extra_headers)
