"""The mails intake sends: to the sender, the secretary and the administrator; each stored in the outbox once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mailbot import outbox, workflow
from mailbot.blobs import BlobStore
from mailbot.config import Agency
from mailbot.message import ParsedMessage
from mailbot.models import Article, Attachment, InboundMessage
from mailbot.render import FileToAttach, Renderer
from mailbot.sender import FIELD_LABELS_VI

# Files larger than this together are listed in the secretary's notice rather than attached.
ATTACH_LIMIT = 20 * 1024 * 1024


class Notifier:
    def __init__(self, agency: Agency, renderer: Renderer, file_store: BlobStore):
        self.agency = agency
        self.renderer = renderer
        self.file_store = file_store

    def secretaries(self) -> list[str]:
        people = self.agency.members_with("secretary") or self.agency.members_with("head")
        return [m.email for m in people] or [self.agency.board_address]

    def admins(self) -> list[str]:
        return [self.agency.intake.admin_address] if self.agency.intake.admin_address else self.secretaries()

    def _send(self, s: Session, key: str, kind: str, template: str, to: list[str], context: dict, now: datetime, *,
              article: Article | None = None, inbound: InboundMessage | None = None,
              reply_to_msg: ParsedMessage | None = None, files: tuple[FileToAttach, ...] = ()) -> None:
        in_reply_to = reply_to_msg.message_id if reply_to_msg else None
        references = reply_to_msg.references if reply_to_msg else ()
        mail = self.renderer.compose(
            template, self.agency, to, context, now=now, in_reply_to=in_reply_to, references=references,
            auto="auto-replied" if reply_to_msg else "auto-generated", reply_to=self.agency.board_address,
            files=files)
        outbox.enqueue(s, self.agency, key, kind, mail, now, article_id=article.id if article else None,
                       inbound_id=inbound.id if inbound else None)

    def _article_context(self, article: Article) -> dict:
        return {
            "article": article,
            "author": article.author or {},
            "status_label": workflow.STATUS_LABELS_VI.get(article.status, article.status),
            "files": [a for a in article.attachments if a.status == "ok"],
            "missing_labels": [FIELD_LABELS_VI[m] for m in article.missing],
            "category_label": next((c.label for c in self.agency.categories if c.name == article.category),
                                   article.category),
        }

    def received(self, s: Session, inbound: InboundMessage, msg: ParsedMessage, article: Article,
                 quarantined: list[Attachment], now: datetime) -> None:
        self._send(s, f"received:{inbound.id}", "article.author.received", "article/author/received",
                   [msg.from_addr], {**self._article_context(article), "quarantined": quarantined}, now,
                   article=article, inbound=inbound, reply_to_msg=msg)

    def details_missing(self, s: Session, inbound: InboundMessage, msg: ParsedMessage, article: Article,
                        quarantined: list[Attachment], now: datetime) -> None:
        problems = (article.author or {}).get("problems", [])
        self._send(s, f"details-missing:{inbound.id}", "article.author.details_missing",
                   "article/author/details_missing", [msg.from_addr],
                   {**self._article_context(article), "quarantined": quarantined, "problems": problems},
                   now, article=article, inbound=inbound, reply_to_msg=msg)

    def new_article(self, s: Session, inbound: InboundMessage, article: Article, now: datetime) -> None:
        context = self._article_context(article)
        attach, listed = self._files(context["files"])
        self._send(s, f"new-article:{article.id}", "article.secretary.new", "article/secretary/new",
                   self.secretaries(), {**context, "preview": _preview(article), "not_attached": listed,
                                        "quarantined": [a for a in article.attachments if a.status != "ok"]},
                   now, article=article, inbound=inbound, files=attach)

    def follow_up_received(self, s: Session, inbound: InboundMessage, msg: ParsedMessage, article: Article,
                           stored: list[Attachment], now: datetime) -> None:
        context = {**self._article_context(article), "added": [a for a in stored if a.status == "ok"],
                   "quarantined": [a for a in stored if a.status != "ok"]}
        self._send(s, f"follow-up:{inbound.id}", "article.author.follow_up", "article/author/follow_up",
                   [msg.from_addr], context, now, article=article, inbound=inbound, reply_to_msg=msg)
        if article.status != workflow.AWAITING_DETAILS:
            attach, listed = self._files(context["added"])
            self._send(s, f"follow-up-notice:{inbound.id}", "article.secretary.follow_up",
                       "article/secretary/follow_up", self.secretaries(),
                       {**context, "note": _preview_text(msg.text), "not_attached": listed}, now,
                       article=article, inbound=inbound, files=attach)

    def quarantine_alert(self, s: Session, inbound: InboundMessage, msg: ParsedMessage, article: Article | None,
                         quarantined: list[Attachment], now: datetime) -> None:
        self._send(s, f"quarantine:{inbound.id}", "attachment.admin.quarantined", "attachment/admin/quarantined",
                   self.admins(), {"article": article, "inbound": inbound, "quarantined": quarantined}, now,
                   article=article, inbound=inbound)

    def held(self, s: Session, inbound: InboundMessage, msg: ParsedMessage, now: datetime) -> None:
        self._send(s, f"held:{inbound.id}", "message.secretary.held", "message/secretary/held", self.secretaries(),
                   {"inbound": inbound, "reason": inbound.reason.split(": ", 1)[-1],
                    "preview": _preview_text(msg.text)}, now, inbound=inbound)

    def _files(self, rows: list[Attachment]) -> tuple[tuple[FileToAttach, ...], list[Attachment]]:
        attach, listed, total = [], [], 0
        for a in rows:
            total += a.size
            if total > ATTACH_LIMIT:
                listed.append(a)
                continue
            attach.append(FileToAttach(a.filename, a.sniffed_type or "application/octet-stream",
                                       self.file_store.get(a.sha256)))
        return tuple(attach), listed


def _preview_text(text: str, limit: int = 1500) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def _preview(article: Article) -> str:
    docs = [a.text_preview for a in article.attachments if a.status == "ok" and a.text_preview]
    return _preview_text(docs[0] if docs else article.body_text)
