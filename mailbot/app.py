"""Start-up: settings in, services built and wired (database, stores, sources, outbox), no globals."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from imapclient.exceptions import IMAPClientError
from sqlalchemy import select

from mailbot.articles import deadlines
from mailbot.articles.notices import ArticleNotices
from mailbot.articles.review import Review
from mailbot.cases.filer import Filer
from mailbot.config import Agency, Settings
from mailbot.inbound.intake import Intake
from mailbot.inbound.sources import BacklogDecisionNeeded, Source
from mailbot.inbound.sources.imap import Checkpoints, ImapSource
from mailbot.inbound.sources.maildir import MaildirSource
from mailbot.jobs import periodic as periodic_mail
from mailbot.jobs import reminders
from mailbot.mail.authentication import Authenticator, DnsLookup
from mailbot.outbound import outbox
from mailbot.outbound.render import Renderer
from mailbot.paths import templates_dir
from mailbot.questions.notices import QuestionNotices
from mailbot.questions.service import Questions
from mailbot.reports.notices import PeriodicNotices
from mailbot.storage.blobs import BlobStore
from mailbot.storage.db import Database
from mailbot.storage.models import AgencyRow

log = logging.getLogger("mailbot.run")

# Errors that mean "the mail server went away": reconnect and go on.
CONNECTION_ERRORS = (IMAPClientError, OSError, socket.error, EOFError)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class PassReport:
    agency: str
    counts: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    failed: int = 0

    def add(self, disposition: str) -> None:
        self.counts[disposition] = self.counts.get(disposition, 0) + 1


@dataclass(frozen=True)
class Services:
    """One agency's services, built by App.services."""

    article_notices: ArticleNotices
    question_notices: QuestionNotices
    periodic_notices: PeriodicNotices
    review: Review
    questions: Questions
    intake: Intake


class Worker:
    """One agency: its mailbox, its intake and its outbox."""

    def __init__(self, agency: Agency, db: Database, source: Source, services: Services,
                 transport: outbox.Transport, now: Callable[[], datetime] = utcnow):
        self.agency = agency
        self.db = db
        self.source = source
        self.services = services
        self.intake = services.intake
        self.transport = transport
        self.now = now
        # The mail loop and the scheduler's sweep both send: one at a time, or a pending message
        # could be picked up and sent twice.
        self._sending = threading.Lock()

    def run_pass(self, progress: Callable[[int, str], None] | None = None,
                 report: PassReport | None = None) -> PassReport:
        """Take every pending message, then send what is due. Counts go into `report` as they happen."""
        report = report or PassReport(self.agency.slug)
        for n, (key, raw) in enumerate(self.source.pending(), start=1):
            outcome = self.intake.process(raw, source=f"{self.source.name}#{key}")
            report.add(outcome.disposition if outcome.new else "already stored")
            self.source.done(key)  # after the commit: a crash before this means a no-op repeat
            if progress:
                progress(n, outcome.disposition)
        sent, failed = self.send_due()
        report.sent += sent
        report.failed += failed
        return report

    def send_due(self, periodic: bool = False) -> tuple[int, int]:
        """Queue the reminders due now (office hours only), with `periodic` also the digests, reports and quota
        mail that came due; then deliver what the outbox holds."""
        with self._sending:
            sv = self.services
            reminders.sweep(self.db, self.agency, sv.review, sv.questions, sv.article_notices, sv.question_notices,
                            self.now())
            if periodic:
                periodic_mail.sweep(self.db, self.agency, sv.periodic_notices, self.now())
            return outbox.deliver(self.db, self.agency, self.transport, self.now())

    def run_pass_resilient(self, attempts: int = 6, progress: Callable[[int, str], None] | None = None,
                           sleep: Callable[[float], None] = time.sleep) -> PassReport:
        """One pass that survives a dropped connection: reconnect with backoff and resume from the checkpoint."""
        total = PassReport(self.agency.slug)
        for attempt in range(attempts):
            try:
                return self.run_pass(progress, total)
            except BacklogDecisionNeeded:
                raise
            except CONNECTION_ERRORS as exc:
                self.source.close()
                delay = min(2 ** attempt, 300)
                log.warning("mail server connection lost; reconnecting", extra={
                    "agency": self.agency.slug, "error": repr(exc), "retry_in": delay})
                sleep(delay)
        raise ConnectionError(f"{self.agency.slug}: mail server unreachable after {attempts} attempts")

    def run_forever(self, stop: threading.Event, wait: float = 60) -> None:
        # APScheduler runs the periodic sweep between mail (reminders, digests, reports, quota mail); the
        # deadlines and the ledger are our own tables, so a sweep missed while the daemon was down is
        # simply done at the next one.
        scheduler = BackgroundScheduler(timezone="Asia/Ho_Chi_Minh")
        # The first sweep runs at start-up: what came due while the daemon was down goes out now.
        scheduler.add_job(self._sweep_and_send, "interval", minutes=self.agency.reminders.sweep_minutes,
                          coalesce=True, max_instances=1, misfire_grace_time=None,
                          next_run_time=datetime.now(timezone.utc))
        scheduler.start()
        try:
            self._loop(stop, wait)
        finally:
            scheduler.shutdown(wait=False)

    def _sweep_and_send(self) -> None:
        try:
            self.send_due(periodic=True)
        except Exception:
            log.exception("reminder sweep failed", extra={"agency": self.agency.slug})

    def _loop(self, stop: threading.Event, wait: float) -> None:
        backoff = 1
        while not stop.is_set():
            try:
                self.run_pass()
                self.source.wait(wait)
                backoff = 1
            except BacklogDecisionNeeded:
                raise
            except CONNECTION_ERRORS as exc:
                self.source.close()
                log.warning("mail server connection lost; reconnecting", extra={
                    "agency": self.agency.slug, "error": repr(exc), "retry_in": backoff})
                stop.wait(backoff)
                backoff = min(backoff * 2, 300)


