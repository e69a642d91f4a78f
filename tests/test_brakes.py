"""Loops and floods (issue 12): auto-responders that set no headers, a responder writing from the secretary's
own address, one sender's flood, the daily cap on automatic answers to one correspondent, and our own
addresses. Over Dovecot and the SMTP sink, on SQLite and PostgreSQL; each loop runs 30 passes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from mailbot import cli
from mailbot.storage.models import Article, Event, InboundMessage, OutboxMessage
from tests import samples
from tests.conftest import BOARD, HEAD, SECRETARY, Board, write_settings
from tests.review_helpers import subject_of
from tests.servers import Dovecot

AUTHOR = ("Nguyễn Văn An", "an.nv@binhphuoc.gov.vn")
SIGNATURE = "Nguyễn Văn An\nChuyên viên Phòng PBGDPL\nĐT: 0912 345 678"
PASSES = 30


def submission(n: int, sender: tuple[str, str] = AUTHOR) -> bytes:
    return samples.build("gmail", sender=sender, to=BOARD, subject=f"Tin số {n}: hội nghị tổng kết",
                         text=f"Tin bài số {n} về hội nghị tổng kết công tác năm.\n\n{SIGNATURE}")


def answer(received, sender: tuple[str, str], subject: str, text: str) -> bytes:
    msg = received.message
    return samples.build("outlook", sender=sender, to=BOARD, subject=subject, text=text,
                         in_reply_to=msg["Message-ID"].strip("<>"), references=(msg["Message-ID"].strip("<>"),))


def run_responder(board: Board, address: str, reply) -> list[int]:
    """30 passes: each mail mailbot sends to `address` is answered by `reply(received, n)`. Returns how many
    mails `address` had received after each pass."""
    answered = 0
    seen = []
    for n in range(PASSES):
        mails = board.sink.to(address)
        for received in mails[answered:]:
            board.send(reply(received, n))
        answered = len(mails)
        board.run_once()
        seen.append(len(board.sink.to(address)))
    return seen


def count(board: Board, model) -> int:
    with board.transaction() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_a_responder_without_headers_answering_the_acknowledgement_stops_at_once(board):
    board.say(submission(1))
    assert len(board.sink.to(AUTHOR[1])) == 1   # the acknowledgement
    seen = run_responder(board, AUTHOR[1], lambda r, n: answer(
        r, AUTHOR, f"RE: Tin ({n})", "Cảm ơn quý vị đã liên hệ. Thư của quý vị đã được nhận."))
    assert seen[-1] <= 2 and seen[-10:] == [seen[-1]] * 10   # at most one more answer, then silence
    with board.transaction() as s:
        rules = [r for r in s.scalars(select(InboundMessage.rule))]
    assert rules.count("auto-reply") >= 1 and count(board, Article) == 1


def test_an_out_of_office_responder_on_the_secretarys_address_changing_its_subject_makes_nothing(board):
    board.say(submission(1))
    before = count(board, OutboxMessage)
    seen = run_responder(board, SECRETARY, lambda r, n: answer(
        r, ("Nguyễn Thị Thu", SECRETARY), f"Thông tin ({n})",
        "Tôi đang đi công tác đến hết tuần, sẽ trả lời khi trở lại.\n\nNguyễn Thị Thu"))
    assert count(board, Article) == 1 and count(board, OutboxMessage) == before
    assert seen[-1] == seen[0]
    with board.transaction() as s:
        reasons = list(s.scalars(select(InboundMessage.reason).where(InboundMessage.rule == "auto-reply")))
    assert reasons and all("vắng mặt" in r for r in reasons)


def test_a_responder_writing_new_mail_with_the_same_text_is_stopped_by_the_repeat(board):
    """Fresh mails (no threading headers), new subjects, the same text: the third is a responder."""
    board.say(submission(1))

    def fresh(received, n):
        return samples.build("zimbra", sender=("Nguyễn Thị Thu", SECRETARY), to=BOARD,
                             subject=f"Thông tin {n}", text="Đã nhận thông tin, cảm ơn.\n\nNguyễn Thị Thu")

    seen = run_responder(board, SECRETARY, fresh)
    assert count(board, Article) <= 3
    assert seen[-10:] == [seen[-1]] * 10
    with board.transaction() as s:
        assert any("giống hệt" in r for r in s.scalars(select(InboundMessage.reason)))


def test_a_responder_answering_at_once_with_new_words_each_time_is_stopped_by_its_speed(board):
    """No header, no out-of-office wording, a different text each time: the third answer to our mail within
    ten minutes, carrying no command, is a responder's."""
    board.say(submission(1))
    seen = run_responder(board, AUTHOR[1], lambda r, n: answer(
        r, AUTHOR, f"RE: Tin ({n})", f"Đã nhận thư lúc {n} giờ {n * 7 % 60} phút, xin cảm ơn quý cơ quan."))
    assert seen[-10:] == [seen[-1]] * 10 and seen[-1] <= 4
    with board.transaction() as s:
        reasons = list(s.scalars(select(InboundMessage.reason).where(InboundMessage.rule == "auto-reply")))
    assert any("lần trong 10 phút" in r for r in reasons)


