"""Who may decide: the tokens a notification carries, and whether a reply's sender is that token's member.

Authority comes from a token only its member received, checked together with the sender (one clear
mailbox, authenticated for its domain by mailbot.mail.authentication) and the role the member
still holds. Articles and questions both use these checks.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.config import Agency
from mailbot.mail.authentication import Verdict
from mailbot.mail.message import ParsedMessage
from mailbot.storage.models import ReviewToken

_TOKEN_ID = re.compile(r"^mailbot\.t-([A-Za-z0-9_-]{20,64})@(.+)$")


@dataclass(frozen=True)
class Result:
    """What a command reply came to, for the inbound message's recorded reason."""

    applied: bool
    summary: str


def new_token() -> str:
    return secrets.token_urlsafe(24)


def token_message_id(token: str, agency: Agency) -> str:
    return f"mailbot.t-{token}@{agency.message_id_domain}"


def tokens_in(msg: ParsedMessage, agency: Agency) -> list[str]:
    """Tokens a reply carries back: in In-Reply-To/References, or in a board+TOKEN@ recipient address."""
    found = []
    for mid in msg.thread_ids:
        m = _TOKEN_ID.match(mid)
        if m and m.group(2).lower() == agency.message_id_domain.lower():
            found.append(m.group(1))
    local, _, domain = agency.board_address.partition("@")
    for addr in (*msg.to, *msg.cc):
        m = re.match(rf"^{re.escape(local)}\+([A-Za-z0-9_-]{{20,64}})@{re.escape(domain)}$", addr, re.I)
        if m:
            found.append(m.group(1))
    return list(dict.fromkeys(found))


def holds_role(agency: Agency, email: str, role: str) -> bool:
    """Whether `email` still holds `role` in the configuration (a unit's head or focal point, or a board role)."""
    email = email.lower()
    if role == "unit_head":
        return any(u.head == email for u in agency.units)
    if role == "focal_point":
        return any(email in u.focal_points for u in agency.units)
    member = agency.member_by_email(email)
    return member is not None and member.role == role


def find_token(s: Session, agency: Agency, msg: ParsedMessage) -> ReviewToken | None:
    """The stored token a reply carries back, if any."""
    for token in tokens_in(msg, agency):
        row = s.scalar(select(ReviewToken).where(ReviewToken.agency == agency.slug, ReviewToken.token == token))
        if row is not None:
            return row
    return None


@dataclass(frozen=True)
class Refusal:
    """Why a reply carrying a token does not count as its member's command."""

    code: str     # ambiguous-sender | unauthenticated | forged-sender | not-recipient | not-member
    reason: str   # in Vietnamese, for the audit trail, the alert and the note

    @property
    def forgery(self) -> bool:
        """Someone may be passing for a member: the head is alerted and the sender is told nothing."""
        return self.code in ("ambiguous-sender", "unauthenticated", "forged-sender")


def is_colleague(agency: Agency, email: str) -> bool:
    """Someone the agency knows: a member, staff, a unit's head or focal point, or an accepted domain."""
    return bool(agency.member_by_email(email) or agency.staff_by_email(email) or agency.is_accepted_domain(email)
                or any(email == u.head or email in u.focal_points for u in agency.units))


def refused_sender(agency: Agency, row: ReviewToken, msg: ParsedMessage, verdict: Verdict, *,
                   record: Callable[[str, str], None], alert: Callable[[str], None],
                   tell: Callable[[str], None]) -> Result | None:
    """Check the sender (sender_refusal); if refused, record it, alert the head of a forgery, or tell an
    authentic colleague why it did not count, and return the result. None: go on, the sender is the member."""
    refusal = sender_refusal(agency, row, msg, verdict)
    if refusal is None:
        return None
    record("forgery" if refusal.forgery else "refused", refusal.reason)
    if refusal.forgery:
        alert(refusal.reason)
    elif refusal.code == "not-recipient":
        tell(f"Lệnh không có hiệu lực: thông báo này gửi cho {row.member}; chỉ người nhận thông báo mới quyết "
             "định được.")
    return Result(False, f"{refusal.code}: {refusal.reason}; không có hiệu lực")


def sender_refusal(agency: Agency, row: ReviewToken, msg: ParsedMessage, verdict: Verdict) -> Refusal | None:
    """Whether the reply is the token's member's own, authenticated, and the member still holds the role.

    Forgery and misuse are told apart: a From that is not the member's and not authentic, or the
    member's own address without authentication, is a forgery. An authentic colleague who replies to
    a notification forwarded to them (the article's author, say) is not a forger: they get a polite
    note that only the member it was sent to can decide.
    """
    sender = msg.from_addr
    member = row.member.lower()
    if msg.sender_problem:
        return Refusal("ambiguous-sender", f"người gửi không rõ ràng ({msg.sender_problem})")
    if not verdict.authentic:
        if sender != member:
            return Refusal("forged-sender", f"thư mang mã gửi cho {row.member} nhưng từ {sender}, không xác thực "
                                            f"được ({verdict.reason})")
        return Refusal("unauthenticated", f"thư từ {sender} không xác thực được ({verdict.reason})")
    if sender != member:
        if is_colleague(agency, sender):
            return Refusal("not-recipient", f"{sender} trả lời thông báo gửi cho {row.member}; chỉ người nhận "
                                            "thông báo mới quyết định được")
        return Refusal("forged-sender", f"người ngoài cơ quan ({sender}) dùng mã của thông báo gửi cho {row.member}")
    if not holds_role(agency, sender, row.role):
        return Refusal("not-member", "người gửi không (còn) giữ vai trò cho bước này")
    return None
