"""Mail as people write it (issue 14): titles from subjects with a submission label, flowed text and quotes."""

from __future__ import annotations

import pytest

from mailbot.articles.filing import title_of


@pytest.mark.parametrize("subject, title", [
    ("Tin bài: Hội nghị tổng kết công tác tư pháp", "Hội nghị tổng kết công tác tư pháp"),
    ("Bài viết: Tuyên truyền Luật Hòa giải ở cơ sở", "Tuyên truyền Luật Hòa giải ở cơ sở"),
    ("Gửi bài: Gương điển hình tiên tiến", "Gương điển hình tiên tiến"),
    ("Gửi tin bài - Tập huấn nghiệp vụ hộ tịch", "Tập huấn nghiệp vụ hộ tịch"),
    ("Tin: Lễ ra quân", "Lễ ra quân"),
    ("V/v đăng tải kế hoạch phổ biến pháp luật 2027", "đăng tải kế hoạch phổ biến pháp luật 2027"),
    ("Về việc: cung cấp thông tin", "cung cấp thông tin"),
    ("RE: [TIN] Tin bài: Hội thảo khoa học", "Hội thảo khoa học"),
    # Words that merely begin a title stay.
    ("Tin học hóa công tác hộ tịch", "Tin học hóa công tác hộ tịch"),
    ("Bài học kinh nghiệm từ cơ sở", "Bài học kinh nghiệm từ cơ sở"),
    ("Tin bài:", "Tin bài"),
])
def test_the_submission_label_is_taken_off_the_title(subject, title):
    assert title_of(subject) == title


def test_flowed_lines_of_another_quote_depth_are_never_joined():
    """RFC 3676 (issue 14 item 9): a bottom-posted Thunderbird reply keeps its new line, the command."""
    from mailbot.mail.message import parse

    raw = ("From: Phạm Quốc Bảo <bao.pq@binhphuoc.gov.vn>\r\nTo: bbt@binhphuoc.gov.vn\r\nSubject: Re: tin\r\n"
           "Content-Type: text/plain; charset=UTF-8; format=flowed\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           "Vào 23/11/2026 09:15, Ban Biên tập viết:\r\n> Đề nghị anh xem \r\n> bài này.\r\n>> Trích \r\nDUYỆT\r\n"
           "Một câu dài \r\nnối tiếp.\r\n").encode()
    lines = parse(raw).text.split("\n")
    assert "> Đề nghị anh xem bài này." in lines
    assert ">> Trích " in lines and "DUYỆT" in lines
    assert "Một câu dài nối tiếp." in lines


def test_hidden_text_detection_is_bounded_on_hostile_nesting():
    """20,000 nested elements and as many stray end tags: the parser follows MAX_DEPTH levels and an end tag
    looks END_TAG_REACH elements up (bounded work); what lies deeper is not shown as if read."""
    from mailbot.mail import htmltext

    out = htmltext.strip_hidden("<div>" * 20000 + "DUYỆT" + "</span>" * 20000)
    assert "DUYỆT" not in out and out.count("<div>") == htmltext.MAX_DEPTH


def test_reply_to_a_colleague_is_answered_only_inside_the_agency(tmp_path, database_url, dovecot, smtp_sink, clock):
    """Issue 14, item 6: a unit's mailbox sending on a colleague's behalf sets Reply-To; the acknowledgement
    and the request for details go to that colleague. A Reply-To outside the accepted domains, from outside
    them, naming several mailboxes, or naming the board is not followed: the answer goes to From."""
    from email.header import decode_header, make_header

    from tests import samples
    from tests.review_helpers import AUTHOR, BOARD, SIGNATURE, review_board

    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    unit_box = ("Văn phòng Sở", "vanphong@binhphuoc.gov.vn")

    def send(sender, reply_to: str, subject: str, text: str = ""):
        text = text or f"Kính gửi Ban Biên tập,\nGửi tin {subject}.\n\n{SIGNATURE}"   # each its own text
        assert board.say(samples.build("outlook", sender=sender, to=BOARD, subject=subject, text=text,
                                       extra_headers=(("Reply-To", reply_to),))).counts == {"filed": 1}

    def answered(subject: str) -> list[str]:
        senders = {AUTHOR[1], unit_box[1], "ke.gian@gmail.com", "tuan.pm@gmail.com"}   # the board aside
        return sorted({r for m in smtp_sink.messages for r in m.rcpt_tos
                       if subject in str(make_header(decode_header(m.message["Subject"]))) and r in senders})

    send(unit_box, f"{AUTHOR[0]} <{AUTHOR[1]}>", "[TIN] Hội nghị thứ nhất")
    assert answered("Hội nghị thứ nhất") == [AUTHOR[1]]
    send(unit_box, f"<{AUTHOR[1]}>", "[TIN] Hội nghị thứ hai", text="Gửi tin, không ký tên.")   # details asked
    assert AUTHOR[1] in answered("Hội nghị thứ hai") and unit_box[1] not in answered("Hội nghị thứ hai")
    send(unit_box, "ke.gian@gmail.com", "[TIN] Hội nghị thứ ba")
    assert answered("Hội nghị thứ ba") == [unit_box[1]]
    send(("Tuấn", "tuan.pm@gmail.com"), AUTHOR[1], "[TIN] Hội nghị thứ tư")
    assert answered("Hội nghị thứ tư") == ["tuan.pm@gmail.com"]
    send(unit_box, f"{AUTHOR[1]}, mai.lt@binhphuoc.gov.vn", "[TIN] Hội nghị thứ năm")
    assert answered("Hội nghị thứ năm") == [unit_box[1]]
    send(unit_box, BOARD, "[TIN] Hội nghị thứ sáu")
    assert unit_box[1] in answered("Hội nghị thứ sáu")


