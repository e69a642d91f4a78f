"""Review by reply: who is asked to decide, whether a reply's command counts, and what it does.

A command counts only when every check holds: it answers a notification mailbot sent to that
member for that article, version and step (the token); the sender is one unambiguous mailbox, that
member's, authenticated for its domain (mailbot.authentication) and still holding the role the step
needs; the member is not the article's author. The first valid decision on a step wins.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from mailbot.articles import workflow
from mailbot.cases import commands
from mailbot.cases.authority import Result, new_token, refused_sender
from mailbot.cases.commands import Context, Refused
from mailbot.config import Agency, Member, Unit
from mailbot.mail.authentication import Verdict
from mailbot.mail.message import ParsedMessage
from mailbot.mail.vntext import fold
from mailbot.storage.models import Article, Event, InboundMessage, ReviewToken

if TYPE_CHECKING:  # the notices import this module's helpers
    from mailbot.articles.notices import ArticleNotices
    from mailbot.cases.filer import Filer

log = logging.getLogger("mailbot.workflow")

# Decisions UNDO can take back (what they did is in the audit trail).
_UNDOABLE = {"unit_approved", "step_approved", "final_approved", "sent_to_director", "director_approved",
             "director_returned", "rejected", "revision_requested", "assigned", "published", "taken_down"}


class Review:
    def __init__(self, agency: Agency, notices: ArticleNotices, filer: Filer):
        self.agency = agency
        self.notices = notices
        self.filer = filer
        # The commands that change an article, by name (HELP, STATUS and UNDO are answered before these).
        self.commands: dict[str, Callable[[Context[Article]], str]] = {
            "approve": self._approve, "reject": self._reject, "revise": self._revise, "assign": self._assign,
            "escalate": self._escalate, "sensitive": self._sensitive, "published": self._published,
            "takedown": self._takedown, "original": self._original,
        }
        self.wf = agency.workflow

    # -- who decides -------------------------------------------------------------------------

    def _is_author(self, article: Article, email: str) -> bool:
        return email.lower() in {article.submitter_email.lower(), (article.author or {}).get("email", "").lower()}

    def author_unit(self, article: Article) -> Unit | None:
        """The configured unit the author belongs to: the one their details name (from the message or the staff
        directory), else the one whose mail domain the author's address is in."""
        author = article.author or {}
        return self.agency.unit_of_author(author.get("unit", ""), author.get("email") or article.submitter_email)

    def _preapproval(self, article: Article) -> tuple[Unit | None, bool]:
        """The author's unit, and whether its head must confirm first (001 art. 18.2): for the agency's own staff
        (in the directory, or writing from its accepted domains), on the unit's setting, else the agency's."""
        author = article.author or {}
        email = (author.get("email") or article.submitter_email).lower()
        unit = self.author_unit(article)
        wanted = unit.preapproval if unit and unit.preapproval is not None else self.wf.unit_preapproval
        staff = bool(self.agency.staff_by_email(email)) or (
            self.agency.is_accepted_domain(email) and self.agency.is_accepted_domain(article.submitter_email))
        return unit, bool(wanted and staff)

    def preapproval_gap(self, article: Article) -> str:
        """Why a pre-approval that should happen cannot (no unit known, or its head is not configured); "" when
        it can, or is not needed. The secretary is told, and the article goes to the board."""
        unit, wanted = self._preapproval(article)
        if not wanted or self.unit_confirmer(article) is not None:
            return ""
        if unit is None:
            return ("không xác định được đơn vị của tác giả (không có trong danh bạ, chữ ký không ghi đơn vị đã "
                    "cấu hình, tên miền thư không thuộc đơn vị nào)")
        if not unit.head:
            return f"đơn vị {unit.name} chưa cấu hình lãnh đạo đơn vị (units.head)"
        return ""   # the head is the author: nobody above them in the unit to confirm

    def unit_confirmer(self, article: Article) -> tuple[str, str] | None:
        """(address, role) of whoever must confirm before the board sees it, if anyone must."""
        unit, wanted = self._preapproval(article)
        if wanted and unit and unit.head and not self._is_author(article, unit.head):
            return unit.head, "unit_head"
        if self.wf.outside_confirmation and not self.agency.is_accepted_domain(article.submitter_email):
            if unit and unit.head and not self._is_author(article, unit.head):
                return unit.head, "unit_head"
            secretary = self.agency.members_with("secretary")
            if secretary:
                return secretary[0].email, "secretary"
        return None

    def holders(self, article: Article) -> list[tuple[str, str]]:
        """(address, role) of the members who may decide the article's current step."""
        if article.status == workflow.UNIT_REVIEW:
            who = self.unit_confirmer(article)
            return [who] if who else []
        if article.status == workflow.DIRECTOR_REVIEW:
            return [(m.email, m.role) for m in self.agency.members_with("director")]
        if article.status in (workflow.APPROVED, workflow.AWAITING_ORIGINAL):
            return [(m.email, m.role) for m in self.agency.members_with("secretary")]
        if article.status == workflow.REVIEW:
            step = self.wf.step(article.step)
            roles = step.roles if step else ()
            people = [(m.email, m.role) for m in self.agency.members if m.role in roles
                      and not self._is_author(article, m.email)]
            if article.assignee:
                people = [p for p in people if p[0] == article.assignee] or people
            return people
        return []

    # -- asking ------------------------------------------------------------------------------

    def issue(self, s: Session, article: Article, member: str, role: str, now: datetime) -> str:
        token = new_token()
        s.add(ReviewToken(agency=self.agency.slug, token=token, article_id=article.id, version=article.version,
                          status=workflow.position(article), step=article.step, member=member, role=role,
                          created_at=now, expires_at=now + timedelta(days=self.wf.token_days)))
        s.flush()
        return token

    def revoke_open(self, s: Session, article: Article, now: datetime, keep: str | None = None) -> None:
        q = update(ReviewToken).where(ReviewToken.article_id == article.id, ReviewToken.used_at.is_(None),
                                      ReviewToken.revoked_at.is_(None))
        if keep:
            q = q.where(ReviewToken.token != keep)
        s.execute(q.values(revoked_at=now))

    def request(self, s: Session, article: Article, now: datetime, inbound_id: int | None = None) -> list[str]:
        """Send the current step's notification, with its own token, to each member who may decide it."""
        asked = []
        for email, role in self.holders(article):
            token = self.issue(s, article, email, role, now)
            if article.status == workflow.AWAITING_ORIGINAL:
                self.notices.original_awaited(s, article, email, token, now)
            else:
                self.notices.review_request(s, article, email, role, token, now, inbound_id=inbound_id)
            asked.append(email)
        if not asked:
            log.warning("nobody holds this step", extra={"reference": article.reference, "status": article.status})
            self.notices.nobody_to_ask(s, article, now)
        return asked

    def start(self, s: Session, article: Article, now: datetime, inbound_id: int | None = None) -> None:
        """A complete article enters the workflow: unit confirmation where required, else the first step."""
        who = self.unit_confirmer(article)
        if who:
            workflow.apply(s, article, "unit_review_requested", actor="mailbot", now=now, inbound_id=inbound_id,
                           detail=f"cần xác nhận của {who[0]}")
        else:
            gap = self.preapproval_gap(article)
            if gap:
                workflow.note(s, article, "unit_review_skipped", actor="mailbot", now=now, inbound_id=inbound_id,
                              detail=f"không lấy được ý kiến lãnh đạo đơn vị (001 điều 18.2): {gap}")
                self.notices.preapproval_skipped(s, article, gap, now)
            workflow.apply(s, article, "review_started", actor="mailbot", now=now, inbound_id=inbound_id,
                           step=self.wf.steps[0].name)
        self.request(s, article, now, inbound_id)

    # -- a reply with a token ----------------------------------------------------------------

    def handle(self, s: Session, inbound: InboundMessage, msg: ParsedMessage, row: ReviewToken,
               now: datetime, verdict: Verdict) -> Result:
        # Lock the article: of two decisions on one step, the first to get here wins.
        article = s.scalars(select(Article).where(Article.id == row.article_id).with_for_update()).one()
        inbound.article_id = article.id
        sender = msg.from_addr
        refused = refused_sender(
            self.agency, row, msg, verdict,
            record=lambda kind, why: workflow.note(s, article, kind, actor=sender, now=now, inbound_id=inbound.id,
                                                   detail=why),
            alert=lambda why: self.notices.forgery_alert(s, inbound, article, row, why, now),
            tell=lambda text: self.notices.receipt(s, inbound, msg, article, text, self.holders(article), now,
                                                   refused=True))
        if refused:
            return refused

        found = commands.read(msg)
        if found.command is None:
            self.notices.help(s, inbound, msg, article, found.problem, now)
            return Result(False, f"no-command: {found.problem}; đã gửi hướng dẫn")
        name = found.command.name
        if name == "help":
            self.notices.help(s, inbound, msg, article, "", now)
            return Result(False, "help: đã gửi hướng dẫn")
        if name == "status":
            self.notices.receipt(s, inbound, msg, article, "Trạng thái hiện tại của bài.", self.holders(article), now)
            return Result(False, "status: đã gửi trạng thái")
        if name == "undo":
            return self._undo(s, inbound, msg, article, now)

        stale = self._token_refusal(s, row, article, now)
        if stale:
            workflow.note(s, article, "refused", actor=sender, now=now, inbound_id=inbound.id, detail=stale)
            self.notices.receipt(s, inbound, msg, article, f"Lệnh {found.command.usage.split(' (')[0]} không có "
                                  f"hiệu lực: {stale}", self.holders(article), now, refused=True)
            return Result(False, f"refused: {stale}")
        if self._is_author(article, sender):
            workflow.note(s, article, "refused", actor=sender, now=now, inbound_id=inbound.id,
                          detail="tác giả không tự duyệt bài của mình")
            self.notices.receipt(s, inbound, msg, article, "Lệnh không có hiệu lực: anh/chị là tác giả hoặc người "
                                  "gửi bài này nên không thể tự quyết định.", self.holders(article), now, refused=True)
            return Result(False, "self-approval: tác giả không tự duyệt")

        # An edited file comes first, so the next step's request carries the new version.
        self._store_edited_file(s, inbound, msg, article, now)
        try:
            done = self.commands[name](Context(s, inbound, msg, article, row, found.argument, now))
        except Refused as exc:
            workflow.note(s, article, "refused", actor=sender, now=now, inbound_id=inbound.id, detail=str(exc))
            self.notices.receipt(s, inbound, msg, article, f"Lệnh {found.command.usage.split(' (')[0]} không thực "
                                  f"hiện được: {exc}.", self.holders(article), now, refused=True)
            return Result(False, f"refused: {exc}")
        if name != "sensitive":
            row.used_at = now
        self.notices.receipt(s, inbound, msg, article, done, self.holders(article), now)
        return Result(True, f"{name}: {done}")

    def _token_refusal(self, s: Session, row: ReviewToken, article: Article, now: datetime) -> str:
        if row.revoked_at is not None or row.used_at is not None or row.version != article.version or \
                row.status != workflow.position(article):
            last = s.scalars(select(Event).where(Event.article_id == article.id, Event.from_status != Event.to_status)
                             .order_by(Event.id.desc())).first()
            by = f" ({last.actor} lúc {last.at:%H:%M %d/%m/%Y})" if last else ""
            if row.used_at is not None:
                return "thông báo này đã được dùng cho một lệnh trước đó"
            return f"bài đã chuyển sang bước khác{by}; trạng thái hiện tại: " \
                   f"{workflow.STATUS_LABELS_VI.get(article.status, article.status)}"
        if row.expires_at < now:
            return "thông báo đã hết hạn; xin dùng thông báo mới nhất"
        return ""

    # -- commands ----------------------------------------------------------------------------

    def _approve(self, c: Context[Article]) -> str:
        s, inbound, msg, article, argument, now = c.s, c.inbound, c.msg, c.case, c.argument, c.now
        actor, iid = msg.from_addr, inbound.id
        comment = f"ý kiến: {argument}" if argument else ""
        if article.status == workflow.UNIT_REVIEW:
            workflow.apply(s, article, "unit_approved", actor=actor, now=now, inbound_id=iid,
                           step=self.wf.steps[0].name, detail=comment)
            self.request(s, article, now, iid)
            return "Đã xác nhận; bài được chuyển Ban Biên tập."
        if article.status == workflow.DIRECTOR_REVIEW:
            article.director_approved = True
            origin = s.scalars(select(Event).where(Event.article_id == article.id, Event.kind == "sent_to_director")
                               .order_by(Event.id.desc())).first()
            from_step = origin.from_status.partition(":")[2] if origin else ""
            if origin is None or origin.detail.startswith("nội dung nhạy cảm") or not self.wf.step(from_step):
                workflow.apply(s, article, "director_approved", actor=actor, now=now, inbound_id=iid, detail=comment)
                return self._finally_approved(s, article, now, iid)
            workflow.apply(s, article, "director_returned", actor=actor, now=now, inbound_id=iid, step=from_step,
                           detail=comment or "Giám đốc đồng ý")
            self.request(s, article, now, iid)
            return "Đã cho ý kiến đồng ý; bài trở lại bước đã xin ý kiến."
        if article.status != workflow.REVIEW:
            raise Refused("bài không ở bước chờ duyệt")
        nxt = self.wf.next_step(article.step)
        if nxt is not None:
            workflow.apply(s, article, "step_approved", actor=actor, now=now, inbound_id=iid, step=nxt.name,
                           detail=comment)
            article.assignee = ""
            self.request(s, article, now, iid)
            return f"Đã duyệt; bài chuyển sang bước {nxt.label}."
        if article.sensitive and not article.director_approved:
            workflow.apply(s, article, "sent_to_director", actor=actor, now=now, inbound_id=iid,
                           detail="nội dung nhạy cảm: cần Giám đốc duyệt")
            self.request(s, article, now, iid)
            return "Đã duyệt; nội dung nhạy cảm nên bài được chuyển Giám đốc duyệt."
        workflow.apply(s, article, "final_approved", actor=actor, now=now, inbound_id=iid, detail=comment)
        return self._finally_approved(s, article, now, iid)

    def _finally_approved(self, s: Session, article: Article, now: datetime, iid: int) -> str:
        self.revoke_open(s, article, now)
        for email, role in self.holders(article):  # the secretary, with a token for PUBLISHED
            token = self.issue(s, article, email, role, now)
            self.notices.publishing_package(s, article, email, token, now)
        self.notices.author_decision(s, article, "approved", "", now)
        return "Đã duyệt lần cuối; gói đăng bài đã gửi Thư ký."

    def _reject(self, c: Context[Article]) -> str:
        s, inbound, msg, article, argument, now = c.s, c.inbound, c.msg, c.case, c.argument, c.now
        reason = commands.reject_reason(argument)
        workflow.apply(s, article, "rejected", actor=msg.from_addr, now=now, inbound_id=inbound.id, detail=reason)
        self.revoke_open(s, article, now)
        self.notices.author_decision(s, article, "rejected", reason, now)
        return f"Đã từ chối. Lý do: {reason}"

    def _revise(self, c: Context[Article]) -> str:
        s, inbound, msg, article, argument, now = c.s, c.inbound, c.msg, c.case, c.argument, c.now
        article.revision_step = workflow.position(article)
        workflow.apply(s, article, "revision_requested", actor=msg.from_addr, now=now, inbound_id=inbound.id,
                       detail=argument)
        self.revoke_open(s, article, now)
        self.notices.author_decision(s, article, "revise", argument, now)
        return "Đã yêu cầu tác giả chỉnh sửa; bài sẽ trở lại bước này khi tác giả gửi bản sửa."

    def _assign(self, c: Context[Article]) -> str:
        s, inbound, msg, article, row, argument, now = c.s, c.inbound, c.msg, c.case, c.token, c.argument, c.now
        if article.status != workflow.REVIEW:
            raise Refused("chỉ giao được một bước xét duyệt")
        member = self._find_member(argument, article)
        if member is None:
            raise Refused(f"không tìm thấy thành viên \"{argument[:60]}\" có quyền ở bước này")
        article.assignee = member.email
        workflow.apply(s, article, "assigned", actor=msg.from_addr, now=now, inbound_id=inbound.id,
                       detail=f"giao cho {member.name} <{member.email}>")
        self.revoke_open(s, article, now, keep=row.token)
        self.request(s, article, now, inbound.id)
        return f"Đã giao bước này cho {member.name}."

    def _find_member(self, argument: str, article: Article) -> Member | None:
        step = self.wf.step(article.step)
        wanted = fold(argument.split("\n")[0]).strip(" .")
        for m in self.agency.members:
            if step and m.role not in step.roles or self._is_author(article, m.email):
                continue
            if wanted in (m.email.lower(), fold(m.name)) or (len(wanted) > 3 and wanted in fold(m.name)):
                return m
        return None

    def _escalate(self, c: Context[Article]) -> str:
        s, inbound, msg, article, argument, now = c.s, c.inbound, c.msg, c.case, c.argument, c.now
        if not self.agency.members_with("director"):
            raise Refused("cơ quan chưa cấu hình Giám đốc (Thủ trưởng) trong mailbot nên không xin ý kiến được; "
                          "xin quyết định ở bước này")
        if article.status != workflow.REVIEW:
            raise Refused("chỉ xin ý kiến được khi bài đang ở một bước xét duyệt")
        workflow.apply(s, article, "sent_to_director", actor=msg.from_addr, now=now, inbound_id=inbound.id,
                       detail=f"xin ý kiến từ bước {article.step}" + (f": {argument}" if argument else ""))
        self.revoke_open(s, article, now)
        self.request(s, article, now, inbound.id)
        return "Đã xin ý kiến Giám đốc."

    def _sensitive(self, c: Context[Article]) -> str:
        s, inbound, msg, article, argument, now = c.s, c.inbound, c.msg, c.case, c.argument, c.now
        article.sensitive = True
        workflow.note(s, article, "marked_sensitive", actor=msg.from_addr, now=now, inbound_id=inbound.id,
                      detail=argument)
        return "Đã đánh dấu nội dung nhạy cảm: sau bước cuối, bài cần Giám đốc duyệt."

    def _original(self, c: Context[Article]) -> str:
        """ĐÃ NHẬN BẢN GỐC: the secretary has the paper original (002 art. 9.1c); the document goes to the board."""
        s, inbound, msg, article, argument, now = c.s, c.inbound, c.msg, c.case, c.argument, c.now
        if article.status != workflow.AWAITING_ORIGINAL:
            raise Refused("bài không ở trạng thái chờ bản gốc")
        workflow.apply(s, article, "paper_original_confirmed", actor=msg.from_addr, now=now, inbound_id=inbound.id,
                       detail=argument or "Thư ký xác nhận đã nhận bản gốc giấy")
        article.missing = []
        self.revoke_open(s, article, now)
        self.notices.new_article(s, inbound, article, now)
        self.start(s, article, now, inbound.id)
        return "Đã ghi nhận bản gốc; văn bản được chuyển Ban Biên tập xét duyệt."

    def _published(self, c: Context[Article]) -> str:
        s, inbound, msg, article, argument, now = c.s, c.inbound, c.msg, c.case, c.argument, c.now
        url = next((w for w in argument.split() if re.match(r"https?://\S+\.\S+", w)), "")
        if not url:
            raise Refused("lệnh ĐÃ ĐĂNG cần đường dẫn bắt đầu bằng http:// hoặc https://")
        if article.status != workflow.APPROVED:
            raise Refused("chỉ báo đăng được bài đã duyệt")
        article.published_url = url
        workflow.apply(s, article, "published", actor=msg.from_addr, now=now, inbound_id=inbound.id, detail=url)
        self.revoke_open(s, article, now)
        self.notices.author_decision(s, article, "published", url, now)
        for m in self.agency.members_with("head") + self.agency.members_with("deputy_head"):
            token = self.issue(s, article, m.email, m.role, now)
            self.notices.published_notice(s, article, m.email, token, now)
        return f"Đã ghi nhận bài đăng tại {url}; tác giả đã được báo."

    def _takedown(self, c: Context[Article]) -> str:
        s, inbound, msg, article, argument, now = c.s, c.inbound, c.msg, c.case, c.argument, c.now
        if article.status != workflow.PUBLISHED:
            raise Refused("chỉ gỡ được bài đã đăng")
        workflow.apply(s, article, "taken_down", actor=msg.from_addr, now=now, inbound_id=inbound.id,
                       detail=argument)
        self.revoke_open(s, article, now)
        self.notices.author_decision(s, article, "taken_down", argument, now)
        self.notices.takedown_to_secretary(s, article, argument, now)
        return "Đã quyết định gỡ bài; Thư ký được báo để gỡ trên trang."

    def _undo(self, s: Session, inbound: InboundMessage, msg: ParsedMessage, article: Article,
              now: datetime) -> Result:
        window = timedelta(minutes=self.wf.undo_minutes)
        last = s.scalars(select(Event).where(Event.article_id == article.id, Event.kind.in_(_UNDOABLE))
                         .order_by(Event.id.desc())).first()
        if last is None or last.actor != msg.from_addr or now - last.at > window or last.to_status != \
                workflow.position(article):
            why = (f"chỉ hoàn tác được quyết định cuối cùng của chính anh/chị trong vòng {self.wf.undo_minutes} phút, "
                   "khi chưa có ai xử lý tiếp")
            self.notices.receipt(s, inbound, msg, article, f"Không hoàn tác được: {why}.", self.holders(article),
                                  now, refused=True)
            return Result(False, f"undo-refused: {why}")
        workflow.restore(s, article, last.from_status, actor=msg.from_addr, now=now, inbound_id=inbound.id,
                         detail=f"hoàn tác {last.kind}")
        if last.kind == "director_approved":
            article.director_approved = False
        if last.kind == "assigned":
            article.assignee = ""
        self.revoke_open(s, article, now)
        self.request(s, article, now, inbound.id)
        return Result(True, f"undo: hoàn tác {last.kind}")

    # -- files carried by a reply ------------------------------------------------------------

    def _store_edited_file(self, s, inbound, msg, article, now) -> None:
        """An editor's reply may carry the edited file: a new version of the article, in the history."""
        if not msg.attachments:
            return
        stored = self.filer.store(s, inbound, msg, article, version=article.version + 1)
        s.refresh(article, ["attachments"])
        good = [a for a in stored if a.ok]
        if good:
            article.version += 1
            s.execute(update(ReviewToken).where(ReviewToken.article_id == article.id,
                                                ReviewToken.version == article.version - 1)
                      .values(version=article.version))
            workflow.note(s, article, "edited_version", actor=msg.from_addr, now=now, inbound_id=inbound.id,
                          detail=f"bản {article.version}: {', '.join(a.filename for a in good)}")

    def revised(self, s: Session, inbound: InboundMessage, article: Article, files: list, now: datetime) -> None:
        """The author's answer to YÊU CẦU SỬA: a new version, back to the step that asked."""
        article.version += 1
        back = article.revision_step or f"{workflow.REVIEW}:{self.wf.steps[0].name}"
        status, _, step = back.partition(":")
        detail = f"bản {article.version}" + (f": {', '.join(a.filename for a in files)}" if files else "")
        if status == workflow.UNIT_REVIEW:
            workflow.apply(s, article, "revised_to_unit", actor=inbound.from_addr, now=now, inbound_id=inbound.id,
                           detail=detail)
        else:
            step = step if self.wf.step(step) else self.wf.steps[-1].name
            workflow.apply(s, article, "revised", actor=inbound.from_addr, now=now, inbound_id=inbound.id,
                           step=step, detail=detail)
        article.revision_step = ""
        self.request(s, article, now, inbound.id)
