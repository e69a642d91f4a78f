"""Digests, the monthly report, quota mail and report reminders, checked against a seeded history.

The history is written straight into the tables (articles, their events and photos, closed
deadlines, questions) so that every number below can be counted by hand; the mail goes out
through the outbox to the aiosmtpd sink as in production.
"""

from __future__ import annotations

import io
import secrets
from datetime import datetime, timedelta, timezone

from openpyxl import load_workbook
from PIL import Image
from sqlalchemy import select

from mailbot.jobs import periodic
from mailbot.storage.models import Article, Attachment, Deadline, Event, InboundMessage, Question, ReminderSent
from tests.conftest import Clock
from tests.review_helpers import (
    AUTHOR,
    DEPUTY,
    DIRECTOR,
    HEAD,
    MEMBER,
    SECRETARY,
    UNIT_HEAD,
    plain_of,
    review_board,
    subject_of,
)

LOCAL = timezone(timedelta(hours=7))
PBGDPL = "Phòng Phổ biến, giáo dục pháp luật"
VP = "Văn phòng Sở"
FOCAL, VP_HEAD, VP_FOCAL = "lan.tt@binhphuoc.gov.vn", "minh.vp@binhphuoc.gov.vn", "ha.pt@binhphuoc.gov.vn"
HOA = {"name": "Lê Thị Hoa", "unit": VP, "email": "hoa.lt@binhphuoc.gov.vn"}
OUTSIDER = {"name": "Trần Văn Phóng", "unit": "Báo Bình Phước", "email": "phong@baobinhphuoc.vn"}
AN = {"name": AUTHOR[0], "unit": "Phòng PBGDPL", "email": AUTHOR[1]}
UNITS = f"""monthly_quota = 2
focal_points = ["{FOCAL}"]

[[agency.units]]
name = "{VP}"
aliases = ["VP"]
head = "{VP_HEAD}"
focal_points = ["{VP_FOCAL}"]
monthly_quota = 2
"""


def local(y, m, d, hh=9, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=LOCAL).astimezone(timezone.utc)


def periodic_board(tmp_path, database_url, dovecot, smtp_sink, clock, preset="binhphuoc"):
    return review_board(tmp_path, database_url, dovecot, smtp_sink, clock, preset=preset, unit_extra=UNITS)


class Seeder:
    def __init__(self, s, agency: str, first: int = 1):
        self.s, self.agency, self.n = s, agency, first - 1
        self.inbound = InboundMessage(agency=agency, raw_sha256=secrets.token_hex(32), raw_size=1, received_at=local(2026, 10, 1),
                                      disposition="filed")
        s.add(self.inbound)
        s.flush()

    def article(self, author, category, received, status, events=(), photos=0):
        self.n += 1
        a = Article(agency=self.agency, reference=f"BBT-2026-{self.n:04d}", status=status, category=category,
                    title=f"Tin bài {self.n}", author=author, submitter_email=author["email"], received_at=received,
                    updated_at=received, step="edit" if status == "review" else "")
        self.s.add(a)
        self.s.flush()
        for kind, at in events:
            self.s.add(Event(agency=self.agency, article_id=a.id, at=at, actor="x", kind=kind))
        for i in range(photos):
            self.s.add(Attachment(agency=self.agency, inbound_id=self.inbound.id, article_id=a.id,
                                  filename=f"anh{i}.jpg", kind="jpg", size=10, sha256=f"{self.n}{i}".ljust(64, "0"),
                                  status="ok"))
        return a

    def deadline(self, article, due, closed, outcome="", position="review:edit"):
        self.s.add(Deadline(agency=self.agency, article_id=article.id, position=position, rule_name="r", rule={},
                            start_at=due - timedelta(days=1), due_at=due, closed_at=closed, outcome=outcome))

    def question(self, ref, received, due, unit="", answered=None, status="assigned"):
        self.s.add(Question(agency=self.agency, reference=ref, kind="question", status=status, title=ref,
                            asker_email="x@gmail.com", unit=unit, due_at=due, received_at=received,
                            updated_at=received, answered_at=answered))


