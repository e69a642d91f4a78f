"""Start-up: settings in, services built and wired (database, stores, sources, outbox), no globals."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from imapclient.exceptions import IMAPClientError
from sqlalchemy import select

from mailbot import metrics
from mailbot.articles import deadlines, hints
from mailbot.articles.notices import ArticleNotices
from mailbot.articles.review import Review
from mailbot.cases.filer import Filer
from mailbot.config import Agency, DeliverySettings, ServiceSettings, Settings
from mailbot.inbound.intake import Intake
from mailbot.inbound.sources import BacklogDecisionNeeded, Source
from mailbot.inbound.sources.imap import Checkpoints, ImapSource, PlaintextRefused
from mailbot.inbound.sources.maildir import MaildirSource
from mailbot.jobs import periodic as periodic_mail
from mailbot.jobs import reminders
from mailbot.mail.authentication import Authenticator, DnsLookup
from mailbot.mail.raw import RawMessage, clear_spool
from mailbot.outbound import outbox
from mailbot.outbound.mailer import Mailer
from mailbot.outbound.render import Renderer
from mailbot.paths import templates_dir
from mailbot.questions.notices import QuestionNotices
from mailbot.questions.service import Questions
from mailbot.reports.notices import PeriodicNotices
from mailbot.storage.blobs import BlobStore
from mailbot.storage.coordination import Leases, process_id, process_lease, serialise
from mailbot.storage.db import Database, is_unavailable
from mailbot.storage.models import AgencyRow

log = logging.getLogger("mailbot.run")

# Errors that mean "the mail server went away": reconnect and go on.
CONNECTION_ERRORS = (IMAPClientError, OSError, socket.error, EOFError)
# How often the sender looks for failed mail to alert on when its own rounds had none (Worker.deliver).
FAILURES_LOOK_EVERY = timedelta(minutes=1)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class PassReport:
    agency: str
    counts: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    failed: int = 0
    intake_seconds: float = 0.0   # reading and filing the messages; the rest of a pass is sending

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
    mailer: Mailer   # mail of no article or question: the administrator's delivery alerts


class Health:
    """What is wrong right now, for the heartbeat `mailbot health` reads; each outage logged once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._problems: dict[str, tuple[str, float]] = {}
        self._busy: dict[str, tuple[float, float]] = {}   # what -> (since, allowed seconds)
        self._reading: dict[str, tuple[float, float]] = {}   # mailbox -> (last read, allowed seconds)
        self._read_at: dict[str, str] = {}                   # mailbox -> when last read (ISO, UTC)

    def read(self, mailbox: str, allowed: float) -> None:
        """The mailbox was read just now (a pass, or a message of one); past `allowed` without, it is stale."""
        with self._lock:
            self._reading[mailbox] = (time.monotonic(), allowed)
            self._read_at[mailbox] = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def read_times(self) -> dict[str, str]:
        """When each mailbox this process holds was last read through, for the heartbeat and `status`."""
        with self._lock:
            return {m: at for m, at in self._read_at.items() if m in self._reading}

    def not_reading(self, mailbox: str) -> None:
        """Another process holds the mailbox (or this one stopped reading it): its age is no problem here."""
        with self._lock:
            self._reading.pop(mailbox, None)

    @contextmanager
    def busy(self, what: str, allowed: float) -> Iterator[None]:
        """Work that must end within `allowed` seconds (one message's intake): past it, the heartbeat says so,
        `mailbot health` fails and the supervisor restarts the daemon; the poison guard then holds the
        message on its next try."""
        with self._lock:
            self._busy[what] = (time.monotonic(), allowed)
        try:
            yield
        finally:
            with self._lock:
                self._busy.pop(what, None)

    def failing(self, what: str, exc: BaseException, agency: str) -> None:
        """Note a failure of `what`; logged only the first time in a row."""
        with self._lock:
            first = what not in self._problems
            if first:
                self._problems[what] = (f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                                        time.monotonic())
        if first:
            log.warning("%s unavailable; waiting and retrying", what,
                        extra={"agency": agency, "error": self._problems[what][0]})

    def absorb(self, exc: Exception, agency: str, doing: str) -> None:
        """A background job's failure: a database outage is noted (and waited out by the caller), anything
        else is logged with its traceback; the job lives on either way."""
        if is_unavailable(exc):
            self.failing("database", exc, agency)
        else:
            log.exception("%s failed", doing, extra={"agency": agency})

    def recovered(self, what: str, agency: str) -> None:
        with self._lock:
            gone = self._problems.pop(what, None)
        if gone is not None:
            log.warning("%s is back", what, extra={"agency": agency,
                                                    "after_seconds": round(time.monotonic() - gone[1])})

    def problems(self) -> list[str]:
        now = time.monotonic()
        with self._lock:
            return [f"{what} unavailable: {error}" for what, (error, _) in self._problems.items()] + [
                f"{what} busy for {now - since:.0f} s, over its {allowed:g} s" for what, (since, allowed)
                in self._busy.items() if now - since > allowed] + [
                f"mailbox of {what} not read for {now - at:.0f} s (limit {allowed:g} s)" for what, (at, allowed)
                in self._reading.items() if now - at > allowed]


