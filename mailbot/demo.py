"""`mailbot demo`: the embedded default (Maildir in, .eml files out, SQLite) on sample Vietnamese mail."""

from __future__ import annotations

import email
import shutil
import time
from pathlib import Path

from mailbot import config, views
from mailbot.app import App
from mailbot.cli import format_detail
from mailbot.inbound.sources.maildir import MaildirSource
from mailbot.mail.message import decode_header_value

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

# A morning's mailbox, shipped as the raw messages the clients sent: what the demo files, asks about,
# quarantines and ignores.
SAMPLES = (
    ("1-gmail-complete.eml", "Gmail, complete signature, Word file and a photo"),
    ("2-outlook-staff-directory.eml", "Outlook, sender known from the staff directory"),
    ("3-thunderbird-missing-details.eml", "Thunderbird, no phone or unit given"),
    ("4-zimbra-exe-named-doc.eml", "Zimbra, an .exe named .doc"),
    ("5-out-of-office.eml", "Auto-reply (out of office)"),
    ("6-yahoo-citizen-question.eml", "Yahoo, a citizen's question"),
)


def sample_mail() -> list[tuple[str, bytes]]:
    folder = Path(__file__).with_name("demo_mail")
    return [(label, (folder / name).read_bytes()) for name, label in SAMPLES]


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
        print(f"  #{row['id']} {label}\n      -> {row['disposition']}: {row['rule']} — {row['reason']}")
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
