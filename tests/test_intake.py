"""Intake end to end: mail into a real Dovecot, one pass, replies caught by a real SMTP sink."""

from __future__ import annotations

import email
import email.policy
import io
import zipfile

import pytest
from sqlalchemy import func, select

from mailbot.inbound.sources.imap import DONE_KEYWORD
from mailbot.storage.models import Article, Attachment, Event, InboundMessage, OutboxMessage
from mailbot.views import article_detail
from tests import samples
from tests.conftest import ADMIN, BOARD, HEAD, SECRETARY

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
AUTHOR = ("Nguyễn Văn An", "an.nv@binhphuoc.gov.vn")
SIGNATURE = "Trân trọng,\nNguyễn Văn An\nChuyên viên Phòng PBGDPL\nĐT: 0912 345 678"


def article_files() -> tuple[samples.File, ...]:
    return (samples.File("Tin hội nghị tổng kết.docx", DOCX,
                         samples.docx_bytes("Hội nghị tổng kết công tác tư pháp", ["Sáng 20/11, Sở tổ chức hội nghị."])),
            samples.File("Ảnh hội nghị.jpg", "image/jpeg", samples.jpeg_bytes(7)))


def parsed(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def only_article(board) -> Article:
    with board.transaction() as s:
        rows = s.scalars(select(Article)).all()
        assert len(rows) == 1, [a.reference for a in rows]
        s.expunge(rows[0])
        return rows[0]


@pytest.mark.parametrize("client", ["gmail", "outlook", "thunderbird", "zimbra", "apple"])
def test_complete_submission_from_each_client(board, client):
    """Content is emailed to the board's mailbox from every client (001 art. 9.1b; 002 art. 9.1a; 004 art. 10.1a)."""
    raw = samples.build(client, sender=AUTHOR, to=BOARD, subject="[TIN] Hội nghị tổng kết công tác tư pháp",
                        text=f"Kính gửi Ban Biên tập,\nPhòng gửi tin hội nghị, kèm ảnh.\n\n{SIGNATURE}",
                        files=article_files())
    report = board.say(raw)
    assert report.counts == {"filed": 1}

    article = only_article(board)
    assert article.reference == "BBT-2026-0001"
    assert (article.status, article.step) == ("review", "edit")  # straight into the board's first step
    assert article.category == "news"
    assert article.title == "Hội nghị tổng kết công tác tư pháp"  # NFC even from Apple Mail's NFD
    assert article.author["name"] == "Nguyễn Văn An"
    assert article.author["unit"] == "Phòng Phổ biến, giáo dục pháp luật"
    assert article.author["title"] == "Chuyên viên"
    assert article.author["phone"] == "0912 345 678"
    with board.transaction() as s:
        files = s.scalars(select(Attachment).order_by(Attachment.id)).all()
        assert [(f.filename, f.kind, f.status) for f in files] == [
            ("Tin hội nghị tổng kết.docx", "docx", "ok"), ("Ảnh hội nghị.jpg", "jpg", "ok")]
        assert "Sở tổ chức hội nghị" in files[0].text_preview

    # The sender's acknowledgement: threaded under their message, with the reference.
    original = parsed(raw)
    [ack] = board.sink.to(AUTHOR[1])
    ack_msg = parsed(ack.raw)
    assert ack_msg["In-Reply-To"] == original["Message-ID"]
    assert original["Message-ID"] in ack_msg["References"]
    assert ack_msg["Auto-Submitted"] == "auto-replied"
    assert ack_msg["Message-ID"].endswith("@binhphuoc.gov.vn>")
    assert "BBT-2026-0001" in ack_msg["Subject"]
    body = ack_msg.get_body(("plain",)).get_content()
    assert "Số tiếp nhận: BBT-2026-0001" in body
    assert ack_msg.get_body(("html",)) is not None

    # The secretary's notice: preview, the files attached, the reference.
    [notice] = board.sink.to(SECRETARY)
    notice_msg = parsed(notice.raw)
    assert "BBT-2026-0001" in notice_msg["Subject"]
    assert "Sở tổ chức hội nghị" in notice_msg.get_body(("plain",)).get_content()
    assert sorted(p.get_filename() for p in notice_msg.iter_attachments()) == [
        "Tin hội nghị tổng kết.docx", "Ảnh hội nghị.jpg"]

    # Marked on the server only after the commit; the checkpoint moved on.
    assert all(DONE_KEYWORD in flags for flags in board.dovecot.flags().values())
    assert board.run_once().counts == {}


def test_missing_details_then_completed_in_the_thread(board):
    """The sender's name, unit and contact are asked for (001 art. 9.1c; 002 art. 9.1b), and the corrected reply in
    the thread completes it (002 art. 4.2)."""
    # No display name either: nothing anywhere says who this is.
    first = samples.build("gmail", sender=("", "tuan.pm@gmail.com"), to=BOARD,
                          subject="Tin tập huấn nghiệp vụ hộ tịch", text="Gửi Ban Biên tập tin tập huấn.\n\nTuấn",
                          files=article_files()[:1])
    assert board.say(first).counts == {"filed": 1}
    article = only_article(board)
    assert article.status == "awaiting_details"
    assert article.missing == ["name", "unit", "contact"]
    assert board.sink.to(SECRETARY) == []  # the board is not bothered yet

    [ask] = board.sink.to("tuan.pm@gmail.com")
    ask_msg = parsed(ask.raw)
    text = ask_msg.get_body(("plain",)).get_content()
    for label in ("Họ và tên", "Đơn vị công tác", "Số điện thoại hoặc địa chỉ liên hệ"):
        assert label in text
    assert "Chức vụ" not in text.split("còn thiếu:")[1].split("Xin trả lời")[0]

    # Half an answer: still missing the unit.
    half = samples.build("gmail", sender=("Phạm Minh Tuấn", "tuan.pm@gmail.com"), to=BOARD,
                         subject=f"Re: {ask_msg['Subject']}", in_reply_to=ask_msg["Message-ID"].strip("<>"),
                         text="Họ và tên: Phạm Minh Tuấn\nSĐT: 0913 456 789\n\n"
                              f"Vào Th 2, 23 thg 11, 2026 lúc 09:00 Ban Biên tập <{BOARD}> đã viết:\n> {text[:200]}")
    assert board.say(half).counts == {"followup": 1}
    article = only_article(board)
    assert article.status == "awaiting_details"
    assert article.missing == ["unit"]

    # The rest, matched by the reference in the subject alone (no threading headers).
    rest = samples.build("outlook", sender=("Phạm Minh Tuấn", "tuan.pm@gmail.com"), to=BOARD,
                         subject="RE: BBT-2026-0001 bổ sung", text="Đơn vị: Phòng Tư pháp huyện Lộc Ninh")
    assert board.say(rest).counts == {"followup": 1}
    article = only_article(board)
    assert article.status == "review"
    assert article.author["name"] == "Phạm Minh Tuấn"
    assert article.author["unit"] == "Phòng Tư pháp huyện Lộc Ninh"
    assert article.author["phone"] == "0913 456 789"
    assert len(board.sink.to(SECRETARY)) == 1
    with board.transaction() as s:
        detail = article_detail(s, "BBT-2026-0001")
    assert [(h["event"], h["to"]) for h in detail["history"]] == [
        ("filed_incomplete", "awaiting_details"), ("follow_up", "awaiting_details"),
        ("follow_up", "awaiting_details"), ("details_completed", "submitted"), ("review_started", "review:edit")]
    assert len(detail["messages_in"]) == 3


def test_letters_in_a_phone_number_are_refused(board):
    raw = samples.build("gmail", sender=AUTHOR, to=BOARD, subject="Tin hội thảo",
                        text="Nội dung.\n\nHọ tên: Nguyễn Văn An\nĐơn vị: Phòng PBGDPL\nĐT: 09xx abc def")
    board.say(raw)
    article = only_article(board)
    assert article.missing == ["contact"]
    [ask] = board.sink.to(AUTHOR[1])
    assert 'số điện thoại "09xx abc def" có chữ cái' in parsed(ask.raw).get_body(("plain",)).get_content()


def test_forwarded_submission_names_the_colleague_as_author(board):
    """A unit's focal point forwards a colleague's work (001 art. 9.1a, 18.1; 004 art. 7.1): the colleague is the
    author."""
    text = ("Kính chuyển Ban Biên tập bài của đồng chí Hoa.\n\nLan - đầu mối Văn phòng\n\n"
            "---------- Forwarded message ---------\n"
            "From: Lê Thị Hoa <hoa.lt@binhphuoc.gov.vn>\nDate: Sun, 22 Nov 2026 at 16:05\n"
            "Subject: Bài viết hòa giải ở cơ sở\nTo: Lan <lan.tt@binhphuoc.gov.vn>\n\n"
            "Chị Lan chuyển giúp em bài viết.\n\nLê Thị Hoa\nVăn phòng Sở\nĐT: 0271 3879 456")
    raw = samples.build("gmail", sender=("Trần Thị Lan", "lan.tt@binhphuoc.gov.vn"), to=BOARD,
                        subject="Fwd: Bài viết hòa giải ở cơ sở", text=text, files=article_files()[:1])
    assert board.say(raw).counts == {"filed": 1}
    article = only_article(board)
    assert article.status == "review"
    assert article.title == "Bài viết hòa giải ở cơ sở"
    assert article.category == "article"
    assert article.author["name"] == "Lê Thị Hoa"
    assert article.author["email"] == "hoa.lt@binhphuoc.gov.vn"
    assert article.author["unit"] == "Văn phòng Sở"
    assert article.submitter_email == "lan.tt@binhphuoc.gov.vn"
    assert "Chị Lan chuyển giúp em" in article.body_text
    # The submitter is answered (she sent it); the board sees both names.
    assert len(board.sink.to("lan.tt@binhphuoc.gov.vn")) == 1
    [notice] = board.sink.to(SECRETARY)
    body = parsed(notice.raw).get_body(("plain",)).get_content()
    assert "Lê Thị Hoa" in body and "Người chuyển bài: lan.tt@binhphuoc.gov.vn" in body


def _raw_mail(subject_header: str, charset: str, body: bytes, cte: str = "8bit") -> bytes:
    return (f"From: =?utf-8?b?TmfDtCBUaOG7iyBNYWk=?= <mai.nt@binhphuoc.gov.vn>\r\nTo: {BOARD}\r\n"
            f"Subject: {subject_header}\r\nMessage-ID: <legacy-{charset}-{len(body)}@binhphuoc.gov.vn>\r\n"
            f"Date: Mon, 23 Nov 2026 08:00:00 +0700\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n").encode() + body


SIGNED_BODY = "Nội dung tin.\n\nHọ tên: Ngô Thị Mai\nĐơn vị: Văn phòng Sở\nĐT: 0271 3879 111\n"


def cp1258(text: str) -> bytes:
    """Encode as Windows does: precomposed base letters, tone marks as combining characters."""
    import unicodedata
    out = b""
    for c in text:
        try:
            out += c.encode("cp1258")
        except UnicodeEncodeError:
            d = unicodedata.normalize("NFD", c)
            tones = "".join(x for x in d if x in "\u0300\u0301\u0303\u0309\u0323")
            base = unicodedata.normalize("NFC", "".join(x for x in d if x not in tones))
            out += (base + tones).encode("cp1258")
    return out


def test_windows_1258_text(board):
    # windows-1258 writes tone marks as combining characters: NFC makes them match.
    subject = "=?windows-1258?q?" + "".join(
        f"={b:02X}" for b in cp1258("Hội nghị cải cách hành chính")) + "?="
    board.say(_raw_mail(subject, "windows-1258", cp1258(SIGNED_BODY)))
    article = only_article(board)
    assert article.title == "Hội nghị cải cách hành chính"
    assert article.author["name"] == "Ngô Thị Mai"
    assert article.status == "review"


def test_nfd_text(board):
    import unicodedata
    nfd = unicodedata.normalize("NFD", SIGNED_BODY)
    subject = "=?utf-8?b?" + __import__("base64").b64encode(
        unicodedata.normalize("NFD", "Tin tuyên truyền pháp luật").encode()).decode() + "?="
    board.say(_raw_mail(subject, "utf-8", nfd.encode()))
    article = only_article(board)
    assert article.title == "Tin tuyên truyền pháp luật"
    assert article.author["unit"] == "Văn phòng Sở"


def _tcvn3(text: str) -> str:
    from viparse.normalize.encodings import get_charmap
    reverse: dict[str, str] = {}
    for src, dst in get_charmap("tcvn3").pairs:
        reverse.setdefault(dst, src)
    return "".join(reverse.get(c, c) for c in text)


def test_tcvn3_text_is_converted_and_the_conversion_recorded(board):
    """Text must be Vietnamese in Unicode (001 art. 3; 002 art. 4.1; 004 art. 9.1; 000 art. 5): TCVN3 is converted."""
    subject = _tcvn3("Hội nghị tổng kết công tác tư pháp năm 2026")
    body = _tcvn3("Sáng nay Sở Tư pháp tổ chức hội nghị tổng kết công tác năm 2026 với sự tham dự của lãnh đạo.\n\n"
                  "Họ tên: Ngô Thị Mai\nĐơn vị: Văn phòng Sở\nĐT: 0271 3879 111\n")
    encoded_subject = "=?iso-8859-1?q?" + "".join(f"={b:02X}" for b in subject.encode("latin-1")) + "?="
    board.say(_raw_mail(encoded_subject, "iso-8859-1", body.encode("latin-1")))
    article = only_article(board)
    assert article.title == "Hội nghị tổng kết công tác tư pháp năm 2026"
    assert "tổ chức hội nghị" in article.body_text
    with board.transaction() as s:
        detail = article_detail(s, article.reference)
    assert "TCVN3" in detail["history"][0]["detail"]


def test_utf8_read_as_latin1_is_reversed_exactly(board):
    garbled = "Tin hội thảo pháp luật".encode().decode("latin-1")
    subject = "=?utf-8?b?" + __import__("base64").b64encode(garbled.encode()).decode() + "?="
    board.say(_raw_mail(subject, "utf-8", SIGNED_BODY.encode()))
    assert only_article(board).title == "Tin hội thảo pháp luật"


def test_unconvertible_mojibake_title_is_held_not_filed(board):
    # UTF-8 read as cp1252 upstream, with bytes lost on the way: nothing safe to convert back.
    broken = "Thời gian hội nghị tổng kết".encode().decode("cp1252", errors="replace")  # "ờ" has 0x9D
    subject = "=?utf-8?b?" + __import__("base64").b64encode(broken.encode()).decode() + "?="
    raw = _raw_mail(subject, "utf-8", SIGNED_BODY.encode())
    report = board.say(raw)
    assert report.counts == {"held": 1}
    with board.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Article)) == 0
        held = s.scalars(select(InboundMessage)).one()
        assert held.rule == "unreadable-title"
    [notice] = board.sink.to(SECRETARY)
    assert "Cần xem" in parsed(notice.raw)["Subject"]


