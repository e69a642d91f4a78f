"""Citizens' questions end to end on Dovecot + the aiosmtpd sink: filed, acknowledged, assigned, answered,
reviewed, and answered back to the citizen in their own thread; extensions, escalation, redaction."""

from __future__ import annotations

import email
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from mailbot.storage.models import Deadline, InboundMessage, Question, ReminderSent
from tests import samples
from tests.conftest import Clock
from tests.review_helpers import (
    BOARD,
    DEPUTY,
    HEAD,
    SECRETARY,
    UNIT_HEAD,
    last_to,
    plain_of,
    reply,
    review_board,
    subject_of,
)

LOCAL = timezone(timedelta(hours=7))
FOCAL = ("Trần Thị Lan", "lan.tt@binhphuoc.gov.vn")
CITIZENS = {"gmail": ("Nguyễn Văn Bình", "binh.nguyen@gmail.com"), "yahoo": ("Trần Thị Cúc", "cuc.tran@yahoo.com")}
QUESTION_TEXT = ("Kính gửi Ban Biên tập,\n\nTôi xin hỏi: bản sao giấy khai sinh được chứng thực từ năm 2015 "
                 "còn giá trị sử dụng không? Tôi cần nộp hồ sơ xin việc.\n\n"
                 "{name}\nCCCD số 070123456789\nĐịa chỉ: số 12 đường Trần Hưng Đạo, phường Tân Phú\n"
                 "SĐT: 0912 345 678, email {email}")
ANSWER = ("Theo Điều 3 Nghị định 23/2015/NĐ-CP, bản sao được chứng thực từ bản chính có giá trị sử dụng thay "
          "cho bản chính trong các giao dịch, không có thời hạn.\n\nCảm ơn Ông/Bà đã quan tâm.")


def local(y, m, d, hh, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LOCAL).astimezone(timezone.utc)


def question_board(tmp_path, database_url, dovecot, smtp_sink, clock):
    return review_board(tmp_path, database_url, dovecot, smtp_sink, clock,
                        unit_extra=f'focal_points = ["{FOCAL[1]}"]')


def ask(board, client="gmail", subject="Hỏi về giá trị bản sao chứng thực", text=None, in_reply_to=None):
    name, email = CITIZENS[client]
    raw = samples.build(client, sender=(name, email), to=BOARD, subject=subject,
                        text=text or QUESTION_TEXT.format(name=name, email=email), in_reply_to=in_reply_to,
                        references=(in_reply_to,) if in_reply_to else ())
    board.say(raw)
    return raw


def question(board, reference="HD-2026-0001") -> Question:
    with board.transaction() as s:
        return s.scalar(select(Question).where(Question.reference == reference))


