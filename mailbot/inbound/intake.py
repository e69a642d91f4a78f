"""Intake: raw bytes in; stored, classified, filed (or held, or ignored) and answered, in one transaction."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailbot import metrics
from mailbot.articles import contributions, deadlines, filing, hints, sender, workflow
from mailbot.articles.notices import ArticleNotices, current_files
from mailbot.articles.review import Review
from mailbot.cases.authority import Result, find_token, tokens_in
from mailbot.cases.filer import Filer
from mailbot.config import DEFAULT_LIMITS, Agency, IntakeSettings, LimitSettings, SignatureSettings
from mailbot.inbound import arrival, rules
from mailbot.logs import where
from mailbot.mail import attachments as files
from mailbot.mail import reply
from mailbot.mail.authentication import Authenticator
from mailbot.mail.authentication import Verdict as AuthVerdict
from mailbot.mail.message import ParsedMessage, parse_raw
from mailbot.mail.raw import RawMessage
from mailbot.mail.signatures import ORIGINAL_REASONS_VI
from mailbot.mail.vntext import looks_mojibake, repair_legacy
from mailbot.questions.notices import QuestionNotices
from mailbot.questions.service import Questions
from mailbot.storage.blobs import BlobStore
from mailbot.storage.db import Database, is_unavailable
from mailbot.storage.models import (
    Article,
    Attachment,
    Event,
    InboundMessage,
    IntakeAttempt,
    OutboxMessage,
    Question,
)

log = logging.getLogger("mailbot.intake")


_ENCODING_LABELS = {"tcvn3": "phông TCVN3 (ABC)", "vni": "phông VNI", "utf-8-as-latin-1": "sai bảng mã (UTF-8 đọc nhầm)"}


@dataclass(frozen=True)
class Outcome:
    inbound_id: int
    disposition: str
    rule: str
    reason: str
    reference: str | None
    new: bool  # False when these exact bytes were already stored (a second delivery)


@dataclass(frozen=True)
class Taken:
    """A message stored and decided on, as the action's handler gets it."""

    inbound: InboundMessage
    prepared: Prepared
    facts: rules.Facts
    raw: RawMessage
    now: datetime
    # When it reached the board's server (mailbot.inbound.arrival): what legal time limits start from.
    arrived: datetime

    @property
    def msg(self) -> ParsedMessage:
        return self.prepared.msg


@dataclass(frozen=True)
class Prepared:
    """The message with its text repaired (legacy fonts) and its files inspected, plus what that found;
    made before the filing transaction opens, so no slow check holds the database."""

    msg: ParsedMessage
    legacy_encoding: str | None
    title_unreadable: bool
    authentication: AuthVerdict | None = None   # for a reply carrying a token: whether its sender is authentic


def prepare(msg: ParsedMessage, limits: LimitSettings = DEFAULT_LIMITS, intake: IntakeSettings | None = None,
            signatures: SignatureSettings | None = None) -> Prepared:
    """Repair legacy fonts; with `intake` settings, inspect the attachments of a message within its limits."""
    body = repair_legacy(msg.text, sample=limits.detector_chars)
    subject = repair_legacy(msg.subject, hint=body.encoding, sample=limits.detector_chars)
    encoding = body.encoding or subject.encoding
    repaired = msg
    if body.encoding or subject.encoding:
        repaired = replace(msg, text=body.text, subject=subject.text)
    if intake is not None and not (msg.over_limit or msg.structure_problem):
        repaired = replace(repaired, attachments=tuple(
            replace(part, verdict=files.inspect(files.safe_filename(part.filename), part.data, intake, limits,
                                                signatures))
            for part in repaired.attachments))
    return Prepared(repaired, encoding, looks_mojibake(repaired.subject))


def own_text_digest(msg: ParsedMessage) -> str:
    """A fingerprint of what the sender wrote themselves (quotes aside, white space and case folded) and of
    the files they sent, for telling a responder that sends the same text each time ("" when there is no
    own text). The same covering note with other files is another message."""
    own = re.sub(r"\s+", " ", reply.split(msg.text).new).strip().casefold()
    if not own:
        return ""
    digest = hashlib.sha256(own.encode("utf-8", "surrogatepass"))
    for data in sorted(hashlib.sha256(p.data).digest() for p in msg.attachments):
        digest.update(data)
    return digest.hexdigest()


