"""Rules of the regulations that issue 16 added: activity news without photos (001 art. 9.1b), quoted
content without its source (001 art. 7.1d, 7.2; 004 art. 4.6), text in another language or a legacy font
(001 art. 3; 002 art. 4.1; 004 art. 9.1). End to end on Dovecot and the SMTP sink, with mail shaped the way
staff write it."""

from __future__ import annotations

import email.policy
from email.message import EmailMessage

from sqlalchemy import select

from mailbot import views
from mailbot.storage.models import Article, Deadline, Event
from tests import samples
from tests.review_helpers import (
    AUTHOR,
    BOARD,
    DOCX,
    MEMBER,
    SECRETARY,
    SIGNATURE,
    UNIT_HEAD,
    last_to,
    plain_of,
    reply,
    review_board,
    subject_of,
)

PNG_LOGO = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00\x1f\xf3\xffa"
            b"\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x01\x01\x01\x00\x18\xdd\x8d\xb0\x00\x00\x00\x00IEND\xaeB`\x82")


def the_article(board, newest: bool = False) -> Article:
    with board.transaction() as s:
        q = select(Article).order_by(Article.id.desc())
        a = s.scalars(q.limit(1)).one() if newest else s.scalars(q).one()
        s.expunge(a)
        return a


def news(text: str, files=(), subject: str = "[TIN] Hội nghị tập huấn nghiệp vụ hộ tịch") -> bytes:
    return samples.build("gmail", sender=AUTHOR, to=BOARD, subject=subject, text=text, files=files)


def with_inline_logo(subject: str, text: str) -> bytes:
    """Outlook-style HTML mail whose only image is the signature's logo, inline by Content-ID."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = f"{AUTHOR[0]} <{AUTHOR[1]}>"
    msg["To"] = BOARD
    msg["Subject"] = subject
    msg["Message-ID"] = "<logo-only@binhphuoc.gov.vn>"
    msg["Date"] = "Mon, 23 Nov 2026 08:30:00 +0700"
    msg.set_content(text)
    msg.add_alternative("<p>" + text.replace("\n", "<br>") + '</p><img src="cid:logo001">', subtype="html")
    msg.get_payload()[1].add_related(PNG_LOGO, "image", "png", cid="<logo001>", filename="image001.png",
                                     disposition="inline")
    return msg.as_bytes()


def test_001_art_9_1b_activity_news_without_photos_waits_for_them(tmp_path, database_url, dovecot, smtp_sink, clock):
    """Kon Tum (001 art. 9.1b): news of an activity must carry illustrative photos. Without one the sender is
    asked, the wait has its deadline, and their reply with a photo sends it on; the secretary's notice says so."""
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock, preset="kontum")
    board.say(news(f"Kính gửi Ban Biên tập,\nSáng nay Phòng tổ chức tập huấn nghiệp vụ hộ tịch cho cán bộ "
                   f"cấp xã.\n\n{SIGNATURE}"))
    a = the_article(board)
    assert (a.status, a.missing) == ("awaiting_details", ["photos"])
    ask = last_to(smtp_sink, AUTHOR[1], "Cần bổ sung ảnh minh họa")
    assert "tin hoạt động phải có hình ảnh minh họa" in plain_of(ask)
    assert "Họ và tên: Nguyễn Văn A" not in plain_of(ask)   # the details are all there: only photos asked
    assert not smtp_sink.to(SECRETARY[1]) and not smtp_sink.to(UNIT_HEAD[1])
    with board.transaction() as s:
        [wait] = s.scalars(select(Deadline).where(Deadline.article_id == a.id)).all()
        assert (wait.position, wait.rule_name, wait.closed_at) == ("awaiting_details", "author_details", None)
    # The author answers from their phone with two photos: the article goes on to the unit head (art. 18.2).
    board.say(reply(ask, "iphone", AUTHOR, "Em gửi bổ sung ảnh ạ.",
                    files=(samples.File("IMG_2041.jpg", "image/jpeg", samples.jpeg_bytes(7)),
                           samples.File("IMG_2042.jpg", "image/jpeg", samples.jpeg_bytes(8)))))
    a = the_article(board)
    assert (a.status, a.missing) == ("unit_review", [])
    notice = last_to(smtp_sink, SECRETARY[1], "Tin bài mới")
    assert "đã đề nghị người gửi bổ sung" in plain_of(notice)
    assert last_to(smtp_sink, UNIT_HEAD[1], "Cần xử lý")
    with board.transaction() as s:
        kinds = [e.kind for e in s.scalars(select(Event).where(Event.article_id == a.id).order_by(Event.id))]
        assert kinds[:3] == ["filed_incomplete", "photos_requested", "follow_up"] and "details_completed" in kinds
        assert s.scalar(select(Deadline.outcome).where(Deadline.position == "awaiting_details")) == "met"
    board.close()