def seed(board) -> None:
    """November 2026, counted by hand in the tests below."""
    with board.transaction() as s:
        x = Seeder(s, board.agency.slug)
        a6 = x.article(AN, "news", local(2026, 10, 28), "published",
                       [("final_approved", local(2026, 11, 2, 8)), ("published", local(2026, 11, 2, 10))], photos=1)
        a1 = x.article(AN, "news", local(2026, 11, 2), "published",
                       [("final_approved", local(2026, 11, 3, 8)), ("published", local(2026, 11, 3, 10))], photos=2)
        a2 = x.article(AN, "article", local(2026, 11, 5), "published",
                       [("final_approved", local(2026, 11, 6, 8)), ("published", local(2026, 11, 6, 10))])
        x.article(HOA, "news", local(2026, 11, 23), "rejected", [("rejected", local(2026, 11, 25))])
        a4 = x.article(AN, "photos", local(2026, 11, 10), "published",
                       [("final_approved", local(2026, 11, 23, 10)), ("published", local(2026, 11, 24))], photos=3)
        a5 = x.article(OUTSIDER, "news", local(2026, 11, 26), "review")
        x.deadline(a5, due=local(2026, 11, 27, 17), closed=None)
        for article, outcome in ((a6, "met"), (a1, "met"), (a2, "met"), (a4, "missed")):
            x.deadline(article, due=local(2026, 11, 20, 17), closed=local(2026, 11, 19), outcome=outcome)
        x.question("HD-2026-0001", local(2026, 11, 3), local(2026, 11, 24, 17), PBGDPL, local(2026, 11, 20), "answered")
        x.question("HD-2026-0002", local(2026, 10, 20), local(2026, 11, 10, 17), VP, local(2026, 11, 25), "answered")
        x.question("HD-2026-0003", local(2026, 11, 27), local(2026, 12, 18, 17), status="new")


def sweep(board, at: datetime):
    board.clock.current = at
    return board.worker.send_due(periodic=True)


def to(sink, address, contains):
    return [m for m in sink.to(address) if contains in subject_of(m)]


def test_weekly_digest_counts_the_week_and_goes_out_once(tmp_path, database_url, dovecot, smtp_sink):
    """The board's weekly picture, to follow up and urge (001 art. 14.4; 002 art. 14.3đ)."""
    board = periodic_board(tmp_path, database_url, dovecot, smtp_sink, Clock(local(2026, 11, 30, 7, 0)))
    seed(board)
    sweep(board, local(2026, 11, 30, 7, 0))           # Monday, before 07:30: nothing yet
    assert not to(smtp_sink, HEAD[1], "Bản tin tuần")
    with board.transaction() as s:                    # `mailbot status` sees it due at 08:00, and not after
        due = periodic.due_now(s, board.agency, local(2026, 11, 30, 8, 0))
    # The month's last working day: the Văn phòng, behind its quota, is nudged at the same sweep.
    assert due == ["digest:2026-11-30", f"quota-nudge:2026-11:unit:{VP}"]
    sweep(board, local(2026, 11, 30, 8, 0))
    with board.transaction() as s:
        assert periodic.due_now(s, board.agency, local(2026, 11, 30, 8, 5)) == []
    sweep(board, local(2026, 11, 30, 15, 0))          # and again later: still once
    for person in (HEAD, DEPUTY, MEMBER, SECRETARY):
        assert len(to(smtp_sink, person[1], "Bản tin tuần")) == 1, person
    assert not to(smtp_sink, DIRECTOR[1], "Bản tin tuần")
    [digest] = to(smtp_sink, HEAD[1], "Bản tin tuần")
    assert subject_of(digest) == "Bản tin tuần 23/11 – 29/11/2026: nhận 2, đăng 1, quá hạn 1"
    text = plain_of(digest)
    for line in ("Tin bài nhận:   2", "Đã duyệt:       1", "Đã đăng:        1", "Không duyệt:    1",
                 "Câu hỏi nhận:   1; đã trả lời: 1 (0 đúng hạn)",
                 "! BBT-2026-0006  Tin bài 6 – đang xét duyệt: Biên tập, hạn 17:00 ngày 27/11/2026",
                 "HD-2026-0003  HD-2026-0003 – chờ phân công đơn vị trả lời, hạn 17:00 ngày 18/12/2026",
                 f"{PBGDPL}: 3/2", f"{VP}: 1/2 – chưa đạt", "Ngoài cơ quan / chưa rõ đơn vị: 1"):
        assert line in text, line
    assert "<table" in _html_of(digest) and "Quá hạn (1)" in _html_of(digest)
    board.close()


def _html_of(received) -> str:
    import email
    import email.policy
    msg = email.message_from_bytes(received.raw, policy=email.policy.default)
    return msg.get_body(("html",)).get_content()


