"""Mail on the calendar rather than on an item: the weekly digest, the monthly report, quota nudges and
summaries, and reminders of the periodic reports units owe.

Each send has a ledger key in reminders_sent (e.g. "digest:2026-11-23"), written in the same
transaction as the outbox row, so a sweep after hours or days of downtime sends what came due
once and misses none. What came due longer ago than its catch-up window is left: a weekly digest
three days late (a long weekend down) still goes out, last week's on the eve of the next does not.
The daemon's APScheduler job runs `sweep`; `mailbot sweep` does the same from cron.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from mailbot.config import Agency, PeriodicReport, Unit
from mailbot.jobs.reminders import in_office_hours
from mailbot.reports import stats as stats_module
from mailbot.reports.notices import PeriodicNotices
from mailbot.reports.stats import contributed
from mailbot.reports.workbook import chart_png, workbook
from mailbot.storage.coordination import serialise
from mailbot.storage.db import Database
from mailbot.storage.models import Article, Event, ReminderSent
from mailbot.worktime.calendar import TZ

log = logging.getLogger("mailbot.periodic")

CATCH_UP = timedelta(days=7)           # monthly mail
DIGEST_CATCH_UP = timedelta(days=3)
BOARD_ROLES = ("head", "deputy_head", "member", "secretary")
LEADERSHIP_ROLES = ("head", "deputy_head", "director")


def _sent(s: Session, agency: Agency, key: str) -> bool:
    return s.scalar(select(ReminderSent.id).where(ReminderSent.agency == agency.slug, ReminderSent.key == key)) \
        is not None


def _record(s: Session, agency: Agency, key: str, kind: str, to: list[str], now: datetime) -> None:
    s.add(ReminderSent(agency=agency.slug, key=key, threshold=kind, recipients=to, sent_at=now))


def board_members(agency: Agency) -> list[str]:
    return [m.email for m in agency.members if m.role in BOARD_ROLES]


def leadership(agency: Agency) -> list[str]:
    people = [m.email for m in agency.members if m.role in LEADERSHIP_ROLES]
    return list(dict.fromkeys(people + list(agency.schedule.report_recipients)))


def unit_people(unit: Unit) -> list[str]:
    return list(dict.fromkeys([*unit.focal_points, *([unit.head] if unit.head else [])]))


# -- when things are due ------------------------------------------------------------------------

def digest_due(agency: Agency, now: datetime) -> datetime:
    """The latest digest time at or before `now` (this week's, or last week's)."""
    local = now.astimezone(TZ)
    day = local.date() - timedelta(days=(local.weekday() - agency.schedule.digest_weekday) % 7)
    due = datetime.combine(day, agency.schedule.digest_time, TZ)
    return due if due <= local else due - timedelta(days=7)


def first_working_day(agency: Agency, year: int, month: int) -> date:
    day = date(year, month, 1)
    while not agency.calendar.is_working_day(day):
        day += timedelta(days=1)
    return day


def last_working_day(agency: Agency, year: int, month: int) -> date:
    day = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    while not agency.calendar.is_working_day(day):
        day -= timedelta(days=1)
    return day


def previous_month(day: date) -> tuple[int, int]:
    return (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)


# -- the sweep ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Due:
    """One periodic mail due and not in the ledger: its key, its ledger kind, who gets it, and how to
    queue it (numbers are counted when it is queued, so `status` can list it without counting)."""
    key: str
    kind: str
    to: list[str]
    queue: Callable[[PeriodicNotices], object]


def due(s: Session, agency: Agency, now: datetime) -> list[Due]:
    """Every periodic mail due at `now` and not yet sent: what the sweep queues and `status` lists."""
    items = [*_digest(s, agency, now), *_monthly_report(s, agency, now)]
    if in_office_hours(agency, now):   # nudges go to people at work, like reminders
        items += [*_quota_nudges(s, agency, now), *_report_reminders(s, agency, now)]
    return items + _quota_summaries(s, agency, now)


def due_now(s: Session, agency: Agency, now: datetime) -> list[str]:
    """The ledger keys of the periodic mail due and not sent (for `mailbot status`)."""
    return [item.key for item in due(s, agency, now)]


def sweep(db: Database, agency: Agency, notices: PeriodicNotices, now: datetime) -> int:
    """Queue every periodic mail that is due and not yet in the ledger. Returns how many were queued."""
    with db.transaction() as s:
        serialise(s, periodic_lock(agency))  # another process's sweep waits, then finds the ledger
        items = due(s, agency, now)
        for item in items:
            item.queue(notices)
            _record(s, agency, item.key, item.kind, item.to, now)
    if items:
        log.info("periodic mail queued", extra={"agency": agency.slug, "count": len(items)})
    return len(items)


def periodic_lock(agency: Agency) -> str:
    """The lock the sweep and the by-hand commands (`digest --send`, `report --send`) share."""
    return f"sweep:periodic:{agency.slug}"


def _digest(s: Session, agency: Agency, now: datetime) -> list[Due]:
    at = digest_due(agency, now)
    key = f"digest:{at.date().isoformat()}"
    to = board_members(agency)
    if now - at > DIGEST_CATCH_UP or not to or _sent(s, agency, key):
        return []
    return [Due(key, "digest", to, lambda notices: notices.digest(s, key, weekly_stats(s, agency, at, now), to, now))]


def weekly_stats(s: Session, agency: Agency, due: datetime, now: datetime) -> stats_module.Stats:
    """The week before the digest's day in numbers; the queue and the questions waiting as they are `now`."""
    stats = stats_module.gather(s, agency, stats_module.Period.week_before(due.astimezone(TZ).date()), now)
    # Quotas are monthly: the units' part of the digest counts the month so far.
    local = now.astimezone(TZ)
    month = stats_module.gather(s, agency, stats_module.Period.month(local.year, local.month), now)
    stats.units = month.units
    return stats


