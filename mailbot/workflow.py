"""An article's status changes here and only here: the transition table, and the audit event each change writes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mailbot.models import Article, Event

AWAITING_DETAILS = "awaiting_details"
SUBMITTED = "submitted"
UNIT_REVIEW = "unit_review"
REVIEW = "review"
DIRECTOR_REVIEW = "director_review"
AWAITING_REVISION = "awaiting_revision"
APPROVED = "approved"
PUBLISHED = "published"
REJECTED = "rejected"
TAKEN_DOWN = "taken_down"
AUTHOR_WAITS = (AWAITING_DETAILS, AWAITING_REVISION)   # positions where the author, not the board, is awaited

# (status, event) -> next status. `None` is an article not yet filed. A review step's name is
# kept beside the status (article.step); moving from one step to the next is ("review", "step_approved").
TRANSITIONS: dict[tuple[str | None, str], str] = {
    (None, "filed_complete"): SUBMITTED,
    (None, "filed_incomplete"): AWAITING_DETAILS,
    (AWAITING_DETAILS, "details_completed"): SUBMITTED,
    (SUBMITTED, "unit_review_requested"): UNIT_REVIEW,
    (SUBMITTED, "review_started"): REVIEW,
    (UNIT_REVIEW, "unit_approved"): REVIEW,
    (REVIEW, "step_approved"): REVIEW,
    (REVIEW, "assigned"): REVIEW,
    (REVIEW, "final_approved"): APPROVED,
    (REVIEW, "sent_to_director"): DIRECTOR_REVIEW,
    (DIRECTOR_REVIEW, "director_approved"): APPROVED,
    (DIRECTOR_REVIEW, "director_returned"): REVIEW,
    (UNIT_REVIEW, "rejected"): REJECTED,
    (REVIEW, "rejected"): REJECTED,
    (DIRECTOR_REVIEW, "rejected"): REJECTED,
    (UNIT_REVIEW, "revision_requested"): AWAITING_REVISION,
    (REVIEW, "revision_requested"): AWAITING_REVISION,
    (DIRECTOR_REVIEW, "revision_requested"): AWAITING_REVISION,
    (AWAITING_REVISION, "revised"): REVIEW,
    (AWAITING_REVISION, "revised_to_unit"): UNIT_REVIEW,
    (APPROVED, "published"): PUBLISHED,
    (PUBLISHED, "taken_down"): TAKEN_DOWN,
}

STATUS_LABELS_VI = {
    AWAITING_DETAILS: "chờ bổ sung thông tin người gửi",
    SUBMITTED: "đã tiếp nhận, chờ Ban Biên tập xử lý",
    UNIT_REVIEW: "chờ lãnh đạo đơn vị xác nhận",
    REVIEW: "đang xét duyệt",
    DIRECTOR_REVIEW: "chờ Giám đốc (Thủ trưởng cơ quan) cho ý kiến",
    AWAITING_REVISION: "chờ tác giả chỉnh sửa",
    APPROVED: "đã duyệt, chờ đăng",
    PUBLISHED: "đã đăng",
    REJECTED: "không được duyệt đăng",
    TAKEN_DOWN: "đã gỡ khỏi trang",
}


class TransitionError(Exception):
    pass


def position(article: Article) -> str:
    """Status and step together, as the audit trail records them ("review:verify")."""
    return f"{article.status}:{article.step}" if article.status == REVIEW and article.step else article.status


def can(article: Article | None, event: str) -> bool:
    current = None if article is None or article.id is None else article.status
    return (current, event) in TRANSITIONS


def apply(session: Session, article: Article, event: str, *, actor: str, now: datetime,
          inbound_id: int | None = None, detail: str = "", step: str | None = None) -> str:
    """Move `article` along `event` (to review step `step` where it enters one); write the audit event."""
    current = None if article.id is None else article.status
    key = (current, event)
    if key not in TRANSITIONS:
        raise TransitionError(f"no transition from {current!r} on {event!r}")
    before = position(article) if current else ""
    article.status = TRANSITIONS[key]
    article.step = (step or article.step) if article.status == REVIEW else ""
    article.updated_at = now
    session.add(article)
    session.flush()
    session.add(Event(agency=article.agency, article_id=article.id, inbound_id=inbound_id, at=now, actor=actor,
                      kind=event, from_status=before, to_status=position(article), detail=detail))
    return article.status


def restore(session: Session, article: Article, back_to: str, *, actor: str, now: datetime,
            inbound_id: int | None = None, detail: str = "") -> None:
    """UNDO: put an article back where an audit event found it; only across a transition the table has."""
    status, _, step = back_to.partition(":")
    if not any(src == status and dst == article.status for (src, _), dst in TRANSITIONS.items()):
        raise TransitionError(f"cannot go back from {article.status!r} to {status!r}")
    before = position(article)
    article.status, article.step, article.updated_at = status, step, now
    session.add(Event(agency=article.agency, article_id=article.id, inbound_id=inbound_id, at=now, actor=actor,
                      kind="undone", from_status=before, to_status=back_to, detail=detail))
    session.flush()


def note(session: Session, article: Article, kind: str, *, actor: str, now: datetime,
         inbound_id: int | None = None, detail: str = "") -> None:
    """An audit event that changes no status (a file added, a refused command...)."""
    session.add(Event(agency=article.agency, article_id=article.id, inbound_id=inbound_id, at=now, actor=actor,
                      kind=kind, from_status=position(article), to_status=position(article), detail=detail))
