"""An article's status changes here and only here: the transition table, and the audit event each change writes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mailbot.models import Article, Event

AWAITING_DETAILS = "awaiting_details"
SUBMITTED = "submitted"

# (status, event) -> next status. `None` is an article not yet filed.
TRANSITIONS: dict[tuple[str | None, str], str] = {
    (None, "filed_complete"): SUBMITTED,
    (None, "filed_incomplete"): AWAITING_DETAILS,
    (AWAITING_DETAILS, "details_completed"): SUBMITTED,
}

STATUS_LABELS_VI = {
    AWAITING_DETAILS: "chờ bổ sung thông tin người gửi",
    SUBMITTED: "đã tiếp nhận, chờ Ban Biên tập xử lý",
}


class TransitionError(Exception):
    pass


def apply(session: Session, article: Article, event: str, *, actor: str, now: datetime,
          inbound_id: int | None = None, detail: str = "", status: str | None = None) -> str:
    """Move `article` along `event`; write the audit event. `status` is the current one for a new article."""
    current = None if article.id is None else article.status
    key = (current if status is None else status, event)
    if key not in TRANSITIONS:
        raise TransitionError(f"no transition from {key[0]!r} on {event!r}")
    new = TRANSITIONS[key]
    article.status = new
    article.updated_at = now
    session.add(article)
    session.flush()
    session.add(Event(agency=article.agency, article_id=article.id, inbound_id=inbound_id, at=now, actor=actor,
                      kind=event, from_status=key[0] or "", to_status=new, detail=detail))
    return new


def note(session: Session, article: Article, kind: str, *, actor: str, now: datetime,
         inbound_id: int | None = None, detail: str = "") -> None:
    """An audit event that changes no status (a file added, a reminder sent...)."""
    session.add(Event(agency=article.agency, article_id=article.id, inbound_id=inbound_id, at=now, actor=actor,
                      kind=kind, from_status=article.status, to_status=article.status, detail=detail))