def _monthly_report(s: Session, agency: Agency, now: datetime) -> list[Due]:
    local = now.astimezone(TZ)
    at = datetime.combine(first_working_day(agency, local.year, local.month), agency.schedule.report_time, TZ)
    year, month = previous_month(local.date())
    key = f"report:{year}-{month:02d}"
    to = leadership(agency)
    if now < at or now - at > CATCH_UP or not to or _sent(s, agency, key):
        return []
    return [Due(key, "report", to, lambda notices: send_report(s, agency, notices, year, month, to, now, key))]


def send_report(s: Session, agency: Agency, notices: PeriodicNotices, year: int, month: int, to: list[str], now: datetime,
                key: str) -> tuple[stats_module.Stats, bytes]:
    """Queue the month's report; returns its numbers and the workbook it carries."""
    stats = stats_module.gather(s, agency, stats_module.Period.month(year, month), now)
    xlsx = workbook(stats, agency)
    notices.monthly_report(s, key, stats, to, now, xlsx, chart_png(stats, agency), f"bao-cao-{year}-{month:02d}.xlsx")
    return stats, xlsx


# -- by hand: the same ledger keys as the sweep, so neither sends what the other did ---------------

@dataclass(frozen=True)
class ByHand:
    key: str
    queued: bool
    sent_at: datetime | None = None   # when the ledger says it already went, if it did
    to: tuple[str, ...] = ()
    stats: stats_module.Stats | None = None
    xlsx: bytes = b""


def _already(s: Session, agency: Agency, key: str) -> ByHand | None:
    row = s.scalar(select(ReminderSent).where(ReminderSent.agency == agency.slug, ReminderSent.key == key))
    return ByHand(key, False, row.sent_at, tuple(row.recipients)) if row else None


def digest_by_hand(db: Database, agency: Agency, notices: PeriodicNotices, now: datetime) -> ByHand:
    """`digest --send`: the digest of the latest digest day, unless the sweep (or a person) sent it."""
    with db.transaction() as s:
        serialise(s, periodic_lock(agency))
        due = digest_due(agency, now)
        key = f"digest:{due.date().isoformat()}"
        done = _already(s, agency, key)
        if done:
            return done
        to = board_members(agency)
        stats = weekly_stats(s, agency, due, now)
        notices.digest(s, key, stats, to, now)
        _record(s, agency, key, "digest", to, now)
        return ByHand(key, True, to=tuple(to), stats=stats)