@pytest.mark.parametrize("subject, header", [
    ("TR: Tin hội nghị tập huấn", "________________________________\nTừ: Trần Thị Hoa <hoa.tt@binhphuoc.gov.vn>\n"
     "Đã gửi: Thứ Hai, ngày 23 tháng 11 năm 2026 8:05 SA\nĐến: Nguyễn Văn An <an.nv@binhphuoc.gov.vn>\n"
     "Chủ đề: Tin hội nghị tập huấn\n"),                                                  # Outlook desktop (vi)
    ("TR: Tin hội nghị tập huấn", "Từ: Trần Thị Hoa <hoa.tt@binhphuoc.gov.vn>\nĐã gửi: Thứ Hai, 23 tháng 11, 2026 "
     "08:05\nĐến: an.nv@binhphuoc.gov.vn\nChủ đề: Tin hội nghị tập huấn\n"),            # Outlook on the web (vi)
    ("FW: Tin hội nghị tập huấn", "________________________________\nFrom: Trần Thị Hoa <hoa.tt@binhphuoc.gov.vn>\n"
     "Sent: Monday, November 23, 2026 8:05 AM\nTo: Nguyễn Văn An <an.nv@binhphuoc.gov.vn>\n"
     "Subject: Tin hội nghị tập huấn\n"),                                                 # Outlook desktop (en)
])
def test_an_outlook_forward_without_a_marker_line_names_the_colleague_as_author(
        subject, header, tmp_path, database_url, dovecot, smtp_sink, clock):
    """Issue 14, item 2: Outlook forwards with the header block it replies with, and no "Forwarded message"
    line; with a forward's subject prefix (TR:, FW:) the colleague in that block is the author, with their
    own phone, not the focal point who forwarded."""
    from sqlalchemy import select

    from mailbot.storage.models import Article
    from tests import samples
    from tests.review_helpers import AUTHOR, BOARD, SIGNATURE, review_board

    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    text = (f"Chuyển Ban Biên tập đăng tin của chị Hoa.\n\n{SIGNATURE}\n\n{header}\n"
            "Kính gửi anh An,\nSáng 20/11 Văn phòng Sở tổ chức tập huấn nghiệp vụ.\n\n"
            "Trần Thị Hoa\nChuyên viên Văn phòng Sở\nĐT: 0271 3879 456\n")
    assert board.say(samples.build("outlook", sender=AUTHOR, to=BOARD, subject=subject, text=text)).counts == \
        {"filed": 1}
    with board.transaction() as s:
        article = s.scalars(select(Article)).one()
        assert (article.author["name"], article.author["email"]) == ("Trần Thị Hoa", "hoa.tt@binhphuoc.gov.vn")
        assert article.author["phone"].replace(" ", "").endswith("3879456") and article.submitter_email == AUTHOR[1]
        assert "tập huấn nghiệp vụ" in article.body_text and "Chuyển Ban Biên tập" not in article.body_text


def test_a_reply_quoting_an_outlook_block_is_not_taken_for_a_forward():
    from mailbot.mail import reply

    text = ("Em bổ sung số điện thoại: 0912 345 678\n\n________________________________\nTừ: Ban Biên tập "
            "<bbt@binhphuoc.gov.vn>\nĐã gửi: Thứ Hai, 23 tháng 11, 2026 09:15\nĐến: an.nv@binhphuoc.gov.vn\n"
            "Chủ đề: Cần bổ sung thông tin\n\nKính gửi anh...\n")
    parts = reply.split(text)
    assert reply.forwarded_block(parts, "TL: Cần bổ sung thông tin") == ""
    assert reply.forwarded_block(parts, "RE: Cần bổ sung thông tin") == ""
    assert reply.forwarded_block(parts, "TR: Cần bổ sung thông tin").startswith("______")
    assert reply.is_forward_subject("Fwd: x") and reply.is_forward_subject("Chuyển tiếp: x")
    assert not reply.is_forward_subject("Trả lời: x") and not reply.is_forward_subject("Tri ân thầy cô")
