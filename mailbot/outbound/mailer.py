"""The one way mail goes out: composed from a template, stored in the outbox once under its key.

Each audience's notices (mailbot.articles.notices, mailbot.questions.notices, mailbot.reports.notices)
build on this; nothing here knows what an article or a question is.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from mailbot.config import Agency
from mailbot.mail.message import ParsedMessage
from mailbot.outbound import outbox
from mailbot.outbound.render import FileToAttach, Renderer
from mailbot.storage.blobs import BlobStore
from mailbot.storage.models import Article, Attachment, InboundMessage, Question

log = logging.getLogger("mailbot.mailer")

# Files larger than this together are listed in the secretary's notice rather than attached.
ATTACH_LIMIT = 20 * 1024 * 1024

ROLE_LABELS_VI = {"head": "Trưởng ban", "deputy_head": "Phó Trưởng ban", "member": "Thành viên",
                  "secretary": "Thư ký", "director": "Giám đốc", "unit_head": "Lãnh đạo đơn vị"}


class Mailer:
    def __init__(self, agency: Agency, renderer: Renderer, file_store: BlobStore):
        self.agency = agency
        self.renderer = renderer
        self.file_store = file_store

    def secretaries(self) -> list[str]:
        people = self.agency.members_with("secretary") or self.agency.members_with("head")
        return [m.email for m in people] or [self.agency.board_address]

    def admins(self) -> list[str]:
        return [self.agency.intake.admin_address] if self.agency.intake.admin_address else self.secretaries()

    def send(self, s: Session, key: str, kind: str, template: str, to: list[str], context: dict, now: datetime, *,
              article: Article | None = None, inbound: InboundMessage | None = None,
              reply_to_msg: ParsedMessage | None = None, files: tuple[FileToAttach, ...] = (),
              message_id: str | None = None, reply_to: str | None = None,
              thread: tuple[str | None, tuple[str, ...]] | None = None, question: Any = None,
              inline: dict[str, FileToAttach] | None = None) -> None:
        own = self.agency.own_addresses()
        to = [a for a in to if a.lower() not in own]   # never mail ourselves: the surest loop there is
        if not to:
            return
        answer_to = self._answer_to(s, reply_to_msg, to, now)
        if answer_to is None:
            return
        in_reply_to = reply_to_msg.message_id if reply_to_msg else None
        references = reply_to_msg.references if reply_to_msg else ()
        if thread is not None:
            in_reply_to, references = thread
        mail = self.renderer.compose(
            template, self.agency, to, context, now=now, in_reply_to=in_reply_to, references=references,
            auto="auto-replied" if reply_to_msg else "auto-generated", reply_to=reply_to or self.agency.board_address,
            files=files, message_id=message_id, inline=inline)
        row = outbox.enqueue(s, self.agency, key, kind, mail, now, article_id=article.id if article else None,
                             inbound_id=inbound.id if inbound else None,
                             question_id=question.id if question else None)
        if answer_to:
            row.answer_to = answer_to

    def answer_address(self, msg: ParsedMessage) -> str:
        """Whom an answer to `msg` goes to: its one Reply-To mailbox where both it and From are in the agency's
        accepted domains (a unit's mailbox sending on a colleague's behalf), otherwise From. A Reply-To
        elsewhere could send our answers to a stranger, so it is not followed; one naming the board is never."""
        wanted = msg.reply_to.lower()
        if wanted and wanted != msg.from_addr.lower() and wanted not in self.agency.own_addresses() \
                and self.agency.is_accepted_domain(wanted) and self.agency.is_accepted_domain(msg.from_addr):
            return wanted
        return msg.from_addr

    def _answer_to(self, s: Session, answered: ParsedMessage | None, to: list[str], now: datetime) -> str | None:
        """The correspondent an automatic answer goes to ("" when the mail is no answer, or goes to a board
        member); None when that correspondent had `limits.answers_per_day` answers in the last 24 hours
        already: the answer is not sent, and the secretary is told once."""
        if answered is None:
            return ""
        address = self.answer_address(answered)
        if address not in to or self.agency.member_by_email(answered.from_addr) or self.agency.member_by_email(address):
            return ""
        limit = self.agency.limits.answers_per_day
        count = outbox.answers_since(s, self.agency, address, now - timedelta(hours=24))
        if count < limit:
            return address
        log.warning("automatic answers to one correspondent capped", extra={"address": address, "limit": limit})
        first = outbox.first_answer_since(s, self.agency, address, now - timedelta(hours=24))
        self.send(s, f"answer-cap:{address}:{first.isoformat() if first else ''}", "message.secretary.brake",
                  "message/secretary/brake", self.secretaries(),
                  {"kind": "answers", "address": address, "count": count, "limit": limit}, now)
        return None

    def flood(self, s: Session, address: str, count: int, reference: str, now: datetime) -> None:
        """One notice to the secretary that a sender went over the submission rate (once an hour at most)."""
        self.send(s, f"flood:{address}:{now:%Y-%m-%dT%H}", "message.secretary.brake", "message/secretary/brake",
                  self.secretaries(), {"kind": "flood", "address": address, "count": count,
                                       "limit": self.agency.limits.submissions_per_hour, "reference": reference},
                  now)

    def delivery_failures(self, s: Session, now: datetime, every: timedelta) -> int:
        """One alert to the administrator listing the mail that failed since the last one; at most one per
        `every`. Returns how many failed messages it lists."""
        rows = outbox.unreported_failures(s, self.agency, now, every)
        if not rows:
            return 0
        failures = []
        for row in rows:
            deliveries = {a: dict(d) for a, d in (row.deliveries or {}).items()}
            refused = []
            for a, d in deliveries.items():
                if d.get("state") == outbox.FAILED and not d.get("reported"):
                    refused.append({"address": a, "code": d.get("code"), "error": d.get("error", "")})
                    d["reported"] = True
            row.deliveries = deliveries
            reference = (s.get_one(Article, row.article_id).reference if row.article_id else
                         s.get_one(Question, row.question_id).reference if row.question_id else None)
            failures.append({"subject": row.subject, "message_id": row.message_id, "reference": reference,
                             "created_at": row.created_at, "attempts": row.attempts, "refused": refused})
            row.needs_alert = False
        self.send(s, f"delivery-alert:{rows[0].id}:{now.isoformat()}", outbox.ALERT_KIND,
                  "message/admin/delivery_failed", self.admins(),
                  {"failures": failures, "every": round(every.total_seconds() / 60)}, now)
        return len(rows)

    def token_reply_to(self, token: str) -> str:
        """Where a reply to a notification goes: the board, or board+TOKEN@ where plus-addressing is on."""
        if not self.agency.workflow.reply_to_token:
            return self.agency.board_address
        local, _, domain = self.agency.board_address.partition("@")
        return f"{local}+{token}@{domain}"

    def held(self, s: Session, inbound: InboundMessage, msg: ParsedMessage, now: datetime) -> None:
        self.send(s, f"held:{inbound.id}", "message.secretary.held", "message/secretary/held", self.secretaries(),
                   {"inbound": inbound, "reason": inbound.reason,
                    "preview": preview_text(msg.text)}, now, inbound=inbound)

    def attachable(self, rows: list[Attachment]) -> tuple[tuple[FileToAttach, ...], list[Attachment]]:
        attach, listed, total = [], [], 0
        for a in rows:
            total += a.size
            if total > ATTACH_LIMIT:
                listed.append(a)
                continue
            attach.append(FileToAttach(a.filename, a.sniffed_type or "application/octet-stream",
                                       self.file_store.get(a.sha256)))
        return tuple(attach), listed


def preview_text(text: str, limit: int = 1500) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"