class LeaseLost(Exception):
    """Another process holds this mailbox now (ours expired): stop reading it."""


class Dispatcher:
    """The outbox's sender thread: delivers while intake goes on, woken by each new filing, and at least
    every `every` seconds for retries that come due."""

    def __init__(self, deliver: Callable[[Callable[[], bool]], outbox.Delivered], health: Health, agency: str,
                 every: float = 30, idle: Callable[[], None] = lambda: None,
                 keep_seconds: float = outbox.KEEP_CONNECTION_SECONDS):
        self._deliver = deliver
        self._idle = idle   # ends what the sending keeps open between rounds (the SMTP connection)
        self.keep_seconds = keep_seconds
        self.health = health
        self.agency = agency
        self.every = every
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.total = outbox.Delivered()
        self._drain = True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"outbox-{self.agency}", daemon=True)
        self._thread.start()

    def kick(self) -> None:
        self._wake.set()

    def stop(self, drain: bool = True) -> None:
        """Stop; with `drain`, send what is due first (`run --once`); without, only the mail in flight is
        finished (the daemon: a backlog must not hold up its shutdown; the next start sends it)."""
        self._drain = drain
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=120)   # a message in flight is finished and recorded

    def _run(self) -> None:
        # The process's one sender: what intake and the sweeps queue, it sends, so a crash leaves at most
        # one mail in flight. Stopping, it drains once more.
        while True:
            kicked = self._wake.wait(min(self.keep_seconds, self.every))
            if not kicked:   # nothing more to send for now: the connection is not kept waiting
                self._close_quietly()
                kicked = self._wake.wait(max(0.0, self.every - self.keep_seconds))
            self._wake.clear()
            stopping = self._stop.is_set()
            started = time.monotonic()
            try:
                done = self._deliver(self._keep_going)
                log.debug("outbox round", extra={"agency": self.agency, "woken_by": "kick" if kicked else "timer",
                                                 "sent": done.sent, "failed": done.failed,
                                                 "seconds": round(time.monotonic() - started, 3)})
                self.total.sent += done.sent
                self.total.failed += done.failed
                self.health.recovered("database", self.agency)
            except Exception as exc:  # noqa: BLE001 - the sender thread must live on; absorb logs it
                self.health.absorb(exc, self.agency, "outbox delivery")
                if not stopping:
                    self._stop.wait(5)
            if stopping:
                self._close_quietly()
                return

    def _close_quietly(self) -> None:
        try:
            self._idle()
        except Exception:   # a connection that will not close goes with the thread
            log.debug("closing the outgoing connection failed", exc_info=True)

    def _keep_going(self) -> bool:
        return self._drain or not self._stop.is_set()