def test_001_art_9_1b_a_signature_logo_is_no_photo_and_other_categories_need_none(
        tmp_path, database_url, dovecot, smtp_sink, clock):
    """The logo in an Outlook signature is not an activity's photo; an article ([BÀI]) needs none."""
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock, preset="kontum")
    board.say(with_inline_logo("[TIN] Hội nghị triển khai Luật Hộ tịch",
                               f"Gửi Ban Biên tập tin hội nghị.\n\n{SIGNATURE}"))
    assert the_article(board).missing == ["photos"]
    board.say(news(f"Bài viết về phổ biến pháp luật ở cơ sở.\n\n{SIGNATURE}", subject="[BÀI] Phổ biến pháp luật"))
    article = the_article(board, newest=True)
    assert (article.category, article.missing, article.status) == ("article", [], "unit_review")
    board.close()


def test_001_art_9_1b_is_a_setting_off_where_the_regulation_does_not_say_it(
        tmp_path, database_url, dovecot, smtp_sink, clock):
    """Bình Phước's regulation does not ask for photos: the same news is filed and goes to the board."""
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    board.say(news(f"Sáng nay Phòng tổ chức tập huấn nghiệp vụ hộ tịch.\n\n{SIGNATURE}"))
    a = the_article(board)
    assert (a.status, a.missing) == ("review", [])
    assert not any(c.photos_required for c in board.agency.categories)
    board.close()


COPIED = ("Chiều 20/11, tại Hà Nội, Bộ Tư pháp tổ chức hội nghị tổng kết công tác phổ biến, giáo dục pháp luật. "
          "Phát biểu tại hội nghị, Bộ trưởng nhấn mạnh: “Công tác phổ biến, giáo dục pháp luật phải đổi mới mạnh mẽ "
          "cả về nội dung và hình thức, lấy người dân làm trung tâm, ứng dụng chuyển đổi số, bảo đảm mọi người dân đều "
          "được tiếp cận pháp luật một cách thuận lợi, kịp thời và hiệu quả trong bối cảnh mới”. Theo kế hoạch, "
          "năm 2027 Bộ sẽ triển khai nhiều chương trình mới, như TTXVN đã đưa tin.")


def test_001_art_7_1d_004_art_4_6_quoted_content_without_its_source_is_a_hint_for_the_editor(
        tmp_path, database_url, dovecot, smtp_sink, clock):
    """Quoted content must name its author and source (001 art. 7.1d, 7.2; 004 art. 4.6): a long quotation and
    a press agency named, without "Nguồn:" or "Theo ...", is flagged in the review request; never refused."""
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    doc = samples.docx_bytes("Tổng kết công tác phổ biến pháp luật", [COPIED])
    board.say(samples.build("outlook", sender=AUTHOR, to=BOARD, subject="[BÀI] Tổng kết công tác phổ biến pháp luật",
                            text=f"Kính gửi Ban Biên tập, em gửi bài.\n\n{SIGNATURE}",
                            files=(samples.File("Bai viet.docx", DOCX, doc),)))
    a = the_article(board)
    assert a.status == "review" and [h["kind"] for h in a.hints] == ["attribution"]
    request = plain_of(last_to(smtp_sink, MEMBER[1], "Cần xử lý"))
    assert "Lưu ý cho Ban Biên tập" in request and "nêu tên TTXVN" in request and "ngoặc kép dài" in request
    with board.transaction() as s:
        shown = views.article_detail(s, a.reference)
        hint_events = s.scalars(select(Event.detail).where(Event.kind == "hint")).all()
    assert len(hint_events) == 1 and "nguồn khác" in hint_events[0]
    assert shown is not None and shown["hints"] == a.hints   # `mailbot show` prints them
    board.close()


def test_001_art_7_2_an_attributed_quotation_is_no_hint(tmp_path, database_url, dovecot, smtp_sink, clock):
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    board.say(news(f"{COPIED}\n\n(Nguồn: TTXVN)\n\n{SIGNATURE}", subject="[BÀI] Tổng kết công tác phổ biến pháp luật"))
    assert the_article(board).hints == []
    assert "Lưu ý cho Ban Biên tập" not in plain_of(last_to(smtp_sink, MEMBER[1], "Cần xử lý"))
    board.close()


ENGLISH = ("The Department of Justice held a conference on legal dissemination and education for officials of "
           "communes and wards. Participants discussed the new regulations on civil status registration and the "
           "digital transformation of judicial services across the province in the coming year.")