def report_by_hand(db: Database, agency: Agency, notices: PeriodicNotices, year: int, month: int,
                   now: datetime) -> ByHand:
    """`report monthly --send`: a finished month's report, unless the sweep (or a person) sent it.

    A month not yet over is refused (ValueError): its report goes on its first working day after, and a
    partial one sent now would stand in for it.
    """
    local = now.astimezone(TZ).date()
    if (year, month) >= (local.year, local.month):
        nxt = (year + month // 12, month % 12 + 1)
        raise ValueError(f"{month:02d}/{year} is not over; its report goes out on "
                         f"{first_working_day(agency, *nxt):%d/%m/%Y} (--out writes the workbook now)")
    with db.transaction() as s:
        serialise(s, periodic_lock(agency))
        key = f"report:{year}-{month:02d}"
        done = _already(s, agency, key)
        if done:
            return done
        to = leadership(agency)
        stats, xlsx = send_report(s, agency, notices, year, month, to, now, key)
        _record(s, agency, key, "report", to, now)
        return ByHand(key, True, to=tuple(to), stats=stats, xlsx=xlsx)


def _quota_nudges(s: Session, agency: Agency, now: datetime) -> list[Due]:
    local = now.astimezone(TZ)
    day = date(local.year, local.month, agency.schedule.nudge_day)
    while not agency.calendar.is_working_day(day):
        day += timedelta(days=1)
    if local.date() < day or local.date() > last_working_day(agency, local.year, local.month):
        return []
    prefix = f"quota-nudge:{local:%Y-%m}"
    pending = [u.name for u in agency.units if stats_module.quota_of(agency, u.name) and unit_people(u)
               and not _sent(s, agency, f"{prefix}:unit:{u.name}")]
    staff = [m for m in agency.staff if agency.schedule.staff_quota
             and not _sent(s, agency, f"{prefix}:staff:{m.email.lower()}")]
    if not pending and not staff:
        return []   # everyone has had this month's nudge: nothing to count
    month = stats_module.gather(s, agency, stats_module.Period.month(local.year, local.month), now)
    items: list[Due] = []
    for tally in month.units:
        unit = agency.unit_named(tally.name)
        if unit is None or tally.name not in pending or contributed(agency, tally) >= tally.quota:
            continue
        items.append(_nudge(s, f"{prefix}:unit:{tally.name}", month, tally, None, unit_people(unit), now))
    quota = agency.schedule.staff_quota
    if quota:
        done = _staff_counts(s, agency, month.period)
        for member in staff:
            counts = done.get(member.email.lower(), {})
            missing = {c: n - counts.get(c, 0) for c, n in quota.items() if counts.get(c, 0) < n}
            if missing:
                items.append(_nudge(s, f"{prefix}:staff:{member.email.lower()}", month, None,
                                    (member, counts, missing), [member.email], now))
    return items


def _nudge(s: Session, key: str, month: stats_module.Stats, tally: stats_module.Tally | None,
           staff: tuple | None, to: list[str], now: datetime) -> Due:
    return Due(key, "quota-nudge", to, lambda notices: notices.quota_nudge(s, key, month, tally, staff, to, now))


def _staff_counts(s: Session, agency: Agency, period: stats_module.Period) -> dict[str, dict[str, int]]:
    """Per staff address, items by category counted on the agency's basis (received or published)."""
    chosen: ColumnElement[bool]
    if agency.schedule.quota_basis == "published":
        chosen = Article.id.in_(select(Event.article_id).where(
            Event.agency == agency.slug, Event.kind == "published", Event.at >= period.start, Event.at < period.end))
    else:
        chosen = (Article.received_at >= period.start) & (Article.received_at < period.end)
    counts: dict[str, dict[str, int]] = {}
    for a in s.scalars(select(Article).where(Article.agency == agency.slug, chosen)):
        email = ((a.author or {}).get("email") or a.submitter_email).lower()
        per = counts.setdefault(email, {})
        per[a.category] = per.get(a.category, 0) + 1
    return counts


def _quota_summaries(s: Session, agency: Agency, now: datetime) -> list[Due]:
    local = now.astimezone(TZ)
    this_due = datetime.combine(last_working_day(agency, local.year, local.month), agency.schedule.summary_time, TZ)
    if now >= this_due:
        year, month = local.year, local.month
        at = this_due
    else:  # early next month: last month's summary, if the daemon was down when it came due
        year, month = previous_month(local.date())
        at = datetime.combine(last_working_day(agency, year, month), agency.schedule.summary_time, TZ)
    if now - at > CATCH_UP:
        return []
    pending = [u.name for u in agency.units if u.head and not _sent(s, agency, f"quota-summary:{year}-{month:02d}:{u.name}")]
    if not pending:
        return []
    month_stats = stats_module.gather(s, agency, stats_module.Period.month(year, month), now)
    items: list[Due] = []
    for tally in month_stats.units:
        unit = agency.unit_named(tally.name)
        if unit is None or not unit.head or tally.name not in pending:
            continue
        items.append(_summary(s, f"quota-summary:{year}-{month:02d}:{tally.name}", month_stats, tally, [unit.head], now))
    return items


def _summary(s: Session, key: str, month: stats_module.Stats, tally: stats_module.Tally, to: list[str],
             now: datetime) -> Due:
    return Due(key, "quota-summary", to, lambda notices: notices.quota_summary(s, key, month, tally, to, now))


def report_window(agency: Agency, report: PeriodicReport, now: datetime) -> tuple[str, datetime, datetime]:
    """(label of the period reported on, start of the window, due) for the period that ended last."""
    rule = agency.deadlines[report.rule]
    months = {"month": 1, "quarter": 3, "half_year": 6, "year": 12}[rule.get("period", "month")]
    local = now.astimezone(TZ)
    first_month = (local.month - 1) // months * months + 1
    start = datetime(local.year, first_month, 1, tzinfo=TZ)
    ended = start - timedelta(days=1)
    due = agency.calendar.deadline(rule, ended).due
    label = {1: f"tháng {ended:%m/%Y}", 3: f"quý {(ended.month - 1) // 3 + 1}/{ended.year}",
             6: f"6 tháng {'đầu' if ended.month <= 6 else 'cuối'} năm {ended.year}", 12: f"năm {ended.year}"}[months]
    return label, start, due


def _report_reminders(s: Session, agency: Agency, now: datetime) -> list[Due]:
    items: list[Due] = []
    for report in agency.schedule.periodic_reports:
        label, start, at = report_window(agency, report, now)
        threshold = "before" if now <= at else "overdue"
        if now - at > CATCH_UP:
            continue
        for unit in agency.units:
            key = f"periodic:{report.name}:{label}:{unit.name}:{threshold}"
            to = unit_people(unit)
            if not to or _sent(s, agency, key) or _report_received(s, agency, unit, start, now):
                continue
            items.append(_report_reminder(s, key, report, label, at, threshold, unit, to, now))
    return items


def _report_reminder(s: Session, key: str, report: PeriodicReport, label: str, at: datetime, threshold: str,
                     unit: Unit, to: list[str], now: datetime) -> Due:
    return Due(key, f"periodic-{threshold}", to,
               lambda notices: notices.report_reminder(s, key, report, label, at, threshold, unit, to, now))


def _report_received(s: Session, agency: Agency, unit: Unit, since: datetime, now: datetime) -> bool:
    """Whether the unit sent a report (category "report") since the window opened."""
    for a in s.scalars(select(Article).where(Article.agency == agency.slug, Article.category == "report",
                                             Article.received_at >= since, Article.received_at <= now)):
        if stats_module.unit_of(agency, a.author or {}) == unit.name:
            return True
    return False