def test_monthly_report_numbers_workbook_and_chart(tmp_path, database_url, dovecot, smtp_sink):
    """The monthly summary for the leadership (002 art. 18.5; 004 art. 14), with counts per author for royalties and
    the emulation review (001 art. 17.1e, 20; 002 art. 8.2, 16; 004 art. 6.3g)."""
    board = periodic_board(tmp_path, database_url, dovecot, smtp_sink, Clock(local(2026, 12, 1, 7, 0)))
    seed(board)
    sweep(board, local(2026, 12, 1, 7, 0))            # Tuesday 1/12, the first working day: due at 07:30
    assert not to(smtp_sink, HEAD[1], "Báo cáo tháng")
    sweep(board, local(2026, 12, 1, 8, 0))
    sweep(board, local(2026, 12, 2, 8, 0))            # a restart the next day sends nothing twice
    for person in (HEAD, DEPUTY, DIRECTOR):
        assert len(to(smtp_sink, person[1], "Báo cáo tháng 11/2026")) == 1, person
    assert not to(smtp_sink, MEMBER[1], "Báo cáo tháng")
    [report] = to(smtp_sink, HEAD[1], "Báo cáo tháng 11/2026")
    assert subject_of(report) == "Báo cáo tháng 11/2026: 4 tin bài đã đăng, 2 câu hỏi đã trả lời"
    text = plain_of(report)
    for line in ("Tin bài nhận:  5", "Đã duyệt:      4", "Đã đăng:       4", "Không duyệt:   1",
                 "Ban Biên tập xử lý đúng hạn:  75% (3/4)",
                 "Câu hỏi nhận: 2; đã trả lời: 2, trong đó đúng hạn: 1; quá hạn chưa trả lời: 0",
                 f"{PBGDPL}: 2 / 1 / 1 / 6; gửi 3; chỉ tiêu 2 – đạt",
                 f"{VP}: 0 / 0 / 0 / 0; gửi 1; chỉ tiêu 2 – chưa đạt",
                 f"Nguyễn Văn An ({PBGDPL}): 2 / 1 / 1 / 6",
                 f"{PBGDPL}: 1 / 1 / 1 / 0", f"{VP}: 0 / 1 / 0 / 0"):
        assert line in text, line

    # The workbook reopens with the same numbers.
    xlsx = next(p for p in report.message.walk() if p.get_filename() == "bao-cao-2026-11.xlsx")
    wb = load_workbook(io.BytesIO(xlsx.get_payload(decode=True)))
    summary = {row[0]: row[1] for row in wb["Tổng hợp"].iter_rows(min_row=3, values_only=True) if row and row[0]}
    assert summary["Tin bài nhận"] == 5 and summary["Đã đăng"] == 4 and summary["Không duyệt"] == 1
    assert summary["Câu hỏi đã trả lời"] == 2 and summary["Trả lời đúng hạn"] == 1
    assert summary["Ban Biên tập xử lý đúng hạn"] == 3
    units = [row for row in wb["Đơn vị"].iter_rows(min_row=2, values_only=True)]
    assert units == [(PBGDPL, 2, 3, 2, 1, 1, 6, 0, 1.5, "Đạt"), (VP, 2, 1, 0, 0, 0, 0, 1, 0.5, "Chưa đạt"),
                     ("Ngoài cơ quan / chưa rõ đơn vị", 0, 1, 0, 0, 0, 0, 0, None, None)]
    authors = {row[0]: row[2:] for row in wb["Tác giả"].iter_rows(min_row=2, values_only=True)}
    assert authors["Nguyễn Văn An"] == (3, 2, 1, 1, 6)

    # The chart is an image inside the HTML part, and it renders.
    assert 'src="cid:chart"' in _html_of(report)
    [chart] = [p for p in report.message.walk() if p.get("Content-ID") == "<chart>"]
    image = Image.open(io.BytesIO(chart.get_payload(decode=True)))
    image.load()
    assert image.format == "PNG" and image.width == 800 and image.height > 200
    assert len(image.convert("RGB").getcolors(maxcolors=1 << 20)) > 20   # bars, text, legend: not blank
    board.close()


