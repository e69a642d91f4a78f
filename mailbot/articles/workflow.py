"""An article's status changes here and only here: the transition table, and the audit event each change writes."""

from __future__ import annotations

from mailbot.cases.machine import Machine, TransitionError

__all__ = ["MACHINE", "TRANSITIONS", "TransitionError", "apply", "can", "note", "position", "restore"]

AWAITING_DETAILS = "awaiting_details"
AWAITING_ORIGINAL = "awaiting_original"
SUBMITTED = "submitted"
UNIT_REVIEW = "unit_review"
REVIEW = "review"
DIRECTOR_REVIEW = "director_review"
AWAITING_REVISION = "awaiting_revision"
APPROVED = "approved"
PUBLISHED = "published"
REJECTED = "rejected"
TAKEN_DOWN = "taken_down"
AUTHOR_WAITS = (AWAITING_DETAILS, AWAITING_ORIGINAL, AWAITING_REVISION)   # positions where the author, not the board, is awaited

# (status, event) -> next status. `None` is an article not yet filed. A review step's name is
# kept beside the status (article.step); moving from one step to the next is ("review", "step_approved").
TRANSITIONS: dict[tuple[str | None, str], str] = {
    (None, "filed_complete"): SUBMITTED,
    (None, "filed_incomplete"): AWAITING_DETAILS,
    (AWAITING_DETAILS, "details_completed"): SUBMITTED,
    # 002 art. 9.1c: a document without a valid digital signature waits for one, or for the paper original.
    (None, "filed_unsigned"): AWAITING_ORIGINAL,
    (AWAITING_DETAILS, "original_awaited"): AWAITING_ORIGINAL,
    (AWAITING_ORIGINAL, "signed_original_received"): SUBMITTED,
    (AWAITING_ORIGINAL, "paper_original_confirmed"): SUBMITTED,
    (AWAITING_ORIGINAL, "rejected"): REJECTED,
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
    AWAITING_ORIGINAL: "chờ bản có chữ ký số hợp lệ hoặc bản gốc giấy",
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


# The one place an article's status changes (mailbot.cases): apply, restore (UNDO), note.
MACHINE = Machine("article", TRANSITIONS, REVIEW, "article_id")
position = MACHINE.position
can = MACHINE.can
apply = MACHINE.apply
restore = MACHINE.restore
note = MACHINE.note