def test_html_only_mail_is_sanitised_and_cid_images_kept(board):
    html = ('<html><body><div>Kính gửi BBT tin hội nghị.<script>alert(1)</script>'
            '<img src="https://tracker.example/p.gif"><img src="cid:anh1@x"></div>'
            '<div>Họ tên: Ngô Thị Mai</div><div>Đơn vị: Văn phòng Sở</div><div>ĐT: 0271 3879 111</div></body></html>')
    image = samples.jpeg_bytes(3)
    raw = (f"From: Mai <mai.nt@binhphuoc.gov.vn>\r\nTo: {BOARD}\r\nSubject: Tin hoi nghi\r\n"
           "Message-ID: <html-only@binhphuoc.gov.vn>\r\nMIME-Version: 1.0\r\n"
           'Content-Type: multipart/related; boundary="rel"\r\n\r\n'
           "--rel\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           f"{html}\r\n--rel\r\nContent-Type: image/jpeg; name=anh1.jpg\r\nContent-ID: <anh1@x>\r\n"
           "Content-Transfer-Encoding: base64\r\n\r\n"
           f"{__import__('base64').b64encode(image).decode()}\r\n--rel--\r\n").encode()
    assert board.say(raw).counts == {"filed": 1}
    article = only_article(board)
    assert "Kính gửi BBT tin hội nghị." in article.body_text
    assert "alert" not in article.body_text
    assert article.author["name"] == "Ngô Thị Mai" and article.status == "review"
    with board.transaction() as s:
        [img] = s.scalars(select(Attachment)).all()
        assert (img.filename, img.content_id, img.inline, img.status) == ("anh1.jpg", "anh1@x", True, "ok")


