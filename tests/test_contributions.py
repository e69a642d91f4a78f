"""Contributors' time limits end to end: the event or issue date read from the mail, asked for when absent,
late submissions marked for the secretary, in the history and in `show`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from mailbot import views
from mailbot.articles.contributions import find_date
from mailbot.storage.models import Article, Deadline, Event
from tests import samples
from tests.conftest import Clock
from tests.review_helpers import AUTHOR, BOARD, DOCX, SECRETARY, SIGNATURE, last_to, plain_of, reply, review_board

LOCAL = timezone(timedelta(hours=7))
MONDAY = datetime(2026, 11, 23, 9, tzinfo=LOCAL).astimezone(timezone.utc)


def news(subject: str, text: str, files=()) -> bytes:
    return samples.build("gmail", sender=AUTHOR, to=BOARD, subject=subject, text=f"{text}\n\n{SIGNATURE}", files=files)


def contribution(board, reference: str) -> Deadline | None:
    with board.transaction() as s:
        article = s.scalar(select(Article).where(Article.reference == reference))
        return s.scalar(select(Deadline).where(Deadline.article_id == article.id, Deadline.position == "contribution"))


def test_late_news_is_marked_and_timely_news_is_not(tmp_path, database_url, dovecot, smtp_sink):
    """News of an activity within its time of the event (001 art. 9.2a; 002 art. 9.3a; 004 art. 10.1c)."""
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, Clock(MONDAY))
    # Bình Phước: event news within 12 office hours. Friday 20/11 morning's event: 3.5 h on Friday afternoon,
    # 7.5 h on Monday, 24/11 off, 1 h on Wednesday: due 08:30 on 25/11.
    board.say(news("[TIN] Hội nghị tổng kết", "Sáng 20/11, Sở Tư pháp tổ chức hội nghị tổng kết."))
    timely = contribution(board, "BBT-2026-0001")
    assert timely.outcome == "met" and timely.due_at == datetime(2026, 11, 25, 8, 30, tzinfo=LOCAL)
    assert "ĐÚNG HẠN" in plain_of(last_to(smtp_sink, SECRETARY[1], "BBT-2026-0001"))

    board.say(news("[TIN] Tập huấn nghiệp vụ", "Chiều ngày 10 tháng 11 năm 2026, Sở tổ chức tập huấn."))
    late = contribution(board, "BBT-2026-0002")
    assert late.outcome == "missed"
    assert "GỬI MUỘN" in plain_of(last_to(smtp_sink, SECRETARY[1], "BBT-2026-0002"))
    with board.transaction() as s:
        detail = views.article_detail(s, "BBT-2026-0002")
        kinds = [e.kind for e in s.scalars(select(Event).where(Event.article_id == late.article_id))]
    assert "late_submission" in kinds
    [row] = [d for d in detail["deadlines"] if d["position"] == "contribution"]
    assert row["outcome"] == "missed" and "12 giờ hành chính" in row["explanation"]
    assert "GỬI MUỘN" in row["explanation"] and "10 thang 11 nam 2026" in row["explanation"]
    board.close()


def test_the_date_is_asked_for_and_the_reply_counts(tmp_path, database_url, dovecot, smtp_sink):
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, Clock(MONDAY))
    board.say(news("[TIN] Ra quân hưởng ứng Ngày Pháp luật", "Gửi Ban Biên tập tin hoạt động kèm ảnh."))
    assert contribution(board, "BBT-2026-0001") is None
    ack = last_to(smtp_sink, AUTHOR[1], "BBT-2026-0001")
    assert "Xin cho biết NGÀY DIỄN RA" in plain_of(ack)
    board.say(reply(ack, "gmail", AUTHOR, "Ngày diễn ra: 22/11/2026, buổi sáng."))
    answered = contribution(board, "BBT-2026-0001")
    assert answered is not None and answered.outcome == "met"
    assert answered.start_at == datetime(2026, 11, 22, 11, 30, tzinfo=LOCAL)
    board.close()


def test_a_documents_issue_date_is_read_from_its_word_file(tmp_path, database_url, dovecot, smtp_sink):
    """Documents within their time of issue (001 art. 9.2b; 002 art. 9.3b; 004 art. 10.1c)."""
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, Clock(MONDAY))
    doc = samples.docx_bytes("Quyết định ban hành Kế hoạch", ["Ngày ban hành: 18/11/2026", "Điều 1. ..."])
    board.say(news("[VĂN BẢN] Quyết định số 123/QĐ-STP", "Gửi văn bản để đăng.",
                   files=(samples.File("QD 123.docx", DOCX, doc),)))
    row = contribution(board, "BBT-2026-0001")
    # 2 working days after Wednesday 18/11: due Friday 20/11 17:00; received Monday 23/11.
    assert row.rule_name == "agency_documents" and row.outcome == "missed"
    assert row.due_at == datetime(2026, 11, 20, 17, tzinfo=LOCAL)
    board.close()


def test_dates_in_the_forms_people_write():
    received = MONDAY
    cases = {
        "Sáng 20/11, Sở Tư pháp tổ chức hội nghị": datetime(2026, 11, 20, 11, 30),
        "Vào lúc 14h30 ngày 21/11/2026, tại hội trường": datetime(2026, 11, 21, 14, 30),
        "Chiều ngày 19 tháng 11 năm 2026, Đoàn công tác": datetime(2026, 11, 19, 17, 0),
        "Thời gian: 8 giờ 00, ngày 18-11-2026": datetime(2026, 11, 18, 8, 0),
        "Ngày 30/12 năm ngoái, đơn vị đã tổ chức": datetime(2025, 12, 30, 17, 0),
    }
    for text, want in cases.items():
        assert find_date(text, received).when == want.replace(tzinfo=find_date(text, received).when.tzinfo), text
    assert find_date("Kính gửi Ban Biên tập, gửi tin kèm ảnh. ĐT: 0912.345.678", received) is None
