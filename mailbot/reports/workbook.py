"""The monthly report's files: an .xlsx workbook (openpyxl) and a chart of contributions against quota (matplotlib).

matplotlib runs on its Agg backend (no display); its bundled DejaVu Sans has every Vietnamese letter.
It is imported when a chart is drawn, not with this module: it takes longer to load than every
other `mailbot list` or `show` needs in all. openpyxl likewise, when a workbook is written.
"""

from __future__ import annotations

import io

from mailbot.config import Agency
from mailbot.reports.stats import Stats, contributed, rate

UNIT_HEADERS = ("Đơn vị", "Chỉ tiêu/tháng", "Đã gửi", "Tin đã đăng", "Bài đã đăng", "Khác đã đăng", "Ảnh đã đăng",
                "Không duyệt", "Đạt chỉ tiêu")
AUTHOR_HEADERS = ("Tác giả", "Đơn vị", "Đã gửi", "Tin đã đăng", "Bài đã đăng", "Khác đã đăng", "Ảnh đã đăng")
ON_TIME_LABELS = {"board": "Ban Biên tập xử lý đúng hạn", "contributions": "Tin bài gửi đúng hạn",
                  "questions": "Trả lời người dân đúng hạn (theo hạn từng bước)"}


def workbook(stats: Stats, agency: Agency) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    summary = wb.active
    summary.title = "Tổng hợp"
    summary.append([f"Báo cáo {stats.period.label} – {agency.name}"])
    summary["A1"].font = Font(bold=True, size=13)
    summary.append([])
    for label, value in (("Tin bài nhận", stats.received), ("Đã duyệt", stats.approved),
                         ("Đã đăng", stats.published), ("Không duyệt", stats.rejected),
                         ("Câu hỏi nhận", stats.questions.get("received", 0)),
                         ("Câu hỏi đã trả lời", stats.questions.get("answered", 0)),
                         ("Trả lời đúng hạn", stats.questions.get("answered_on_time", 0)),
                         ("Câu hỏi quá hạn chưa trả lời", stats.questions.get("overdue", 0))):
        summary.append([label, value])
    summary.append([])
    for kind, label in ON_TIME_LABELS.items():
        met, missed = stats.on_time.get(kind, (0, 0))
        summary.append([label, met, met + missed, rate((met, missed))])

    units = wb.create_sheet("Đơn vị")
    units.append(UNIT_HEADERS)
    for t in stats.units:
        units.append([t.name, t.quota, t.received, t.news, t.articles, t.other, t.photos, t.rejected,
                      ("Đạt" if contributed(agency, t) >= t.quota else "Chưa đạt") if t.quota else None])
    authors = wb.create_sheet("Tác giả")
    authors.append(AUTHOR_HEADERS)
    for t in stats.authors:
        authors.append([t.name, t.unit, t.received, t.news, t.articles, t.other, t.photos])
    asked = wb.create_sheet("Hỏi đáp")
    asked.append(("Đơn vị", "Nhận", "Đã trả lời", "Đúng hạn", "Quá hạn chưa trả lời"))
    for unit, c in stats.questions_by_unit.items():
        asked.append([unit, c.get("received", 0), c.get("answered", 0), c.get("answered_on_time", 0),
                      c.get("overdue", 0)])
    for sheet in wb.worksheets:
        for cell in sheet[1 if sheet is not summary else 3]:
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True)
        sheet.column_dimensions["A"].width = 42
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


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
