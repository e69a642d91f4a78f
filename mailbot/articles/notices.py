"""What an article's people are told: the author, the secretary, the members who decide, the head."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.articles import contributions, filing, workflow
from mailbot.articles.publish import article_page, docx_html, from_text, odt_html
from mailbot.articles.sender import FIELD_LABELS_VI
from mailbot.cases import commands
from mailbot.cases.authority import token_message_id
from mailbot.mail.message import ParsedMessage
from mailbot.mail.signatures import ORIGINAL_REASONS_VI
from mailbot.outbound.mailer import ROLE_LABELS_VI, Mailer, preview_text
from mailbot.outbound.render import FileToAttach
from mailbot.storage.models import Article, Attachment, Deadline, Event, InboundMessage
from mailbot.worktime.calendar import TZ


class ArticleNotices(Mailer):
    def _article_context(self, article: Article) -> dict:
        return {
            "article": article,
            "author": article.author or {},
            "status_label": workflow.STATUS_LABELS_VI.get(article.status, article.status),
            "files": [a for a in article.attachments if a.ok],
            "missing_labels": [FIELD_LABELS_VI[m] for m in article.missing],
            "photos_label": FIELD_LABELS_VI["photos"],
            "hints": list(article.hints or []),
            "category_label": next((c.label for c in self.agency.categories if c.name == article.category),
                                   article.category),
            "step_label": self._step_label(article),
            "current_files": current_files(article),
        }

    def _step_label(self, article: Article) -> str:
        if article.status == workflow.REVIEW:
            step = self.agency.workflow.step(article.step)
            return step.label if step else article.step
        return workflow.STATUS_LABELS_VI.get(article.status, article.status)

    def received(self, s: Session, inbound: InboundMessage, msg: ParsedMessage, article: Article,
                 quarantined: list[Attachment], now: datetime, date_wanted: bool = False) -> None:
        self.send(s, f"received:{inbound.id}", "article.author.received", "article/author/received",
                   [self.answer_address(msg)], {**self._article_context(article), "quarantined": quarantined,
                                     "date_wanted": date_wanted, "contribution": _contribution(s, article)}, now,
                   article=article, inbound=inbound, reply_to_msg=msg)

    def details_missing(self, s: Session, inbound: InboundMessage, msg: ParsedMessage, article: Article,
                        quarantined: list[Attachment], now: datetime) -> None:
        problems = (article.author or {}).get("problems", [])
        self.send(s, f"details-missing:{inbound.id}", "article.author.details_missing",
                   "article/author/details_missing", [self.answer_address(msg)],
                   {**self._article_context(article), "quarantined": quarantined, "problems": problems},
                   now, article=article, inbound=inbound, reply_to_msg=msg)

    def _original_reason(self, article: Article) -> str:
        state = filing.original_missing(self.agency, article.category, article.attachments)
        return ORIGINAL_REASONS_VI.get(state, state)

    def original_missing(self, s: Session, inbound: InboundMessage, msg: ParsedMessage, article: Article,
                         quarantined: list[Attachment], now: datetime) -> None:
        """To the sender: the document waits for a valid digital signature or its paper original (002 art. 9.1c)."""
        self.send(s, f"original-missing:{inbound.id}", "article.author.original_missing",
                   "article/author/original_missing", [self.answer_address(msg)],
                   {**self._article_context(article), "reason": self._original_reason(article),
                    "quarantined": quarantined,
                    "secretaries": self.agency.members_with("secretary")},
                   now, article=article, inbound=inbound, reply_to_msg=msg)

    def original_awaited(self, s: Session, article: Article, email: str, token: str, now: datetime) -> None:
        """To the secretary, with a token: ĐÃ NHẬN BẢN GỐC once the paper original has arrived."""
        self.send(s, f"original-awaited:{token}", "article.secretary.original_awaited",
                   "article/secretary/original_awaited", [email],
                   {**self._article_context(article), "reason": self._original_reason(article),
                    "commands": self._menu(article),
                    "reasons": commands.REJECT_REASONS, "expires_days": self.agency.workflow.token_days},
                   now, article=article, message_id=token_message_id(token, self.agency),
                   reply_to=self.token_reply_to(token))

    def new_article(self, s: Session, inbound: InboundMessage | None, article: Article, now: datetime) -> None:
        context = self._article_context(article)
        attach, listed = self.attachable(context["files"])
        self.send(s, f"new-article:{article.id}", "article.secretary.new", "article/secretary/new",
                   self.secretaries(), {**context, "preview": _preview(article), "not_attached": listed,
                                        "contribution": _contribution(s, article),
                                        "photos_requested": s.scalar(select(Event.id).where(
                                            Event.article_id == article.id, Event.kind == "photos_requested")
                                            .limit(1)) is not None,
                                        "quarantined": [a for a in article.attachments if not a.ok]},
                   now, article=article, inbound=inbound, files=attach)

    def follow_up_received(self, s: Session, inbound: InboundMessage, msg: ParsedMessage, article: Article,
                           stored: list[Attachment], now: datetime) -> None:
        context = {**self._article_context(article), "added": [a for a in stored if a.ok],
                   "quarantined": [a for a in stored if not a.ok]}
        self.send(s, f"follow-up:{inbound.id}", "article.author.follow_up", "article/author/follow_up",
                   [self.answer_address(msg)], context, now, article=article, inbound=inbound, reply_to_msg=msg)
        if article.status not in (workflow.AWAITING_DETAILS, workflow.AWAITING_ORIGINAL):
            attach, listed = self.attachable(context["added"])
            self.send(s, f"follow-up-notice:{inbound.id}", "article.secretary.follow_up",
                       "article/secretary/follow_up", self.secretaries(),
                       {**context, "note": preview_text(msg.text), "not_attached": listed}, now,
                       article=article, inbound=inbound, files=attach)

    def quarantine_alert(self, s: Session, inbound: InboundMessage, msg: ParsedMessage, article: Article | None,
                         quarantined: list[Attachment], now: datetime) -> None:
        self.send(s, f"quarantine:{inbound.id}", "attachment.admin.quarantined", "attachment/admin/quarantined",
                   self.admins(), {"article": article, "inbound": inbound, "quarantined": quarantined}, now,
                   article=article, inbound=inbound)

    def _menu(self, article: Article | None = None) -> tuple[commands.Command, ...]:
        return commands.article_menu(bool(self.agency.members_with("director")),
                                     article is not None and article.status == workflow.AWAITING_ORIGINAL)

    def review_request(self, s: Session, article: Article, email: str, role: str, token: str,
                       now: datetime, inbound_id: int | None = None) -> None:
        context = {**self._article_context(article), "role_label": ROLE_LABELS_VI.get(role, role),
                   "preview": _preview(article), "commands": self._menu(),
                   "reasons": commands.REJECT_REASONS, "expires_days": self.agency.workflow.token_days,
                   "undo_minutes": self.agency.workflow.undo_minutes}
        attach, listed = self.attachable(context["current_files"])
        self.send(s, f"review:{token}", "article.member.review_request", "article/member/review_request", [email],
                   {**context, "not_attached": listed}, now, article=article, files=attach,
                   message_id=token_message_id(token, self.agency), reply_to=self.token_reply_to(token))

    def nobody_to_ask(self, s, article, now):
        self.send(s, f"nobody:{article.id}:{article.status}:{article.step}:{article.version}",
                   "article.secretary.nobody_to_ask", "article/secretary/nobody_to_ask", self.secretaries(),
                   self._article_context(article), now, article=article)

    def preapproval_skipped(self, s, article, gap, now):
        self.send(s, f"preapproval-skipped:{article.id}:{article.version}", "article.secretary.preapproval_skipped",
                  "article/secretary/preapproval_skipped", self.secretaries(), {**self._article_context(article),
                                                                                "gap": gap}, now, article=article)

    def receipt(self, s, inbound, msg, article, done, holders, now, refused=False):
        context = {**self._article_context(article), "done": done, "refused": refused,
                   "next_people": [ROLE_LABELS_VI.get(r, r) + f" ({e})" for e, r in holders]}
        self.send(s, f"receipt:{inbound.id}", "article.member.receipt", "article/member/receipt", [msg.from_addr],
                   context, now, article=article, inbound=inbound, reply_to_msg=msg)

    def help(self, s, inbound, msg, article, problem, now):
        context = {**self._article_context(article), "problem": problem, "commands": self._menu(article),
                   "reasons": commands.REJECT_REASONS, "undo_minutes": self.agency.workflow.undo_minutes}
        self.send(s, f"help:{inbound.id}", "article.member.help", "article/member/help", [msg.from_addr], context,
                   now, article=article, inbound=inbound, reply_to_msg=msg)

    def forgery_alert(self, s, inbound, article, token_row, why, now):
        heads = [m.email for m in self.agency.members_with("head")] or self.admins()
        self.send(s, f"forgery:{inbound.id}", "article.head.forgery", "article/head/forgery", heads,
                   {**self._article_context(article), "inbound": inbound, "why": why, "token_member": token_row.member},
                   now, article=article, inbound=inbound)

    def author_decision(self, s, article, decision, detail, now):
        to = list(dict.fromkeys([article.submitter_email, (article.author or {}).get("email") or
                                 article.submitter_email]))
        self.send(s, f"decision:{article.id}:{decision}:{article.version}:{len(detail)}:{now.isoformat()}",
                   f"article.author.{decision}", "article/author/decision", to,
                   {**self._article_context(article), "decision": decision, "detail": detail,
                    "publish_at_once": self.agency.workflow.publish_on_approval}, now, article=article,
                   thread=_author_thread(s, article))

    def publishing_package(self, s, article, email, token, now):
        context = self._article_context(article)
        docs = [a for a in context["current_files"] if a.kind in ("docx", "odt")]
        images = [a for a in context["current_files"] if a.kind in ("jpg", "png", "gif", "bmp")]
        author = article.author or {}
        author_line = ", ".join(x for x in (author.get("name"), author.get("unit")) if x)
        if docs:
            data = self.file_store.get(docs[0].sha256)
            body = docx_html(data) if docs[0].kind == "docx" else odt_html(data)
        else:
            body = from_text(article.body_text)
        page = article_page(article.title, body, author_line, article.reference)
        files = (FileToAttach(f"{article.reference}.html", "text/html", page.encode("utf-8")),)
        attach, listed = self.attachable(images + docs)
        self.send(s, f"publish:{token}", "article.secretary.publish", "article/secretary/publish", [email],
                   {**context, "author_line": author_line, "images": images, "not_attached": listed,
                    "publish_at_once": self.agency.workflow.publish_on_approval}, now, article=article,
                   files=files + attach, message_id=token_message_id(token, self.agency),
                   reply_to=self.token_reply_to(token))

    def published_notice(self, s, article, email, token, now):
        self.send(s, f"published:{token}", "article.head.published", "article/head/published", [email],
                   self._article_context(article), now, article=article,
                   message_id=token_message_id(token, self.agency), reply_to=self.token_reply_to(token))

    def reminder(self, s: Session, article: Article, deadline, threshold: str, to: list[str], now: datetime) -> None:
        author_wait = article.status in workflow.AUTHOR_WAITS
        context = {**self._article_context(article), "threshold": threshold, "deadline": deadline,
                   "due": deadline.due_at.astimezone(TZ), "explanation": deadline.explanation}
        template = "article/author/reminder" if author_wait else "article/member/reminder"
        self.send(s, f"reminder:{deadline.id}:{threshold}", f"{template.replace('/', '.')}.{threshold}", template,
                   to, context, now, article=article, thread=_author_thread(s, article) if author_wait else None)

    def takedown_to_secretary(self, s, article, reason, now):
        self.send(s, f"takedown:{article.id}:{now.isoformat()}", "article.secretary.takedown",
                   "article/secretary/takedown", self.secretaries(), {**self._article_context(article),
                                                                      "reason": reason}, now, article=article)


def _contribution(s: Session, article: Article) -> Deadline | None:
    """The contributors' time limit as assessed at filing, if the article's category has one."""
    return s.scalar(select(Deadline).where(Deadline.article_id == article.id,
                                           Deadline.position == contributions.POSITION))


_IMAGES = ("jpg", "png", "gif", "bmp")


def current_files(article: Article) -> list[Attachment]:
    """What is under review now: every photo, and the documents of the newest version that has any."""
    ok = [a for a in article.attachments if a.ok]
    docs = [a for a in ok if a.kind not in _IMAGES]
    newest = max((a.version for a in docs), default=0)
    return [a for a in ok if a.kind in _IMAGES or a.version == newest]


def _preview(article: Article) -> str:
    docs = [a.text_preview for a in current_files(article) if a.text_preview]
    return preview_text(docs[0] if docs else article.body_text)


def _author_thread(s: Session, article: Article) -> tuple[str | None, tuple[str, ...]]:
    """Threading for mail to the author: under their first message, so their answer comes back to it."""
    first = s.scalars(select(InboundMessage).where(InboundMessage.article_id == article.id)
                      .order_by(InboundMessage.id)).first()
    return (first.message_id if first else None), ()