def test_duplicates_have_no_second_effect(board):
    raw = samples.build("gmail", sender=AUTHOR, to=BOARD, subject="Tin hội nghị", text=f"Nội dung\n\n{SIGNATURE}",
                        message_id="dup-1@mail.gmail.com")
    board.send(raw)
    board.send(raw)  # the same bytes delivered twice
    # the same Message-ID, other bytes (a resend through another route)
    board.send(raw.replace(b"Date: ", b"X-Resent: yes\r\nDate: ", 1))
    report = board.run_once()
    assert report.counts == {"filed": 1, "already stored": 1, "duplicate": 1}
    with board.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Article)) == 1
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 2
    assert len(board.sink.to(AUTHOR[1])) == 1
    assert len(board.sink.to(SECRETARY)) == 1


@pytest.mark.parametrize("headers,subject", [
    ((("Auto-Submitted", "auto-replied"),), "Trả lời tự động: Tin hội nghị"),
    ((), "Trả lời tự động: Tin hội nghị"),                              # Exchange (vi): subject only
    ((), "Automatic reply: Tin hội nghị"),                              # Exchange (en)
    ((("Auto-Submitted", "auto-replied (zimbra; vacation)"),), "Vắng mặt"),  # Zimbra
    ((("X-Autoreply", "yes"),), "Re: Tin"),
    ((("Precedence", "bulk"),), "Bản tin pháp luật tuần"),
    ((("List-Id", "<phapluat.lists.example.vn>"),), "Bản tin"),
])
def test_auto_replies_and_bulk_mail_are_ignored_and_never_answered(board, headers, subject):
    raw = samples.build("outlook", sender=("Trần Văn Hùng", "hung.tv@binhphuoc.gov.vn"), to=BOARD,
                        subject=subject, text="Tôi đang đi công tác.", extra_headers=headers)
    assert board.say(raw).counts == {"ignored": 1}
    assert board.sink.messages == []
    with board.transaction() as s:
        row = s.scalars(select(InboundMessage)).one()
        assert row.rule in ("auto-reply", "bulk")