VIETNAMESE = ("Sở Tư pháp tổ chức hội nghị phổ biến, giáo dục pháp luật cho cán bộ, công chức cấp xã. Các đại biểu "
              "thảo luận về quy định mới trong đăng ký hộ tịch và chuyển đổi số trong lĩnh vực tư pháp.")


def test_001_art_3_002_art_4_1_004_art_9_1_another_language_is_flagged_to_the_secretary(
        tmp_path, database_url, dovecot, smtp_sink, clock):
    """Text must be Vietnamese in Unicode (001 art. 3; 002 art. 4.1; 004 art. 9.1): an English submission is
    flagged to the secretary and the editors; Vietnamese followed by an English section is what is allowed."""
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    board.say(news(f"Dear Editorial Board,\n\n{ENGLISH}\n\n{SIGNATURE}", subject="[TIN] Legal dissemination conference"))
    a = the_article(board)
    assert a.status == "review" and [h["kind"] for h in a.hints] == ["language"]
    notice = plain_of(last_to(smtp_sink, SECRETARY[1], "Tin bài mới"))
    assert "không phải tiếng Việt" in notice and "tiếng Anh" in notice
    board.say(news(f"{VIETNAMESE}\n\nEnglish:\n\n{ENGLISH}\n\n{SIGNATURE}", subject="[TIN] Hội nghị phổ biến pháp luật"))
    assert the_article(board, newest=True).hints == []
    board.close()


def test_001_art_3_text_still_in_a_legacy_font_after_conversion_is_flagged(
        tmp_path, database_url, dovecot, smtp_sink, clock):
    """A document half converted to Unicode, its second half still in TCVN3 (.VnTime): the converter cannot
    take it as one encoding, so it stays as it is, and the secretary is told."""
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    tcvn3 = "Së T\u00ad ph¸p tØnh Kon Tum tæ chøc héi nghÞ tæng kÕt c«ng t¸c phæ biÕn, gi¸o dôc ph¸p luËt n¨m 2026."
    doc = samples.docx_bytes("Tổng kết công tác năm 2026", [VIETNAMESE, tcvn3])
    board.say(samples.build("thunderbird", sender=AUTHOR, to=BOARD, subject="[TIN] Tổng kết công tác năm 2026",
                            text=f"Gửi Ban Biên tập tin tổng kết.\n\n{SIGNATURE}",
                            files=(samples.File("tin.docx", DOCX, doc),)))
    a = the_article(board)
    assert [h["kind"] for h in a.hints] == ["legacy_font"]
    assert "phông chữ cũ" in plain_of(last_to(smtp_sink, SECRETARY[1], "Tin bài mới"))
    assert subject_of(last_to(smtp_sink, AUTHOR[1])).startswith("[")   # the author is answered as usual
    board.close()


def test_plainly_vietnamese_text_is_not_sent_to_the_language_model(monkeypatch):
    """Issue 13: the model runs in the extraction child, a round trip a message. A paragraph written in letters
    only Vietnamese has (ă, đ, ơ, ư, tone marks) is Vietnamese without it; the model reads the other paragraphs,
    and only where they could make the text mostly another language."""
    from mailbot.articles import hints

    asked: list[list[str]] = []
    monkeypatch.setattr(hints, "_identify_all", lambda texts: asked.append(texts) or ["fr"] * len(texts))
    assert hints.language([VIETNAMESE, f"{VIETNAMESE}\n{VIETNAMESE.upper()}"]) == []
    assert asked == []
    # A signature line without such letters, or a French paragraph, beside a longer Vietnamese text: Vietnamese
    # is the larger part whatever the model would say of them.
    french = "Le département de la justice a organisé une conférence à Hà Nội pour l'année prochaine, très réussie."
    assert hints.language([f"{VIETNAMESE}\nChuyên viên Phòng PBGDPL\n{french}"]) == []
    assert asked == []
    # Mostly French, and first: the model reads the French paragraphs only, the Vietnamese one counts as such.
    mixed = f"{french}\n{VIETNAMESE}\n{french.upper()}\n{french.lower()}"
    [hint] = hints.language([mixed])
    assert asked == [[french, french.upper(), french.lower()]]
    assert hint["kind"] == "language" and "tiếng Pháp" in hint["text"]
    # Told Vietnamese by the model, the same text has no hint: the count is the model's where it was asked.
    monkeypatch.setattr(hints, "_identify_all", lambda texts: ["vi"] * len(texts))
    assert hints.language([mixed]) == []
    monkeypatch.setattr(hints, "_identify_all", lambda texts: ["en"] * len(texts))
    assert [h["kind"] for h in hints.language([ENGLISH])] == ["language"]
