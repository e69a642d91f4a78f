"""The calendar's mail: the board's weekly digest, the leaders' monthly report, quota nudges and summaries,
reminders of the periodic reports units owe."""

from __future__ import annotations

from mailbot.outbound.mailer import Mailer
from mailbot.outbound.render import FileToAttach
from mailbot.reports import stats as stats_module
from mailbot.worktime.calendar import TZ


class PeriodicNotices(Mailer):
    def _period_context(self, stats) -> dict:
        return {"stats": stats, "rate": stats_module.rate, "basis": self.agency.schedule.quota_basis,
                "contributed": lambda t: stats_module.contributed(self.agency, t)}

    def digest(self, s, key, stats, to, now):
        self.send(s, key, "digest.board.weekly", "digest/board/weekly", to, self._period_context(stats), now)

    def digest_preview(self, stats, to, now):
        """The digest as it would be mailed, without storing or sending it."""
        return self.renderer.compose("digest/board/weekly", self.agency, to, self._period_context(stats), now=now)

    def monthly_report(self, s, key, stats, to, now, xlsx: bytes, png: bytes, filename: str):
        chart = FileToAttach("bieu-do-chi-tieu.png", "image/png", png)
        workbook = FileToAttach(filename, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", xlsx)
        context = {**self._period_context(stats), "staff_quotas": stats_module.staff_quotas(self.agency, stats),
                   "labels": {c.name: c.label for c in self.agency.categories}}
        self.send(s, key, "report.leaders.monthly", "report/leaders/monthly", to, context, now,
                  files=(workbook,), inline={"chart": chart})

    def quota_nudge(self, s, key, stats, tally, staff, to, now):
        context = {**self._period_context(stats), "tally": tally, "staff": staff,
                   "labels": {c.name: c.label for c in self.agency.categories}}
        template = "quota/unit/nudge" if tally is not None else "quota/staff/nudge"
        self.send(s, key, template.replace("/", "."), template, to, context, now)

    def quota_summary(self, s, key, stats, tally, to, now):
        authors = [a for a in stats.authors if a.unit == tally.name]
        self.send(s, key, "quota.unit_head.summary", "quota/unit_head/summary", to,
                  {**self._period_context(stats), "tally": tally, "authors": authors}, now)

    def report_reminder(self, s, key, report, label, due, threshold, unit, to, now):
        self.send(s, key, f"report.unit.reminder.{threshold}", "report/unit/reminder", to,
                  {"report": report, "label": label, "due": due.astimezone(TZ), "threshold": threshold, "unit": unit},
                  now)
