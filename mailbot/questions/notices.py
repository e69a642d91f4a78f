"""What a citizen's question's people are told: the asker, the secretary, the unit, the board."""

from __future__ import annotations

from mailbot.articles.publish import article_page, from_text
from mailbot.cases import commands
from mailbot.cases.authority import token_message_id
from mailbot.config import Agency
from mailbot.outbound.mailer import ROLE_LABELS_VI, Mailer
from mailbot.outbound.render import FileToAttach
from mailbot.questions import redact
from mailbot.questions import service as questions
from mailbot.worktime.calendar import TZ


class QuestionNotices(Mailer):
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
            files, _ = self.attachable(questions.Questions.answer_files(s, q))
        self.send(s, f"q-request:{token}", template.replace("/", "."), template, [email],
                  {**self._question_context(q, role), "note": note}, now, question=q, files=files,
                  message_id=token_message_id(token, self.agency), reply_to=self.token_reply_to(token))

    def question_citizen(self, s, q, event, detail, now, inbound=None, reply_to_msg=None, files=()):
        """To the asker, always in the thread of their question (In-Reply-To their message)."""
        attach, _ = self.attachable(list(files))
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


def _role_of(agency: Agency, email: str) -> str:
    member = agency.member_by_email(email)
    if member:
        return member.role
    return "unit_head" if any(u.head == email for u in agency.units) else "focal_point"