def test_bounce_is_matched_to_the_message_it_bounces(board):
    board.say(samples.build("gmail", sender=("Phạm Minh Tuấn", "tuan.pm@gmail.com"), to=BOARD,
                            subject="Tin tập huấn", text="Tin.\n\nTuấn"))
    with board.transaction() as s:
        sent = s.scalars(select(OutboxMessage)).one()
        sent_id = sent.message_id
    bounce = (f"From: Mail Delivery Subsystem <mailer-daemon@binhphuoc.gov.vn>\r\nTo: {BOARD}\r\n"
              "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce-1@binhphuoc.gov.vn>\r\n"
              "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
              'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
              "--b\r\nContent-Type: text/plain\r\n\r\nThe mail system: user unknown\r\n"
              "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
              "Final-Recipient: rfc822; tuan.pm@gmail.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
              "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
              f"Message-ID: <{sent_id}>\r\nSubject: x\r\n--b--\r\n").encode()
    assert board.say(bounce).counts == {"ignored": 1}
    with board.transaction() as s:
        row = s.scalars(select(OutboxMessage)).one()
        assert row.status == "bounced"
        bounce_row = s.scalars(select(InboundMessage).where(InboundMessage.message_id == "bounce-1@binhphuoc.gov.vn")).one()
        assert row.bounced_by == bounce_row.id
        assert bounce_row.rule == "bounce"
        assert s.scalars(select(Event).where(Event.kind == "bounce")).one().article_id == row.article_id
    assert len(board.sink.messages) == 1  # the bounce itself is not answered


