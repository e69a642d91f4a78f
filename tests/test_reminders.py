"""Reminders over time: a controllable clock, the daemon stopped over a long weekend, each reminder once."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from mailbot import views
from mailbot.storage.models import ReminderSent
from tests.conftest import Clock
from tests.review_helpers import AUTHOR, DEPUTY, HEAD, MEMBER, review_board, subject_of, submission

LOCAL = timezone(timedelta(hours=7))


def local(y, m, d, hh, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LOCAL).astimezone(timezone.utc)


def reminders_to(sink, address: str) -> list[str]:
    return [subject_of(m) for m in sink.to(address) if "hạn" in subject_of(m).lower() or "Nhắc" in subject_of(m)]


def ledger(board) -> list[tuple[str, tuple[str, ...]]]:
    with board.transaction() as s:
        return [(r.threshold, tuple(sorted(r.recipients))) for r in s.scalars(select(ReminderSent).order_by(ReminderSent.id))]


def test_each_reminder_once_across_a_long_weekend_of_downtime(tmp_path, database_url, dovecot, smtp_sink):
    """The board is reminded of each step's time, and the deputy and head told when it is late (002 art. 14.3đ, 15)."""
    clock = Clock(local(2026, 4, 29, 9))  # Wednesday before 30/4 and 1/5
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    board.say(submission())  # edit step: 1 working day -> due Monday 4/5 17:00 (30/4-3/5 are days off)
    board.close()            # the daemon is stopped for the long weekend

    def restart_and_pass(at: datetime):
        clock.current = at
        b = review_board(tmp_path, database_url, dovecot, smtp_sink, clock)
        b.run_once()
        b.close()

    restart_and_pass(local(2026, 5, 4, 8))        # Monday morning: not within 4 h of the deadline yet
    assert ledger(board) == []
    restart_and_pass(local(2026, 5, 4, 13, 30))   # 3.5 h before: the "before" reminder, once
    restart_and_pass(local(2026, 5, 4, 14))
    holders = tuple(sorted((MEMBER[1], DEPUTY[1], HEAD[1])))
    assert ledger(board) == [("before", holders)]
    restart_and_pass(local(2026, 5, 4, 21))       # overdue, but out of office hours: nothing
    assert len(ledger(board)) == 1
    with board.transaction() as s:                # `mailbot status` counts what the next pass will send
        assert views.status(s, board.agency, local(2026, 5, 6, 9))["reminders_due"] == 2
    restart_and_pass(local(2026, 5, 6, 9))        # back on Wednesday: overdue, and a working day late
    with board.transaction() as s:
        assert views.status(s, board.agency, local(2026, 5, 6, 9, 5))["reminders_due"] == 0
    assert ledger(board) == [("before", holders), ("overdue", holders), ("escalate-deputy", (DEPUTY[1],))]
    restart_and_pass(local(2026, 5, 9, 10))       # Saturday: the head's turn has come, but not on a day off
    assert len(ledger(board)) == 3
    restart_and_pass(local(2026, 5, 11, 7, 45))   # Monday, office open
    restart_and_pass(local(2026, 5, 11, 9))
    assert ledger(board)[-1] == ("escalate-head", (HEAD[1],))
    assert len(ledger(board)) == 4
    assert len(reminders_to(smtp_sink, MEMBER[1])) == 2      # before + overdue
    assert len(reminders_to(smtp_sink, DEPUTY[1])) == 3      # before + overdue + escalation
    assert len(reminders_to(smtp_sink, HEAD[1])) == 3        # before + overdue + escalation
    assert any("báo cáo lãnh đạo" in s for s in reminders_to(smtp_sink, HEAD[1]))


def test_the_author_is_reminded_of_missing_details(tmp_path, database_url, dovecot, smtp_sink):
    clock = Clock(local(2026, 11, 23, 9))  # Monday
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    board.say(submission(sender=("", "tuan.pm@gmail.com"), text="Gửi tin.\n\nTuấn"))
    # author_details: 3 working days after Monday -> 25, 26, 27/11 (24/11 is a holiday): Friday 17:00
    clock.current = local(2026, 11, 27, 14)
    board.run_once()
    clock.current = local(2026, 11, 30, 8)
    board.run_once()
    board.run_once()
    assert ledger(board) == [("before", ("tuan.pm@gmail.com",)), ("overdue", ("tuan.pm@gmail.com",))]
    subjects = reminders_to(smtp_sink, "tuan.pm@gmail.com")
    assert len(subjects) == 2 and all("bổ sung thông tin" in s for s in subjects)
    assert not reminders_to(smtp_sink, AUTHOR[1])
    board.close()
