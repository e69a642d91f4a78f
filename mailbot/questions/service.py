"""Citizens' questions and feedback: filed under their own reference, assigned to a unit, answered by the
unit, the answer reviewed by the board and mailed back to the asker in their own thread.

A question never enters the article workflow. Its status changes only through TRANSITIONS below,
each change writing an audit event. One legal time limit runs on it (15 working days by default,
30 once extended; feedback 15), kept in the deadlines table so that reminders and escalation come
from the same sweep as articles'.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from mailbot.articles import filing, sender
from mailbot.cases import commands
from mailbot.cases.authority import Result, new_token, refused_sender
from mailbot.cases.commands import Context, Refused
from mailbot.cases.machine import Machine
from mailbot.config import Agency
from mailbot.mail import reply
from mailbot.mail.authentication import Verdict
from mailbot.mail.message import ParsedMessage
from mailbot.mail.vntext import fold
from mailbot.questions import redact
from mailbot.storage.models import Attachment, Deadline, Event, FileStatus, InboundMessage, Question, ReviewToken
from mailbot.worktime.calendar import TZ

if TYPE_CHECKING:  # the notices import this module's helpers
    from mailbot.cases.filer import Filer
    from mailbot.questions.notices import QuestionNotices

log = logging.getLogger("mailbot.questions")

NEW, ASSIGNED, ANSWER_REVIEW, ANSWERED, DECLINED = "new", "assigned", "answer_review", "answered", "declined"
QUESTION, FEEDBACK = "question", "feedback"

TRANSITIONS: dict[tuple[str | None, str], str] = {
    (None, "filed"): NEW,
    (NEW, "assigned"): ASSIGNED,
    (NEW, "declined"): DECLINED,
    (ASSIGNED, "answered"): ANSWER_REVIEW,
    (ANSWER_REVIEW, "step_approved"): ANSWER_REVIEW,
    (ANSWER_REVIEW, "returned"): ASSIGNED,
    (ANSWER_REVIEW, "approved"): ANSWERED,
}

STATUS_LABELS_VI = {
    NEW: "chờ phân công đơn vị trả lời",
    ASSIGNED: "đơn vị đang chuẩn bị trả lời",
    ANSWER_REVIEW: "Ban Biên tập đang duyệt câu trả lời",
    ANSWERED: "đã trả lời người hỏi",
    DECLINED: "không trả lời (đã báo lý do cho người hỏi)",
}
KIND_LABELS_VI = {QUESTION: "câu hỏi", FEEDBACK: "phản ánh, kiến nghị"}

_FEEDBACK_WORDS = re.compile(r"\b(phan anh|kien nghi|khieu nai|to cao|de nghi xem xet)\b")


def kind_of(subject: str, text: str) -> str:
    return FEEDBACK if _FEEDBACK_WORDS.search(fold(f"{subject}\n{text[:2000]}")) else QUESTION


# The one place a question's status changes (mailbot.cases).
MACHINE = Machine("question", TRANSITIONS, ANSWER_REVIEW, "question_id")
position = MACHINE.position
apply = MACHINE.apply
note = MACHINE.note


@dataclass(frozen=True)
class Holder:
    email: str
    role: str


class Questions:
    def __init__(self, agency: Agency, notices: QuestionNotices, filer: Filer):
        self.agency = agency
        self.settings = agency.questions
        self.notices = notices
        self.filer = filer
        self.commands: dict[str, Callable[[Context[Question]], str]] = {
            "assign": self._assign, "reject": self._reject, "revise": self._revise, "answer": self._answer,
            "approve": self._approve, "extend": self._extend, "progress": self._progress, "qa": self._qa,
        }

    # -- who holds it ----------------------------------------------------------------------

    def holders(self, q: Question) -> list[Holder]:
        if q.status == NEW:
            people = self.agency.members_with("secretary") or self.agency.members_with("head")
            return [Holder(m.email, m.role) for m in people]
        if q.status == ASSIGNED:
            unit = self.agency.unit_named(q.unit)
            if unit is None:
                return []
            found = [Holder(e, "focal_point") for e in unit.focal_points]
            if unit.head and unit.head not in unit.focal_points:
                found.append(Holder(unit.head, "unit_head"))
            return found
        if q.status == ANSWER_REVIEW:
            step = self._step(q.step)
            roles = step.roles if step else ()
            return [Holder(m.email, m.role) for m in self.agency.members if m.role in roles]
        if q.status == ANSWERED:  # the board may still send it to the Q&A section
            return [Holder(m.email, m.role) for m in self.agency.members
                    if m.role in ("secretary", "head", "deputy_head")]
        return []

    def _step(self, name: str):
        return next((st for st in self.settings.steps if st.name == name), None)

    def _next_step(self, name: str):
        names = [st.name for st in self.settings.steps]
        i = names.index(name) if name in names else len(names)
        return self.settings.steps[i + 1] if i + 1 < len(names) else None

    def _ask(self, s: Session, q: Question, now: datetime, inbound_id: int | None = None, note: str = "") -> list[str]:
        """Each holder gets the notice for where the question stands, with a token of their own."""
        asked = []
        for h in self.holders(q):
            token = new_token()
            s.add(ReviewToken(agency=self.agency.slug, token=token, question_id=q.id, version=q.answer_version,
                              status=position(q), step=q.step, member=h.email, role=h.role, created_at=now,
                              expires_at=now + timedelta(days=self.agency.workflow.token_days)))
            s.flush()
            self.notices.question_request(s, q, h.email, h.role, token, now, note=note)
            asked.append(h.email)
        if not asked:
            log.warning("nobody holds this question", extra={"reference": q.reference, "status": q.status})
        return asked

    def _revoke(self, s: Session, q: Question, now: datetime) -> None:
        s.execute(update(ReviewToken).where(ReviewToken.question_id == q.id, ReviewToken.used_at.is_(None),
                                            ReviewToken.revoked_at.is_(None)).values(revoked_at=now))

    def _store(self, s: Session, inbound: InboundMessage, msg: ParsedMessage, q: Question,
               version: int | None = None) -> list[Attachment]:
        """A message's files, checked and kept like any attachment, filed under the question."""
        files = self.filer.store(s, inbound, msg, version=version)
        for a in files:
            a.question_id = q.id
        return files

    # -- the time limit --------------------------------------------------------------------

    def _open_deadline(self, s: Session, q: Question, rule_name: str, start: datetime) -> None:
        rule = self.agency.deadlines[rule_name]
        deadline = self.agency.calendar.deadline(rule, start)
        s.add(Deadline(agency=self.agency.slug, question_id=q.id, position="question", rule_name=rule_name,
                       rule=dict(rule), start_at=start, due_at=deadline.due, explanation=deadline.explain()))
        q.due_at = deadline.due
        s.flush()

    def _close_deadline(self, s: Session, q: Question, now: datetime, outcome: str | None = None) -> None:
        for row in s.scalars(select(Deadline).where(Deadline.question_id == q.id, Deadline.closed_at.is_(None))):
            row.closed_at = now
            row.outcome = outcome or ("met" if now <= row.due_at else "missed")

    # -- a new question, and the asker writing again ---------------------------------------

    def file(self, s: Session, inbound: InboundMessage, msg: ParsedMessage, now: datetime,
             arrived: datetime | None = None) -> Question:
        """File a citizen's question; its time limit counts from `arrived` (when it reached the server)."""
        arrived = arrived or now
        text = reply.split(msg.text).new or msg.text
        name = msg.from_name or sender.from_text(text, self.agency).name
        kind = kind_of(msg.subject, text)
        q = Question(agency=self.agency.slug, kind=kind, status="", title=filing.strip_subject(msg.subject)
                     or redact.redact(text.strip().split("\n")[0][:120], name) or "(không có tiêu đề)",
                     body_text=text.strip(), asker_name=name, asker_email=msg.from_addr,
                     message_id=msg.message_id, thread_refs=list(msg.references), received_at=arrived,
                     updated_at=now, due_at=arrived,
                     reference=filing.next_reference(s, self.agency, arrived, self.settings.reference_prefix))
        apply(s, q, "filed", actor=msg.from_addr, now=now, inbound_id=inbound.id,
              detail=KIND_LABELS_VI[kind])
        inbound.question_id = q.id
        self._store(s, inbound, msg, q)
        self._open_deadline(s, q, self.settings.feedback_rule if kind == FEEDBACK else self.settings.answer_rule,
                            arrived)
        self._acknowledge(s, inbound, msg, q, "received", now)
        self._ask(s, q, now, inbound.id)
        return q

    def follow_up(self, s: Session, inbound: InboundMessage, msg: ParsedMessage, question_id: int,
                  now: datetime) -> Question:
        """The asker writes again in the same thread: it adds to their question."""
        q = s.get_one(Question, question_id)
        inbound.question_id = q.id
        added = (reply.split(msg.text).new or msg.text).strip()
        files = self._store(s, inbound, msg, q)
        if added:
            q.body_text = f"{q.body_text}\n\n[Bổ sung {now.astimezone(TZ):%H:%M %d/%m/%Y}]\n{added}"
        note(s, q, "asker_added", actor=msg.from_addr, now=now, inbound_id=inbound.id,
             detail="; ".join(filter(None, [f"{len(added)} ký tự" if added else "",
                                            f"tệp: {', '.join(a.filename for a in files)}" if files else ""])))
        self._acknowledge(s, inbound, msg, q, "follow_up", now)
        # Whoever holds it is told; once it is closed (answered, declined) a person must still see it.
        closed = q.status in (ANSWERED, DECLINED)
        people = [Holder(m.email, m.role) for m in self.agency.members_with("secretary")] if closed else \
            self.holders(q)
        for h in people:
            self.notices.question_added(s, inbound, q, h.email, h.role, added, now)
        return q

    def _acknowledge(self, s: Session, inbound: InboundMessage, msg: ParsedMessage, q: Question, event: str,
                     now: datetime) -> None:
        """Acknowledge at once, unless this sender already had their day's share (a flood is filed silently)."""
        since = now - timedelta(hours=24)
        sent = s.scalar(select(func.count()).select_from(Event).where(
            Event.agency == self.agency.slug, Event.kind == "acknowledged", Event.actor == msg.from_addr,
            Event.at >= since))
        if (sent or 0) >= self.settings.acks_per_day:
            note(s, q, "ack_suppressed", actor="mailbot", now=now, inbound_id=inbound.id,
                 detail=f"{msg.from_addr} đã nhận {sent} thư báo trong 24 giờ; không gửi thêm")
            return
        s.add(Event(agency=q.agency, question_id=q.id, inbound_id=inbound.id, at=now, actor=msg.from_addr,
                    kind="acknowledged", from_status=position(q), to_status=position(q)))
        self.notices.question_citizen(s, q, event, "", now, inbound=inbound, reply_to_msg=msg)

    # -- a reply carrying a token ----------------------------------------------------------

    def handle(self, s: Session, inbound: InboundMessage, msg: ParsedMessage, row: ReviewToken,
               now: datetime, verdict: Verdict) -> Result:
        q = s.scalars(select(Question).where(Question.id == row.question_id).with_for_update()).one()
        inbound.question_id = q.id
        refused = refused_sender(
            self.agency, row, msg, verdict,
            record=lambda kind, why: note(s, q, kind, actor=msg.from_addr, now=now, inbound_id=inbound.id,
                                          detail=why),
            alert=lambda why: self.notices.question_forgery(s, inbound, q, row, why, now),
            tell=lambda text: self.notices.question_receipt(s, inbound, msg, q, text, self.holders(q), now,
                                                            refused=True))
        if refused:
            return refused
        found = commands.read(msg, commands.QUESTION_COMMANDS)
        if found.command is None or found.command.name == "help":
            self.notices.question_receipt(s, inbound, msg, q, "", self.holders(q), now, problem=found.problem
                                           or "hướng dẫn")
            return Result(False, f"no-command: {found.problem or 'help'}; đã gửi hướng dẫn")
        name = found.command.name
        if name == "status":
            self.notices.question_receipt(s, inbound, msg, q, "Trạng thái hiện tại.", self.holders(q), now)
            return Result(False, "status: đã gửi trạng thái")
        problem = self._token_refusal(row, q, now)
        allowed = _ALLOWED.get(q.status, ())
        if not problem and name not in allowed:
            problem = f"lệnh này không dùng được khi câu hỏi đang ở trạng thái: {STATUS_LABELS_VI[q.status]}"
        if not problem and name == "progress" and q.kind != FEEDBACK:
            problem = "TIẾN ĐỘ chỉ dùng cho phản ánh, kiến nghị; câu hỏi cần TRẢ LỜI hoặc GIA HẠN"
        if not problem:
            try:
                done = self.commands[name](Context(s, inbound, msg, q, row, found.argument, now))
            except Refused as exc:
                problem = str(exc)
        if problem:
            why = problem
            note(s, q, "refused", actor=msg.from_addr, now=now, inbound_id=inbound.id, detail=why)
            self.notices.question_receipt(s, inbound, msg, q, f"Lệnh không có hiệu lực: {why}", self.holders(q),
                                           now, refused=True)
            return Result(False, f"refused: {why}")
        if name not in ("extend", "progress"):
            row.used_at = now
        self.notices.question_receipt(s, inbound, msg, q, done, self.holders(q), now)
        return Result(True, f"{name}: {done}")

    def _token_refusal(self, row: ReviewToken, q: Question, now: datetime) -> str:
        if row.used_at is not None:
            return "thông báo này đã được dùng cho một lệnh trước đó"
        if row.revoked_at is not None or row.status != position(q) or row.version != q.answer_version:
            return f"câu hỏi đã chuyển bước; trạng thái hiện tại: {STATUS_LABELS_VI[q.status]}"
        if row.expires_at < now:
            return "thông báo đã hết hạn; xin dùng thông báo mới nhất"
        return ""

    # -- commands --------------------------------------------------------------------------

    def _assign(self, c: Context[Question]) -> str:
        s, inbound, msg, q, argument, now = c.s, c.inbound, c.msg, c.case, c.argument, c.now
        unit = self.agency.unit_named(argument)
        if unit is None:
            known = "; ".join(u.name + (f" ({', '.join(u.aliases)})" if u.aliases else "") for u in self.agency.units)
            raise Refused(f"không tìm thấy đơn vị \"{argument[:60]}\". Các đơn vị: {known or '(chưa cấu hình)'}")
        if not unit.focal_points and not unit.head:
            raise Refused(f"{unit.name} chưa có đầu mối hay lãnh đạo trong cấu hình")
        q.unit = unit.name
        apply(s, q, "assigned", actor=msg.from_addr, now=now, inbound_id=inbound.id, detail=unit.name)
        self._revoke(s, q, now)
        self._ask(s, q, now, inbound.id)
        return f"Đã chuyển {q.reference} cho {unit.name} trả lời."

    def _reject(self, c: Context[Question]) -> str:
        s, inbound, msg, q, argument, now = c.s, c.inbound, c.msg, c.case, c.argument, c.now
        reason = commands.reject_reason(argument)
        if q.status == NEW:
            apply(s, q, "declined", actor=msg.from_addr, now=now, inbound_id=inbound.id, detail=reason)
            self._close_deadline(s, q, now)
            self._revoke(s, q, now)
            self.notices.question_citizen(s, q, "declined", reason, now)
            return f"Đã báo người hỏi lý do không trả lời: {reason}"
        return self._return_to_unit(s, inbound, msg, q, f"Câu trả lời không được duyệt: {reason}", now)

    def _revise(self, c: Context[Question]) -> str:
        s, inbound, msg, q, argument, now = c.s, c.inbound, c.msg, c.case, c.argument, c.now
        return self._return_to_unit(s, inbound, msg, q, argument, now)

    def _return_to_unit(self, s, inbound, msg, q, why, now) -> str:
        apply(s, q, "returned", actor=msg.from_addr, now=now, inbound_id=inbound.id, detail=why)
        q.answer_version += 1  # the unit's next answer is a new version; old tokens no longer fit
        self._revoke(s, q, now)
        self._ask(s, q, now, inbound.id, note=why)
        return f"Đã trả {q.unit} sửa câu trả lời."

    def _answer(self, c: Context[Question]) -> str:
        s, inbound, msg, q, argument, now = c.s, c.inbound, c.msg, c.case, c.argument, c.now
        if not argument and not msg.attachments:
            raise Refused("lệnh TRẢ LỜI cần nội dung trả lời (viết ngay sau lệnh) hoặc tệp đính kèm")
        files = [a for a in self._store(s, inbound, msg, q, version=q.answer_version + 1) if a.ok]
        q.answer_text, q.answered_by = argument, msg.from_addr
        q.answer_version += 1
        first = self.settings.steps[0]
        apply(s, q, "answered", actor=msg.from_addr, now=now, inbound_id=inbound.id, step=first.name,
              detail=f"bản trả lời {q.answer_version}" + (f"; tệp: {', '.join(a.filename for a in files)}"
                                                          if files else ""))
        self._revoke(s, q, now)
        self._ask(s, q, now, inbound.id)
        return f"Đã nhận câu trả lời; Ban Biên tập duyệt ở bước {first.label}."

    def _approve(self, c: Context[Question]) -> str:
        s, inbound, msg, q, argument, now = c.s, c.inbound, c.msg, c.case, c.argument, c.now
        nxt = self._next_step(q.step)
        self._revoke(s, q, now)
        if nxt is not None:
            apply(s, q, "step_approved", actor=msg.from_addr, now=now, inbound_id=inbound.id, step=nxt.name,
                  detail=argument)
            self._ask(s, q, now, inbound.id)
            return f"Đã duyệt; câu trả lời chuyển bước {nxt.label}."
        apply(s, q, "approved", actor=msg.from_addr, now=now, inbound_id=inbound.id, detail=argument)
        q.answered_at = now
        self._close_deadline(s, q, now)
        files = self.answer_files(s, q)
        self.notices.question_citizen(s, q, "answer", "", now, files=files)
        self._ask(s, q, now, inbound.id)  # the board's notice that it went out, with HỎI ĐÁP
        return f"Đã duyệt; câu trả lời đã gửi người hỏi ({q.asker_email})."

    @staticmethod
    def answer_files(s: Session, q: Question) -> list[Attachment]:
        """The files of the unit's current answer: those of the message that gave it."""
        answered = s.scalars(select(Event.inbound_id).where(Event.question_id == q.id, Event.kind == "answered")
                             .order_by(Event.id.desc())).first()
        return list(s.scalars(select(Attachment).where(
            Attachment.question_id == q.id, Attachment.inbound_id == answered, Attachment.status == FileStatus.OK)
            .order_by(Attachment.id))) if answered else []

    def _extend(self, c: Context[Question]) -> str:
        s, inbound, msg, q, argument, now = c.s, c.inbound, c.msg, c.case, c.argument, c.now
        if q.extended:
            raise Refused("câu hỏi đã được gia hạn một lần")
        if q.kind == FEEDBACK:
            raise Refused("phản ánh, kiến nghị không gia hạn; dùng TIẾN ĐỘ để báo người gửi tiến độ xử lý")
        old = q.due_at
        self._close_deadline(s, q, now, outcome="extended")
        self._open_deadline(s, q, self.settings.extended_rule, q.received_at)
        q.extended, q.extension_reason = True, argument
        note(s, q, "extended", actor=msg.from_addr, now=now, inbound_id=inbound.id,
             detail=f"hạn cũ {old.astimezone(TZ):%d/%m/%Y}, hạn mới "
                    f"{q.due_at.astimezone(TZ):%d/%m/%Y}: {argument}")
        self.notices.question_citizen(s, q, "extended", argument, now)
        return f"Đã gia hạn đến {q.due_at.astimezone(TZ):%H:%M ngày %d/%m/%Y}; người hỏi đã được báo."

    def _progress(self, c: Context[Question]) -> str:
        """Feedback: a progress notice answers the 15-day limit; the result gets another period from today."""
        s, inbound, msg, q, argument, now = c.s, c.inbound, c.msg, c.case, c.argument, c.now
        self._close_deadline(s, q, now)
        self._open_deadline(s, q, self.settings.feedback_rule, now)
        note(s, q, "progress", actor=msg.from_addr, now=now, inbound_id=inbound.id, detail=argument)
        self.notices.question_citizen(s, q, "progress", argument, now)
        return f"Đã gửi thông báo tiến độ cho người gửi; hạn báo kết quả: " \
               f"{q.due_at.astimezone(TZ):%d/%m/%Y}."

    def _qa(self, c: Context[Question]) -> str:
        s, inbound, msg, q, now = c.s, c.inbound, c.msg, c.case, c.now
        q.qa_text = qa_entry(q)
        note(s, q, "qa_prepared", actor=msg.from_addr, now=now, inbound_id=inbound.id)
        self.notices.question_qa(s, q, now)
        return "Đã chuẩn bị bài Hỏi đáp (đã ẩn thông tin cá nhân) và gửi Thư ký để đăng."


