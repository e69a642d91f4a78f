"""The numbers behind digests and reports, for one agency and one period, read from the stored history.

Pure reads: nothing here sends or changes anything. An article counts for the unit its author
belongs to (the configured unit the author's written unit names, else the staff directory's),
and for the author by address. Published items are those whose "published" event falls in the
period; photos are the published articles' image files (the basis for royalties).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import Row, and_, func, or_, select
from sqlalchemy.orm import Session

from mailbot.articles import workflow
from mailbot.config import Agency
from mailbot.questions import service as q_module
from mailbot.storage.models import Article, Attachment, Deadline, Event, FileStatus, Question
from mailbot.worktime.calendar import TZ

OUTSIDE = "Ngoài cơ quan / chưa rõ đơn vị"
IMAGES = ("jpg", "png", "gif", "bmp")
CLOSED = (workflow.PUBLISHED, workflow.REJECTED, workflow.TAKEN_DOWN)


@dataclass(frozen=True)
class Period:
    start: datetime   # aware, local midnight
    end: datetime     # exclusive
    label: str

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        start = datetime(year, month, 1, tzinfo=TZ)
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=TZ)
        return cls(start, end, f"tháng {month:02d}/{year}")

    @classmethod
    def week_before(cls, day: date) -> Period:
        """The seven days before `day` (a digest on Monday covers Monday to Sunday of the week before)."""
        end = datetime.combine(day, time(0), TZ)
        start = end - timedelta(days=7)
        return cls(start, end, f"{start:%d/%m} – {end - timedelta(days=1):%d/%m/%Y}")

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


@dataclass
class Tally:
    """What one unit or author contributed."""

    name: str
    unit: str = ""
    quota: int = 0
    email: str = ""     # an author's address (lower case); "" for a unit
    received: int = 0
    news: int = 0
    articles: int = 0
    other: int = 0
    photos: int = 0
    rejected: int = 0
    received_by: dict[str, int] = field(default_factory=dict)    # category -> items sent
    published_by: dict[str, int] = field(default_factory=dict)   # category -> items published

    @property
    def published(self) -> int:
        return self.news + self.articles + self.other


@dataclass(frozen=True)
class Waiting:
    reference: str
    title: str
    where: str
    age_days: int
    due: datetime | None
    overdue: bool


@dataclass
class Stats:
    period: Period
    received: int = 0
    approved: int = 0
    published: int = 0
    rejected: int = 0
    units: list[Tally] = field(default_factory=list)
    authors: list[Tally] = field(default_factory=list)
    on_time: dict[str, tuple[int, int]] = field(default_factory=dict)   # kind -> (met, missed)
    questions: dict[str, int] = field(default_factory=dict)
    questions_by_unit: dict[str, dict[str, int]] = field(default_factory=dict)
    queue: list[Waiting] = field(default_factory=list)
    questions_due: list[Waiting] = field(default_factory=list)

    @property
    def overdue(self) -> list[Waiting]:
        return [w for w in self.queue + self.questions_due if w.overdue]


def unit_of(agency: Agency, author: dict) -> str:
    unit = agency.unit_of_author(author.get("unit", ""), author.get("email", ""))
    return unit.name if unit else OUTSIDE


def quota_of(agency: Agency, unit_name: str) -> int:
    unit = agency.unit_named(unit_name)
    return (unit.monthly_quota if unit and unit.monthly_quota else agency.schedule.unit_quota) if unit else 0


# The columns the numbers need: never the bodies (an article's text can be tens of kilobytes).
_ARTICLE = (Article.id, Article.reference, Article.title, Article.status, Article.step, Article.category,
            Article.author, Article.submitter_email, Article.received_at)
_QUESTION = (Question.reference, Question.title, Question.status, Question.unit, Question.received_at,
             Question.answered_at, Question.due_at)


def gather(s: Session, agency: Agency, period: Period, now: datetime) -> Stats:
    stats = Stats(period)
    in_period = (Event.agency == agency.slug, Event.article_id.is_not(None), Event.at >= period.start,
                 Event.at < period.end)
    events = s.execute(select(Event.article_id, Event.kind).where(*in_period).order_by(Event.id)).all()
    # Only what the period touches: received in it, decided in it, or still waiting (for the queue).
    articles = {a.id: a for a in s.execute(select(*_ARTICLE).where(Article.agency == agency.slug, or_(
        and_(Article.received_at >= period.start, Article.received_at < period.end),
        Article.id.in_(select(Event.article_id).where(*in_period)), Article.status.not_in(CLOSED))))}
    published = select(Event.article_id).where(*in_period, Event.kind == "published")
    images: dict[int | None, int] = dict(s.execute(
        select(Attachment.article_id, func.count()).where(
            Attachment.agency == agency.slug, Attachment.status == FileStatus.OK, Attachment.kind.in_(IMAGES),
            Attachment.article_id.in_(published)).group_by(Attachment.article_id)).all())

    units: dict[str, Tally] = {u.name: Tally(u.name, u.name, quota_of(agency, u.name)) for u in agency.units}
    authors: dict[str, Tally] = {}
    unit_for: dict[tuple[str, str], str] = {}   # (address, written unit) -> unit: each sender's unit worked out once

    def tallies(article: Row[Any]) -> tuple[Tally, Tally]:
        author = article.author or {}
        written = (str(author.get("email", "")), str(author.get("unit", "")))
        unit = unit_for.get(written)
        if unit is None:
            unit = unit_for[written] = unit_of(agency, author)
        key = (author.get("email") or article.submitter_email).lower()
        if unit not in units:
            units[unit] = Tally(unit, unit)
        if key not in authors:
            authors[key] = Tally(author.get("name") or key, unit, email=key)
        return units[unit], authors[key]

    for a in articles.values():
        if a.received_at in period:
            stats.received += 1
            for t in tallies(a):
                t.received += 1
                t.received_by[a.category] = t.received_by.get(a.category, 0) + 1
    for article_id, kind in events:
        a = articles[article_id]
        if kind in ("final_approved", "director_approved"):
            stats.approved += 1
        elif kind == "rejected":
            stats.rejected += 1
            for t in tallies(a):
                t.rejected += 1
        elif kind == "published":
            stats.published += 1
            for t in tallies(a):
                if a.category == "news":
                    t.news += 1
                elif a.category == "article":
                    t.articles += 1
                else:
                    t.other += 1
                t.photos += images.get(a.id, 0)
                t.published_by[a.category] = t.published_by.get(a.category, 0) + 1
    stats.units = sorted(units.values(), key=lambda t: (t.name == OUTSIDE, t.name))
    stats.authors = sorted(authors.values(), key=lambda t: (-t.published, -t.received, t.name))

    for question_id, position, outcome, count in s.execute(select(
            Deadline.question_id.is_not(None), Deadline.position, Deadline.outcome, func.count()).where(
            Deadline.agency == agency.slug, Deadline.closed_at.is_not(None), Deadline.closed_at >= period.start,
            Deadline.closed_at < period.end, Deadline.outcome.in_(("met", "missed"))).group_by(
            Deadline.question_id.is_not(None), Deadline.position, Deadline.outcome)):
        if question_id:
            kind = "questions"
        elif position == "contribution":
            kind = "contributions"
        elif position.startswith(workflow.AUTHOR_WAITS):
            continue
        else:
            kind = "board"
        met, missed = stats.on_time.get(kind, (0, 0))
        stats.on_time[kind] = (met + count * (outcome == "met"), missed + count * (outcome == "missed"))

    _questions(s, agency, period, now, stats)
    _queue(s, agency, articles, now, stats)
    return stats


def _questions(s: Session, agency: Agency, period: Period, now: datetime, stats: Stats) -> None:
    counts: defaultdict[str, int] = defaultdict(int)
    by_unit: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    touched = or_(and_(Question.received_at >= period.start, Question.received_at < period.end),
                  and_(Question.answered_at >= period.start, Question.answered_at < period.end),
                  Question.status.not_in((q_module.ANSWERED, q_module.DECLINED)))
    for q in s.execute(select(*_QUESTION).where(Question.agency == agency.slug, touched)):
        unit = q.unit or "(chưa phân công)"
        if q.received_at in period:
            counts["received"] += 1
            by_unit[unit]["received"] += 1
        if q.answered_at and q.answered_at in period:
            on_time = q.answered_at <= q.due_at
            counts["answered"] += 1
            counts["answered_on_time"] += on_time
            by_unit[unit]["answered"] += 1
            by_unit[unit]["answered_on_time"] += on_time
        if q.status not in (q_module.ANSWERED, q_module.DECLINED) and q.received_at <= now:
            overdue = q.due_at < now
            counts["open"] += 1
            counts["overdue"] += overdue
            by_unit[unit]["overdue"] += overdue
            stats.questions_due.append(Waiting(q.reference, q.title, q_module.STATUS_LABELS_VI[q.status]
                                               + (f" ({q.unit})" if q.unit else ""),
                                               (now - q.received_at).days, q.due_at, overdue))
    stats.questions = dict(counts)
    stats.questions_by_unit = {u: dict(v) for u, v in sorted(by_unit.items())}
    stats.questions_due.sort(key=lambda w: w.due or datetime.max.replace(tzinfo=timezone.utc))


def _queue(s: Session, agency: Agency, articles: dict[int, Row[Any]], now: datetime, stats: Stats) -> None:
    due = dict(s.execute(select(Deadline.article_id, Deadline.due_at).where(
        Deadline.agency == agency.slug, Deadline.closed_at.is_(None), Deadline.article_id.is_not(None))).all())
    for a in sorted(articles.values(), key=lambda a: a.received_at):
        if a.status in CLOSED:
            continue
        where = workflow.STATUS_LABELS_VI.get(a.status, a.status)
        if a.status == workflow.REVIEW:
            step = agency.workflow.step(a.step)
            where = f"{where}: {step.label if step else a.step}"
        when = due.get(a.id)
        stats.queue.append(Waiting(a.reference, a.title, where, (now - a.received_at).days, when,
                                   bool(when and when < now)))


def contributed(agency: Agency, tally: Tally) -> int:
    """What counts against a unit's quota: what it sent, or what was published (agency.quotas.basis)."""
    return tally.received if agency.schedule.quota_basis == "received" else tally.published