@pytest.mark.parametrize("client", ["gmail", "yahoo"])
def test_a_question_goes_from_citizen_to_unit_to_board_and_back_in_its_thread(
        tmp_path, database_url, dovecot, smtp_sink, client):
    """A question routed to its unit, which answers the board by email (002 art. 11.3, 11.4); the board answers the
    reader by email (002 art. 11.5)."""
    clock = Clock(local(2026, 11, 23, 9))  # Monday; 24/11 is a holiday from 2026
    board = question_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    name, citizen = CITIZENS[client]
    asked = ask(board, client)

    ack = last_to(smtp_sink, citizen, "HD-2026-0001")
    assert "Đã nhận câu hỏi" in subject_of(ack)
    assert "17:00 ngày 15/12/2026" in plain_of(ack)             # 15 working days, 24/11 not counted
    asked_id = samples_message_id(asked)
    assert ack.message["In-Reply-To"].strip("<>") == asked_id
    with board.transaction() as s:
        inbound = s.scalars(select(InboundMessage).order_by(InboundMessage.id)).first()
        assert inbound.disposition == "question" and inbound.question_id is not None
        assert s.scalar(select(Question.kind)) == "question"
    assert not [m for m in smtp_sink.messages if "Cần xử lý" in subject_of(m)]  # not an article

    # The secretary assigns it by the unit's abbreviation.
    notice = last_to(smtp_sink, SECRETARY[1], "Cần phân công")
    assert citizen in plain_of(notice)  # the board sees the asker's address
    clock.current += timedelta(hours=1)
    board.say(reply(notice, "gmail", SECRETARY, "CHUYỂN: PBGDPL"))
    assert question(board).status == "assigned"
    assert "Đã chuyển HD-2026-0001" in plain_of(last_to(smtp_sink, SECRETARY[1], "Đã xử lý"))

    # The unit's focal point and head get it with the asker's name but no contact details.
    for person in (FOCAL, UNIT_HEAD):
        request = last_to(smtp_sink, person[1], "Đề nghị trả lời")
        body = plain_of(request)
        assert name in body and "bản sao giấy khai sinh" in body
        for secret in ("0912 345 678", "070123456789", citizen, "Trần Hưng Đạo"):
            assert secret not in body, secret

    # The focal point answers from Outlook, with a file.
    request = last_to(smtp_sink, FOCAL[1], "Đề nghị trả lời")
    pdf = samples.File("Tra loi.pdf", "application/pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    clock.current += timedelta(hours=2)
    board.say(reply(request, "outlook_vi", FOCAL, f"TRẢ LỜI: {ANSWER}\n\nTrân trọng,\nTrần Thị Lan", files=(pdf,)))
    q = question(board)
    assert q.status == "answer_review" and q.answer_text == ANSWER

    # The deputy head approves from Thunderbird; the answer goes to the citizen under the question.
    review = last_to(smtp_sink, DEPUTY[1], "Duyệt câu trả lời")
    assert ANSWER.split(",")[0] in plain_of(review)
    clock.current += timedelta(hours=1)
    board.say(reply(review, "thunderbird", DEPUTY, "DUYỆT"))
    q = question(board)
    assert q.status == "answered" and q.answered_at is not None
    answer = last_to(smtp_sink, citizen, "Trả lời câu hỏi")
    assert answer.message["In-Reply-To"].strip("<>") == asked_id
    assert asked_id in answer.message["References"]
    assert answer.message["From"].endswith(f"<{BOARD}>")
    assert "không có thời hạn" in plain_of(answer)
    assert [p.get_filename() for p in answer.message.walk() if p.get_filename()] == ["Tra loi.pdf"]
    with board.transaction() as s:
        limit = s.scalar(select(Deadline).where(Deadline.question_id == q.id))
        assert limit.outcome == "met" and limit.closed_at is not None

    # In the citizen's own mailbox the answer sits in the thread of the question they sent.
    assert citizen_threads(dovecot, asked, answer.raw, ack.raw) == [[1, 2, 3]]

    # Writing again under the answer reaches a person: the secretary.
    board.say(samples.build(client, sender=(name, citizen), to=BOARD, subject="Re: Trả lời câu hỏi",
                            text="Cảm ơn. Cho tôi hỏi thêm: bản sao có cần công chứng lại không?",
                            in_reply_to=answer.message["Message-ID"].strip("<>")))
    added = last_to(smtp_sink, SECRETARY[1], "Người hỏi bổ sung")
    assert "công chứng lại" in plain_of(added) and "đã được trả lời" in plain_of(added)
    board.close()


def samples_message_id(raw: bytes) -> str:
    return email.message_from_bytes(raw)["Message-ID"].strip().strip("<>")


def citizen_threads(dovecot, *raws: bytes) -> list[list[int]]:
    """Put the messages in a folder and ask Dovecot how it threads them (RFC 5256 REFERENCES)."""
    with dovecot.client() as c:
        c.create_folder("Citizen")
        for raw in raws:
            c.append("Citizen", raw)
        c.select_folder("Citizen", readonly=True)
        assert c.has_capability("THREAD=REFERENCES")
        return [sorted(_flatten(t)) for t in c.thread(algorithm="REFERENCES")]


def _flatten(thread) -> list[int]:
    out = []
    for item in thread:
        out.extend(_flatten(item) if isinstance(item, tuple) else [item])
    return out


def test_extension_tells_the_citizen_the_new_date_and_why(tmp_path, database_url, dovecot, smtp_sink):
    """Consulting a ministry extends the answer's time to 30 working days (002 art. 9.3e)."""
    clock = Clock(local(2026, 11, 23, 9))
    board = question_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    ask(board)
    board.say(reply(last_to(smtp_sink, SECRETARY[1], "Cần phân công"), "gmail", SECRETARY, "CHUYỂN: Phổ biến"))
    request = last_to(smtp_sink, FOCAL[1], "Đề nghị trả lời")
    board.say(reply(request, "gmail", FOCAL, "GIA HẠN: cần xin ý kiến Bộ Tư pháp về hướng dẫn mới"))
    extended = last_to(smtp_sink, CITIZENS["gmail"][1], "Gia hạn")
    body = plain_of(extended)
    assert "cần xin ý kiến Bộ Tư pháp" in body
    assert "17:00 ngày 06/01/2027" in body                  # 30 working days from 23/11; 24/11 and 1/1 off
    q = question(board)
    assert q.extended and q.status == "assigned"
    with board.transaction() as s:
        rows = s.scalars(select(Deadline).where(Deadline.question_id == q.id).order_by(Deadline.id)).all()
        assert [(r.rule_name, r.outcome) for r in rows] == [("citizen_answer", "extended"),
                                                            ("citizen_answer_consulted", "")]
    # Extension does not use up the unit's notice: the answer still counts, once.
    board.say(reply(request, "gmail", FOCAL, f"TRẢ LỜI: {ANSWER}"))
    assert question(board).status == "answer_review"
    board.say(reply(request, "gmail", FOCAL, "GIA HẠN: lần nữa"))
    assert "đã được dùng" in plain_of(last_to(smtp_sink, FOCAL[1], "Lệnh không có hiệu lực"))
    board.close()


def test_an_unanswered_question_is_reminded_then_escalated(tmp_path, database_url, dovecot, smtp_sink):
    """An unanswered question is reminded and escalated (002 art. 11.2; 004 art. 7.2b)."""
    clock = Clock(local(2026, 11, 23, 9))
    board = question_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    ask(board)
    board.say(reply(last_to(smtp_sink, SECRETARY[1], "Cần phân công"), "gmail", SECRETARY, "CHUYỂN: PBGDPL"))
    # Due Tuesday 15/12 17:00. The daemon is down from then until Thursday 17/12.
    for at in (local(2026, 12, 15, 14), local(2026, 12, 15, 16), local(2026, 12, 17, 9), local(2026, 12, 17, 10)):
        clock.current = at
        board.run_once()
    with board.transaction() as s:
        ledger = [(r.threshold, tuple(sorted(r.recipients))) for r in s.scalars(
            select(ReminderSent).order_by(ReminderSent.id))]
    unit = tuple(sorted((FOCAL[1], UNIT_HEAD[1])))
    assert ledger == [("before", unit), ("overdue", unit), ("escalate-deputy", (DEPUTY[1],))]
    clock.current = local(2026, 12, 18, 9)   # two working days late: the head
    board.run_once()
    board.run_once()
    assert [subject_of(m) for m in smtp_sink.to(HEAD[1]) if "Quá hạn" in subject_of(m)] == [
        "[HD-2026-0001] Quá hạn trả lời, báo cáo lãnh đạo: Hỏi về giá trị bản sao chứng thực"]
    assert len([m for m in smtp_sink.to(FOCAL[1]) if "hạn trả lời" in subject_of(m).lower()]) == 2
    board.close()


def test_qa_entry_has_no_personal_data(tmp_path, database_url, dovecot, smtp_sink):
    """Citizens' personal data stays out of the Q&A page (000 art. 4)."""
    clock = Clock(local(2026, 11, 23, 9))
    board = question_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    ask(board)
    board.say(reply(last_to(smtp_sink, SECRETARY[1], "Cần phân công"), "gmail", SECRETARY, "CHUYỂN: PBGDPL"))
    board.say(reply(last_to(smtp_sink, FOCAL[1], "Đề nghị trả lời"), "gmail", FOCAL,
                    f"TRẢ LỜI: Ông Nguyễn Văn Bình hỏi đúng quy định. {ANSWER}"))
    board.say(reply(last_to(smtp_sink, HEAD[1], "Duyệt câu trả lời"), "gmail", HEAD, "DUYỆT"))
    board.say(reply(last_to(smtp_sink, HEAD[1], "Đã trả lời người hỏi"), "gmail", HEAD, "HỎI ĐÁP"))
    qa = last_to(smtp_sink, SECRETARY[1], "Bài Hỏi đáp")
    page = next(p for p in qa.message.walk() if p.get_filename() == "HD-2026-0001-hoi-dap.html")
    for text in (plain_of(qa), page.get_payload(decode=True).decode("utf-8")):
        assert "N.V.B." in text and "bản sao giấy khai sinh" in text and "không có thời hạn" in text
        for secret in ("Nguyễn Văn Bình", "0912 345 678", "070123456789", "binh.nguyen@gmail.com", "Trần Hưng Đạo"):
            assert secret not in text, secret
    board.close()


@pytest.mark.parametrize(("received", "due"), [
    (local(2026, 11, 28, 10), "17:00 ngày 18/12/2026"),   # a Saturday: counting starts on Monday 30/11
    (local(2027, 2, 3, 10), "17:00 ngày 03/03/2027"),     # the day before Tết 2027 (4/2-10/2 off)
])
def test_due_dates_on_the_working_calendar(tmp_path, database_url, dovecot, smtp_sink, received, due):
    """Answers within 15 working days, 30 where a ministry is consulted (002 art. 9.3e)."""
    board = question_board(tmp_path, database_url, dovecot, smtp_sink, Clock(received))
    ask(board)
    reference = f"HD-{received.astimezone(LOCAL).year}-0001"
    assert due in plain_of(last_to(smtp_sink, CITIZENS["gmail"][1], reference))
    with board.transaction() as s:
        explanation = s.scalar(select(Deadline.explanation).where(Deadline.question_id.is_not(None)))
    assert "15 ngày làm việc" in explanation and "Không tính" in explanation
    board.close()


def test_same_thread_adds_new_thread_is_new_and_acks_are_limited(tmp_path, database_url, dovecot, smtp_sink):
    board = question_board(tmp_path, database_url, dovecot, smtp_sink, Clock(local(2026, 11, 23, 9)))
    citizen = CITIZENS["gmail"][1]
    first = ask(board)
    ask(board, text="Tôi bổ sung: bản sao do UBND xã chứng thực.", subject="Re: Hỏi về giá trị bản sao chứng thực",
        in_reply_to=samples_message_id(first))
    q = question(board)
    assert "bản sao do UBND xã chứng thực" in q.body_text
    assert "Đã nhận nội dung bổ sung" in subject_of(last_to(smtp_sink, citizen, "HD-2026-0001"))
    # An out-of-office reply in the thread is never answered.
    board.say(samples.build("gmail", sender=CITIZENS["gmail"], to=BOARD, subject="Trả lời tự động: vắng mặt",
                            text="Tôi vắng mặt.", in_reply_to=samples_message_id(first),
                            extra_headers=(("Auto-Submitted", "auto-replied"),)))
    for n in range(3):
        ask(board, subject=f"Xin hỏi thêm việc số {n + 2}", text=f"Cho tôi hỏi về lệ phí chứng thực việc số {n + 2}.")
    with board.transaction() as s:
        refs = s.scalars(select(Question.reference).order_by(Question.id)).all()
        dispositions = s.scalars(select(InboundMessage.disposition).order_by(InboundMessage.id)).all()
    assert refs == ["HD-2026-0001", "HD-2026-0002", "HD-2026-0003", "HD-2026-0004"]
    assert dispositions == ["question", "followup", "ignored", "question", "question", "question"]
    acks = [subject_of(m) for m in smtp_sink.to(citizen)]
    assert len(acks) == 3 and not any("HD-2026-0003" in a or "HD-2026-0004" in a for a in acks)
    board.close()


def test_feedback_gets_a_progress_notice_and_a_declined_question_its_reason(
        tmp_path, database_url, dovecot, smtp_sink):
    """Feedback routed to a unit gets a result or a progress notice within 15 working days (002 art. 11.2)."""
    clock = Clock(local(2026, 11, 23, 9))
    board = question_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    ask(board, subject="Phản ánh chậm trả kết quả chứng thực", text="Tôi phản ánh việc trả kết quả chậm 10 ngày.")
    assert question(board).kind == "feedback"
    board.say(reply(last_to(smtp_sink, SECRETARY[1], "Cần phân công"), "gmail", SECRETARY, "CHUYỂN: PBGDPL"))
    clock.current = local(2026, 12, 1, 9)
    board.say(reply(last_to(smtp_sink, FOCAL[1], "Đề nghị"), "gmail", FOCAL,
                    "TIẾN ĐỘ: Đơn vị đang xác minh với UBND xã, sẽ báo kết quả sau."))
    progress = last_to(smtp_sink, CITIZENS["gmail"][1], "Tiến độ")
    assert "đang xác minh" in plain_of(progress) and "22/12/2026" in plain_of(progress)
    with board.transaction() as s:
        rows = s.scalars(select(Deadline).order_by(Deadline.id)).all()
        assert [(r.rule_name, r.outcome) for r in rows] == [("unit_feedback_response", "met"),
                                                            ("unit_feedback_response", "")]

    ask(board, client="yahoo", subject="Hỏi về giá vàng", text="Xin hỏi giá vàng hôm nay?")
    notice = last_to(smtp_sink, SECRETARY[1], "HD-2026-0002")
    board.say(reply(notice, "gmail", SECRETARY, "TỪ CHỐI: PV"))
    declined = last_to(smtp_sink, CITIZENS["yahoo"][1], "Thông báo")
    assert "Không thuộc phạm vi" in plain_of(declined)
    assert question(board, "HD-2026-0002").status == "declined"
    board.close()