class Intake:
    def __init__(self, agency: Agency, db: Database, raw_store: BlobStore, filer: Filer, notices: ArticleNotices,
                 question_notices: QuestionNotices,
                 review: Review, questions: Questions, authenticator: Authenticator,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc), spool: Path | None = None):
        self.agency = agency
        self.spool = spool   # where a large message's decoded runs are spooled while it is parsed (None: the temp dir)
        self.filer = filer
        self.authenticator = authenticator
        self.db = db
        self.raw_store = raw_store
        self.notices = notices
        self.question_notices = question_notices
        self.now = now
        self.review = review
        self.questions = questions
        # What each rule's action does: the one map from a decision to its effect.
        self._cut_short: set[str] = set()   # messages whose last try a database outage ended
        self.handlers: dict[rules.Action, Callable[[Session, Taken], str | None]] = {
            rules.Action.NOTHING: lambda s, t: None,
            rules.Action.HOLD: self._hold,
            rules.Action.HOLD_AND_ALERT: self._hold_and_alert,
            rules.Action.HOLD_SUSPICIOUS: self._hold_suspicious,
            rules.Action.RECORD_BOUNCE: self._record_bounce,
            rules.Action.COMMAND: self._command,
            rules.Action.FILE_ARTICLE: self._file,
            rules.Action.ARTICLE_FOLLOW_UP: self._follow_up,
            rules.Action.FILE_QUESTION: lambda s, t: self.questions.file(s, t.inbound, t.msg, t.now,
                                                                         t.arrived).reference,
            rules.Action.QUESTION_FOLLOW_UP: self._question_follow_up,
        }

    def process(self, message: bytes | RawMessage, source: str = "", arrived: datetime | None = None,
                checkpoint: Callable[[Session], None] | None = None) -> Outcome:
        """Take one raw message. Idempotent: the same bytes twice have one effect.

        `checkpoint` is the source's record that it is past this message (mailbot.inbound.sources.Source.record):
        written in the transaction that ends the message, whichever it is (filed, held, already stored), and in
        none that fails.

        A large message comes as a spool file (RawMessage): it is archived by copying and parsed without being
        held whole (mailbot.mail.message.parse_raw). `arrived` is when the source says the message reached the
        server (None: it cannot say).
        Each try is counted before it starts (the poison-message guard): a message whose earlier tries
        failed, crashed the process or ran over `limits.message_seconds` as often as `limits.attempts` is
        held without being read again, and the mailbox moves on.
        """
        raw = RawMessage.of(message)
        if raw.path is not None:
            sha, _ = self.raw_store.put_file(raw.path, ".eml")
        else:
            sha, _ = self.raw_store.put(raw.read(), ".eml")
        with self.db.transaction() as s:
            existing = self._stored(s, sha)
            if existing:
                if checkpoint:
                    checkpoint(s)
                return existing
            tries = self._count_try(s, sha)
        limits = self.agency.limits
        if tries.attempts > limits.attempts:
            return self._hold_poison(raw, sha, source, tries, arrived, checkpoint)
        for attempt in (1, 2):
            started = time.monotonic()
            try:
                outcome = self._process(raw, sha, source, arrived, checkpoint)
            except Exception as exc:
                if is_unavailable(exc):
                    # The database went away, not the message: nothing was committed, and the caller
                    # must not mark it done; it is taken again once the database is back, and that try
                    # is not counted against the message.
                    self._cut_short.add(sha)
                    raise
                if isinstance(exc, IntegrityError) and attempt == 1:
                    continue   # another process stored the same bytes meanwhile: the second try finds them
                log.error("intake failed; message held", extra={"sha256": sha, "source": source,
                                                                "error": type(exc).__name__,
                                                                "where": where(exc)})
                return self._hold_after_error(raw, sha, source, exc, arrived, checkpoint)
            seconds = time.monotonic() - started
            metrics.INTAKE.labels(self.agency.slug, str(outcome.disposition)).inc()
            metrics.INTAKE_SECONDS.labels(self.agency.slug, str(outcome.disposition)).observe(seconds)
            if seconds > limits.message_seconds:
                log.warning("message over its time budget", extra={"sha256": sha, "seconds": round(seconds, 1)})
            return outcome
        raise AssertionError("unreachable")

    def _count_try(self, s: Session, sha: str) -> IntakeAttempt:
        row = s.get(IntakeAttempt, (self.agency.slug, sha))
        if row is None:
            row = IntakeAttempt(agency=self.agency.slug, raw_sha256=sha, attempts=0, started_at=self.now())
            s.add(row)
        if sha in self._cut_short:
            self._cut_short.discard(sha)   # the last try ended in a database outage, not in this message
        else:
            row.attempts += 1
        if row.attempts > 1 and not row.problem:
            row.problem = "lần xử lý trước bị dừng giữa chừng (tiến trình bị tắt hoặc treo)"
        row.started_at = self.now()
        s.flush()
        s.expunge(row)
        return row

    def _hold_poison(self, raw: RawMessage, sha: str, source: str, tries: IntakeAttempt,
                     arrived: datetime | None, checkpoint: Callable[[Session], None] | None) -> Outcome:
        log.warning("message held by the poison guard", extra={"sha256": sha, "attempts": tries.attempts - 1})
        outcome = self._hold_row(raw, sha, source, "poison-message",
                                 f"thư đã được thử xử lý {tries.attempts - 1} lần không thành ({tries.problem}); "
                                 "mailbot không đọc lại thư này, thư gốc đã được lưu, cần quản trị viên xem",
                                 arrived, checkpoint)
        return outcome

    def _forget_tries(self, s: Session, sha: str) -> None:
        s.execute(delete(IntakeAttempt).where(IntakeAttempt.agency == self.agency.slug,
                                              IntakeAttempt.raw_sha256 == sha))

    def replay(self, inbound_id: int, as_: str | None = None) -> tuple[Outcome, str]:
        """Take a stored message in again (a held one after a fix, say): decided anew and acted on, on its own
        row. Only a message that changed nothing (held or ignored) is replayed; effects stay idempotent (the
        mail it causes is keyed by the row, as the first time). `as_` is the secretary's decision for a message
        held as neither clearly an article nor a question ("article" or "question"); it only files: a message held
        for any other reason is decided by the rules again. Returns the outcome and what it was before."""
        with self.db.transaction() as s:
            row = s.get(InboundMessage, inbound_id)
            if row is None or row.agency != self.agency.slug:
                raise LookupError(f"no message #{inbound_id}")
            before = f"{row.disposition} ({row.rule})"
            sha = row.raw_sha256
            if row.disposition not in (rules.Disposition.HELD, rules.Disposition.IGNORED) or row.article_id \
                    or row.question_id:
                return Outcome(row.id, row.disposition, row.rule, row.reason, self._reference_of(s, row), False), before
        raw = RawMessage(path=self.raw_store.path(sha, ".eml"), owned=False)   # the archived file, read as it is
        now = self.now()
        prepared = self._read(raw)
        with self.db.transaction() as s:
            inbound = s.get_one(InboundMessage, inbound_id)
            msg = prepared.msg
            digest = own_text_digest(msg)
            facts = replace(self._facts(s, msg, prepared, now, digest, replaying=inbound.id), raw_size=len(raw))
            decision = rules.decide(msg, facts, self.agency)
            if as_ and decision.rule == "question-or-submission":
                decision = rules.secretary_decided(as_)
            inbound.disposition, inbound.rule = decision.disposition, decision.rule
            inbound.reason = decision.reason
            inbound.message_id, inbound.from_addr, inbound.from_name = msg.message_id, msg.from_addr[:320], \
                msg.from_name[:300]
            inbound.subject, inbound.defects, inbound.body_sha256 = msg.subject, list(msg.defects), digest or None
            # Its time limits count from when it first arrived, checked now that it is read.
            came = arrival.arrival(inbound.arrived_at, msg, inbound.received_at)
            inbound.arrived_at, inbound.arrival_note = came.at, came.note
            reference = self._act(s, decision, Taken(inbound, prepared, facts, raw, now, came.at), "message replayed")
            return Outcome(inbound.id, inbound.disposition, inbound.rule, inbound.reason, reference, True), before

    def _read(self, raw: RawMessage) -> Prepared:
        """Parsing, font repair, the attachment checks and DKIM (DNS): before any transaction opens."""
        limits = self.agency.limits
        prepared = prepare(parse_raw(raw, limits, self.spool), limits, self.agency.intake, self.agency.signatures)
        if tokens_in(prepared.msg, self.agency):
            # DKIM signs the whole message: a reply carrying a token is read whole (replies are small)
            prepared = replace(prepared, authentication=self.authenticator.verdict(raw.read(), prepared.msg))
        return prepared

    def _process(self, raw: RawMessage, sha: str, source: str, arrived: datetime | None,
                 checkpoint: Callable[[Session], None] | None = None) -> Outcome:
        now = self.now()
        prepared = self._read(raw)
        came = arrival.arrival(arrived, prepared.msg, now)
        if came.note:
            log.info("arrival time chosen", extra={"sha256": sha, "source_time": arrived and arrived.isoformat(),
                                                   "arrived": came.at.isoformat()})
        with self.db.transaction() as s:
            if checkpoint:
                checkpoint(s)
            existing = self._stored(s, sha)
            if existing:
                return existing
            msg = prepared.msg
            digest = own_text_digest(msg)
            facts = replace(self._facts(s, msg, prepared, now, digest), raw_size=len(raw))
            decision = rules.decide(msg, facts, self.agency)
            inbound = InboundMessage(
                agency=self.agency.slug, raw_sha256=sha, raw_size=len(raw), message_id=msg.message_id,
                in_reply_to=" ".join(msg.in_reply_to) or None, from_addr=msg.from_addr[:320],
                from_name=msg.from_name[:300], subject=msg.subject, sent_at=msg.date, received_at=now,
                arrived_at=came.at, arrival_note=came.note, source=source, disposition=decision.disposition,
                rule=decision.rule, reason=decision.reason,
                defects=list(msg.defects), body_sha256=digest or None)
            s.add(inbound)
            s.flush()
            self._forget_tries(s, sha)   # with the filing: a crash after this commit is no failed try
            reference = self._act(s, decision, Taken(inbound, prepared, facts, raw, now, came.at), "message taken in")
            return Outcome(inbound.id, decision.disposition, inbound.rule, inbound.reason, reference, True)

    def _act(self, s: Session, decision: rules.Decision, t: Taken, what: str) -> str | None:
        """The decision's handler, then the article's deadlines brought in line; returns the reference."""
        reference = self.handlers[decision.action](s, t)
        if t.inbound.article_id:
            # The step the mail ends ended when it arrived. What it opens counts from then too where the mail is
            # the contributor's (the board received the article then); after a board member's reply, from now
            # (the next person hears of it now).
            contributed = decision.action in (rules.Action.FILE_ARTICLE, rules.Action.ARTICLE_FOLLOW_UP)
            deadlines.sync(s, self.agency, s.get_one(Article, t.inbound.article_id),
                           t.arrived if contributed else t.now, left_at=t.arrived)
        log.info(what, extra={"inbound_id": t.inbound.id, "disposition": str(decision.disposition),
                              "rule": decision.rule, "reference": reference})
        return reference

    def _command(self, s: Session, t: Taken) -> str | None:
        """A reply carrying a token: review or questions check who sent it and apply it; the reason says how it went."""
        result = self._apply_command(s, t)
        metrics.COMMANDS.labels(self.agency.slug, "applied" if result.applied else "refused").inc()
        t.inbound.reason = result.summary
        return self._reference_of(s, t.inbound)

    def _apply_command(self, s: Session, t: Taken) -> Result:
        inbound, msg = t.inbound, t.msg
        row = find_token(s, self.agency, msg)
        if row is None:
            log.warning("command with an unknown token", extra={"inbound_id": inbound.id})
            return Result(False, "unknown-token: mã lệnh không tồn tại; không có hiệu lực")
        verdict = t.prepared.authentication or self.authenticator.verdict(t.raw.read(), msg)
        log.info("command reply authenticated" if verdict.authentic else "command reply not authenticated",
                 extra={"inbound_id": inbound.id, "how": verdict.how})
        if row.question_id is not None:
            return self.questions.handle(s, inbound, msg, row, t.now, verdict)
        return self.review.handle(s, inbound, msg, row, t.now, verdict)

    def _hold(self, s: Session, t: Taken) -> None:
        self.notices.held(s, t.inbound, t.msg, t.now)

    def _hold_suspicious(self, s: Session, t: Taken) -> None:
        """Held for the secretary; its files kept (quarantined) for the administrator, who is alerted."""
        self._hold(s, t)
        stored = self.filer.store(s, t.inbound, t.msg)
        self.notices.quarantine_alert(s, t.inbound, t.msg, None, stored, t.now)

    def _hold_and_alert(self, s: Session, t: Taken) -> None:
        """A reply with no one clear sender: held; where it carries a token, nobody's command, and the head is told."""
        self._hold(s, t)
        inbound, msg, now = t.inbound, t.msg, t.now
        row = find_token(s, self.agency, msg)
        if row is None:
            return
        why = f"người gửi không rõ ràng ({msg.sender_problem}); thư không được coi là lệnh"
        if row.question_id is not None:
            question = s.get_one(Question, row.question_id)
            inbound.question_id = row.question_id
            self.question_notices.question_forgery(s, inbound, question, row, why, now)
        else:
            article = s.get_one(Article, row.article_id)
            inbound.article_id = row.article_id
            workflow.note(s, article, "forgery", actor=msg.from_addr, now=now, inbound_id=inbound.id, detail=why)
            self.notices.forgery_alert(s, inbound, article, row, why, now)

    @staticmethod
    def _reference_of(s: Session, inbound: InboundMessage) -> str | None:
        if inbound.article_id:
            return s.get_one(Article, inbound.article_id).reference
        if inbound.question_id:
            return s.get_one(Question, inbound.question_id).reference
        return None

    def _stored(self, s: Session, sha: str) -> Outcome | None:
        row = s.scalar(select(InboundMessage).where(InboundMessage.agency == self.agency.slug,
                                                    InboundMessage.raw_sha256 == sha))
        if row is None:
            return None
        return Outcome(row.id, row.disposition, row.rule, row.reason, self._reference_of(s, row), False)

    def _hold_after_error(self, raw: RawMessage, sha: str, source: str, exc: Exception,
                          arrived: datetime | None, checkpoint: Callable[[Session], None] | None) -> Outcome:
        outcome = self._hold_row(raw, sha, source, "internal-error",
                                 f"lỗi khi xử lý thư ({type(exc).__name__} tại {where(exc)}); "
                                 "thư gốc đã được lưu, cần quản trị viên xem", arrived, checkpoint)
        return outcome

    def _hold_row(self, raw: RawMessage, sha: str, source: str, rule: str, reason: str,
                  arrived: datetime | None = None, checkpoint: Callable[[Session], None] | None = None) -> Outcome:
        """A row for a message that is not read (its bytes are kept); its arrival is the source's time, unchecked
        (a replay reads the message and checks it then)."""
        with self.db.transaction() as s:
            if checkpoint:
                checkpoint(s)
            self._forget_tries(s, sha)   # held (or stored meanwhile) for good: its tries are over
            existing = self._stored(s, sha)
            if existing:
                return existing
            now = self.now()
            row = InboundMessage(agency=self.agency.slug, raw_sha256=sha, raw_size=len(raw), received_at=now,
                                 arrived_at=min(arrived, now) if arrived else None,
                                 source=source, disposition=rules.Disposition.HELD, rule=rule, reason=reason)
            s.add(row)
            s.flush()
            return Outcome(row.id, row.disposition, row.rule, row.reason, None, True)

    # -- facts ------------------------------------------------------------------------------

    def _facts(self, s: Session, msg: ParsedMessage, prepared: Prepared, now: datetime, digest: str,
               replaying: int | None = None) -> rules.Facts:
        """What the database knows about `msg`; `replaying` is its own row, when it is replayed (not itself a
        duplicate, a repeat or a quick answer)."""
        agency = self.agency.slug
        others = InboundMessage.id != replaying if replaying is not None else true()
        duplicate_of = None
        if msg.message_id:
            duplicate_of = s.scalar(select(InboundMessage.id).where(
                InboundMessage.agency == agency, InboundMessage.message_id == msg.message_id, others).limit(1))
        article_id, ours = self._thread(s, msg)
        question = self._question_thread(s, msg)
        people: tuple[str, ...] = ()
        if article_id is not None:
            article = s.get_one(Article, article_id)
            people = tuple({article.submitter_email, (article.author or {}).get("email", "")} - {""})
        bounced: tuple[int, ...] = ()
        if msg.enclosed_ids or msg.thread_ids:
            ids = set(msg.enclosed_ids) | set(msg.thread_ids)
            bounced = tuple(s.scalars(select(OutboxMessage.id).where(
                OutboxMessage.agency == agency, OutboxMessage.message_id.in_(ids))))
        return rules.Facts(
            duplicate_of=duplicate_of, thread_article_id=article_id, thread_article_people=people,
            replies_to_our_mail=ours, bounced_outbox_ids=bounced,
            sender_member=self.agency.member_by_email(msg.from_addr),
            sender_is_staff=self.agency.staff_by_email(msg.from_addr) is not None,
            title_unreadable=prepared.title_unreadable, carries_token=bool(tokens_in(msg, self.agency)),
            thread_question_id=question.id if question else None,
            thread_question_asker=question.asker_email if question else "",
            same_text_earlier=self._same_text_earlier(s, msg.from_addr, digest, now, others),
            quick_answers=self._quick_answers(s, msg.from_addr, now, others) if ours else 0)

    def _same_text_earlier(self, s: Session, address: str, digest: str, now: datetime, others: Any) -> int:
        if not digest or not address:
            return 0
        return s.scalar(select(func.count()).select_from(InboundMessage).where(
            InboundMessage.agency == self.agency.slug, InboundMessage.from_addr == address, others,
            InboundMessage.received_at > now - timedelta(hours=24), InboundMessage.body_sha256 == digest)) or 0

    def _quick_answers(self, s: Session, address: str, now: datetime, others: Any) -> int:
        """Messages from `address` in the last ten minutes that answered mail of ours."""
        if not address:
            return 0
        answered = s.scalars(select(InboundMessage.in_reply_to).where(
            InboundMessage.agency == self.agency.slug, InboundMessage.from_addr == address, others,
            InboundMessage.received_at > now - timedelta(minutes=10), InboundMessage.in_reply_to.is_not(None)
        ).limit(100)).all()
        ids = {i for value in answered for i in (value or "").split()}
        if not ids:
            return 0
        ours = set(s.scalars(select(OutboxMessage.message_id).where(
            OutboxMessage.agency == self.agency.slug, OutboxMessage.message_id.in_(ids))))
        return sum(1 for value in answered if set((value or "").split()) & ours)

    def _question_thread(self, s: Session, msg: ParsedMessage) -> Question | None:
        """The citizen's question a message follows: by its threading headers, else by HD-YYYY-NNNN in the subject."""
        ids = list(msg.thread_ids)
        if ids:
            found = s.scalar(select(OutboxMessage.question_id).where(
                OutboxMessage.agency == self.agency.slug, OutboxMessage.message_id.in_(ids),
                OutboxMessage.question_id.is_not(None)).limit(1)) or s.scalar(select(InboundMessage.question_id).where(
                    InboundMessage.agency == self.agency.slug, InboundMessage.message_id.in_(ids),
                    InboundMessage.question_id.is_not(None)).limit(1))
            if found:
                return s.get(Question, found)
        m = filing.reference_pattern(self.agency, self.agency.questions.reference_prefix).search(msg.subject)
        if m:
            return s.scalar(select(Question).where(Question.agency == self.agency.slug,
                                                   Question.reference == m.group(0)))
        return None

    def _thread(self, s: Session, msg: ParsedMessage) -> tuple[int | None, bool]:
        """The article a message follows up: by References/In-Reply-To first, by a reference in the subject second."""
        ids = list(msg.thread_ids)
        ours = False
        if ids:
            for mid in ids:  # nearest first
                sent = s.scalar(select(OutboxMessage).where(OutboxMessage.agency == self.agency.slug,
                                                            OutboxMessage.message_id == mid))
                if sent is not None:
                    ours = True
                    if sent.article_id:
                        return sent.article_id, True
                got = s.scalar(select(InboundMessage.article_id).where(
                    InboundMessage.agency == self.agency.slug, InboundMessage.message_id == mid,
                    InboundMessage.article_id.is_not(None)).limit(1))
                if got:
                    return got, ours
        m = filing.reference_pattern(self.agency).search(msg.subject)
        if m:
            article = s.scalar(select(Article).where(Article.agency == self.agency.slug,
                                                     Article.reference == m.group(0)))
            if article is not None:
                return article.id, ours
        return None, ours

    # -- effects ----------------------------------------------------------------------------

    def _file(self, s: Session, t: Taken) -> str:
        inbound, prepared, now = t.inbound, t.prepared, t.now
        msg = prepared.msg
        parts = reply.split(msg.text)
        block = reply.forwarded_block(parts, msg.subject)
        forwarded = reply.parse_forwarded(block) if block else None
        if forwarded and forwarded.from_addr and forwarded.from_addr != msg.from_addr:
            # A focal point forwarding a colleague's article: the colleague is the author.
            author = sender.gather(forwarded.body, forwarded.from_addr, forwarded.from_name, self.agency)
            body = forwarded.body
            subject = msg.subject if filing.strip_subject(msg.subject) else forwarded.subject
        else:
            author = sender.gather(parts.new, msg.from_addr, msg.from_name, self.agency)
            body, subject, forwarded = parts.new or msg.text, msg.subject, None

        article = Article(agency=self.agency.slug, reference="", status="", category="", title="",
                          body_text=body, author=author.as_dict(), submitter_email=msg.from_addr,
                          missing=[], received_at=t.arrived, updated_at=now)
        stored = self.filer.store(s, inbound, msg)
        good = [a for a in stored if a.ok]
        title = filing.title_of(subject) or next(
            (files.first_line(a.text_preview) for a in good if a.text_preview), "") or files.first_line(body)
        article.title = title or "(không có tiêu đề)"
        article.category = filing.category(self.agency, subject, body, [a.kind for a in good])
        article.reference = filing.next_reference(s, self.agency, t.arrived)
        article.missing = author.missing(self.agency.intake.require_email) + filing.photos_missing(
            self.agency, article.category, good)
        original = filing.original_missing(self.agency, article.category, good)
        article.sensitive = filing.marked_sensitive(subject)
        article.hints = hints.for_article([body, *(a.text_preview for a in good)], self.agency.accepted_domains)
        event = "filed_incomplete" if article.missing else "filed_unsigned" if original else "filed_complete"
        if event == "filed_unsigned":
            article.missing = ["signed_original"]
        detail = f"tự động chuyển đổi văn bản {_ENCODING_LABELS.get(prepared.legacy_encoding, '')} sang Unicode" \
            if prepared.legacy_encoding else ""
        workflow.apply(s, article, event, actor=msg.from_addr, now=now, inbound_id=inbound.id, detail=detail)
        for a in stored:
            a.article_id = article.id
        inbound.article_id = article.id
        if "photos" in article.missing:
            workflow.note(s, article, "photos_requested", actor="mailbot", now=now, inbound_id=inbound.id,
                          detail="tin hoạt động không có ảnh minh họa; đã đề nghị người gửi bổ sung")
        if original and not [m for m in article.missing if m != "signed_original"]:
            self._original_requested(s, article, original, now, inbound.id)
        for hint in article.hints:
            workflow.note(s, article, "hint", actor="mailbot", now=now, inbound_id=inbound.id, detail=hint["text"])
        if forwarded:
            workflow.note(s, article, "forwarded", actor=msg.from_addr, now=now, inbound_id=inbound.id,
                          detail=f"chuyển tiếp bài của {forwarded.from_name} <{forwarded.from_addr}>")
        s.flush()
        s.refresh(article, ["attachments"])
        timing = self._timing(s, article, [body, subject, *(a.text_preview for a in good)], msg.from_addr, now,
                              inbound.id)
        recent = self._recent_submissions(s, msg.from_addr, t.arrived)
        if recent > self.agency.limits.submissions_per_hour:
            # A flood (a looping responder, a script): filed, and nobody is written to but the secretary, once.
            workflow.note(s, article, "flood", actor="mailbot", now=now, inbound_id=inbound.id,
                          detail=f"người gửi đã gửi {recent} bài trong một giờ (giới hạn "
                                 f"{self.agency.limits.submissions_per_hour}); không trả lời, không thông báo "
                                 "Ban Biên tập; chờ Thư ký (mailbot release)")
            inbound.reason = f"{inbound.reason}; vượt giới hạn bài gửi mỗi giờ, không trả lời"
            self.notices.flood(s, msg.from_addr, recent, article.reference, now)
            return article.reference
        self._answer(s, inbound, msg, article, stored, now, first=True, date_wanted=timing == "unknown")
        return article.reference

    def release(self, reference: str) -> str:
        """An article filed past the submission rate goes to the board now: its review starts and the board
        is told, as if it had come in alone. Returns what was done, for the administrator."""
        now = self.now()
        with self.db.transaction() as s:
            article = s.scalar(select(Article).where(Article.agency == self.agency.slug,
                                                     Article.reference == reference))
            if article is None:
                return f"no article {reference}"
            kinds = set(s.scalars(select(Event.kind).where(Event.article_id == article.id)))
            held = "flood" in kinds and not kinds & {"released", "review_started", "unit_review_requested"}
            if not held:
                return f"{reference} is not waiting after a flood"
            workflow.note(s, article, "released", actor="mailbot release", now=now,
                          detail="Thư ký cho bài vào xét duyệt sau khi tạm giữ vì vượt giới hạn bài gửi")
            if article.status == workflow.AWAITING_DETAILS:
                return f"{reference} released; it still waits for the sender's details"
            if article.status == workflow.AWAITING_ORIGINAL:   # the secretary may confirm the paper original
                self.review.request(s, article, now)
                deadlines.sync(s, self.agency, article, now)
                return f"{reference} released; it waits for its signed original (the secretary was asked)"
            self.notices.new_article(s, None, article, now)
            self.review.start(s, article, now)
            deadlines.sync(s, self.agency, article, now)
            return f"{reference} released to the board"

    def _original_requested(self, s: Session, article: Article, state: str, now: datetime, inbound_id: int) -> None:
        workflow.note(s, article, "original_requested", actor="mailbot", now=now, inbound_id=inbound_id,
                      detail=f"văn bản cần bản có chữ ký số hợp lệ hoặc bản gốc giấy (002 điều 9.1c): "
                             f"{ORIGINAL_REASONS_VI.get(state, state)}")

    def _recent_submissions(self, s: Session, address: str, now: datetime) -> int:
        """Articles from `address` that arrived in the hour before `now`, this one included."""
        return s.scalar(select(func.count()).select_from(Article).where(
            Article.agency == self.agency.slug, Article.submitter_email == address,
            Article.received_at > now - timedelta(hours=1))) or 0

    def _timing(self, s: Session, article: Article, texts: list[str], actor: str, now: datetime,
                inbound_id: int) -> str:
        """Was it sent within the contributors' time limit? A late one is marked in its history."""
        outcome, row = contributions.assess(s, self.agency, article, texts)
        if outcome == "missed" and row is not None:  # on time needs no mark: the deadline row says it
            workflow.note(s, article, "late_submission", actor=actor, now=now, inbound_id=inbound_id,
                          detail=row.explanation.split("\n")[-1])
        return outcome

    def _question_follow_up(self, s: Session, t: Taken) -> str:
        assert t.facts.thread_question_id is not None  # the rule said so
        return self.questions.follow_up(s, t.inbound, t.msg, t.facts.thread_question_id, t.now).reference

    def _follow_up(self, s: Session, t: Taken) -> str:
        inbound, prepared, now = t.inbound, t.prepared, t.now
        assert t.facts.thread_article_id is not None  # the rule said so
        msg = prepared.msg
        article = s.get_one(Article, t.facts.thread_article_id)
        inbound.article_id = article.id
        stored = self.filer.store(s, inbound, msg, article)
        new_text = reply.split(msg.text).new
        given = sender.from_text(new_text, self.agency)
        current = sender.Details.from_dict(article.author or {})
        # What the author writes now overrides what we had; what they leave out stays.
        author = given.merged(current, "earlier message")
        was_missing = list(article.missing)
        article.author = author.as_dict()
        s.flush()
        s.refresh(article, ["attachments"])
        # Photos are asked for only while the article waits for its sender (001 art. 9.1b); in review, the
        # editor sees what there is.
        photos = filing.photos_missing(self.agency, article.category, article.attachments) \
            if article.status == workflow.AWAITING_DETAILS else []
        article.missing = author.missing(self.agency.intake.require_email) + photos
        original = filing.original_missing(self.agency, article.category, article.attachments) \
            if article.status in (workflow.AWAITING_DETAILS, workflow.AWAITING_ORIGINAL) else ""
        if article.status == workflow.AWAITING_ORIGINAL:
            article.missing = ["signed_original"] if original else []
        added = [a.filename for a in stored]
        if any(a.ok and a.kind not in filing.IMAGE_KINDS for a in stored):   # a new text: what it shows the editor
            article.hints = hints.for_article([article.body_text, *(a.text_preview for a in current_files(article))],
                                              self.agency.accepted_domains)
        workflow.note(s, article, "follow_up", actor=msg.from_addr, now=now, inbound_id=inbound.id,
                      detail="; ".join(filter(None, [
                          f"tệp: {', '.join(added)}" if added else "",
                          f"bổ sung thông tin: {', '.join(sorted(set(was_missing) - set(article.missing)))}"
                          if set(was_missing) - set(article.missing) else ""])))
        s.flush()
        s.refresh(article, ["attachments"])
        self._timing(s, article, [new_text], msg.from_addr, now, inbound.id)  # the date we asked for, if we did
        completed = waits = False
        if article.status == workflow.AWAITING_DETAILS and not article.missing:
            if original:   # the details are there; the signed original is not (002 art. 9.1c)
                article.missing = ["signed_original"]
                workflow.apply(s, article, "original_awaited", actor=msg.from_addr, now=now, inbound_id=inbound.id)
                self._original_requested(s, article, original, now, inbound.id)
                waits = True
            else:
                workflow.apply(s, article, "details_completed", actor=msg.from_addr, now=now, inbound_id=inbound.id)
                completed = True
        elif article.status == workflow.AWAITING_ORIGINAL and not original:
            workflow.apply(s, article, "signed_original_received", actor=msg.from_addr, now=now,
                           inbound_id=inbound.id, detail=", ".join(a.filename for a in stored if a.signature
                                                                   and a.signature.get("state") == "valid"))
            self.review.revoke_open(s, article, now)   # the secretary's ĐÃ NHẬN BẢN GỐC is not needed now
            completed = True
        elif article.status == workflow.AWAITING_REVISION:
            self.review.revised(s, inbound, article, [a for a in stored if a.ok], now)
        self._answer(s, inbound, msg, article, stored, now, first=completed or waits)
        return article.reference

    def _answer(self, s: Session, inbound: InboundMessage, msg: ParsedMessage, article: Article,
                stored: list[Attachment], now: datetime, first: bool, date_wanted: bool = False) -> None:
        quarantined = [a for a in stored if not a.ok]
        if article.status == workflow.AWAITING_DETAILS:
            self.notices.details_missing(s, inbound, msg, article, quarantined, now)
        elif article.status == workflow.AWAITING_ORIGINAL:
            self.notices.original_missing(s, inbound, msg, article, quarantined, now)
            if first:   # the secretary may confirm the paper original: a notice with its own token
                self.review.request(s, article, now, inbound.id)
        elif first:
            self.notices.received(s, inbound, msg, article, quarantined, now, date_wanted=date_wanted)
            self.notices.new_article(s, inbound, article, now)
            self.review.start(s, article, now, inbound.id)
        else:
            self.notices.follow_up_received(s, inbound, msg, article, stored, now)
        if quarantined:
            self.notices.quarantine_alert(s, inbound, msg, article, quarantined, now)

    def _record_bounce(self, s: Session, t: Taken) -> None:
        """A bounce of mail we sent: the outbox row is marked, and the article's history says so."""
        inbound, now = t.inbound, t.now
        for oid in t.facts.bounced_outbox_ids:
            row = s.get_one(OutboxMessage, oid)
            row.status = "bounced"
            row.bounced_by = inbound.id
            if row.article_id:
                article = s.get_one(Article, row.article_id)
                inbound.article_id = inbound.article_id or article.id
                workflow.note(s, article, "bounce", actor=inbound.from_addr or "mailer-daemon", now=now,
                              inbound_id=inbound.id,
                              detail=f"thư gửi {', '.join(row.recipients)} bị trả lại ({row.subject})")