@dataclass(frozen=True)
class StaffQuota:
    """One staff member against the per-person quota (001 art. 17.3, Kon Tum): items done and owed by category."""

    tally: Tally
    done: dict[str, int]
    owed: dict[str, int]

    @property
    def met(self) -> bool:
        return all(self.done.get(c, 0) >= n for c, n in self.owed.items())

    @property
    def share(self) -> float:
        """The part of the quota met, 0..1: an item beyond one category's quota does not make up for another's."""
        total = sum(self.owed.values())
        return sum(min(self.done.get(c, 0), n) for c, n in self.owed.items()) / total if total else 1.0


def staff_quotas(agency: Agency, stats: Stats) -> list[StaffQuota]:
    """Every staff member of the directory with their own quota, including those who sent nothing."""
    owed = agency.schedule.staff_quota
    if not owed:
        return []
    by_email = {t.email: t for t in stats.authors}
    rows = []
    for member in agency.staff:
        email = member.email.lower()
        tally = by_email.get(email) or Tally(member.name, unit_of(agency, {"email": email, "unit": member.unit}),
                                            email=email)
        done = tally.received_by if agency.schedule.quota_basis == "received" else tally.published_by
        rows.append(StaffQuota(tally, dict(done), dict(owed)))
    return rows


def rate(pair: tuple[int, int]) -> str:
    met, missed = pair
    return f"{100 * met / (met + missed):.0f}% ({met}/{met + missed})" if met + missed else "—"


def share(pair: tuple[int, int]) -> float | None:
    """The same rate as a number (0..1) for a spreadsheet; None where nothing was counted."""
    met, missed = pair
    return met / (met + missed) if met + missed else None
