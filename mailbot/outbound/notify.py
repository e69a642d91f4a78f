"""The mails intake sends: to the sender, the secretary and the administrator; each stored in the outbox once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot.articles import contributions, workflow
from mailbot.articles.publish import article_page, docx_html, from_text, odt_html
from mailbot.articles.sender import FIELD_LABELS_VI
from mailbot.cases import commands
from mailbot.cases.authority import token_message_id
from mailbot.config import Agency
from mailbot.mail.message import ParsedMessage
from mailbot.outbound import outbox
from mailbot.outbound.render import FileToAttach, Renderer
from mailbot.questions import redact
from mailbot.questions import service as questions
from mailbot.reports import stats as stats_module
from mailbot.storage.blobs import BlobStore
from mailbot.storage.models import Article, Attachment, Deadline, InboundMessage
from mailbot.worktime.calendar import TZ

# Files larger than this together are listed in the secretary's notice rather than attached.
ATTACH_LIMIT = 20 * 1024 * 1024


class Notifier:
    def __init__(self, agency: Agency, renderer: Renderer, file_store: BlobStore):
        self.agency = agency
        self.renderer = renderer
        self.file_store = file_store
        # Set by intake: stores a reply's files on an article (an editor's edited version).

    def secretaries(self) -> list[str]:
        people = self.agency.members_with("secretary") or self.agency.members_with("head")
        return [m.email for m in people] or [self.agency.board_address]

    def admins(self) -> list[str]:
        return [self.agency.intake.admin_address] if self.agency.intake.admin_address else self.secretaries()

    def send(self, s: Session, key: str, kind: str, template: str, to: list[str], context: dict, now: datetime, *,
              article: Article | None = None, inbound: InboundMessage | None = None,
              reply_to_msg: ParsedMessage | None = None, files: tuple[FileToAttach, ...] = (),
              message_id: str | None = None, reply_to: str | None = None,
              thread: tuple[str | None, tuple[str, ...]] | None = None, question=None,
              inline: dict[str, FileToAttach] | None = None) -> None:
        in_reply_to = reply_to_msg.message_id if reply_to_msg else None
        references = reply_to_msg.references if reply_to_msg else ()
        if thread is not None:
            in_reply_to, references = thread
        mail = self.renderer.compose(
            template, self.agency, to, context, now=now, in_reply_to=in_reply_to, references=references,
            auto="auto-replied" if reply_to_msg else "auto-generated", reply_to=reply_to or self.agency.board_address,
            files=files, message_id=message_id, inline=inline)
        outbox.enqueue(s, self.agency, key, kind, mail, now, article_id=article.id if article else None,
                       inbound_id=inbound.id if inbound else None, question_id=question.id if question else None)

    def _article_context(self, article: Article) -> dict:
        return {
            "article": article,
            "author": article.author or {},
            "status_label": workflow.STATUS_LABELS_VI.get(article.status, article.status),
            "files": [a for a in article.attachments if a.status == "ok"],
            "missing_labels": [FIELD_LABELS_VI[m] for m in article.missing],
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
                   [msg.from_addr], {**self._article_context(article), "quarantined": quarantined,
                                     "date_wanted": date_wanted, "contribution": _contribution(s, article)}, now,
                   article=article, inbound=inbound, reply_to_msg=msg)

    def details_missing(self, s: Session, inbound: InboundMessage, msg: ParsedMessage, article: Article,
                        quarantined: list[Attachment], now: datetime) -> None:
        problems = (article.author or {}).get("problems", [])
        self.send(s, f"details-missing:{inbound.id}", "article.author.details_missing",
                   "article/author/details_missing", [msg.from_addr],
                   {**self._article_context(article), "quarantined": quarantined, "problems": problems},
                   now, article=article, inbound=inbound, reply_to_msg=msg)

    def new_article(self, s: Session, inbound: InboundMessage, article: Article, now: datetime) -> None:
        context = self._article_context(article)
        attach, listed = self._files(context["files"])
        self.send(s, f"new-article:{article.id}", "article.secretary.new", "article/secretary/new",
                   self.secretaries(), {**context, "preview": _preview(article), "not_attached": listed,
                                        "contribution": _contribution(s, article),
                                        "quarantined": [a for a in article.attachments if a.status != "ok"]},
                   now, article=article, inbound=inbound, files=attach)

    def follow_up_received(self, s: Session, inbound: InboundMessage, msg: ParsedMessage, article: Article,
                           stored: list[Attachment], now: datetime) -> None:
        context = {**self._article_context(article), "added": [a for a in stored if a.status == "ok"],
                   "quarantined": [a for a in stored if a.status != "ok"]}
        self.send(s, f"follow-up:{inbound.id}", "article.author.follow_up", "article/author/follow_up",
                   [msg.from_addr], context, now, article=article, inbound=inbound, reply_to_msg=msg)
        if article.status != workflow.AWAITING_DETAILS:
            attach, listed = self._files(context["added"])
            self.send(s, f"follow-up-notice:{inbound.id}", "article.secretary.follow_up",
                       "article/secretary/follow_up", self.secretaries(),
                       {**context, "note": _preview_text(msg.text), "not_attached": listed}, now,
                       article=article, inbound=inbound, files=attach)

    def quarantine_alert(self, s: Session, inbound: InboundMessage, msg: ParsedMessage, article: Article | None,
                         quarantined: list[Attachment], now: datetime) -> None:
        self.send(s, f"quarantine:{inbound.id}", "attachment.admin.quarantined", "attachment/admin/quarantined",
                   self.admins(), {"article": article, "inbound": inbound, "quarantined": quarantined}, now,
                   article=article, inbound=inbound)

    def held(self, s: Session, inbound: InboundMessage, msg: ParsedMessage, now: datetime) -> None:
        self.send(s, f"held:{inbound.id}", "message.secretary.held", "message/secretary/held", self.secretaries(),
                   {"inbound": inbound, "reason": inbound.reason,
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


    # -- review by reply ----------------------------------------------------------------------

    def _menu(self) -> tuple[commands.Command, ...]:
        return commands.article_menu(bool(self.agency.members_with("director")))

    def _token_reply_to(self, token: str) -> str:
        if not self.agency.workflow.reply_to_token:
            return self.agency.board_address
        local, _, domain = self.agency.board_address.partition("@")
        return f"{local}+{token}@{domain}"

    def review_request(self, s: Session, article: Article, email: str, role: str, token: str,
                       now: datetime, inbound_id: int | None = None) -> None:
        context = {**self._article_context(article), "role_label": ROLE_LABELS_VI.get(role, role),
                   "preview": _preview(article), "commands": self._menu(),
                   "reasons": commands.REJECT_REASONS, "expires_days": self.agency.workflow.token_days,
                   "undo_minutes": self.agency.workflow.undo_minutes}
        attach, listed = self._files(context["current_files"])
        self.send(s, f"review:{token}", "article.member.review_request", "article/member/review_request", [email],
                   {**context, "not_attached": listed}, now, article=article, files=attach,
                   message_id=token_message_id(token, self.agency), reply_to=self._token_reply_to(token))

    def nobody_to_ask(self, s, article, now):
        self.send(s, f"nobody:{article.id}:{article.status}:{article.step}:{article.version}",
                   "article.secretary.nobody_to_ask", "article/secretary/nobody_to_ask", self.secretaries(),
                   self._article_context(article), now, article=article)

    def receipt(self, s, inbound, msg, article, done, holders, now, refused=False):
        context = {**self._article_context(article), "done": done, "refused": refused,
                   "next_people": [ROLE_LABELS_VI.get(r, r) + f" ({e})" for e, r in holders]}
        self.send(s, f"receipt:{inbound.id}", "article.member.receipt", "article/member/receipt", [msg.from_addr],
                   context, now, article=article, inbound=inbound, reply_to_msg=msg)

    def help(self, s, inbound, msg, article, problem, now):
        context = {**self._article_context(article), "problem": problem, "commands": self._menu(),
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
        attach, listed = self._files(images + docs)
        self.send(s, f"publish:{token}", "article.secretary.publish", "article/secretary/publish", [email],
                   {**context, "author_line": author_line, "images": images, "not_attached": listed,
                    "publish_at_once": self.agency.workflow.publish_on_approval}, now, article=article,
                   files=files + attach, message_id=token_message_id(token, self.agency),
                   reply_to=self._token_reply_to(token))

    def published_notice(self, s, article, email, token, now):
        self.send(s, f"published:{token}", "article.head.published", "article/head/published", [email],
                   self._article_context(article), now, article=article,
                   message_id=token_message_id(token, self.agency), reply_to=self._token_reply_to(token))

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


    # -- citizens' questions -----------------------------------------------------------------

    def _question_context(self, q, role: str = "") -> dict:
        board_side = role not in ("focal_point", "unit_head")
        allowed = questions.allowed_commands(q)
        return {
            "q": q, "kind_label": questions.KIND_LABELS_VI[q.kind],
            "status_label": questions.STATUS_LABELS_VI.get(q.status, q.status),
            "due": q.due_at.astimezone(TZ), "received": q.received_at.astimezone(TZ),
            # Units see the question without the asker's contact details; the board sees it whole.
            "text": q.body_text if board_side else questions.for_unit(q), "board_side": board_side,
            "role_label": ROLE_LABELS_VI.get(role, role),
            "commands": [c for c in commands.QUESTION_COMMANDS if c.name in allowed],
            "units": self.agency.units, "step_label": questions.step_label(self.agency, q),
            "rule_label": questions.rule_label(self.agency, q),
        }

    def question_request(self, s, q, email, role, token, now, note=""):
        """The notice to whoever holds the question now, carrying their token."""
        template = {questions.NEW: "question/secretary/new", questions.ASSIGNED: "question/unit/request",
                    questions.ANSWER_REVIEW: "question/member/review_request",
                    questions.ANSWERED: "question/member/answered"}[q.status]
        files = ()
        if q.status in (questions.ANSWER_REVIEW, questions.ANSWERED):
            files, _ = self._files(questions.Questions.answer_files(s, q))
        self.send(s, f"q-request:{token}", template.replace("/", "."), template, [email],
                  {**self._question_context(q, role), "note": note}, now, question=q, files=files,
                  message_id=token_message_id(token, self.agency), reply_to=self._token_reply_to(token))

    def question_citizen(self, s, q, event, detail, now, inbound=None, reply_to_msg=None, files=()):
        """To the asker, always in the thread of their question (In-Reply-To their message)."""
        attach, _ = self._files(list(files))
        key = f"q-citizen:{q.id}:{event}:{q.answer_version}:{inbound.id if inbound else now.isoformat()}"
        thread = (q.message_id, tuple(q.thread_refs)) if q.message_id else None
        self.send(s, key, f"question.citizen.{event}", f"question/citizen/{event}", [q.asker_email],
                  {**self._question_context(q), "detail": detail}, now, question=q, inbound=inbound,
                  reply_to_msg=reply_to_msg, thread=None if reply_to_msg else thread, files=attach)

    def question_receipt(self, s, inbound, msg, q, done, holders, now, refused=False, problem=""):
        role = next((h.role for h in holders if h.email == msg.from_addr), "")
        context = {**self._question_context(q, role or _role_of(self.agency, msg.from_addr)), "done": done,
                   "refused": refused, "problem": problem,
                   "next_people": [ROLE_LABELS_VI.get(h.role, h.role) + f" ({h.email})" for h in holders]}
        self.send(s, f"q-receipt:{inbound.id}", "question.member.receipt", "question/member/receipt",
                  [msg.from_addr], context, now, question=q, inbound=inbound, reply_to_msg=msg)

    def question_added(self, s, inbound, q, email, role, added, now):
        self.send(s, f"q-added:{inbound.id}:{email}", "question.member.added", "question/member/added", [email],
                  {**self._question_context(q, role), "added": added if role not in ("focal_point", "unit_head")
                   else redact.redact(added, q.asker_name, keep_name=True)}, now, question=q, inbound=inbound)

    def question_forgery(self, s, inbound, q, token_row, why, now):
        heads = [m.email for m in self.agency.members_with("head")] or self.admins()
        self.send(s, f"q-forgery:{inbound.id}", "question.head.forgery", "question/head/forgery", heads,
                  {**self._question_context(q), "inbound": inbound, "why": why, "token_member": token_row.member},
                  now, question=q, inbound=inbound)

    def question_qa(self, s, q, now):
        page = article_page(f"Hỏi đáp: {q.title}", from_text(q.qa_text), "", q.reference)
        files = (FileToAttach(f"{q.reference}-hoi-dap.html", "text/html", page.encode("utf-8")),)
        self.send(s, f"q-qa:{q.id}:{now.isoformat()}", "question.secretary.qa", "question/secretary/qa",
                  self.secretaries(), self._question_context(q), now, question=q, files=files)

    def question_reminder(self, s, q, deadline, threshold, to, now):
        context = {**self._question_context(q), "threshold": threshold, "explanation": deadline.explanation}
        self.send(s, f"reminder:{deadline.id}:{threshold}", f"question.member.reminder.{threshold}",
                  "question/member/reminder", to, context, now, question=q)


    # -- digests, reports, quotas ------------------------------------------------------------

    def _period_context(self, stats) -> dict:
        return {"stats": stats, "rate": stats_module.rate, "basis": self.agency.schedule.quota_basis,
                "contributed": lambda t: stats_module.contributed(self.agency, t)}

    def digest(self, s, key, stats, to, now):
        self.send(s, key, "digest.board.weekly", "digest/board/weekly", to, self._period_context(stats), now)

    def digest_preview(self, stats, to, now):
        """The digest as it would be mailed, without storing or sending it."""
        return self.renderer.compose("digest/board/weekly", self.agency, to, self._period_context(stats), now=now)

    def monthly_report(self, s, key, stats, to, now, xlsx: bytes, png: bytes, filename: str):
        chart = FileToAttach("bieu-do-chi-tieu.png", "image/png", png)
        workbook = FileToAttach(filename, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", xlsx)
        self.send(s, key, "report.leaders.monthly", "report/leaders/monthly", to, self._period_context(stats), now,
                  files=(workbook,), inline={"chart": chart})

    def quota_nudge(self, s, key, stats, tally, staff, to, now):
        context = {**self._period_context(stats), "tally": tally, "staff": staff,
                   "labels": {c.name: c.label for c in self.agency.categories}}
        template = "quota/unit/nudge" if tally is not None else "quota/staff/nudge"
        self.send(s, key, template.replace("/", "."), template, to, context, now)

    def quota_summary(self, s, key, stats, tally, to, now):
        authors = [a for a in stats.authors if a.unit == tally.name]
        self.send(s, key, "quota.unit_head.summary", "quota/unit_head/summary", to,
                  {**self._period_context(stats), "tally": tally, "authors": authors}, now)

    def report_reminder(self, s, key, report, label, due, threshold, unit, to, now):
        self.send(s, key, f"report.unit.reminder.{threshold}", "report/unit/reminder", to,
                  {"report": report, "label": label, "due": due.astimezone(TZ), "threshold": threshold, "unit": unit},
                  now)


def _contribution(s: Session, article: Article) -> Deadline | None:
    """The contributors' time limit as assessed at filing, if the article's category has one."""
    return s.scalar(select(Deadline).where(Deadline.article_id == article.id,
                                           Deadline.position == contributions.POSITION))


def _role_of(agency: Agency, email: str) -> str:
    member = agency.member_by_email(email)
    if member:
        return member.role
    return "unit_head" if any(u.head == email for u in agency.units) else "focal_point"


_IMAGES = ("jpg", "png", "gif", "bmp")


def current_files(article: Article) -> list[Attachment]:
    """What is under review now: every photo, and the documents of the newest version that has any."""
    ok = [a for a in article.attachments if a.status == "ok"]
    docs = [a for a in ok if a.kind not in _IMAGES]
    newest = max((a.version for a in docs), default=0)
    return [a for a in ok if a.kind in _IMAGES or a.version == newest]


def _preview_text(text: str, limit: int = 1500) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def _preview(article: Article) -> str:
    docs = [a.text_preview for a in current_files(article) if a.text_preview]
    return _preview_text(docs[0] if docs else article.body_text)


ROLE_LABELS_VI = {"head": "Trưởng ban", "deputy_head": "Phó Trưởng ban", "member": "Thành viên",
                  "secretary": "Thư ký", "director": "Giám đốc", "unit_head": "Lãnh đạo đơn vị"}


def _author_thread(s: Session, article: Article) -> tuple[str | None, tuple[str, ...]]:
    """Threading for mail to the author: under their first message, so their answer comes back to it."""
    first = s.scalars(select(InboundMessage).where(InboundMessage.article_id == article.id)
                      .order_by(InboundMessage.id)).first()
    return (first.message_id if first else None), ()