def test_dangerous_attachments_are_quarantined(board):
    """Word, OpenOffice and image files are taken, anything dangerous held back (002 art. 9.1a; 004 art. 10.1b)."""
    zb = io.BytesIO()
    with zipfile.ZipFile(zb, "w") as z:
        good = zipfile.ZipFile(io.BytesIO(samples.docx_bytes("x", ["y"])))
        for name in good.namelist():
            z.writestr(name, good.read(name))
        z.writestr("word/vbaProject.bin", b"macro")
    whole = samples.docx_bytes("Kế hoạch", ["Nội dung"])
    truncated = whole[: len(whole) // 2]  # a download cut short: still looks like Word at the start
    files = (
        samples.File("Kế hoạch.doc", "application/msword", b"MZ\x90\x00\x03" + b"\x00" * 300),  # an .exe named .doc
        samples.File("Bài có macro.docx", DOCX, zb.getvalue()),
        samples.File("Hỏng.docx", DOCX, truncated),
        *article_files()[:1],
    )
    raw = samples.build("zimbra", sender=AUTHOR, to=BOARD, subject="[BÀI VIẾT] Kế hoạch tuyên truyền 2027",
                        text=f"Gửi kế hoạch.\n\n{SIGNATURE}", files=files)
    assert board.say(raw).counts == {"filed": 1}
    with board.transaction() as s:
        rows = {a.filename: a for a in s.scalars(select(Attachment))}
    assert rows["Kế hoạch.doc"].status == "quarantined" and "chương trình" in rows["Kế hoạch.doc"].reason
    assert rows["Bài có macro.docx"].status == "quarantined" and "macro" in rows["Bài có macro.docx"].reason
    assert rows["Hỏng.docx"].status == "quarantined" and "hỏng" in rows["Hỏng.docx"].reason
    assert rows["Tin hội nghị tổng kết.docx"].status == "ok"

    [ack] = board.sink.to(AUTHOR[1])
    ack_text = parsed(ack.raw).get_body(("plain",)).get_content()
    assert "KHÔNG được chuyển" in ack_text and "Kế hoạch.doc" in ack_text
    [alert] = board.sink.to(ADMIN)
    assert "cách ly" in parsed(alert.raw)["Subject"]
    [notice] = board.sink.to(SECRETARY)
    assert [p.get_filename() for p in parsed(notice.raw).iter_attachments()] == ["Tin hội nghị tổng kết.docx"]


def test_connection_dropped_mid_run_resumes_with_nothing_lost_or_repeated(board, monkeypatch):
    raws = [samples.build("gmail", sender=AUTHOR, to=BOARD, subject=f"Tin số {n}", text=f"Tin {n}\n\n{SIGNATURE}")
            for n in range(6)]
    board.send(*raws)
    intake = board.worker.intake
    real = intake.process
    dropped = []

    def process_then_drop(raw, source="", arrived=None, checkpoint=None):
        outcome = real(raw, source, arrived, checkpoint)
        if len(dropped) == 0 and outcome.reference == "BBT-2026-0003":
            # Committed, not yet flagged on the server: the worst moment to lose the connection.
            dropped.append(board.dovecot.drop_connections())
        return outcome

    monkeypatch.setattr(intake, "process", process_then_drop)
    report = board.run_once()
    assert dropped == [1]
    # The checkpoint moved with message 3's filing: it is not fetched again, and on reconnecting it is marked.
    assert report.counts == {"filed": 6}
    with board.transaction() as s:
        refs = s.scalars(select(Article.reference).order_by(Article.id)).all()
    assert refs == [f"BBT-2026-{n:04d}" for n in range(1, 7)]
    assert len(board.sink.to(AUTHOR[1])) == 6
    assert all(DONE_KEYWORD in f for f in board.dovecot.flags().values())


def test_the_checkpoint_moves_with_the_filing_and_the_keyword_follows_after_a_crash(tmp_path, database_url, dovecot,
                                                                                      smtp_sink, clock, monkeypatch):
    """Issue 13: the UID checkpoint is written in the transaction that files the message (one commit, not two).
    A process that dies after that commit, before the message is marked on the server, does not read it again
    on restart: it marks it."""
    from mailbot.inbound.sources.imap import ImapSource
    from mailbot.storage.models import MailboxState
    from tests.conftest import Board, write_settings

    settings = write_settings(tmp_path, database_url, dovecot.url, smtp_sink.url)
    first = Board(settings, dovecot, smtp_sink, clock)
    first.send(*[samples.build("gmail", sender=AUTHOR, to=BOARD, subject=f"Tin số {n}", text=f"Tin {n}\n\n{SIGNATURE}")
                 for n in range(3)])

    class Killed(BaseException):
        """What kill -9 leaves: no handler runs, nothing after it."""

    real = ImapSource.done

    def die_on_the_second(self, key):
        if key == "2":
            raise Killed
        real(self, key)

    monkeypatch.setattr(ImapSource, "done", die_on_the_second)
    with pytest.raises(Killed):
        first.worker.run_pass()
    monkeypatch.setattr(ImapSource, "done", real)
    with first.transaction() as s:
        [state] = s.scalars(select(MailboxState)).all()
        assert (state.last_uid, state.flagged_uid) == (2, 1)   # filed and checkpointed; the mark owed
    assert [DONE_KEYWORD in f for _, f in sorted(dovecot.flags().items())] == [True, False, False]
    first.worker.source.close()
    first.app.close()

    again = Board(settings, dovecot, smtp_sink, clock)
    assert again.run_once().counts == {"filed": 1}   # message 3 only: message 2 is not read twice
    assert all(DONE_KEYWORD in f for f in dovecot.flags().values())
    with again.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Article)) == 3
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 3
    assert len(smtp_sink.to(AUTHOR[1])) == 3
    again.run_once()
    with again.transaction() as s:
        [state] = s.scalars(select(MailboxState)).all()
        assert (state.last_uid, state.flagged_uid) == (3, 3)
    again.close()


