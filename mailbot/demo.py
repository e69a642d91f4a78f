"""`mailbot demo`: the embedded default (Maildir in, .eml files out, SQLite) on sample Vietnamese mail."""

from __future__ import annotations

import email
import shutil
import time
from pathlib import Path

from mailbot import config, samples, views
from mailbot.app import App
from mailbot.cli import format_detail
from mailbot.message import decode_header_value
from mailbot.sources.maildir import MaildirSource

DEMO_CONFIG = """\
# Written by `mailbot demo`: the embedded default, nothing to install.
database = "sqlite:///mailbot.sqlite3"
storage = "store"

[[agency]]
slug = "stp-binhphuoc"
preset = "binhphuoc"
board_address = "banbientapstp.bp@binhphuoc.gov.vn"
mailbox = "maildir:inbox"
outgoing = "file:outbox"

[[agency.members]]
name = "Nguyễn Thị Thu"
email = "thu.nt@binhphuoc.gov.vn"
role = "secretary"

[[agency.members]]
name = "Trần Văn Hùng"
email = "hung.tv@binhphuoc.gov.vn"
role = "head"

[agency.intake]
admin_address = "quantri@binhphuoc.gov.vn"

[[agency.units]]
name = "Phòng Phổ biến, giáo dục pháp luật"
aliases = ["PBGDPL", "Phòng PBGDPL"]

[[agency.staff]]
name = "Lê Thị Hoa"
email = "hoa.lt@binhphuoc.gov.vn"
unit = "Văn phòng Sở"
title = "Chuyên viên"
phone = "0271 3879 456"
"""

BOARD = "banbientapstp.bp@binhphuoc.gov.vn"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def sample_mail() -> list[tuple[str, bytes]]:
    """A morning's mailbox: what the demo files, asks about, quarantines and ignores."""
    article = samples.docx_bytes("Hội nghị tổng kết công tác tư pháp năm 2026",
                                 ["Sáng ngày 20/11/2026, Sở Tư pháp tổ chức hội nghị tổng kết công tác năm 2026.",
                                  "Dự hội nghị có đại diện lãnh đạo UBND tỉnh."])
    return [
        ("Gmail, complete signature, Word file and a photo", samples.build(
            "gmail", sender=("Nguyễn Văn An", "an.nv@binhphuoc.gov.vn"), to=BOARD,
            subject="[TIN] Hội nghị tổng kết công tác tư pháp năm 2026",
            text="Kính gửi Ban Biên tập,\n\nPhòng PBGDPL gửi tin hội nghị tổng kết, kèm ảnh.\n\nTrân trọng,\n"
                 "Nguyễn Văn An\nChuyên viên Phòng PBGDPL\nĐT: 0912 345 678",
            files=(samples.File("Tin hội nghị tổng kết.docx", DOCX, article),
                   samples.File("Ảnh hội nghị 1.jpg", "image/jpeg", samples.jpeg_bytes(1))))),
        ("Outlook, sender known from the staff directory", samples.build(
            "outlook", sender=("Lê Thị Hoa", "hoa.lt@binhphuoc.gov.vn"), to=BOARD,
            subject="Bài viết: Tuyên truyền Luật Hòa giải ở cơ sở",
            text="Kính gửi BBT,\nVăn phòng Sở gửi bài viết tuyên truyền.\n",
            files=(samples.File("Bài viết hòa giải.docx", DOCX,
                                samples.docx_bytes("Tuyên truyền Luật Hòa giải ở cơ sở", ["Nội dung bài viết."])),))),
        ("Thunderbird, no phone or unit given", samples.build(
            "thunderbird", sender=("Phạm Minh Tuấn", "tuan.pm@gmail.com"), to=BOARD,
            subject="Tin tập huấn nghiệp vụ hộ tịch",
            text="Gửi Ban Biên tập tin tập huấn.\n\nPhạm Minh Tuấn")),
        ("Zimbra, an .exe named .doc", samples.build(
            "zimbra", sender=("Võ Thanh Bình", "binh.vt@binhphuoc.gov.vn"), to=BOARD,
            subject="[VĂN BẢN] Kế hoạch phổ biến pháp luật 2027",
            text="Họ tên: Võ Thanh Bình\nĐơn vị: Phòng PBGDPL\nĐT: 0913 222 333",
            files=(samples.File("Kế hoạch.doc", "application/msword", b"MZ\x90\x00" + b"\x00" * 400),))),
        ("Auto-reply (out of office)", samples.build(
            "outlook", sender=("Trần Văn Hùng", "hung.tv@binhphuoc.gov.vn"), to=BOARD,
            subject="Trả lời tự động: Tin hội nghị", text="Tôi đang đi công tác đến 30/11.",
            extra_headers=(("Auto-Submitted", "auto-replied"),))),
        ("Yahoo, a citizen's question", samples.build(
            "yahoo", sender=("Trần Văn Dân", "tvdan1980@yahoo.com"), to=BOARD,
            subject="Xin hỏi về chứng thực bản sao",
            text="Kính gửi Ban Biên tập,\nCho tôi hỏi chứng thực bản sao giấy khai sinh cần mang giấy tờ gì?\n"
                 "Trần Văn Dân, SĐT 0987 654 321")),
    ]


def run(folder: Path) -> int:
    folder = folder.resolve()
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / "mailbot.toml").write_text(DEMO_CONFIG, encoding="utf-8")
    settings = config.load(folder / "mailbot.toml")
    agency = settings.agencies[0]
    inbox = MaildirSource(Path(agency.mailbox.path))
    mail = sample_mail()
    for n, (_label, raw) in enumerate(mail):
        (inbox.path / "new" / f"{int(time.time())}.{n}.demo").write_bytes(raw)

    print(f"mailbot demo in {folder}")
    print(f"  config:   {folder / 'mailbot.toml'}")
    print(f"  mailbox:  {agency.mailbox.path} ({len(mail)} sample messages)")
    print(f"  outgoing: {agency.outgoing.path}")
    print()
    app = App(settings)
    app.migrate()
    report = app.worker(agency).run_pass()
    with app.db.transaction() as s:
        inbound = views.inbound_rows(s)
        articles = {a["reference"]: a for a in views.article_rows(s)}
        asked = views.question_rows(s)
        detail = views.article_detail(s, "BBT-2026-0001") if articles else None
    print("What came in and what became of it:")
    for (label, _), row in zip(mail, inbound, strict=True):
        print(f"  #{row['id']} {label}\n      -> {row['disposition']}: {row['reason']}")
    print()
    print("Filed articles:")
    for ref, a in articles.items():
        missing = f" (thiếu: {', '.join(a['missing'])})" if a["missing"] else ""
        print(f"  {ref} [{a['status']}] {a['title']}{missing}")
    print()
    print("Citizens' questions:")
    for q in asked:
        print(f"  {q['reference']} [{q['status']}] {q['title']} (hạn trả lời {q['due_at'][:10]})")
    print()
    sent = sorted(Path(agency.outgoing.path).glob("*.eml"))
    print(f"Mail written to {agency.outgoing.path}: {len(sent)} message(s); sent {report.sent}, failed {report.failed}")
    for path in sent:
        msg = email.message_from_bytes(path.read_bytes())
        print(f"  to {msg['To']}: {decode_header_value(msg['Subject'])}")
    if detail:
        print()
        print("mailbot show BBT-2026-0001:")
        print(format_detail(detail))
    app.close()
    return 0
