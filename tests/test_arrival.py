"""Time limits count from when mail reached the board's server, not from when mailbot read it (issue 14 item 1).

The daemon is stopped over a weekend and over Tết: a question, an article and a board member's reply that
arrived meanwhile are read days later, and their limits still start (or end) when they arrived, as IMAP
INTERNALDATE or a Maildir file says, cross-checked by the topmost Received header.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from mailbot.inbound import arrival
from mailbot.inbound.sources.maildir import MaildirSource
from mailbot.mail.message import parse
from mailbot.storage.models import Article, Deadline, InboundMessage, Question
from tests import samples
from tests.conftest import Clock
from tests.review_helpers import BOARD, MEMBER, last_to, plain_of, reply, review_board, submission

LOCAL = timezone(timedelta(hours=7))
CITIZEN = ("Nguyễn Văn Bình", "binh.nguyen@gmail.com")
QUESTION = ("Kính gửi Ban Biên tập,\nTôi muốn hỏi bản sao chứng thực từ bản chính có giá trị sử dụng bao lâu?\n"
            "Xin cảm ơn.\nNguyễn Văn Bình, số 12 Trần Hưng Đạo, phường Tân Phú, 0912 345 678")


def local(y, m, d, hh, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LOCAL).astimezone(timezone.utc)


def question_mail(received: str = "") -> bytes:
    headers = (("Received", f"from mail-sor-f41.google.com by mx.binhphuoc.gov.vn; {received}"),) if received else ()
    return samples.build("gmail", sender=CITIZEN, to=BOARD, subject="Hỏi về giá trị bản sao chứng thực",
                         text=QUESTION, extra_headers=headers)


def _question(board) -> Question:
    with board.transaction() as s:
        return s.scalars(select(Question)).one()


def test_a_question_sent_on_friday_is_due_from_friday_though_read_on_monday(tmp_path, database_url, dovecot,
                                                                          smtp_sink):
    """002 art. 9.3e: 15 working days from receipt. Friday 27/11 16:00 counts from Monday 30/11 (due 18/12); read
    on Monday 30/11 it would count from Tuesday 1/12 (due 21/12)."""
    clock = Clock(local(2026, 11, 27, 16))
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    board.send(question_mail())                       # Friday 16:00; the daemon is stopped until Monday
    clock.current = local(2026, 11, 30, 8)
    board.run_once()
    q = _question(board)
    assert q.received_at == local(2026, 11, 27, 16)
    assert q.due_at.astimezone(LOCAL) == datetime(2026, 12, 18, 17, 0, tzinfo=LOCAL)
    ack = last_to(smtp_sink, CITIZEN[1], q.reference)
    assert "17:00 ngày 18/12/2026" in plain_of(ack) and "16:00 ngày 27/11/2026" in plain_of(ack)
    with board.transaction() as s:
        row = s.scalars(select(InboundMessage)).one()
        deadline = s.scalars(select(Deadline).where(Deadline.question_id == q.id)).one()
    assert row.arrived_at == local(2026, 11, 27, 16) and row.received_at == local(2026, 11, 30, 8)
    assert row.arrival_note == ""                     # the mailbox's time, nothing to remark
    assert deadline.start_at == local(2026, 11, 27, 16)
    # The ack itself is dated when it was written, Monday, not Friday.
    assert "30 Nov 2026" in ack.message["Date"]
    board.close()


def test_a_question_sent_before_tet_is_due_from_before_tet(tmp_path, database_url, dovecot, smtp_sink):
    """002 art. 9.3e over Tết 2027 (4/2-10/2 off): sent on 3/2 at 10:00 and read on 11/2 after the holiday, it is due on 3/3, as if
    read at once; counted from 11/2 it would be due on 4/3."""
    clock = Clock(local(2027, 2, 3, 10))
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    board.send(question_mail())
    clock.current = local(2027, 2, 11, 7, 30)
    board.run_once()
    q = _question(board)
    assert q.reference == "HD-2027-0001" and q.received_at == local(2027, 2, 3, 10)
    assert q.due_at.astimezone(LOCAL) == datetime(2027, 3, 3, 17, 0, tzinfo=LOCAL)
    assert "17:00 ngày 03/03/2027" in plain_of(last_to(smtp_sink, CITIZEN[1], q.reference))
    board.close()


def test_articles_and_replies_keep_their_arrival_through_downtime(tmp_path, database_url, dovecot, smtp_sink):
    """The board's step counts from the article's arrival; a member's reply that arrived in time is on time, and
    the next step counts from when mailbot passes it on (the next person hears of it then)."""
    clock = Clock(local(2026, 11, 20, 15))            # Friday 15:00
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    board.send(submission())
    clock.current = local(2026, 11, 23, 9)            # read on Monday 09:00
    board.run_once()
    board_side = Deadline.position != "contribution"
    with board.transaction() as s:
        article = s.scalars(select(Article)).one()
        [edit] = s.scalars(select(Deadline).where(board_side)).all()
    assert article.received_at == local(2026, 11, 20, 15)
    assert edit.start_at == local(2026, 11, 20, 15)
    assert edit.due_at.astimezone(LOCAL) == datetime(2026, 11, 23, 17, 0, tzinfo=LOCAL)   # 1 working day

    # The member approves on Monday at 16:30, in time; mailbot is down again and reads it on Tuesday.
    clock.current = local(2026, 11, 23, 16, 30)
    board.send(reply(last_to(smtp_sink, MEMBER[1], "Biên tập"), "gmail", MEMBER, "DUYỆT"))
    clock.current = local(2026, 11, 24, 9)
    board.run_once()
    with board.transaction() as s:
        rows = s.scalars(select(Deadline).where(board_side).order_by(Deadline.id)).all()
    assert [(d.position, d.outcome) for d in rows] == [("review:edit", "met"), ("review:verify", "")]
    assert rows[0].closed_at == local(2026, 11, 23, 16, 30)
    assert rows[1].start_at == local(2026, 11, 24, 9)
    # `mailbot show` gives both times, in Vietnam time.
    from mailbot.cli import format_detail
    from mailbot.views import article_detail
    with board.transaction() as s:
        text = format_detail(article_detail(s, article.reference))
    assert "15:00 20/11/2026 " in text and "(read 09:00 23/11/2026)" in text
    assert "received:  15:00 20/11/2026" in text
    board.close()


def test_maildir_delivery_time_from_the_name_or_the_file(tmp_path):
    box = MaildirSource(tmp_path / "Maildir")
    friday = local(2026, 11, 27, 16)
    named = box.path / "new" / f"{int(friday.timestamp())}.M12P34.mx.binhphuoc.gov.vn"
    named.write_bytes(question_mail())                # the delivery agent's name carries the time
    unnamed = box.path / "new" / "incoming-1"
    unnamed.write_bytes(question_mail())
    os.utime(unnamed, (friday.timestamp() + 60, friday.timestamp() + 60))
    got = {p.key: p.arrived for p in box.pending()}
    assert got == {named.name: friday, "incoming-1": friday + timedelta(minutes=1)}


def test_a_maildir_board_counts_from_delivery(tmp_path, database_url):
    from tests.conftest import Board, write_settings

    clock = Clock(local(2026, 11, 27, 16))
    settings = write_settings(tmp_path, database_url, f"maildir:{tmp_path / 'in'}", f"file:{tmp_path / 'out'}")
    board = Board(settings, None, None, clock)
    board.send(question_mail())
    clock.current = local(2026, 11, 30, 8)
    board.run_once()
    with board.transaction() as s:
        q = s.scalars(select(Question)).one()
    assert q.received_at == local(2026, 11, 27, 16)
    board.close()


def test_received_header_cross_checks_the_mailbox_time():
    now = local(2026, 11, 30, 8)
    friday = local(2026, 11, 27, 16)
    parsed = parse(question_mail("Fri, 27 Nov 2026 16:10:00 +0700"))
    assert arrival.arrival(friday, parsed, now) == arrival.Arrival(friday)           # they agree
    # The server stamped it on Thursday; the mailbox shows it from Friday (moved, restored): the earlier.
    early = parse(question_mail("Thu, 26 Nov 2026 09:00:00 +0700"))
    got = arrival.arrival(friday, early, now)
    assert got.at == local(2026, 11, 26, 9) and "09:00 26/11/2026" in got.note and "sớm hơn" in got.note
    # A stamp after the mailbox's time, or from another year, does not move it; both are noted.
    for stamp in ("Sat, 28 Nov 2026 09:00:00 +0700", "Tue, 01 Jan 2019 09:00:00 +0700"):
        got = arrival.arrival(friday, parse(question_mail(stamp)), now)
        assert got.at == friday and "tính theo hộp thư" in got.note, stamp
    # No time from the source: the stamp when recent; else when mailbot read it.
    got = arrival.arrival(None, parsed, now)
    assert got.at == local(2026, 11, 27, 16, 10) and "Received" in got.note
    assert arrival.arrival(None, parse(question_mail()), now).at == now
    assert arrival.arrival(None, parse(question_mail("not a date")), now).at == now
    # A server clock ahead of ours never puts arrival in the future.
    got = arrival.arrival(now + timedelta(hours=1), parse(question_mail()), now)
    assert got.at == now and got.note