def test_first_start_on_a_full_mailbox_asks_then_skips_or_processes(tmp_path, database_url, dovecot, smtp_sink, clock):
    from mailbot.inbound.sources import BacklogDecisionNeeded
    from tests.conftest import Board, write_settings

    old = [samples.build("gmail", sender=AUTHOR, to=BOARD, subject=f"Thư cũ {n}", text=f"x\n\n{SIGNATURE}")
           for n in range(3)]
    dovecot.deliver(*old)
    settings = write_settings(tmp_path, database_url, dovecot.url, smtp_sink.url)
    asking = Board(settings, dovecot, smtp_sink, clock, backlog="ask")
    with pytest.raises(BacklogDecisionNeeded) as info:
        asking.run_once()
    assert info.value.count == 3
    asking.close()

    skipping = Board(settings, dovecot, smtp_sink, clock, backlog="skip")
    assert skipping.run_once().counts == {}
    assert skipping.say(samples.build("gmail", sender=AUTHOR, to=BOARD, subject="Thư mới",
                                      text=f"x\n\n{SIGNATURE}")).counts == {"filed": 1}
    skipping.close()


def test_maildir_source_and_file_outbox(tmp_path, database_url, clock):
    from tests.conftest import Board, write_settings

    settings = write_settings(tmp_path, database_url, f"maildir:{tmp_path / 'inbox'}", f"file:{tmp_path / 'out'}")
    board = Board(settings, None, None, clock)
    raw = samples.build("thunderbird", sender=AUTHOR, to=BOARD, subject="[BÀI] Gương người tốt việc tốt",
                        text=f"Bài viết gửi BBT.\n\n{SIGNATURE}", files=article_files())
    assert board.say(raw).counts == {"filed": 1}
    assert list((tmp_path / "inbox" / "new").iterdir()) == []
    assert len(list((tmp_path / "inbox" / "cur").iterdir())) == 1
    written = sorted((tmp_path / "out").glob("*.eml"))
    assert len(written) == 3
    recipients = sorted(parsed(p.read_bytes())["To"] for p in written)
    assert recipients == sorted([AUTHOR[1], SECRETARY, HEAD])  # the head holds the first review step
    assert only_article(board).category == "article"
    assert board.run_once().counts == {}
    board.close()


