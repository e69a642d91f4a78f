"""The monthly report's files: an .xlsx workbook (openpyxl) and a chart of contributions against quota (matplotlib).

matplotlib runs on its Agg backend (no display); its bundled DejaVu Sans has every Vietnamese letter.
It is imported when a chart is drawn, not with this module: it takes longer to load than every
other `mailbot list` or `show` needs in all. openpyxl likewise, when a workbook is written.
"""

from __future__ import annotations

import io
from typing import Any

from mailbot.config import Agency
from mailbot.reports.stats import StaffQuota, Stats, contributed, share, staff_quotas

UNIT_HEADERS = ("Đơn vị", "Chỉ tiêu/tháng", "Đã gửi", "Tin đã đăng", "Bài đã đăng", "Khác đã đăng", "Ảnh đã đăng",
                "Không duyệt", "Tỷ lệ chỉ tiêu", "Đạt chỉ tiêu")
AUTHOR_HEADERS = ("Tác giả", "Đơn vị", "Đã gửi", "Tin đã đăng", "Bài đã đăng", "Khác đã đăng", "Ảnh đã đăng")
PERCENT = "0%"
MAX_WIDTH = 48   # characters: a longer value wraps rather than widening its column without end
ON_TIME_LABELS = {"board": "Ban Biên tập xử lý đúng hạn", "contributions": "Tin bài gửi đúng hạn",
                  "questions": "Trả lời người dân đúng hạn (theo hạn từng bước)"}


def workbook(stats: Stats, agency: Agency) -> bytes:
    """Four sheets (five with a per-person quota), each with a frozen header row, columns as wide as what they
    hold, and rates as numbers in a percent format, so they sum and sort in a spreadsheet."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    summary = wb.active
    summary.title = "Tổng hợp"
    summary.append([f"Báo cáo {stats.period.label} – {agency.name}"])
    summary.append([])
    summary.append(["Chỉ số", "Số lượng"])
    for label, value in (("Tin bài nhận", stats.received), ("Đã duyệt", stats.approved),
                         ("Đã đăng", stats.published), ("Không duyệt", stats.rejected),
                         ("Câu hỏi nhận", stats.questions.get("received", 0)),
                         ("Câu hỏi đã trả lời", stats.questions.get("answered", 0)),
                         ("Trả lời đúng hạn", stats.questions.get("answered_on_time", 0)),
                         ("Câu hỏi quá hạn chưa trả lời", stats.questions.get("overdue", 0))):
        summary.append([label, value])
    summary.append([])
    summary.append(["Đúng hạn", "Số đúng hạn", "Tổng số", "Tỷ lệ"])
    on_time_header = summary.max_row
    for kind, label in ON_TIME_LABELS.items():
        met, missed = stats.on_time.get(kind, (0, 0))
        summary.append([label, met, met + missed, share((met, missed))])
        summary.cell(summary.max_row, 4).number_format = PERCENT

    units = wb.create_sheet("Đơn vị")
    units.append(UNIT_HEADERS)
    for t in stats.units:
        done = contributed(agency, t)
        units.append([t.name, t.quota, t.received, t.news, t.articles, t.other, t.photos, t.rejected,
                      (done / t.quota) if t.quota else None,
                      ("Đạt" if done >= t.quota else "Chưa đạt") if t.quota else None])
        units.cell(units.max_row, len(UNIT_HEADERS) - 1).number_format = PERCENT
    authors = wb.create_sheet("Tác giả")
    authors.append(AUTHOR_HEADERS)
    for t in stats.authors:
        authors.append([t.name, t.unit, t.received, t.news, t.articles, t.other, t.photos])
    staff = staff_quotas(agency, stats)
    if staff:
        _staff_sheet(wb.create_sheet("Chỉ tiêu cá nhân"), agency, staff)
    asked = wb.create_sheet("Hỏi đáp")
    asked.append(("Đơn vị", "Nhận", "Đã trả lời", "Đúng hạn", "Quá hạn chưa trả lời"))
    for unit, c in stats.questions_by_unit.items():
        asked.append([unit, c.get("received", 0), c.get("answered", 0), c.get("answered_on_time", 0),
                      c.get("overdue", 0)])
    summary["A1"].font = Font(bold=True, size=13)
    _bold(summary, 3)
    _bold(summary, on_time_header)
    _fit(summary, 3)
    summary.freeze_panes = "A4"
    for sheet in wb.worksheets[1:]:
        _bold(sheet, 1)
        _fit(sheet, 1)
        sheet.freeze_panes = "A2"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _staff_sheet(sheet: Any, agency: Agency, rows: list[StaffQuota]) -> None:
    """Each staff member's items against their own quota, by category, on the agency's basis."""
    owed = list(agency.schedule.staff_quota)
    labels = {c.name: c.label for c in agency.categories}
    verb = "gửi" if agency.schedule.quota_basis == "received" else "đăng"
    sheet.append(["Cán bộ", "Đơn vị"]
                 + [f"{labels.get(c, c)} đã {verb} / chỉ tiêu {agency.schedule.staff_quota[c]}" for c in owed]
                 + ["Tỷ lệ", "Đạt chỉ tiêu"])
    for row in rows:
        sheet.append([row.tally.name, row.tally.unit] + [row.done.get(c, 0) for c in owed]
                     + [row.share, "Đạt" if row.met else "Chưa đạt"])
        sheet.cell(sheet.max_row, len(owed) + 3).number_format = PERCENT


def _bold(sheet: Any, row: int) -> None:
    from openpyxl.styles import Alignment, Font

    for cell in sheet[row]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")


def _fit(sheet: Any, first_row: int) -> None:
    """Each column as wide as its widest value or header from `first_row` down, up to MAX_WIDTH (a longer
    header wraps, but never inside a word)."""
    from openpyxl.utils import get_column_letter

    for index, column in enumerate(sheet.iter_cols(min_row=first_row), start=1):
        texts = [_shown(c) for c in column if c.value is not None]
        widest = max((len(t) for t in texts), default=0)
        word = max((len(w) for t in texts for w in t.split()), default=0)
        sheet.column_dimensions[get_column_letter(index)].width = max(min(widest, MAX_WIDTH), word, 6) + 2


def _shown(cell: Any) -> str:
    if cell.number_format == PERCENT:
        return "100%"
    return str(cell.value)


def chart_png(stats: Stats, agency: Agency) -> bytes:
    """Bars of each unit's contributions beside its quota."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.ticker import MaxNLocator

    rows = [t for t in stats.units if t.quota or t.received or t.published]
    names = [t.name for t in rows] or ["(không có đơn vị)"]
    done = [contributed(agency, t) for t in rows] or [0]
    quota = [t.quota for t in rows] or [0]
    figure, axes = pyplot.subplots(figsize=(8, 0.6 * len(names) + 1.6), dpi=100)
    positions = range(len(names))
    axes.barh([p + 0.2 for p in positions], done, height=0.4, color="#2b6cb0",
              label="Đã gửi" if agency.schedule.quota_basis == "received" else "Đã đăng")
    axes.barh([p - 0.2 for p in positions], quota, height=0.4, color="#cbd5e0", label="Chỉ tiêu")
    axes.set_yticks(list(positions), [n if len(n) <= 40 else n[:38] + "…" for n in names])
    axes.invert_yaxis()
    axes.set_title(f"Đóng góp tin bài so với chỉ tiêu – {stats.period.label}")
    axes.legend(loc="lower right")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.tight_layout()
    buf = io.BytesIO()
    figure.savefig(buf, format="png")
    pyplot.close(figure)
    return buf.getvalue()
