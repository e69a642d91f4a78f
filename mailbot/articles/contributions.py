"""Contributors' time limits: was the news sent in time after the event, the document after its issue?

The date is read from what the sender wrote (a labelled "Ngày diễn ra:" / "Ngày ban hành:" line,
else the first date in the opening lines: "Sáng 20/11, ...", "ngày 20 tháng 11 năm 2026"), with
its time or part of day where given. Which rule applies to which category is the agency's
`intake.contribution_rules` ({news = "event_news", document = "agency_documents"}). The outcome is
a closed deadline row (position "contribution"): it shows in `mailbot show`, and the monthly
report counts it. Where no date is found the sender is asked, and a date in their reply counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.config import Agency
from mailbot.mail.vntext import fold
from mailbot.storage.models import Article, Deadline
from mailbot.worktime.calendar import TZ

POSITION = "contribution"

_LABELLED = re.compile(r"(?im)^\s*(ngay dien ra|thoi gian dien ra|thoi gian|ngay to chuc|ngay su kien|"
                       r"ngay ban hanh|ngay ky|ngay cong bo|ngay)\s*[:.]\s*(?P<rest>.+)$")
_NUMERIC = re.compile(r"(?<![\d/])(?P<d>[0-3]?\d)\s*[/.-]\s*(?P<m>[01]?\d)(\s*[/.-]\s*(?P<y>(20)?\d\d))?(?![\d/])")
_WORDS = re.compile(r"ngay\s+(?P<d>[0-3]?\d)\s+thang\s+(?P<m>[01]?\d)(\s+nam\s+(?P<y>20\d\d))?")
_CLOCK = re.compile(r"(?<!\d)(?P<h>[0-2]?\d)\s*(h|gio|:)\s*(?P<min>[0-5]\d)?(?!\d)")
_PART_OF_DAY = (("sang", time(11, 30)), ("trua", time(13, 30)), ("chieu", time(17, 0)), ("toi", time(21, 0)))


@dataclass(frozen=True)
class Found:
    when: datetime      # aware, local
    text: str           # what it was read from


def find_date(text: str, received: datetime) -> Found | None:
    """The event or issue date in `text`, the year filled from `received` where missing."""
    folded = fold(text)
    candidates = [m.group("rest") for m in _LABELLED.finditer(folded)]
    opening = "\n".join(line for line in folded.split("\n")[:12] if line.strip())
    candidates.append(opening)
    for chunk in candidates:
        found = _date_in(chunk, received.astimezone(TZ))
        if found:
            return found
    return None


def _date_in(chunk: str, received: datetime) -> Found | None:
    m = _WORDS.search(chunk) or _NUMERIC.search(chunk)
    if not m:
        return None
    day, month = int(m.group("d")), int(m.group("m"))
    year_text = m.group("y")
    year = (2000 + int(year_text) if len(year_text) == 2 else int(year_text)) if year_text else received.year
    try:
        d = date(year, month, day)
    except ValueError:
        return None
    if not year_text and d > received.date() + timedelta(days=30):
        d = d.replace(year=year - 1)   # "20/12" read in January is last December
    around = chunk[max(0, m.start() - 40): m.end() + 40]
    clock = _CLOCK.search(around)
    at = None
    if clock and int(clock.group("h")) < 24:
        at = time(int(clock.group("h")), int(clock.group("min") or 0))
    else:
        at = next((t for word, t in _PART_OF_DAY if re.search(rf"\b{word}\b", around)), None)
    # Only a date is known: the event counts as ended at the close of that day's office hours.
    return Found(datetime.combine(d, at or time(17, 0), TZ), chunk[m.start():m.end()])


def rule_name(agency: Agency, article: Article) -> str | None:
    name = agency.intake.contribution_rules.get(article.category)
    return name if name and isinstance(agency.deadlines.get(name), dict) else None


def assessed(s: Session, article: Article) -> bool:
    return s.scalar(select(Deadline.id).where(Deadline.article_id == article.id,
                                              Deadline.position == POSITION)) is not None


def assess(s: Session, agency: Agency, article: Article, texts: list[str]) -> tuple[str, Deadline | None]:
    """Record whether the article came in time: ("met" or "missed", the row), ("future" | "unknown", None),
    or ("", None) where no rule applies or it was assessed before."""
    name = rule_name(agency, article)
    if name is None or assessed(s, article):
        return "", None
    found = next((f for f in (find_date(t, article.received_at) for t in texts if t) if f), None)
    if found is None:
        return "unknown", None
    if found.when > article.received_at.astimezone(TZ):
        return "future", None   # news announced ahead of the event: nothing to be late for
    rule = agency.deadlines[name]
    deadline = agency.calendar.deadline(rule, found.when)
    outcome = "met" if article.received_at <= deadline.due else "missed"
    explanation = (f"{deadline.explain()}\nNgày ghi trong tin bài: \"{found.text}\". "
                   f"Nhận lúc {article.received_at.astimezone(TZ):%H:%M ngày %d/%m/%Y}: "
                   f"{'đúng hạn' if outcome == 'met' else 'GỬI MUỘN'}.")
    row = Deadline(agency=agency.slug, article_id=article.id, position=POSITION, rule_name=name, rule=dict(rule),
                   start_at=found.when, due_at=deadline.due, explanation=explanation, closed_at=article.received_at,
                   outcome=outcome)
    s.add(row)
    s.flush()
    return outcome, row