class App:
    def __init__(self, settings: Settings, now: Callable[[], datetime] = utcnow, dns: DnsLookup | None = None):
        self.settings = settings
        self.now = now
        self.dns = dns  # DKIM key look-ups; None is the real DNS (tests pass their own keys)
        self.db = Database(settings.database_url)
        self.raw_store = BlobStore(settings.storage_dir / "raw")
        self.file_store = BlobStore(settings.storage_dir / "files")
        self.renderer = Renderer(templates_dir())

    def migrate(self) -> None:
        self.db.upgrade()
        with self.db.transaction() as s:
            known = {row.slug: row for row in s.scalars(select(AgencyRow))}
            for agency in self.settings.agencies:
                if agency.slug in known:
                    known[agency.slug].name = agency.name
                else:
                    s.add(AgencyRow(slug=agency.slug, name=agency.name))
        with self.db.transaction() as s:
            for agency in self.settings.agencies:
                moved = deadlines.recompute_open(s, agency)
                if moved:
                    log.info("open deadlines recomputed", extra={"agency": agency.slug, "moved": moved})

    def source_for(self, agency: Agency, backlog: str = "ask") -> Source:
        if agency.mailbox.scheme == "maildir":
            return MaildirSource(Path(agency.mailbox.path))
        return ImapSource(agency.mailbox, Checkpoints(self.db, agency.slug), backlog=backlog)

    def services(self, agency: Agency) -> Services:
        """Every service of one agency, each built once and handed to whoever needs it."""
        article_notices = ArticleNotices(agency, self.renderer, self.file_store)
        question_notices = QuestionNotices(agency, self.renderer, self.file_store)
        filer = Filer(agency, self.file_store)
        review = Review(agency, article_notices, filer)
        questions = Questions(agency, question_notices, filer)
        authenticator = Authenticator(agency.workflow.trusted_authserv_id,
                                      agency.workflow.accept_unauthenticated_commands, dns=self.dns)
        intake = Intake(agency, self.db, self.raw_store, filer, article_notices, question_notices, review, questions,
                        authenticator,
                        now=self.now)
        return Services(article_notices, question_notices,
                        PeriodicNotices(agency, self.renderer, self.file_store), review, questions, intake)

    def worker(self, agency: Agency, backlog: str = "ask", source: Source | None = None,
               transport: outbox.Transport | None = None) -> Worker:
        return Worker(agency, self.db, source or self.source_for(agency, backlog), self.services(agency),
                      transport or outbox.transport_for(agency.outgoing), now=self.now)

    def close(self) -> None:
        self.db.dispose()
