"""Reminders: a sweep over open deadlines that sends each due reminder once, inside office hours.

Thresholds for a deadline: `before` (reminders.before_hours ahead), `overdue` (to whoever holds it),
then `escalate-deputy` and `escalate-head` after reminders.escalate_after_days and twice that many
working days overdue. For a wait on the author (details, revision), only `before` and `overdue`, to
the author. The ledger (reminders_sent) makes the sweep idempotent: after hours or days of downtime
each passed threshold is sent exactly once at the next sweep in office hours.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from mailbot.articles import workflow
from mailbot.articles.notices import ArticleNotices
from mailbot.articles.review import Review
from mailbot.config import Agency
from mailbot.questions import service as q_module
from mailbot.questions.notices import QuestionNotices
from mailbot.questions.service import Questions
from mailbot.storage.coordination import serialise
from mailbot.storage.db import Database
from mailbot.storage.models import Article, Deadline, Question, ReminderSent
from mailbot.worktime.calendar import TZ

log = logging.getLogger("mailbot.reminders")



def in_office_hours(agency: Agency, now: datetime) -> bool:
    local = now.astimezone(TZ)
    if not agency.calendar.is_working_day(local.date()):
        return False
    return any(begin <= local.time() < end for begin, end in agency.calendar.office_hours)


def thresholds(agency: Agency, deadline: Deadline, now: datetime) -> list[str]:
    """The thresholds this deadline has passed at `now`, mildest first."""
    passed = []
    settings = agency.reminders
    if now >= deadline.due_at - timedelta(hours=settings.before_hours):
        passed.append("before")
    if now > deadline.due_at:
        passed.append("overdue")
        if not deadline.position.startswith(workflow.AUTHOR_WAITS):
            days = settings.escalate_after_days
            if now > agency.calendar.add_working_days(deadline.due_at, days).due:
                passed.append("escalate-deputy")
            if now > agency.calendar.add_working_days(deadline.due_at, 2 * days).due:
                passed.append("escalate-head")
    return passed


def _escalation(agency: Agency, threshold: str) -> list[str] | None:
    if threshold == "escalate-deputy":
        return [m.email for m in agency.members_with("deputy_head")] or [m.email for m in agency.members_with("head")]
    if threshold == "escalate-head":
        return [m.email for m in agency.members_with("head")]
    return None


def recipients(agency: Agency, review, article: Article, threshold: str) -> list[str]:
    if article.status in workflow.AUTHOR_WAITS:
        return [article.submitter_email]
    escalated = _escalation(agency, threshold)
    return escalated if escalated is not None else [email for email, _ in review.holders(article)]


def question_recipients(agency: Agency, questions, question: Question, threshold: str) -> list[str]:
    escalated = _escalation(agency, threshold)
    return escalated if escalated is not None else [h.email for h in questions.holders(question)]


def sweep(db: Database, agency: Agency, review: Review, questions: Questions, notices: ArticleNotices,
          question_notices: QuestionNotices, now: datetime) -> int:
    """Send what is due and not yet in the ledger. Returns how many reminders were queued."""
    if not in_office_hours(agency, now):
        return 0
    queued = 0
    with db.transaction() as s:
        serialise(s, f"sweep:reminders:{agency.slug}")  # another process's sweep waits, then finds the ledger
        open_rows = s.scalars(select(Deadline).where(Deadline.agency == agency.slug, Deadline.closed_at.is_(None))
                              .order_by(Deadline.id)).all()
        for deadline in open_rows:
            passed = thresholds(agency, deadline, now)
            if not passed:
                continue
            sent = set(s.scalars(select(ReminderSent.threshold).where(ReminderSent.agency == agency.slug,
                                                                      ReminderSent.deadline_id == deadline.id)))
            article = s.get_one(Article, deadline.article_id) if deadline.article_id else None
            question = s.get_one(Question, deadline.question_id) if deadline.question_id else None
            for threshold in passed:
                if threshold in sent:
                    continue
                if article is not None:
                    to = recipients(agency, review, article, threshold)
                elif question is not None:
                    to = question_recipients(agency, questions, question, threshold)
                else:
                    continue
                s.add(ReminderSent(agency=agency.slug, key=f"deadline:{deadline.id}:{threshold}",
                                   deadline_id=deadline.id, threshold=threshold, recipients=to, sent_at=now))
                if to:
                    detail = f"nhắc {', '.join(to)}; hạn {deadline.due_at.astimezone(TZ):%H:%M %d/%m/%Y}"
                    if article is not None:
                        notices.reminder(s, article, deadline, threshold, to, now)
                        workflow.note(s, article, f"reminder_{threshold}", actor="mailbot", now=now, detail=detail)
                    elif question is not None:
                        question_notices.question_reminder(s, question, deadline, threshold, to, now)
                        q_module.note(s, question, f"reminder_{threshold}", actor="mailbot", now=now, detail=detail)
                queued += 1
    if queued:
        log.info("reminders queued", extra={"agency": agency.slug, "count": queued})
    return queued