def test_quota_summary_and_report_reminders_after_downtime(tmp_path, database_url, dovecot, smtp_sink):
    """Units' monthly quota (002 art. 9.4) summed up for unit heads (001 art. 17.2, 21); periodic reports reminded
    in their window and when overdue (002 art. 9.3đ)."""
    board = periodic_board(tmp_path, database_url, dovecot, smtp_sink, Clock(local(2026, 12, 1, 7, 0)))
    seed(board)
    with board.transaction() as s:   # the PBGDPL sends its monthly report on the morning of 1/12
        Seeder(s, board.agency.slug, first=7).article(AN, "report", local(2026, 12, 1, 7), "submitted")
    # The daemon was down on Monday 30/11 when the month-end summary came due: it goes out on 1/12.
    with board.transaction() as s:   # `mailbot status` lists all of it as due, on the sweep's own conditions
        due = periodic.due_now(s, board.agency, local(2026, 12, 1, 9, 0))
    assert sorted(due) == sorted([
        "digest:2026-11-30", "report:2026-11", f"quota-summary:2026-11:{VP}", f"quota-summary:2026-11:{PBGDPL}",
        f"periodic:monthly:tháng 11/2026:{VP}:before"]), due
    sweep(board, local(2026, 12, 1, 9, 0))
    with board.transaction() as s:
        assert periodic.due_now(s, board.agency, local(2026, 12, 1, 9, 5)) == []
    sweep(board, local(2026, 12, 1, 10, 0))
    [summary] = to(smtp_sink, VP_HEAD, "Tổng hợp tin bài")
    assert subject_of(summary) == f"Tổng hợp tin bài tháng 11/2026 của {VP}: 1/2"
    assert "CHƯA ĐẠT" in plain_of(summary) and "Lê Thị Hoa: gửi 1, đăng 0" in plain_of(summary)
    assert len(to(smtp_sink, UNIT_HEAD[1], "Tổng hợp tin bài")) == 1
    # Monthly report due within the first 7 days of December (Monday 7/12): VP is reminded, PBGDPL sent it.
    assert [subject_of(m) for m in smtp_sink.to(VP_FOCAL)] == [f"Nhắc gửi báo cáo tháng tháng 11/2026 – {VP}"]
    assert not to(smtp_sink, FOCAL, "báo cáo tháng")
    sweep(board, local(2026, 12, 7, 16, 0))           # still in time
    sweep(board, local(2026, 12, 8, 9, 0))            # overdue
    sweep(board, local(2026, 12, 8, 10, 0))
    assert [subject_of(m) for m in smtp_sink.to(VP_FOCAL)] == [
        f"Nhắc gửi báo cáo tháng tháng 11/2026 – {VP}", f"Quá hạn gửi báo cáo tháng tháng 11/2026 – {VP}"]
    with board.transaction() as s:
        kinds = sorted(r.threshold for r in s.scalars(select(ReminderSent).where(ReminderSent.deadline_id.is_(None))))
    # Digests of Monday 30/11 (caught up on 1/12) and of 7/12; everything else once.
    assert kinds == ["digest", "digest", "periodic-before", "periodic-overdue", "quota-summary", "quota-summary",
                     "report"]
    board.close()


def test_mid_month_nudges_to_units_and_staff_behind(tmp_path, database_url, dovecot, smtp_sink):
    """Each staff member's monthly news item and article (001 art. 17.3): nudged mid-month when behind."""
    # Kon Tum: 1 news item and 1 article a month per staff member, counted on what is published.
    board = periodic_board(tmp_path, database_url, dovecot, smtp_sink, Clock(local(2026, 11, 13)), preset="kontum")
    with board.transaction() as s:
        Seeder(s, board.agency.slug).article(AN, "news", local(2026, 11, 2), "published",
                                             [("published", local(2026, 11, 3))])
    sweep(board, local(2026, 11, 13, 9))              # before the 15th: nothing
    sweep(board, local(2026, 11, 15, 9))              # Sunday: nothing (not at work)
    with board.transaction() as s:
        assert not [k for k in periodic.due_now(s, board.agency, local(2026, 11, 15, 9)) if k.startswith("quota")]
        due = periodic.due_now(s, board.agency, local(2026, 11, 16, 9))
    assert sorted(k for k in due if k.startswith("quota")) == sorted([
        f"quota-nudge:2026-11:unit:{VP}", f"quota-nudge:2026-11:unit:{PBGDPL}",
        f"quota-nudge:2026-11:staff:{AUTHOR[1]}"]), due
    assert not [m for m in smtp_sink.messages if "chỉ tiêu" in subject_of(m)]
    sweep(board, local(2026, 11, 16, 9))              # Monday 16/11
    sweep(board, local(2026, 11, 17, 9))
    [nudge] = [m for m in smtp_sink.to(AUTHOR[1]) if "chỉ tiêu" in subject_of(m)]
    assert subject_of(nudge) == "Nhắc chỉ tiêu tin bài cá nhân tháng 11/2026"
    assert "- Bài viết: 1" in plain_of(nudge) and "- Tin:" not in plain_of(nudge)
    # Units: PBGDPL has 1 published of 2, the Văn phòng none.
    [unit_nudge] = [m for m in smtp_sink.to(VP_FOCAL) if "chỉ tiêu" in subject_of(m)]
    assert subject_of(unit_nudge) == f"Nhắc chỉ tiêu tin bài tháng 11/2026: {VP} mới có 0/2"
    assert len([m for m in smtp_sink.to(FOCAL) if "chỉ tiêu" in subject_of(m)]) == 1
    board.close()