def test_a_rebuilt_mailbox_new_uidvalidity_is_reread_without_repeats(tmp_path, database_url, dovecot, smtp_sink, clock):
    from tests.conftest import Board, write_settings

    with dovecot.client() as c:
        c.create_folder("Submissions")
    url = dovecot.url.replace("/INBOX?", "/Submissions?")
    settings = write_settings(tmp_path, database_url, url, smtp_sink.url)
    board = Board(settings, dovecot, smtp_sink, clock)
    old = samples.build("gmail", sender=AUTHOR, to=BOARD, subject="Tin cũ", text=f"x\n\n{SIGNATURE}")
    dovecot.deliver(old, folder="Submissions")
    assert board.run_once().counts == {"filed": 1}
    board.close()

    with dovecot.client() as c:  # the administrator rebuilds the folder: new UIDVALIDITY, UIDs from 1
        c.delete_folder("Submissions")
        c.create_folder("Submissions")
    new = samples.build("gmail", sender=AUTHOR, to=BOARD, subject="Tin mới", text=f"x\n\n{SIGNATURE}")
    dovecot.deliver(old, new, folder="Submissions")
    board = Board(settings, dovecot, smtp_sink, clock)
    assert board.run_once().counts == {"already stored": 1, "filed": 1}
    with board.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Article)) == 2
    assert len(smtp_sink.to(AUTHOR[1])) == 2
    board.close()


