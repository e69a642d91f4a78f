"""The stored records: agencies, inbound messages, articles, attachments, audit events, the outbox, checkpoints."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=timezone.utc) if value is not None else None


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class AgencyRow(Base):
    """One tenant; rows of every other table carry its slug."""

    __tablename__ = "agencies"
    slug: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))


class MailboxState(Base):
    """IMAP checkpoint: the last UID fully handled under one UIDVALIDITY (moved in the transaction that files
    the message), and the UID up to which each handled message also carries the keyword on the server (set
    after that commit; what lies between the two is marked when the mailbox is next opened)."""

    __tablename__ = "mailbox_state"
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"), primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(500), primary_key=True)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger)
    flagged_uid: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    updated_at: Mapped[datetime]


class InboundMessage(Base):
    """Every message that reached the mailbox, its raw bytes on disk, and what intake made of it."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("agency", "raw_sha256", name="uq_inbound_raw"),
        Index("ix_inbound_message_id", "agency", "message_id"),
        Index("ix_inbound_sender", "agency", "from_addr", "received_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"))
    raw_sha256: Mapped[str] = mapped_column(String(64))
    raw_size: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[str | None] = mapped_column(String(998))
    body_sha256: Mapped[str | None] = mapped_column(String(64))   # its own new text, normalised
    in_reply_to: Mapped[str | None] = mapped_column(Text)
    from_addr: Mapped[str] = mapped_column(String(320), default="")
    from_name: Mapped[str] = mapped_column(String(300), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None]
    received_at: Mapped[datetime]                  # when mailbot read it
    # When it reached the board's server (mailbot.inbound.arrival), what its time limits count from; and how
    # that was chosen where it is not simply the mailbox's time. None on rows older than migration 0011.
    arrived_at: Mapped[datetime | None]
    arrival_note: Mapped[str] = mapped_column(String(300), default="", server_default="")
    source: Mapped[str] = mapped_column(String(500), default="")
    # filed | followup | ignored | held | duplicate
    disposition: Mapped[str] = mapped_column(String(20))
    rule: Mapped[str] = mapped_column(String(64), default="", server_default="")   # the rule that decided
    reason: Mapped[str] = mapped_column(Text, default="")                             # why, for the secretary
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id"))
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id"))
    defects: Mapped[list[Any]] = mapped_column(default=list)


class Article(Base):
    __tablename__ = "articles"
    __table_args__ = (UniqueConstraint("agency", "reference", name="uq_article_reference"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"))
    reference: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(40))
    category: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text, default="")
    # The author wrote it; the submitter sent it (a focal point forwarding a colleague's work).
    author: Mapped[dict[str, Any]] = mapped_column(default=dict)
    submitter_email: Mapped[str] = mapped_column(String(320))
    missing: Mapped[list[Any]] = mapped_column(default=list)
    # What intake noticed for the editor ({"kind": "attribution" | "language" | "legacy_font", "text": ...}).
    hints: Mapped[list[Any]] = mapped_column(default=list)
    received_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Review: the step being decided (status "review"), the version under review, who holds it.
    step: Mapped[str] = mapped_column(String(40), default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    assignee: Mapped[str] = mapped_column(String(320), default="")
    sensitive: Mapped[bool] = mapped_column(default=False)
    director_approved: Mapped[bool] = mapped_column(default=False)
    revision_step: Mapped[str] = mapped_column(String(40), default="")  # the step that asked for a revision
    published_url: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[list[Attachment]] = relationship(back_populates="article", order_by="Attachment.id")


class Question(Base):
    """A citizen's question (hỏi đáp) or feedback (phản ánh, kiến nghị): its own reference, never an article."""

    __tablename__ = "questions"
    __table_args__ = (UniqueConstraint("agency", "reference", name="uq_question_reference"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"))
    reference: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))             # question | feedback
    status: Mapped[str] = mapped_column(String(40))
    step: Mapped[str] = mapped_column(String(40), default="")  # the answer's review step
    title: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text, default="")
    # The asker's personal data: shown to the board only; units and the Q&A page get it redacted.
    asker_name: Mapped[str] = mapped_column(String(300), default="")
    asker_email: Mapped[str] = mapped_column(String(320))
    message_id: Mapped[str | None] = mapped_column(String(998))   # the question's own, to answer under it
    thread_refs: Mapped[list[Any]] = mapped_column(default=list)
    unit: Mapped[str] = mapped_column(String(300), default="")
    answer_text: Mapped[str] = mapped_column(Text, default="")
    answer_version: Mapped[int] = mapped_column(Integer, default=0)
    answered_by: Mapped[str] = mapped_column(String(320), default="")
    extended: Mapped[bool] = mapped_column(default=False)
    extension_reason: Mapped[str] = mapped_column(Text, default="")
    due_at: Mapped[datetime]
    received_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    qa_text: Mapped[str] = mapped_column(Text, default="")       # prepared for the site's Q&A section


class FileStatus(StrEnum):
    """An attachment is either usable or quarantined, with the reason beside it."""

    OK = "ok"
    QUARANTINED = "quarantined"


