"""The working calendar over 2025-2027 (Tết, substitute days, make-up Saturdays) and every preset deadline rule."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import pytest

from mailbot import config
from mailbot.worktime.calendar import TZ, WorkCalendar

CAL = WorkCalendar()


def at(y, m, d, hh=9, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


@pytest.mark.parametrize("day,reason", [
    (date(2025, 1, 27), "29 Tết"), (date(2025, 1, 29), "Tết Nguyên Đán"), (date(2025, 1, 31), "Mùng ba"),
    (date(2025, 4, 7), "Hùng Vương"), (date(2025, 4, 30), ""), (date(2025, 5, 1), ""),
    (date(2025, 5, 2), "thay cho ngày 26/04/2025"), (date(2025, 9, 1), ""), (date(2025, 9, 2), ""),
    (date(2026, 2, 16), "Giao thừa"), (date(2026, 2, 20), "Mùng bốn"), (date(2026, 4, 27), "nghỉ bù"),
    (date(2026, 8, 31), "thay cho ngày 22/08/2026"), (date(2026, 11, 24), "Văn hóa"),
    (date(2027, 2, 10), "Mùng năm"), (date(2027, 5, 3), "nghỉ bù"), (date(2027, 9, 3), ""),
    (date(2026, 11, 22), "Chủ nhật"), (date(2026, 11, 28), "Thứ Bảy"),
])
def test_days_off_with_their_reasons(day, reason):
    why = CAL.day_off_reason(day)
    assert why is not None and reason in why, why


@pytest.mark.parametrize("day", [
    date(2025, 4, 26),   # make-up Saturday for 2 May 2025
    date(2026, 8, 22),   # make-up Saturday for 31 Aug 2026
    date(2026, 2, 13), date(2026, 2, 23), date(2026, 11, 23), date(2026, 11, 25), date(2027, 2, 11),
])
def test_working_days(day):
    assert CAL.is_working_day(day)


def test_the_agencys_own_decisions_win_over_the_package():
    cal = WorkCalendar(days_off={date(2026, 12, 31): "Nghỉ bù theo Quyết định của UBND tỉnh"},
                       working_days={date(2027, 1, 9): "Làm bù cho ngày 31/12/2026", date(2026, 11, 24): "Trực"})
    assert cal.day_off_reason(date(2026, 12, 31)) == "Nghỉ bù theo Quyết định của UBND tỉnh"
    assert cal.is_working_day(date(2027, 1, 9))          # a Saturday
    assert cal.is_working_day(date(2026, 11, 24))        # a holiday made a working day
    due = cal.add_working_days(at(2026, 12, 30), 2).due.date()
    assert due == date(2027, 1, 5)                       # 31/12 off, 1/1 holiday, 2-3/1 weekend: 4/1, 5/1
    assert cal.add_working_days(at(2027, 1, 8), 1).due.date() == date(2027, 1, 9)


def test_working_days_skip_weekends_and_holidays_and_say_so():
    """Working days leave out weekends, Tết and the public holidays (002 art. 9.3; 004 art. 10.1c)."""
    # A citizen's question on a Saturday: 15 working days counted from Monday, 24/11 skipped.
    d = CAL.add_working_days(at(2026, 11, 21, 10), 15)
    assert d.due == datetime(2026, 12, 14, 17, 0, tzinfo=TZ)
    assert (date(2026, 11, 24), "Ngày Văn hóa Việt Nam") in d.skipped
    text = d.explain()
    assert "15 ngày làm việc" in text and "Hạn: 17:00 ngày 14/12/2026 (Thứ Hai)" in text and "24/11/2026" in text


def test_a_question_just_before_tet():
    d = CAL.add_working_days(at(2026, 2, 13, 16), 15)  # the Friday before Tết Bính Ngọ
    assert d.due.date() == date(2026, 3, 13)
    assert [day for day, _ in d.skipped if day.weekday() < 5] == [date(2026, 2, d_) for d_ in range(16, 21)]


def test_office_hours_count_only_inside_opening_hours():
    d = CAL.add_office_hours(at(2026, 11, 20, 15), 12)   # Friday 15:00 -> 2 h Fri, 7.5 h Mon, 24/11 off
    assert d.due == datetime(2026, 11, 25, 10, 0, tzinfo=TZ)
    lunch = CAL.add_office_hours(at(2026, 11, 23, 11, 0), 1)
    assert lunch.due == datetime(2026, 11, 23, 14, 0, tzinfo=TZ)
    before_opening = CAL.add_office_hours(at(2026, 11, 23, 6, 0), 0.5)
    assert before_opening.due == datetime(2026, 11, 23, 8, 0, tzinfo=TZ)
    custom = WorkCalendar(office_hours=((time(7, 0), time(11, 0)), (time(13, 0), time(17, 0))))
    assert custom.add_office_hours(at(2026, 11, 23, 7), 8).due == datetime(2026, 11, 23, 17, 0, tzinfo=TZ)


def test_hours_and_calendar_days_and_next_period():
    assert CAL.add_hours(at(2026, 2, 15, 20), 24).due == at(2026, 2, 16, 20)  # plain hours ignore Tết
    assert CAL.add_calendar_days(at(2027, 2, 1), 3).due.date() == date(2027, 2, 11)  # ends in Tết: next working day
    assert CAL.first_days_of_next(at(2026, 11, 15), 7, "month").due.date() == date(2026, 12, 7)
    assert CAL.first_days_of_next(at(2027, 1, 20), 7, "month").due.date() == date(2027, 2, 11)
    assert CAL.first_days_of_next(at(2026, 12, 15), 10, "quarter").due.date() == date(2027, 1, 11)
    assert CAL.first_days_of_next(at(2026, 5, 15), 10, "half_year").due.date() == date(2026, 7, 10)


PRESETS = Path(__file__).resolve().parents[1] / "config" / "presets"
START = at(2026, 11, 20, 15)  # a Friday afternoon, before the 24/11 holiday
EXPECTED = {
    ("binhphuoc", "event_news"): datetime(2026, 11, 25, 10, 0, tzinfo=TZ),
    ("binhphuoc", "agency_documents"): date(2026, 11, 25),
    ("binhphuoc", "plans_projects"): date(2026, 11, 26),
    ("binhphuoc", "statistics"): date(2026, 12, 7),
    ("binhphuoc", "citizen_answer"): date(2026, 12, 14),
    ("binhphuoc", "citizen_answer_consulted"): date(2027, 1, 5),  # 1/1 is a holiday too
    ("binhphuoc", "unit_feedback_response"): date(2026, 12, 14),
    ("binhphuoc", "monthly_report"): date(2026, 12, 7),
    ("binhphuoc", "quarterly_report"): date(2027, 1, 11),
    ("binhphuoc", "half_year_report"): date(2026, 11, 30),
    ("binhphuoc", "annual_report"): date(2026, 12, 7),
    ("binhphuoc", "programme_summary"): date(2026, 12, 7),
    ("kontum", "event_news"): datetime(2026, 11, 21, 15, 0, tzinfo=TZ),
    ("kontum", "agency_documents"): date(2026, 11, 23),
    ("vkssoctrang", "legal_documents"): date(2026, 11, 25),
    ("vkssoctrang", "edited_articles"): date(2026, 11, 26),
    ("cchcsoctrang", "event_news"): date(2026, 11, 26),
    ("cchcsoctrang", "administrative_documents"): date(2026, 11, 25),
    ("cchcsoctrang", "normative_documents"): date(2026, 12, 7),
    ("cchcsoctrang", "dissemination"): date(2026, 12, 14),
    ("cchcsoctrang", "statistics"): date(2026, 12, 7),
}
# Waiting times every preset sets, from the same Friday afternoon: 1 working day is Monday 23/11,
# 2 is Wednesday 25/11 (24/11 is a holiday), 3 is Thursday 26/11, 5 is Monday 30/11.
for _preset in ("binhphuoc", "kontum", "vkssoctrang", "cchcsoctrang"):
    EXPECTED[(_preset, "author_details")] = EXPECTED[(_preset, "author_revision")] = date(2026, 11, 26)
    EXPECTED[(_preset, "director_review")] = date(2026, 11, 25)
    EXPECTED[(_preset, "author_original")] = date(2026, 11, 30)   # 5 working days: 23, 25, 26, 27, 30/11
    EXPECTED[(_preset, "publication")] = date(2026, 11, 23)
    # Citizens' questions: the legal limits come from the common preset for every agency.
    EXPECTED[(_preset, "citizen_answer")] = EXPECTED[(_preset, "unit_feedback_response")] = date(2026, 12, 14)
    EXPECTED[(_preset, "citizen_answer_consulted")] = date(2027, 1, 5)
EXPECTED[("kontum", "unit_review")] = EXPECTED[("cchcsoctrang", "unit_review")] = date(2026, 11, 23)
EXPECTED[("cchcsoctrang", "publication")] = datetime(2026, 11, 23, 9, 30, tzinfo=TZ)  # 4 office hours: 2 Fri + 2 Mon


@pytest.mark.parametrize("preset", [p.stem for p in sorted(PRESETS.glob("[!_]*.toml"))])
def test_every_preset_deadline_rule(tmp_path, preset):
    """Every time limit of the presets on the calendar: news and documents (001 art. 9.2a, 9.2b), Bình Phước's (002
    art. 9.3a, 9.3b, 9.3c, 9.3d, 9.3đ), the CCHC's (004 art. 10.1c), and 000 art. 8, whose digits were lost."""
    path = tmp_path / "m.toml"
    path.write_text(f'[[agency]]\nslug = "a"\npreset = "{preset}"\nname = "x"\nboard_address = "b@x.gov.vn"\n'
                    'mailbox = "maildir:i"\noutgoing = "file:o"\n', encoding="utf-8")
    agency = config.load(path, environ={}).agencies[0]
    assert agency.deadlines, preset
    for step in agency.workflow.steps:  # each board step has its own time
        assert agency.calendar.deadline(step.deadline, START).due.date() in (date(2026, 11, 23), date(2026, 11, 25))
    for name, rule in agency.deadlines.items():
        assert (preset, name) in EXPECTED, f"no expectation for {preset}.{name}"
        due = agency.calendar.deadline(rule, START).due
        want = EXPECTED[(preset, name)]
        assert (due if isinstance(want, datetime) else due.date()) == want, (preset, name, due)


def test_calendar_settings_are_checked(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('[[agency]]\nslug = "a"\nname = "x"\nboard_address = "b@x.gov.vn"\nmailbox = "maildir:i"\n'
                    'outgoing = "file:o"\n[agency.calendar]\noffice_hours = [["7h30", "11:30"], ["17:00", "13:30"]]\n'
                    'days_off = { "31/12/2026" = "x" }\n[agency.deadlines]\nodd = { fortnights = 2 }\n',
                    encoding="utf-8")
    with pytest.raises(config.ConfigError) as info:
        config.load(path, environ={})
    keys = [p.key for p in info.value.problems]
    assert keys == ["agency[0].calendar.office_hours[0]", "agency[0].calendar.office_hours[1]",
                    "agency[0].calendar.days_off", "agency[0].deadlines.odd"]