def test_a_part_declared_quoted_printable_but_holding_8bit_text_is_taken_as_it_is(board):
    """Issue 14, item 8: real quoted-printable is 7-bit. A part so labelled that carries raw UTF-8 is text
    mislabelled, and "(=25%)" or "=35/40" must stay as written; a real QP part is still decoded."""
    from mailbot.mail.message import parse

    body = "Tỷ lệ hoàn thành (=25%) kế hoạch, đạt =35/40 chỉ tiêu.\n\n" + SIGNED_BODY
    msg = parse(_raw_mail("Tin =?utf-8?q?s=E1=BB=91_li=E1=BB=87u?=", "utf-8", body.encode(), "quoted-printable"))
    assert "(=25%)" in msg.text and "=35/40" in msg.text and "Tỷ lệ" in msg.text
    assert any("quoted-printable part holds raw 8-bit text" in d for d in msg.defects)
    real = parse(_raw_mail("Tin", "utf-8", b"T=E1=BB=B7 l=E1=BB=87 (=3D25%)\n", "quoted-printable"))
    assert "Tỷ lệ (=25%)" in real.text and not real.defects
    assert board.say(_raw_mail("Tin số liệu", "utf-8", body.encode(), "quoted-printable")).counts == {"filed": 1}
    with board.transaction() as s:
        assert "(=25%)" in s.scalars(select(Article)).one().body_text


def test_a_mail_with_only_a_hostile_file_and_a_line_of_bait_is_held_as_suspicious(board):
    """Issue 14, item 7: an executable named .doc with one line of bait is no article: it is held as suspicious
    with no reference number, the secretary and the administrator are told, and the sender (perhaps a
    compromised account) is not asked for anything. A real text with the same file is filed, the file
    quarantined; a merely broken file alone is filed too (an honest mistake the sender is told of)."""
    exe = samples.File("Hồ sơ khen thưởng.doc", "application/msword", b"MZ\x90\x00\x03" + b"\x00" * 300)
    bait = samples.build("gmail", sender=AUTHOR, to=BOARD, subject="Hồ sơ khen thưởng",
                         text="Anh xem giúp em tệp đính kèm nhé.", files=(exe,))
    assert board.say(bait).counts == {"held": 1}
    with board.transaction() as s:
        row = s.scalars(select(InboundMessage)).one()
        assert (row.rule, row.article_id) == ("suspicious-attachment", None)
        assert "chương trình chạy được" in row.reason
        assert s.scalar(select(func.count()).select_from(Article)) == 0
        [kept] = s.scalars(select(Attachment)).all()
        assert kept.status == "quarantined" and kept.article_id is None
    assert board.sink.to(SECRETARY) and board.sink.to(ADMIN)
    assert "không được trả lời" in parsed(board.sink.to(ADMIN)[-1].raw).get_body(("plain",)).get_content()
    assert not board.sink.to(AUTHOR[1])
    long_text = "Kính gửi Ban Biên tập,\n" + "Sáng 20/11, Sở Tư pháp tổ chức hội nghị tổng kết công tác. " * 8
    board.say(samples.build("gmail", sender=AUTHOR, to=BOARD, subject="Tin hội nghị tổng kết",
                            text=f"{long_text}\n\n{SIGNATURE}", files=(exe,)))
    broken = samples.File("Tin.docx", DOCX, samples.docx_bytes("Tin", ["x"])[:300])
    board.say(samples.build("gmail", sender=AUTHOR, to=BOARD, subject="Tin tập huấn", text="Gửi tin.",
                            files=(broken,)))
    with board.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Article)) == 2