def test_monthly_workbook_layout_and_per_staff_quota(tmp_path, database_url, dovecot, smtp_sink):
    """The workbook reads as a spreadsheet should: headers frozen and fitting their columns, rates as numbers in a
    percent format; with Kon Tum's per-person quota (001 art. 17.3), each staff member's own line, also for the one
    who sent nothing."""
    from mailbot.reports import stats as stats_module
    from mailbot.reports.workbook import workbook

    hoa = f'\n[[agency.staff]]\nname = "{HOA["name"]}"\nemail = "{HOA["email"]}"\nunit = "VP"\n'
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, Clock(local(2026, 12, 1, 7, 0)),
                         preset="kontum", unit_extra=UNITS + hoa)
    seed(board)
    with board.transaction() as s:
        stats = stats_module.gather(s, board.agency, stats_module.Period.month(2026, 11), local(2026, 12, 1, 8))
    wb = load_workbook(io.BytesIO(workbook(stats, board.agency)))
    assert wb.sheetnames == ["Tổng hợp", "Đơn vị", "Tác giả", "Chỉ tiêu cá nhân", "Hỏi đáp"]

    summary = wb["Tổng hợp"]
    assert summary.freeze_panes == "A4"
    [board_rate] = [row for row in summary.iter_rows() if row[0].value == "Ban Biên tập xử lý đúng hạn"]
    assert [c.value for c in board_rate] == ["Ban Biên tập xử lý đúng hạn", 3, 4, 0.75]
    assert board_rate[3].number_format == "0%"
    [questions_rate] = [row for row in summary.iter_rows() if str(row[0].value).startswith("Trả lời người dân")]
    assert questions_rate[3].value is None          # nothing counted: an empty cell, not "—" or 0 %

    units = wb["Đơn vị"]
    headers = [c.value for c in units[1]]
    rate_column = headers.index("Tỷ lệ chỉ tiêu")
    rows = {r[0].value: r for r in units.iter_rows(min_row=2)}
    assert rows[PBGDPL][rate_column].value == 2.0 and rows[PBGDPL][rate_column].number_format == "0%"  # 4 of 2
    assert rows[VP][rate_column].value == 0 and rows[VP][rate_column + 1].value == "Chưa đạt"

    staff = wb["Chỉ tiêu cá nhân"]
    assert [c.value for c in staff[1]] == ["Cán bộ", "Đơn vị", "Tin đã đăng / chỉ tiêu 1", "Bài viết đã đăng / chỉ tiêu 1",
                                           "Tỷ lệ", "Đạt chỉ tiêu"]
    people = {r[0]: r[1:] for r in staff.iter_rows(min_row=2, values_only=True)}
    assert people == {AUTHOR[0]: (PBGDPL, 2, 1, 1.0, "Đạt"), HOA["name"]: (VP, 0, 0, 0.0, "Chưa đạt")}

    for sheet in wb.worksheets:
        header_row = 3 if sheet is summary else 1
        if sheet is not summary:
            assert sheet.freeze_panes == "A2", sheet.title
        for cell in sheet[header_row]:
            width = sheet.column_dimensions[cell.column_letter].width
            assert cell.font.bold and width >= len(str(cell.value)), (sheet.title, cell.value, width)
        for column in sheet.iter_cols(min_row=header_row + 1):
            for cell in column:
                if cell.value is not None and cell.number_format != "0%":
                    assert sheet.column_dimensions[cell.column_letter].width >= min(len(str(cell.value)), 48)

    # The leaders' mail says the same per person.
    sweep(board, local(2026, 12, 1, 8, 0))
    [report] = to(smtp_sink, HEAD[1], "Báo cáo tháng 11/2026")
    text = plain_of(report)
    assert "CHỈ TIÊU CÁ NHÂN (mỗi cán bộ: 1 tin, 1 bài viết; tính theo tin bài đã đăng)" in text
    assert "Đạt: 1/2 cán bộ" in text and f"Chưa đạt: {HOA['name']} ({VP}): tin 0/1, bài viết 0/1" in text
    assert f"{AUTHOR[0]} ({PBGDPL})" not in text.split("CHỈ TIÊU CÁ NHÂN")[1].split("CÂU HỎI")[0]
    assert "Chỉ tiêu cá nhân" in _html_of(report)
    board.close()