class Attachment(Base):
    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"))
    inbound_id: Mapped[int] = mapped_column(ForeignKey("inbound_messages.id"))
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id"))
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id"))
    filename: Mapped[str] = mapped_column(String(500))
    declared_type: Mapped[str] = mapped_column(String(200), default="")
    sniffed_type: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(20), default="")
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content_id: Mapped[str] = mapped_column(String(500), default="")
    inline: Mapped[bool] = mapped_column(default=False)
    # ok | quarantined
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    text_preview: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=1)
    original_name: Mapped[str | None] = mapped_column(Text)   # as sent, when unsafe characters were removed
    # A PDF's digital signatures where the agency checks them: {"state", "signers": [...]} (mailbot.mail.signatures)
    signature: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    article: Mapped[Article | None] = relationship(back_populates="attachments")

    @property
    def ok(self) -> bool:
        """Usable: not quarantined."""
        return self.status == FileStatus.OK


class Event(Base):
    """The audit trail: who did what to an article, when, through which message, and why."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_article", "article_id"), Index("ix_events_question", "question_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"))
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id"))
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id"))
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str] = mapped_column(String(40), default="")
    to_status: Mapped[str] = mapped_column(String(40), default="")
    detail: Mapped[str] = mapped_column(Text, default="")


class OutboxStatus(StrEnum):
    """Where an outgoing message stands; each recipient's own state is in `deliveries`."""

    PENDING = "pending"    # some recipient still to be tried
    SENT = "sent"          # every recipient accepted by the server
    PARTIAL = "partial"    # some accepted, some refused for good
    FAILED = "failed"      # refused for good, or retries used up, for every recipient
    BOUNCED = "bounced"    # accepted, then a bounce came back


class OutboxMessage(Base):
    """A message we send: stored whole before any attempt, keyed so that it is made once."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("agency", "idempotency_key", name="uq_outbox_key"),
        Index("ix_outbox_message_id", "agency", "message_id"),
        Index("ix_outbox_pending", "status", "next_attempt_at"),
        Index("ix_outbox_needs_alert", "agency", "needs_alert"),
        Index("ix_outbox_answer_to", "agency", "answer_to", "created_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"))
    idempotency_key: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(60))
    message_id: Mapped[str] = mapped_column(String(998))
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id"))
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id"))
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    subject: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # an OutboxStatus
    # Per recipient: {"state": pending|sent|failed, "code", "error", "at", "reported"}.
    deliveries: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # A sender working on this row, until when: others leave it alone meanwhile (several processes).
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    claimed_until: Mapped[datetime | None]
    # A recipient failed for good and the administrator has not been told yet.
    needs_alert: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The correspondent an automatic answer goes to (the sender of the mail it answers), for the daily cap.
    answer_to: Mapped[str | None] = mapped_column(String(320))
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str] = mapped_column(Text, default="")
    # A bounce that came back for this message (status becomes "bounced").
    bounced_by: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class ReferenceCounter(Base):
    """Gap-free reference numbers: one row per agency, prefix and year, bumped inside the filing transaction."""

    __tablename__ = "reference_counters"
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"), primary_key=True)
    prefix: Mapped[str] = mapped_column(String(10), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class ReviewToken(Base):
    """The secret in one notification to one member, for one article, version and step.

    It travels in the notification's Message-ID (and Reply-To where the server supports
    plus-addressing) and comes back in the reply's In-Reply-To/References: only the member it
    was sent to has it. Used once; expires; revoked when the step moves on.
    """

    __tablename__ = "review_tokens"
    __table_args__ = (UniqueConstraint("token", name="uq_review_token"), Index("ix_review_tokens_article", "article_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"))
    token: Mapped[str] = mapped_column(String(64))
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id"))
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(40))   # the article status the token is for
    step: Mapped[str] = mapped_column(String(40), default="")
    member: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Deadline(Base):
    """A time limit running on an article: one row per position it waits in (a review step, publication ...)."""

    __tablename__ = "deadlines"
    __table_args__ = (Index("ix_deadlines_open", "agency", "closed_at", "due_at"), Index("ix_deadlines_article", "article_id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"))
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id"))
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id"))
    position: Mapped[str] = mapped_column(String(80))        # "review:edit", "approved", ...
    rule_name: Mapped[str] = mapped_column(String(80))
    rule: Mapped[dict[str, Any]] = mapped_column(default=dict)
    start_at: Mapped[datetime]
    due_at: Mapped[datetime]
    explanation: Mapped[str] = mapped_column(Text, default="")
    closed_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(String(20), default="")  # met | missed


class Lease(Base):
    """A named thing one process holds at a time (a mailbox), until it stops renewing."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(500), primary_key=True)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"))
    holder: Mapped[str] = mapped_column(String(120))
    expires_at: Mapped[datetime]
    acquired_at: Mapped[datetime]


class IntakeAttempt(Base):
    """The poison-message guard: a message's tries, counted before each one. A clean finish removes the row;
    one that failed or ran over its time more than `limits.attempts` times is held."""

    __tablename__ = "intake_attempts"
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"), primary_key=True)
    raw_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    problem: Mapped[str] = mapped_column(Text, default="")


class ReminderSent(Base):
    """The ledger: one row per deadline and threshold reminded, so a restart never repeats or skips one."""

    __tablename__ = "reminders_sent"
    __table_args__ = (UniqueConstraint("agency", "key", name="uq_reminder_key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency: Mapped[str] = mapped_column(ForeignKey("agencies.slug"))
    key: Mapped[str] = mapped_column(String(200))            # "deadline:<id>:<threshold>"
    deadline_id: Mapped[int | None] = mapped_column(ForeignKey("deadlines.id"))
    threshold: Mapped[str] = mapped_column(String(40))
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    sent_at: Mapped[datetime]