@pytest.fixture
def strict(tmp_path, database_url, dovecot, smtp_sink, clock):
    settings = write_settings(tmp_path, database_url, dovecot.url, smtp_sink.url,
                              extra="[agency.limits]\nsubmissions_per_hour = 5\nanswers_per_day = 3\n")
    b = Board(settings, dovecot, smtp_sink, clock)
    yield b
    b.close()


def test_a_flood_is_filed_unanswered_and_the_secretary_hears_of_it_once(strict, capsys, monkeypatch):
    monkeypatch.setenv("MAILBOT_TEST_IMAP_PASSWORD", Dovecot.PASSWORD)
    strict.send(*(submission(n) for n in range(12)))
    report = strict.run_once()
    assert report.counts == {"filed": 12}
    assert count(strict, Article) == 12
    # Five answered (and the cap of three answers a day stops the rest of those): the board heard of five.
    assert len(strict.sink.to(AUTHOR[1])) == 3
    to_head = [m for m in strict.sink.to(HEAD)]
    assert len(to_head) == 5
    brakes = [m for m in strict.sink.to(SECRETARY) if "Tạm ngừng trả lời tự động" in subject_of(m)]
    assert len(brakes) == 2   # one for the flood, one for the answers capped
    with strict.transaction() as s:
        flooded = list(s.scalars(select(Event.article_id).where(Event.kind == "flood")))
        assert len(flooded) == 7
        reference = s.get_one(Article, flooded[0]).reference
    # The secretary sends one on from the command line: the board is asked now, and only once.
    config = ["--config", str(strict.settings.source)]
    def queued_for_it() -> list[list[str]]:
        with strict.transaction() as s:
            return [r.recipients for r in s.scalars(select(OutboxMessage).where(OutboxMessage.article_id == flooded[0]))]

    assert queued_for_it() == []
    assert cli.main([*config, "release", reference]) == 0
    assert f"{reference} released to the board" in capsys.readouterr().out
    queued = queued_for_it()   # the daemon sends them (the command runs on the real clock, the test's is older)
    assert [HEAD] in queued and len(queued) == 2   # the secretary's new-article notice and the head's request
    assert cli.main([*config, "release", reference, "BBT-2026-0001"]) == 1
    said = capsys.readouterr().out
    assert f"{reference} is not waiting after a flood" in said and "BBT-2026-0001 is not waiting" in said
    assert queued_for_it() == queued


def test_automatic_answers_to_one_correspondent_are_capped_for_24_hours(strict, clock):
    for n in range(5):
        strict.say(submission(100 + n))
        clock.current += timedelta(hours=1, minutes=1)   # under the submission rate
    assert len(strict.sink.to(AUTHOR[1])) == 3
    notices = [m for m in strict.sink.to(SECRETARY) if "Tạm ngừng trả lời tự động" in subject_of(m)]
    assert len(notices) == 1
    clock.current += timedelta(hours=24)
    strict.say(submission(200))
    assert len(strict.sink.to(AUTHOR[1])) == 4
    with strict.transaction() as s:
        assert s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.answer_to == AUTHOR[1])) == 4


def test_mailbot_never_writes_to_its_own_addresses(board, clock):
    mailer = board.app.services(board.agency).mailer
    with board.transaction() as s:
        mailer.send(s, "self-test", "test.self", "message/secretary/held", [BOARD],
                    {"inbound": None, "reason": "", "preview": ""}, clock())
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0
