"""Read-only views of what is stored, as plain dicts for `list` and `show` (text or JSON)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailbot.articles.workflow import STATUS_LABELS_VI
from mailbot.config import Agency
from mailbot.storage.models import (
    Article,
    Attachment,
    Deadline,
    Event,
    InboundMessage,
    IntakeAttempt,
    Lease,
    MailboxState,
    OutboxMessage,
    Question,
    ReminderSent,
)


def _iso(d: datetime | None) -> str | None:
    return d.isoformat() if d else None


def article_rows(s: Session, agency: str | None = None) -> list[dict]:
    q = select(Article).order_by(Article.id)
    if agency:
        q = q.where(Article.agency == agency)
    return [{
        "agency": a.agency, "reference": a.reference, "status": a.status, "category": a.category,
        "title": a.title, "author": (a.author or {}).get("name", ""), "submitter": a.submitter_email,
        "missing": list(a.missing), "received_at": _iso(a.received_at),
    } for a in s.scalars(q)]


def inbound_rows(s: Session, disposition: str | None = None, agency: str | None = None) -> list[dict]:
    q = select(InboundMessage).order_by(InboundMessage.id)
    if disposition:
        q = q.where(InboundMessage.disposition == disposition)
    if agency:
        q = q.where(InboundMessage.agency == agency)
    return [{
        "id": m.id, "agency": m.agency, "disposition": m.disposition, "rule": m.rule, "reason": m.reason,
        "from": m.from_addr,
        "subject": m.subject, "received_at": _iso(m.received_at), "message_id": m.message_id,
        "raw_sha256": m.raw_sha256,
    } for m in s.scalars(q)]


def article_detail(s: Session, reference: str, agency: str | None = None) -> dict | None:
    q = select(Article).where(Article.reference == reference)
    if agency:
        q = q.where(Article.agency == agency)
    a = s.scalars(q).first()
    if a is None:
        return None
    inbound = s.scalars(select(InboundMessage).where(InboundMessage.article_id == a.id)
                        .order_by(InboundMessage.id)).all()
    out = s.scalars(select(OutboxMessage).where(OutboxMessage.article_id == a.id).order_by(OutboxMessage.id)).all()
    events = s.scalars(select(Event).where(Event.article_id == a.id).order_by(Event.id)).all()
    files = s.scalars(select(Attachment).where(Attachment.article_id == a.id).order_by(Attachment.id)).all()
    limits = s.scalars(select(Deadline).where(Deadline.article_id == a.id).order_by(Deadline.id)).all()
    return {
        "agency": a.agency, "reference": a.reference, "status": a.status,
        "status_label": STATUS_LABELS_VI.get(a.status, a.status), "step": a.step, "version": a.version,
        "sensitive": a.sensitive, "assignee": a.assignee, "published_url": a.published_url,
        "category": a.category, "title": a.title,
        "received_at": _iso(a.received_at), "updated_at": _iso(a.updated_at),
        "author": a.author, "submitter": a.submitter_email, "missing": list(a.missing),
        "hints": list(a.hints or []), "body_text": a.body_text,
        "attachments": [{
            "filename": f.filename, "kind": f.kind, "sniffed_type": f.sniffed_type, "size": f.size,
            "sha256": f.sha256, "status": f.status, "reason": f.reason, "version": f.version,
            "inline": f.inline, "has_text": bool(f.text_preview), "signature": f.signature,
        } for f in files],
        "messages_in": [{
            "id": m.id, "from": m.from_addr, "subject": m.subject, "received_at": _iso(m.received_at),
            "arrived_at": _iso(m.arrived_at), "arrival_note": m.arrival_note,
            "disposition": m.disposition, "rule": m.rule, "reason": m.reason, "message_id": m.message_id,
        } for m in inbound],
        "messages_out": [{
            "id": m.id, "kind": m.kind, "to": m.recipients, "subject": m.subject, "status": m.status,
            "attempts": m.attempts, "sent_at": _iso(m.sent_at), "message_id": m.message_id,
            "last_error": m.last_error,
        } for m in out],
        "deadlines": _deadline_rows(limits),
        "history": _history_rows(events),
    }


def _deadline_rows(limits) -> list[dict]:
    return [{"position": d.position, "rule": d.rule_name, "start": _iso(d.start_at), "due": _iso(d.due_at),
             "closed": _iso(d.closed_at), "outcome": d.outcome, "explanation": d.explanation} for d in limits]


def _history_rows(events) -> list[dict]:
    return [{"at": _iso(e.at), "actor": e.actor, "event": e.kind, "from": e.from_status, "to": e.to_status,
             "detail": e.detail, "message": e.inbound_id} for e in events]


def question_rows(s: Session, agency: str | None = None) -> list[dict]:
    q = select(Question).order_by(Question.id)
    if agency:
        q = q.where(Question.agency == agency)
    return [{
        "agency": x.agency, "reference": x.reference, "kind": x.kind, "status": x.status, "title": x.title,
        "unit": x.unit, "asker": x.asker_email, "received_at": _iso(x.received_at), "due_at": _iso(x.due_at),
        "extended": x.extended,
    } for x in s.scalars(q)]


def question_detail(s: Session, reference: str, agency: str | None = None) -> dict | None:
    q = select(Question).where(Question.reference == reference)
    if agency:
        q = q.where(Question.agency == agency)
    x = s.scalars(q).first()
    if x is None:
        return None
    from mailbot.questions import service as questions  # its labels; the service itself is not needed here

    inbound = s.scalars(select(InboundMessage).where(InboundMessage.question_id == x.id).order_by(InboundMessage.id))
    out = s.scalars(select(OutboxMessage).where(OutboxMessage.question_id == x.id).order_by(OutboxMessage.id))
    events = s.scalars(select(Event).where(Event.question_id == x.id).order_by(Event.id))
    limits = s.scalars(select(Deadline).where(Deadline.question_id == x.id).order_by(Deadline.id))
    files = s.scalars(select(Attachment).where(Attachment.question_id == x.id).order_by(Attachment.id))
    return {
        "agency": x.agency, "reference": x.reference, "kind": x.kind, "status": x.status,
        "status_label": questions.STATUS_LABELS_VI.get(x.status, x.status), "step": x.step, "title": x.title,
        "asker": {"name": x.asker_name, "email": x.asker_email}, "unit": x.unit, "body_text": x.body_text,
        "answer_text": x.answer_text, "answer_version": x.answer_version, "extended": x.extended,
        "extension_reason": x.extension_reason, "received_at": _iso(x.received_at), "due_at": _iso(x.due_at),
        "answered_at": _iso(x.answered_at), "qa_text": x.qa_text,
        "attachments": [{"filename": f.filename, "kind": f.kind, "size": f.size, "status": f.status,
                         "version": f.version, "sha256": f.sha256} for f in files],
        "messages_in": [{"id": m.id, "from": m.from_addr, "subject": m.subject, "received_at": _iso(m.received_at),
                         "arrived_at": _iso(m.arrived_at), "arrival_note": m.arrival_note,
                         "disposition": m.disposition, "rule": m.rule, "reason": m.reason} for m in inbound],
        "messages_out": [{"id": m.id, "kind": m.kind, "to": m.recipients, "subject": m.subject, "status": m.status,
                          "last_error": m.last_error} for m in out],
        "deadlines": _deadline_rows(limits),
        "history": _history_rows(events),
    }


def status(s: Session, agency: Agency, now: datetime) -> dict:
    """What one agency's mailbot is doing, for `mailbot status`: its mailbox, what waits for people, the
    outbox, and the reminders due and not yet sent."""
    from mailbot.jobs import periodic, reminders  # the sweeps' own conditions; `list` and `show` need neither

    slug = agency.slug
    checkpoints = [{"mailbox": m.mailbox, "last_uid": m.last_uid, "updated_at": _iso(m.updated_at)}
                   for m in s.scalars(select(MailboxState).where(MailboxState.agency == slug))]
    leases = [{"name": lease.name, "holder": lease.holder, "expires_at": _iso(lease.expires_at)}
              for lease in s.scalars(select(Lease).where(Lease.agency == slug).order_by(Lease.name))]
    last = s.scalar(select(func.max(InboundMessage.received_at)).where(InboundMessage.agency == slug))
    held = dict(s.execute(select(InboundMessage.rule, func.count()).where(
        InboundMessage.agency == slug, InboundMessage.disposition == "held").group_by(InboundMessage.rule)).all())
    outbox = dict(s.execute(select(OutboxMessage.status, func.count()).where(
        OutboxMessage.agency == slug).group_by(OutboxMessage.status)).all())
    failing = s.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.agency == slug, OutboxMessage.status == "pending", OutboxMessage.attempts > 0)) or 0
    still_open = (Deadline.agency == slug) & Deadline.closed_at.is_(None)
    sent: dict[int | None, set[str]] = {}
    for deadline_id, threshold in s.execute(select(ReminderSent.deadline_id, ReminderSent.threshold).join(
            Deadline, Deadline.id == ReminderSent.deadline_id).where(still_open)):
        sent.setdefault(deadline_id, set()).add(threshold)
    due = sum(len(set(reminders.thresholds(agency, d, now)) - sent.get(d.id, set()))
              for d in s.scalars(select(Deadline).where(still_open)))
    return {
        "agency": slug,
        "mailbox": {"checkpoints": checkpoints, "last_message_at": _iso(last),
                    "lag_seconds": round((now - _aware(last)).total_seconds()) if last else None, "leases": leases},
        "held": {"total": sum(held.values()), "by_rule": dict(sorted(held.items()))},
        "tries_in_progress": s.scalar(select(func.count()).select_from(IntakeAttempt).where(
            IntakeAttempt.agency == slug)) or 0,
        "outbox": {"pending": outbox.get("pending", 0), "failing": failing, "failed": outbox.get("failed", 0),
                   "partial": outbox.get("partial", 0), "sent": outbox.get("sent", 0),
                   "bounced": outbox.get("bounced", 0)},
        "reminders_due": due,
        "periodic_due": periodic.due_now(s, agency, now),
        "reminders_sent_in_office_hours": reminders.in_office_hours(agency, now),
    }


def find_inbound(s: Session, which: str, agency: str | None = None) -> tuple[str, int] | None:
    """(agency, id) of the stored message `which` names: "#12" by number, else by its Message-ID."""
    q = select(InboundMessage.agency, InboundMessage.id)
    if which.startswith("#") and which[1:].isdigit():
        q = q.where(InboundMessage.id == int(which[1:]))
    else:
        q = q.where(InboundMessage.message_id == which.strip().strip("<>"))
    if agency:
        q = q.where(InboundMessage.agency == agency)
    found = s.execute(q.order_by(InboundMessage.id).limit(1)).first()
    return (found[0], found[1]) if found else None


def stuck_mail(s: Session, since: datetime) -> int:
    """Mail still pending after failed attempts, queued before `since`: the server keeps refusing it."""
    return s.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.status == "pending", OutboxMessage.attempts > 0,
        OutboxMessage.created_at < since)) or 0


@dataclass(frozen=True)
class StoredBlob:
    raw: bool        # a raw message (the raw store) or an attachment (the file store)
    sha256: str
    suffix: str
    label: str       # what it is, for the administrator


def stored_blobs(s: Session) -> Iterator[StoredBlob]:
    """Every file the database says is stored: each message's raw bytes, then each attachment."""
    for row_id, agency, sha in s.execute(select(InboundMessage.id, InboundMessage.agency, InboundMessage.raw_sha256)
                                         .order_by(InboundMessage.id)):
        yield StoredBlob(True, sha, ".eml", f"{agency} message #{row_id}")
    for row_id, agency, sha, name in s.execute(select(Attachment.id, Attachment.agency, Attachment.sha256,
                                                      Attachment.filename).order_by(Attachment.id)):
        yield StoredBlob(False, sha, "", f"{agency} file #{row_id} {name!r}")


def _aware(d: datetime) -> datetime:
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)
