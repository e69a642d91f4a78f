"""The Vietnamese working calendar: days off (weekends, public holidays, the agency's own), office hours,
and deadlines under each clock kind, each deadline able to say how it was counted.

Public holidays, substitute days and make-up Saturdays come from the `holidays` package (VN,
Vietnamese names); the agency's configuration adds the days the government's decisions fix for a
given year (extra days off, make-up working days), which win over the package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
_WEEKDAYS_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")
CLOCK_KINDS = ("hours", "office_hours", "working_days", "calendar_days", "first_days_of_next")


@lru_cache(maxsize=32)
def _public_holidays(year: int) -> Any:
    import holidays  # loads every country's module (about 0.2 s): only where a day is looked up

    return holidays.VN(years=year, language="vi")


@dataclass(frozen=True)
class Deadline:
    rule: str                      # e.g. "15 ngày làm việc"
    start: datetime                # aware, local time
    due: datetime                  # aware, local time
    skipped: tuple[tuple[date, str], ...] = ()

    def explain(self) -> str:
        lines = [f"Quy định: {self.rule}, tính từ {self.start:%H:%M ngày %d/%m/%Y}.",
                 f"Hạn: {self.due:%H:%M ngày %d/%m/%Y} ({_WEEKDAYS_VI[self.due.weekday()]})."]
        if self.skipped:
            lines.append("Không tính: " + "; ".join(f"{d:%d/%m/%Y} ({why})" for d, why in self.skipped) + ".")
        return "\n".join(lines)


@dataclass(frozen=True)
class WorkCalendar:
    office_hours: tuple[tuple[time, time], ...] = ((time(7, 30), time(11, 30)), (time(13, 30), time(17, 0)))
    days_off: dict[date, str] = field(default_factory=dict)       # the agency's extra days off
    working_days: dict[date, str] = field(default_factory=dict)   # the agency's make-up working days
    public_holidays: bool = True   # False only to check a rule's form (loading the settings), never to count

    # -- days ------------------------------------------------------------------------------

    def day_off_reason(self, day: date) -> str | None:
        """Why `day` is not a working day, or None when it is."""
        if day in self.working_days:
            return None
        if day in self.days_off:
            return self.days_off[day]
        if not self.public_holidays:
            return _WEEKDAYS_VI[day.weekday()] if day.weekday() >= 5 else None
        public = _public_holidays(day.year)
        if day in public:
            return public[day]
        if day.weekday() >= 5 and day not in public.weekend_workdays:
            return _WEEKDAYS_VI[day.weekday()]
        return None

    def is_working_day(self, day: date) -> bool:
        return self.day_off_reason(day) is None

    def _close_of(self, day: date) -> datetime:
        return datetime.combine(day, self.office_hours[-1][1], TZ)

    # -- clocks ----------------------------------------------------------------------------

    def add_working_days(self, start: datetime, n: int) -> Deadline:
        """N working days after the day of `start` (that day not counted); due at the close of office hours."""
        local = start.astimezone(TZ)
        day, counted, skipped = local.date(), 0, []
        while counted < n:
            day += timedelta(days=1)
            why = self.day_off_reason(day)
            if why:
                skipped.append((day, why))
            else:
                counted += 1
        return Deadline(f"{n} ngày làm việc", local, self._close_of(day), tuple(skipped))

    def add_office_hours(self, start: datetime, hours: float) -> Deadline:
        """Hours counted only inside office hours on working days."""
        local = start.astimezone(TZ)
        remaining = timedelta(hours=hours)
        cursor, skipped = local, []
        while True:
            day = cursor.date()
            why = self.day_off_reason(day)
            if why:
                skipped.append((day, why))
            else:
                for open_, close in self.office_hours:
                    begin = max(cursor, datetime.combine(day, open_, TZ))
                    end = datetime.combine(day, close, TZ)
                    if begin >= end:
                        continue
                    if end - begin >= remaining:
                        return Deadline(f"{hours:g} giờ hành chính", local, begin + remaining, tuple(skipped))
                    remaining -= end - begin
            cursor = datetime.combine(day + timedelta(days=1), time(0, 0), TZ)

    def add_hours(self, start: datetime, hours: float) -> Deadline:
        local = start.astimezone(TZ)
        return Deadline(f"{hours:g} giờ", local, local + timedelta(hours=hours))

    def _roll_forward(self, day: date) -> tuple[date, list[tuple[date, str]]]:
        """A deadline whose last day is a day off ends on the next working day (Civil Code, art. 148)."""
        skipped = []
        while (why := self.day_off_reason(day)) is not None:
            skipped.append((day, why))
            day += timedelta(days=1)
        return day, skipped

    def add_calendar_days(self, start: datetime, n: int) -> Deadline:
        local = start.astimezone(TZ)
        day, skipped = self._roll_forward(local.date() + timedelta(days=n))
        return Deadline(f"{n} ngày", local, self._close_of(day), tuple(skipped))

    def first_days_of_next(self, start: datetime, n: int, period: str = "month") -> Deadline:
        """'Within the first N days of the next month/quarter/half-year/year': by day N of that period."""
        local = start.astimezone(TZ)
        months = {"month": 1, "quarter": 3, "half_year": 6, "year": 12}[period]
        first_month = ((local.month - 1) // months + 1) * months + 1
        year = local.year + (first_month - 1) // 12
        last = date(year, (first_month - 1) % 12 + 1, 1) + timedelta(days=n - 1)
        day, skipped = self._roll_forward(last)
        label = {"month": "tháng", "quarter": "quý", "half_year": "6 tháng", "year": "năm"}[period]
        return Deadline(f"trong {n} ngày đầu {label} sau", local, self._close_of(day), tuple(skipped))

    def deadline(self, rule: dict, start: datetime) -> Deadline:
        """A configured rule such as {working_days = 15} or {first_days_of_next = 7, period = "month"}."""
        kinds = [k for k in CLOCK_KINDS if k in rule]
        if len(kinds) != 1:
            raise ValueError(f"a deadline rule needs exactly one of {', '.join(CLOCK_KINDS)}: {rule}")
        kind = kinds[0]
        value = rule[kind]
        if kind == "working_days":
            return self.add_working_days(start, int(value))
        if kind == "office_hours":
            return self.add_office_hours(start, float(value))
        if kind == "hours":
            return self.add_hours(start, float(value))
        if kind == "calendar_days":
            return self.add_calendar_days(start, int(value))
        return self.first_days_of_next(start, int(value), rule.get("period", "month"))