class Worker:
    """One agency: its mailbox (while this process holds its lease), its intake and its outbox."""

    def __init__(self, agency: Agency, db: Database, source: Source, services: Services,
                 transport: outbox.Transport, now: Callable[[], datetime] = utcnow, *,
                 delivery: DeliverySettings | None = None, service: ServiceSettings | None = None,
                 holder: str | None = None, health: Health | None = None):
        self.agency = agency
        self.db = db
        self.source = source
        self.services = services
        self.intake = services.intake
        self.transport = transport
        self.now = now
        self.delivery = delivery or DeliverySettings()
        self.service = service or ServiceSettings()
        self.holder = holder or process_id()
        self.health = health or Health()
        self.leases = Leases(db, agency.slug, self.holder, self.service.lease_seconds)
        self.lease_name = f"mailbox:{agency.slug}:{source.name}"
        self._lost = threading.Event()      # the mailbox's lease went to another process
        self._reading = threading.Event()   # we hold the mailbox's lease and read it
        self._dispatcher: Dispatcher | None = None
        # The scheduler's sweep and `mailbot sweep` share the ledger: one sweep at a time in this
        # process (other processes wait on the database lock the sweep takes).
        self._sweeping = threading.Lock()
        self._failures_looked_at: datetime | None = None   # when deliver() last looked for failures to alert on

    # -- one pass ---------------------------------------------------------------------------

    def run_pass(self, progress: Callable[[int, str], None] | None = None,
                 report: PassReport | None = None) -> PassReport:
        """Take every pending message, then send what is due. Counts go into `report` as they happen."""
        report = report or PassReport(self.agency.slug)
        started = time.monotonic()
        for n, (key, raw, arrived) in enumerate(self.source.pending(), start=1):
            if self._lost.is_set():
                raise LeaseLost(self.lease_name)
            with self.health.busy(f"intake of {self.agency.slug}", self.agency.limits.message_seconds):
                try:
                    outcome = self.intake.process(raw, source=f"{self.source.name}#{key}", arrived=arrived,
                                                  checkpoint=partial(self.source.record, key=key))
                finally:
                    if isinstance(raw, RawMessage):
                        raw.discard()   # a spool file of the source's (archived by now, or fetched again)
            report.add(outcome.disposition if outcome.new else "already stored")
            self.source.done(key)  # after the commit that moved the checkpoint; what a crash leaves, it marks later
            if self._dispatcher is not None:
                self._dispatcher.kick()
            self.health.read(self.agency.slug, self.service.mailbox_stale_seconds)
            if progress:
                progress(n, outcome.disposition)
        report.intake_seconds += time.monotonic() - started
        sent, failed = self.send_due()   # the reminders due now, then the outbox (or its sender thread)
        report.sent += sent
        report.failed += failed
        metrics.LAST_PASS.labels(self.agency.slug).set_to_current_time()
        return report

    def deliver(self, keep_going: Callable[[], bool] = lambda: True, keep_open: bool = False) -> outbox.Delivered:
        """Send what the outbox holds until nothing is due (or `keep_going` says stop); then tell the
        administrator of failures. With `keep_open` (the sender thread) the connection stays for the next round."""
        try:
            return self._deliver(keep_going)
        finally:
            if not keep_open:
                self.transport.close()

    def _deliver(self, keep_going: Callable[[], bool]) -> outbox.Delivered:
        started = time.monotonic()
        done = outbox.deliver(self.db, self.agency, self.transport, self.now, policy=self.delivery,
                              claimer=self.holder, keep_going=keep_going)
        alerted = 0
        now = self.now()
        # Failures to tell of come from this round, or from another process or an earlier round whose alert
        # waited for its period: looked for after a round with failures and once a minute, not after every
        # round (each look is a turn at SQLite's write lock, behind intake's filings).
        if done.failed or self._failures_looked_at is None or now - self._failures_looked_at >= FAILURES_LOOK_EVERY:
            self._failures_looked_at = now
            with self.db.transaction() as s:
                alerted = self.services.mailer.delivery_failures(
                    s, now, timedelta(minutes=self.delivery.alert_every_minutes))
        if alerted:
            more = outbox.deliver(self.db, self.agency, self.transport, self.now, policy=self.delivery,
                                  claimer=self.holder, keep_going=keep_going)
            done.sent += more.sent
            done.failed += more.failed
        metrics.OUTBOX.labels(self.agency.slug, "sent").inc(done.sent)
        metrics.OUTBOX.labels(self.agency.slug, "failed").inc(done.failed)
        metrics.SEND_SECONDS.labels(self.agency.slug).observe(time.monotonic() - started)
        return done

    def send_due(self, periodic: bool = False) -> tuple[int, int]:
        """Queue the reminders due now (office hours only), with `periodic` also the digests, reports and quota
        mail that came due; then deliver what the outbox holds."""
        with self._sweeping:
            sv = self.services
            queued = reminders.sweep(self.db, self.agency, sv.review, sv.questions, sv.article_notices,
                                     sv.question_notices, self.now())
            metrics.REMINDERS.labels(self.agency.slug).inc(queued)
            if periodic:
                metrics.PERIODIC.labels(self.agency.slug).inc(
                    periodic_mail.sweep(self.db, self.agency, sv.periodic_notices, self.now()))
        if self._dispatcher is not None:
            self._dispatcher.kick()   # the sender thread sends it: one sender per process
            return 0, 0
        done = self.deliver()
        return done.sent, done.failed

    def run_pass_resilient(self, attempts: int = 6, progress: Callable[[int, str], None] | None = None,
                           sleep: Callable[[float], None] = time.sleep) -> PassReport:
        """One pass (`run --once`) that survives a dropped connection or a database outage: wait with backoff
        and resume from the checkpoint. The outbox sends during the pass. Where another process holds the
        mailbox, only the outbox is worked."""
        total = PassReport(self.agency.slug)
        with self._alive():
            return self._pass_resilient(total, attempts, progress, sleep)

    def _pass_resilient(self, total: PassReport, attempts: int, progress: Callable[[int, str], None] | None,
                        sleep: Callable[[float], None]) -> PassReport:
        dispatcher = self._start_dispatcher()
        try:
            for attempt in range(attempts):
                try:
                    if not self.leases.acquire(self.lease_name):
                        log.info("mailbox read by another process; sending only", extra={"agency": self.agency.slug})
                        self.send_due()   # the sender thread sends; its counts join the report at the end
                        return total
                    self._lost.clear()
                    self._reading.set()
                    try:
                        return self.run_pass(progress, total)
                    finally:
                        self._reading.clear()
                        self.source.close()
                        self.leases.release(self.lease_name)
                except BacklogDecisionNeeded:
                    raise
                except Exception as exc:  # noqa: BLE001 - _transient raises what is not an outage
                    what = self._transient(exc)
                    delay = min(2 ** attempt, self.service.database_retry_max_seconds)
                    self.health.failing(what, exc, self.agency.slug)
                    sleep(delay)
            raise ConnectionError(f"{self.agency.slug}: mail server or database unreachable after {attempts} attempts")
        finally:
            self._stop_dispatcher(dispatcher, total)

    @contextmanager
    def _alive(self) -> Iterator[None]:
        """While this process works for the agency: its process lease, renewed by a keeper thread that also
        renews the mailbox's lease while we hold it. Claims of a process whose lease expired (killed) are
        freed by the next sender at once."""
        name = process_lease(self.agency.slug, self.holder)
        try:
            self.leases.acquire(name)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            # the database is away: the keeper takes the lease once it is back
        halt = threading.Event()
        keeper = threading.Thread(target=self._keep_leases, args=(halt, name), name=f"lease-{self.agency.slug}",
                                  daemon=True)
        keeper.start()
        try:
            yield
        finally:
            halt.set()
            keeper.join(timeout=10)
            try:
                self.leases.release(name)
            except Exception:  # noqa: BLE001 - it expires by itself
                pass

    def _keep_leases(self, halt: threading.Event, process: str) -> None:
        while not halt.wait(self.service.lease_seconds / 3):
            try:
                self.leases.acquire(process)
                if self._reading.is_set() and not self.leases.renew(self.lease_name):
                    self._lost.set()   # expired and taken by another process: stop reading
            except Exception as exc:
                if not is_unavailable(exc):
                    log.exception("lease renewal failed", extra={"agency": self.agency.slug})

    def _transient(self, exc: Exception) -> str:
        """What went away ('mail server', 'database'); anything else is a bug and goes on up."""
        if is_unavailable(exc):
            return "database"
        if isinstance(exc, CONNECTION_ERRORS):
            self.source.close()
            return "mail server"
        raise exc

    def _start_dispatcher(self) -> Dispatcher:
        self._dispatcher = Dispatcher(partial(self.deliver, keep_open=True), self.health, self.agency.slug,
                                      idle=self.transport.close)
        self._dispatcher.start()
        return self._dispatcher

    def _stop_dispatcher(self, dispatcher: Dispatcher, report: PassReport | None = None) -> None:
        dispatcher.stop(drain=report is not None)
        self._dispatcher = None
        if report is not None:
            report.sent += dispatcher.total.sent
            report.failed += dispatcher.total.failed

    # -- the daemon -------------------------------------------------------------------------

    def run_forever(self, stop: threading.Event, wait: float = 60) -> None:
        # APScheduler runs the periodic sweep between mail (reminders, digests, reports, quota mail); the
        # deadlines and the ledger are our own tables, so a sweep missed while the daemon was down is
        # simply done at the next one.
        hints.warm()   # the extraction child started, its language model loaded
        scheduler = BackgroundScheduler(timezone="Asia/Ho_Chi_Minh")
        # The first sweep runs at start-up: what came due while the daemon was down goes out now.
        scheduler.add_job(self._sweep_and_send, "interval", minutes=self.agency.reminders.sweep_minutes,
                          coalesce=True, max_instances=1, misfire_grace_time=None,
                          next_run_time=datetime.now(timezone.utc))
        scheduler.start()
        dispatcher = self._start_dispatcher()
        try:
            with self._alive():
                self._loop(stop, wait)
        finally:
            scheduler.shutdown(wait=False)
            self._stop_dispatcher(dispatcher)
            self.source.close()
            try:
                self.leases.release(self.lease_name)
            except Exception:  # noqa: BLE001 - the lease expires by itself
                pass

    def _timed_pass(self, woken_by: str) -> PassReport:
        """One pass, logged with what woke it and how long it took, so that a stall shows where it was: a pass
        over `service.slow_pass_seconds` is a warning, with its intake and sending times apart."""
        started = time.monotonic()
        report = self.run_pass()
        seconds = time.monotonic() - started
        extra = {"agency": self.agency.slug, "woken_by": woken_by, "seconds": round(seconds, 3),
                 "messages": sum(report.counts.values()), "sent": report.sent, "failed": report.failed,
                 "intake_seconds": round(report.intake_seconds, 3)}
        if seconds > self.service.slow_pass_seconds:
            log.warning("slow pass", extra=extra)
        else:
            log.debug("pass", extra=extra)
        return report

    def _sweep_and_send(self) -> None:
        try:
            self.send_due(periodic=True)
            self.health.recovered("database", self.agency.slug)
        except Exception as exc:  # noqa: BLE001 - the scheduler must live on; absorb logs it
            self.health.absorb(exc, self.agency.slug, "reminder sweep")

    def _loop(self, stop: threading.Event, wait: float) -> None:
        """Hold the mailbox's lease and read it; without the lease, stand by and try again every few seconds.
        A lost connection or a database outage is waited out with backoff, logged once."""
        backoff = 1.0
        renew_every = self.service.lease_seconds / 3
        standing_by = False
        while not stop.is_set():
            try:
                if not self.leases.acquire(self.lease_name):
                    if not standing_by:
                        log.info("mailbox read by another process; standing by",
                                 extra={"agency": self.agency.slug})
                        standing_by = True
                    stop.wait(min(10.0, renew_every))
                    continue
                if standing_by:
                    log.info("mailbox lease taken over", extra={"agency": self.agency.slug})
                    standing_by = False
                self._lost.clear()
                self._reading.set()
                try:
                    woken_by = "start"
                    while not stop.is_set() and not self._lost.is_set():
                        taken = sum(self._timed_pass(woken_by).counts.values())
                        self.health.read(self.agency.slug, self.service.mailbox_stale_seconds)
                        self.health.recovered("database", self.agency.slug)
                        self.health.recovered("mail server", self.agency.slug)
                        backoff = 1.0
                        if taken:
                            # Mail that came while this pass read is not announced when IDLE begins (Dovecot
                            # reports it only with the next change, minutes later): look again at once.
                            woken_by = "after a pass that took mail"
                        elif not self._lost.is_set():
                            woken_by = self.source.wait(min(wait, renew_every))
                finally:
                    self._reading.clear()
                    self.source.close()   # a new holder reads the checkpoint afresh
                    if stop.is_set() or self._lost.is_set():
                        self.health.not_reading(self.agency.slug)
            except (BacklogDecisionNeeded, PlaintextRefused):
                raise
            except LeaseLost:
                log.warning("mailbox lease lost to another process", extra={"agency": self.agency.slug})
            except Exception as exc:  # noqa: BLE001 - _transient raises what is not an outage
                if stop.is_set():
                    return   # stopping: the connection was closed under the wait
                what = self._transient(exc)
                self.health.failing(what, exc, self.agency.slug)
                stop.wait(backoff)
                backoff = min(backoff * 2, self.service.database_retry_max_seconds)