# What each status accepts (STATUS and HELP are always accepted).
_ALLOWED = {
    NEW: ("assign", "reject", "extend"),
    ASSIGNED: ("answer", "progress", "extend"),
    ANSWER_REVIEW: ("approve", "revise", "reject", "extend"),
    ANSWERED: ("qa",),
}


def allowed_commands(q: Question) -> tuple[str, ...]:
    allowed = [c for c in _ALLOWED.get(q.status, ()) if not (c == "progress" and q.kind != FEEDBACK)
               and not (c == "extend" and (q.extended or q.kind == FEEDBACK))]
    return (*allowed, "status", "help")


def step_label(agency: Agency, q: Question) -> str:
    if q.status == ANSWER_REVIEW:
        step = next((st for st in agency.questions.steps if st.name == q.step), None)
        return step.label if step else q.step
    return STATUS_LABELS_VI.get(q.status, q.status)


def rule_label(agency: Agency, q: Question) -> str:
    """The time limit running on `q` in words ("15 ngày làm việc"), from the agency's own rule."""
    settings = agency.questions
    name = settings.extended_rule if q.extended else settings.feedback_rule if q.kind == FEEDBACK \
        else settings.answer_rule
    return agency.calendar.deadline(agency.deadlines[name], q.received_at).rule


def for_unit(q: Question) -> str:
    """The question as the unit sees it: the asker's name, no contact details."""
    return redact.redact(q.body_text, q.asker_name, keep_name=True)


def qa_entry(q: Question) -> str:
    """The question and its answer for the site's Q&A section, the asker's personal data removed."""
    asked = redact.redact(q.body_text, q.asker_name)
    who = redact.initials(q.asker_name) or "Bạn đọc"
    return f"Hỏi: {who} hỏi:\n{asked.strip()}\n\nTrả lời:\n{redact.redact(q.answer_text, q.asker_name).strip()}"
