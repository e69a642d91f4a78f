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