class App:
    def __init__(self, settings: Settings, now: Callable[[], datetime] = utcnow, dns: DnsLookup | None = None):
        self.settings = settings
        self.now = now
        self.dns = dns  # DKIM key look-ups; None is the real DNS (tests pass their own keys)
        self.db = Database(settings.database_url)
        self.raw_store = BlobStore(settings.storage_dir / "raw")
        self.file_store = BlobStore(settings.storage_dir / "files")
        # Large messages being fetched or parsed; what a killed process left there is cleared as the next starts.
        self.spool = settings.storage_dir / "spool"
        clear_spool(self.spool)
        self.renderer = Renderer(templates_dir())
        self.holder = process_id()   # this process, as leases and outbox claims name it
        self.health = Health()

    def check_ready(self) -> None:
        """The schema is current and every configured agency is known (`Database.check_ready`)."""
        self.db.check_ready([a.slug for a in self.settings.agencies])

    def migrate(self) -> None:
        """The schema to head, the configured agencies recorded, open deadlines recomputed: under locks, so
        two processes starting at once take turns."""
        self.db.upgrade()
        with self.db.transaction() as s:
            serialise(s, "migrate:agencies")
            known = {row.slug: row for row in s.scalars(select(AgencyRow))}
            for agency in self.settings.agencies:
                if agency.slug in known:
                    known[agency.slug].name = agency.name
                else:
                    s.add(AgencyRow(slug=agency.slug, name=agency.name))
        with self.db.transaction() as s:
            serialise(s, "migrate:deadlines")
            for agency in self.settings.agencies:
                moved = deadlines.recompute_open(s, agency)
                if moved:
                    log.info("open deadlines recomputed", extra={"agency": agency.slug, "moved": moved})

    def source_for(self, agency: Agency, backlog: str = "ask") -> Source:
        if agency.mailbox.scheme == "maildir":
            return MaildirSource(Path(agency.mailbox.path), large_bytes=agency.limits.large_message_bytes)
        return ImapSource(agency.mailbox, Checkpoints(self.db, agency.slug), backlog=backlog,
                          large_bytes=agency.limits.large_message_bytes, spool=self.spool)

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
                        now=self.now, spool=self.spool)
        return Services(article_notices, question_notices,
                        PeriodicNotices(agency, self.renderer, self.file_store), review, questions, intake,
                        Mailer(agency, self.renderer, self.file_store))

    def worker(self, agency: Agency, backlog: str = "ask", source: Source | None = None,
               transport: outbox.Transport | None = None) -> Worker:
        return Worker(agency, self.db, source or self.source_for(agency, backlog), self.services(agency),
                      transport or outbox.transport_for(agency.outgoing, self.settings.delivery), now=self.now,
                      delivery=self.settings.delivery, service=self.settings.service, holder=self.holder,
                      health=self.health)

    def queue_sizes(self) -> dict[str, dict[str, int]]:
        """Per agency, what waits (for the metrics' gauges): outbox pending and retrying, held, reminders due."""
        from mailbot import views

        sizes = {}
        with self.db.transaction() as s:
            for agency in self.settings.agencies:
                st = views.status(s, agency, self.now())
                sizes[agency.slug] = {"outbox_pending": st["outbox"]["pending"],
                                      "outbox_failing": st["outbox"]["failing"], "held": st["held"]["total"],
                                      "reminders_due": st["reminders_due"]}
        return sizes

    def close(self) -> None:
        self.db.dispose()
