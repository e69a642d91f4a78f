"""What an incoming message is: a chain of small named rules, the first that speaks decides.

Each rule reads the parsed message and the facts intake looked up for it (thread, sender,
duplicates), and returns a Decision with a reason a secretary can read, or None to pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, StrEnum

from mailbot.cases import commands
from mailbot.config import Agency, Member
from mailbot.mail.message import ParsedMessage
from mailbot.mail.vntext import fold


class Disposition(StrEnum):
    """What became of a message, as `mailbot list` shows it."""

    FILED = "filed"
    FOLLOWUP = "followup"
    HELD = "held"
    IGNORED = "ignored"
    DUPLICATE = "duplicate"
    COMMAND = "command"
    QUESTION = "question"


class Action(Enum):
    """What intake does about a decision; intake keeps one handler for each."""

    NOTHING = "nothing"                        # recorded, no effect (ignored, duplicate)
    HOLD = "hold"                              # the secretary is told
    HOLD_AND_ALERT = "hold-and-alert"          # the secretary is told; the head too where it carries a token
    HOLD_SUSPICIOUS = "hold-suspicious"        # the secretary and the administrator are told; nothing is filed
    RECORD_BOUNCE = "record-bounce"            # the outbox row it bounces is marked
    COMMAND = "command"                        # review or questions check and apply it
    FILE_ARTICLE = "file-article"
    ARTICLE_FOLLOW_UP = "article-follow-up"
    FILE_QUESTION = "file-question"
    QUESTION_FOLLOW_UP = "question-follow-up"


@dataclass(frozen=True)
class Facts:
    """What intake knows about a message beyond its bytes."""

    duplicate_of: int | None = None          # an earlier inbound message with the same Message-ID
    thread_article_id: int | None = None     # the article this message follows up, if any
    thread_article_people: tuple[str, ...] = ()  # addresses allowed to follow up that article
    replies_to_our_mail: bool = False        # its In-Reply-To/References name a message we sent
    bounced_outbox_ids: tuple[int, ...] = ()
    sender_member: Member | None = None
    sender_is_staff: bool = False
    title_unreadable: bool = False
    raw_size: int = 0
    carries_token: bool = False              # it answers one of our review notifications
    thread_question_id: int | None = None    # the citizen's question this message follows up, if any
    thread_question_asker: str = ""
    same_text_earlier: int = 0               # messages from this sender in 24 h whose own text was the same
    quick_answers: int = 0                   # answers from this sender to our mail in the last 10 minutes


@dataclass(frozen=True)
class Decision:
    disposition: Disposition
    action: Action
    rule: str       # the rule's name
    reason: str     # why, in Vietnamese, for the secretary


def ignore(rule: str, reason: str) -> Decision:
    return Decision(Disposition.IGNORED, Action.NOTHING, rule, reason)


def hold(rule: str, reason: str) -> Decision:
    return Decision(Disposition.HELD, Action.HOLD, rule, reason)


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    check: Callable[[ParsedMessage, Facts, Agency], Decision | None]


_AUTO_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|auto:|autoreply|out of (the )?office|"
    r"(thu )?tra loi tu dong|tu dong tra loi|phan hoi tu dong|vang mat|khong co mat|"
    r"abwesenheitsnotiz|reponse automatique|absence)\b")
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(undeliverable|undelivered mail|delivery status notification|mail delivery (failed|failure|subsystem)|"
    r"returned mail|delivery failure|failure notice|khong (the )?gui duoc|khong chuyen duoc|"
    r"thu khong (the )?gui duoc|non remis|unzustellbar)")
# A question in the first person: what a citizen writes and a news article does not.
_ASKING = re.compile(
    r"\b(xin hoi|cho (toi |em |chau )?hoi|(toi|em|chau|chung toi) (muon|can|xin) (hoi|duoc tu van|tu van)|"
    r"nho (ban bien tap |quy co quan )?tu van|xin (duoc )?tu van|can tu van|thac mac|xin (duoc )?giai dap|"
    r"mong (duoc )?(giai dap|tra loi|huong dan)|(toi|em|chau|gia dinh toi) co (duoc|phai)\b)")
_FIRST_PERSON = re.compile(r"\b(toi|em|chau|gia dinh toi|chung toi)\b")
# Words legal news and citizens' letters share: a question only with a first person beside them.
_LEGAL_WORDS = re.compile(
    r"\b(hoi dap|phan anh|kien nghi|khieu nai|to cao|giai dap( phap luat)?|tiep cong dan|tu van phap luat)\b")
# News is written in the third person about an event: "Sáng 20/11, ... đã tổ chức ...".
_NEWS_TEXT = re.compile(
    r"\b((sang|chieu|toi|ngay) (ngay )?\d{1,2}/\d{1,2}|vua qua|da dien ra|da to chuc|to chuc hoi nghi|"
    r"tham du (co|hoi nghi)|phat bieu (tai|chi dao)|khai mac|be mac|tong ket)\b")
_WORD_KINDS = ("docx", "doc", "odt")
_PHOTO_KINDS = ("jpg", "png", "gif", "bmp")


@dataclass(frozen=True)
class Signals:
    """What makes an outside sender's mail look like an article, or like a citizen's question (issue 14 item 10):
    the signals a secretary reads, each named in Vietnamese for the hold reason."""

    submission: tuple[str, ...]
    question: tuple[str, ...]
    legal_words: bool
    article_weight: int = 0     # a label or a Word file 2, a photo, a signature with title and unit, news text 1
    question_weight: int = 0    # each sign of a question in the first person 2

    def verdict(self) -> str:
        """"article", "question", or "unsure" (held for the secretary)."""
        a, q = self.article_weight, self.question_weight
        if q and not a:
            return "question"
        if a and not q:
            return "article" if a >= 2 or not self.legal_words else "unsure"
        if a and q:
            return "question" if q >= 2 * a else "article" if a >= 2 * q else "unsure"
        return "unsure" if self.legal_words else "article"


def signals(msg: ParsedMessage, agency: Agency) -> Signals:
    from mailbot.articles import filing, sender
    from mailbot.mail import reply

    own = reply.split(msg.text).new or msg.text
    text = fold(own[:4000])
    subject = fold(msg.subject)
    good = [p.verdict.kind for p in msg.attachments if p.verdict is not None and p.verdict.ok and not p.inline]
    details = sender.from_text(own, agency)
    for_article = [(label, weight) for label, weight, present in (
        ("tiêu đề ghi là tin bài", 2, filing.has_submission_label(agency, msg.subject)),
        ("có tệp Word", 2, any(k in _WORD_KINDS for k in good)),
        ("có ảnh", 1, any(k in _PHOTO_KINDS for k in good)),
        ("chữ ký có chức vụ và đơn vị", 1, bool(details.unit and details.title)),
        ("nội dung viết theo lối tin", 1, bool(_NEWS_TEXT.search(text)))) if present]
    questions = [s for s in re.split(r"(?<=[.?!\n])", own[:4000]) if s.strip().endswith("?")]
    legal = bool(_LEGAL_WORDS.search(f"{subject}\n{text}"))
    for_question = [label for label, present in (
        ("có lời hỏi của người viết (xin hỏi, cho tôi hỏi, nhờ tư vấn ...)", bool(_ASKING.search(f"{subject}\n{text}"))),
        ("có câu hỏi ở ngôi thứ nhất", any(_FIRST_PERSON.search(fold(q)) for q in questions)),
        ("phản ánh, kiến nghị của chính người viết", legal and bool(_FIRST_PERSON.search(text)))) if present]
    return Signals(tuple(label for label, _ in for_article), tuple(for_question), legal,
                   sum(w for _, w in for_article), 2 * len(for_question))


def _own_mail(msg: ParsedMessage, facts: Facts, agency: Agency) -> Decision | None:
    if msg.from_addr in agency.own_addresses() or (msg.message_id or "").startswith("mailbot.") and \
            (msg.message_id or "").endswith("@" + agency.message_id_domain):
        return ignore("own-mail", "thư do chính mailbot gửi (tránh vòng lặp)")
    return None


def _unreadable_structure(msg: ParsedMessage, facts: Facts, agency: Agency) -> Decision | None:
    if msg.structure_problem:
        return hold("unreadable-structure", f"{msg.structure_problem}; thư gốc được lưu, cần Thư ký xem")
    return None


def _over_limit(msg: ParsedMessage, facts: Facts, agency: Agency) -> Decision | None:
    if msg.over_limit:
        return hold("over-limit", f"thư vượt giới hạn xử lý: {msg.over_limit}; thư gốc được lưu, cần Thư ký xem")
    return None


def _bounce(msg: ParsedMessage, facts: Facts, agency: Agency) -> Decision | None:
    local = msg.from_addr.partition("@")[0]
    if (msg.report_type == "delivery-status" or local in ("mailer-daemon", "postmaster")
            or msg.header("x-failed-recipients") or _BOUNCE_SUBJECT.match(fold(msg.subject))):
        matched = f"; trả lại thư đi số {', '.join(map(str, facts.bounced_outbox_ids))}" if facts.bounced_outbox_ids else ""
        return Decision(Disposition.IGNORED, Action.RECORD_BOUNCE, "bounce", f"thư báo lỗi chuyển phát (bounce){matched}")
    if msg.report_type == "feedback-report":
        return ignore("complaint", "báo cáo khiếu nại thư rác (ARF)")
    if msg.report_type == "disposition-notification":
        return ignore("read-receipt", "thông báo đã đọc thư")
    return None


# Out-of-office wordings, folded (no diacritics, lower case), as Vietnamese and English responders write them.
_OUT_OF_OFFICE = re.compile(
    r"\b(i am (currently )?(out of (the )?office|away|on (annual |sick )?leave|travell?ing)|i will be (out|away)|"
    r"out of (the )?office (until|from|till)|i('m| am) out of (the )?office|will (respond|reply|get back to you) "
    r"(to your (e-?mail|message) )?(when|upon|on) (i|my) return|(limited|no) access to (my )?e-?mail|"
    r"this is an automatic(ally generated)? (reply|response|message)|"
    r"(toi|em) (hien )?(dang|se) (di cong tac|nghi phep|vang mat|o nuoc ngoai|khong o co quan)|"
    r"hien (toi |em )?(dang )?(vang mat|nghi phep|di cong tac)|"
    r"(toi|em) se (tra loi|phan hoi) (lai )?(anh/chi|anh chi|ban|quy vi|thu)? ?(ngay )?khi (tro lai|quay lai|ve)|"
    r"day la thu (tra loi|phan hoi) tu dong|thu nay duoc (gui|tra loi) tu dong)\b")
REPEATS_ALLOWED = 2   # the same own text from one sender within 24 h, three times, is a responder
QUICK_ANSWERS = 3     # answers to our mail within ten minutes, without a command, that make a responder


def _automatic_by_content(msg: ParsedMessage, facts: Facts) -> str:
    """Why a message without auto-reply headers is still an automatic answer ("" when it is not one). A
    message carrying a command is never taken for one: "DUYỆT, tôi đang đi công tác" is an approval."""
    answers_us = facts.replies_to_our_mail or facts.carries_token or facts.thread_article_id is not None
    if commands.read(msg).command is not None or commands.read(msg, commands.QUESTION_COMMANDS).command is not None:
        return ""
    if answers_us and _OUT_OF_OFFICE.search(fold(msg.text[:1500])):
        return "nội dung là thư báo vắng mặt tự động"
    if facts.same_text_earlier >= (1 if answers_us else REPEATS_ALLOWED):
        return f"nội dung giống hệt {facts.same_text_earlier} thư trước của cùng người gửi trong 24 giờ"
    if answers_us and facts.quick_answers >= QUICK_ANSWERS:
        return f"đã trả lời thư của mailbot {facts.quick_answers} lần trong 10 phút, không có lệnh"
    return ""


def _auto_reply(msg: ParsedMessage, facts: Facts, agency: Agency) -> Decision | None:
    auto = fold(msg.header("auto-submitted"))
    if auto and not auto.startswith("no"):
        return ignore("auto-reply", f"thư tự động (Auto-Submitted: {msg.header('auto-submitted')})")
    for header in ("x-autoreply", "x-autorespond", "x-zimbra-auto-reply"):
        if msg.header(header):
            return ignore("auto-reply", f"thư tự động ({header})")
    if fold(msg.header("precedence")) == "auto_reply":
        return ignore("auto-reply", "thư tự động (Precedence: auto_reply)")
    if _AUTO_SUBJECT.match(fold(msg.subject)):
        return ignore("auto-reply", f"thư trả lời tự động (tiêu đề \"{msg.subject[:80]}\")")
    if msg.header("return-path").strip() == "<>" and not msg.from_addr:
        return ignore("auto-reply", "thư từ người gửi rỗng (<>), do hệ thống tạo")
    why = _automatic_by_content(msg, facts)
    if why:
        return ignore("auto-reply", f"thư trả lời tự động ({why})")
    return None


def _bulk(msg: ParsedMessage, facts: Facts, agency: Agency) -> Decision | None:
    precedence = fold(msg.header("precedence"))
    if precedence in ("bulk", "junk", "list"):
        return ignore("bulk", f"thư hàng loạt (Precedence: {precedence})")
    if msg.header("list-id") or msg.header("list-unsubscribe") or msg.header("list-post"):
        return ignore("bulk", "thư từ danh sách thư (List-Id / List-Unsubscribe)")
    return None


def _duplicate(msg: ParsedMessage, facts: Facts, agency: Agency) -> Decision | None:
    if facts.duplicate_of is not None:
        return Decision(Disposition.DUPLICATE, Action.NOTHING, "duplicate",
                        f"trùng Message-ID với thư đã nhận số {facts.duplicate_of}; không xử lý lại")
    return None


def _ambiguous_sender(msg: ParsedMessage, facts: Facts, agency: Agency) -> Decision | None:
    # A reply to the board whose sender is not one clear mailbox never carries a command.
    if msg.sender_problem and (facts.carries_token or facts.sender_member or facts.thread_article_id is not None
                               or facts.thread_question_id is not None):
        return Decision(Disposition.HELD, Action.HOLD_AND_ALERT, "ambiguous-sender",
                        f"người gửi không rõ ràng ({msg.sender_problem}); thư không được "
                                                  "coi là lệnh, cần Thư ký xem")
    return None


def _command(msg: ParsedMessage, facts: Facts, agency: Agency) -> Decision | None:
    if facts.carries_token:
        return Decision(Disposition.COMMAND, Action.COMMAND, "command-reply", "thư trả lời thông báo xét duyệt")
    return None


def _no_sender(msg: ParsedMessage, facts: Facts, agency: Agency) -> Decision | None:
    if not msg.from_addr:
        return hold("no-sender", "thư không có địa chỉ người gửi hợp lệ; không thể trả lời")
    return None


def _thread(msg: ParsedMessage, facts: Facts, agency: Agency) -> Decision | None:
    if facts.thread_question_id is not None:
        if msg.from_addr == facts.thread_question_asker:
            return Decision(Disposition.FOLLOWUP, Action.QUESTION_FOLLOW_UP, "question-follow-up",
                            "người hỏi viết thêm trong luồng câu hỏi đã gửi")
        return hold("question-thread-stranger",
                        "thư trong luồng một câu hỏi của người dân nhưng không phải từ người hỏi; cần Thư ký xem")
    if facts.thread_article_id is not None:
        if msg.from_addr in facts.thread_article_people:
            return Decision(Disposition.FOLLOWUP, Action.ARTICLE_FOLLOW_UP, "follow-up", "thư bổ sung cho bài đã nhận")
        if facts.sender_member is not None:
            found = commands.read(msg)
            if found.command is not None:
                return hold("command-without-token",
                                f"lệnh {found.command.usage.split(' (')[0]} không mang mã của một thông báo xét "
                                "duyệt (thư chỉ gắn với bài qua tiêu đề hoặc luồng thư); lệnh chỉ có hiệu lực khi "
                                "trả lời đúng thông báo mailbot gửi cho người quyết định. Cần Thư ký xem")
            return hold("board-reply",
                            "thành viên Ban Biên tập viết trong luồng thư của bài nhưng không trả lời một thông báo "
                            "xét duyệt; cần Thư ký xem")
        return hold("thread-stranger",
                        "thư trong luồng của một bài nhưng từ người khác người gửi bài; cần Thư ký xem")
    if facts.replies_to_our_mail:
        return hold("reply-to-notice", "thư trả lời một thông báo của mailbot không gắn với bài nào")
    return None


def _citizen(msg: ParsedMessage, facts: Facts, agency: Agency) -> Decision | None:
    qa = agency.questions.address
    if qa and qa in (a.lower() for a in (*msg.to, *msg.cc)) and not facts.sender_member:
        return Decision(Disposition.QUESTION, Action.FILE_QUESTION, "citizen-question", f"gửi tới địa chỉ hỏi đáp {qa}")
    if facts.sender_member or facts.sender_is_staff or agency.is_accepted_domain(msg.from_addr):
        return None
    found = signals(msg, agency)
    verdict = found.verdict()
    if verdict == "question":
        return Decision(Disposition.QUESTION, Action.FILE_QUESTION, "citizen-question",
                        "người gửi không phải cán bộ của cơ quan; " + "; ".join(found.question))
    if verdict == "article":
        return None   # an article from outside: the rules after this one file it
    said = "; ".join(filter(None, ["dấu hiệu tin bài: " + ", ".join(found.submission) if found.submission else "",
                                    "dấu hiệu câu hỏi: " + ", ".join(found.question) if found.question else "",
                                    "có từ ngữ về khiếu nại, tố cáo, kiến nghị" if found.legal_words else ""]))
    return hold("question-or-submission",
                f"người gửi ngoài cơ quan; chưa rõ là tin bài hay câu hỏi của người dân ({said}); Thư ký "
                "quyết định: mailbot replay #N --as article hoặc --as question")


def _outside(msg: ParsedMessage, facts: Facts, agency: Agency) -> Decision | None:
    if agency.intake.outside_senders != "hold" or facts.sender_member or facts.sender_is_staff:
        return None
    if agency.is_accepted_domain(msg.from_addr):
        return None
    return hold("outside-sender",
                    f"người gửi ngoài các tên miền được nhận ({', '.join(agency.accepted_domains)}); "
                    "cần lãnh đạo đơn vị xác nhận trước khi nhận bài")


def _too_large(msg: ParsedMessage, facts: Facts, agency: Agency) -> Decision | None:
    limit = agency.intake.max_message_bytes
    if facts.raw_size > limit:
        return hold("too-large", f"thư lớn {facts.raw_size / 1048576:.1f} MB, vượt giới hạn "
                                           f"{limit / 1048576:g} MB; cần Thư ký xem")
    return None


def _empty(msg: ParsedMessage, facts: Facts, agency: Agency) -> Decision | None:
    if not msg.text.strip() and not msg.attachments and not msg.subject.strip():
        return hold("empty", "thư không có tiêu đề, nội dung hay tệp đính kèm")
    return None


def _suspicious(msg: ParsedMessage, facts: Facts, agency: Agency) -> Decision | None:
    """A mail whose only content is a possibly hostile file and a line or two of text: bait, perhaps from a
    compromised account. Not an article: no reference, no answer to the sender."""
    parts = msg.attachments
    if not parts or not all(p.verdict is not None and not p.verdict.ok and p.verdict.dangerous for p in parts):
        return None
    from mailbot.mail import reply

    own = [x for x in reply.split(msg.text).new.split("\n") if x.strip()]
    if sum(len(x) for x in own) > 400:
        return None   # a real text with a bad file: filed, and the file quarantined with the reason
    reasons = "; ".join(dict.fromkeys(f"{p.filename}: {p.verdict.reason}" for p in parts if p.verdict))
    return Decision(Disposition.HELD, Action.HOLD_SUSPICIOUS, "suspicious-attachment",
                    f"thư chỉ có tệp bị cách ly vì nghi nguy hiểm ({reasons[:300]}); không vào sổ, không trả lời "
                    "người gửi (tài khoản có thể bị chiếm quyền); cần Thư ký và quản trị viên xem")


def _unreadable_title(msg: ParsedMessage, facts: Facts, agency: Agency) -> Decision | None:
    if facts.title_unreadable:
        return hold("unreadable-title",
                        "tiêu đề bị lỗi phông chữ (TCVN3/VNI hoặc sai bảng mã) và không chuyển đổi được; "
                        "cần Thư ký xem")
    return None


def _submission(msg: ParsedMessage, facts: Facts, agency: Agency) -> Decision:
    return Decision(Disposition.FILED, Action.FILE_ARTICLE, "submission", "tin bài mới")


CHAIN: tuple[Rule, ...] = (
    Rule("own-mail", "mail mailbot sent itself, come back round", _own_mail),
    Rule("unreadable-structure", "a MIME structure nested deeper than the parser reads: held, never obeyed",
         _unreadable_structure),
    Rule("over-limit", "a message over one of the agency's [limits]: held with the limit it goes over",
         _over_limit),
    Rule("bounce", "delivery failures, complaint reports and read receipts", _bounce),
    Rule("auto-reply", "RFC 3834 and vendor auto-replies, in Vietnamese and English", _auto_reply),
    Rule("bulk", "mailing lists and bulk mail", _bulk),
    Rule("duplicate", "a second message with a Message-ID already seen", _duplicate),
    Rule("ambiguous-sender", "a reply to the board whose sender is not one clear mailbox: never a command",
         _ambiguous_sender),
    Rule("command-reply", "a reply to a review notification: the review module checks and applies it", _command),
    Rule("no-sender", "no From address to answer", _no_sender),
    Rule("thread", "follow-ups and replies in an article's thread", _thread),
    Rule("suspicious-attachment", "nothing but a possibly hostile file and a line of bait: held, never filed",
         _suspicious),
    Rule("citizen-question", "questions and feedback from the public", _citizen),
    Rule("outside-sender", "senders outside the accepted domains, where the agency holds them", _outside),
    Rule("too-large", "a message over the agency's size limit", _too_large),
    Rule("empty", "nothing to file", _empty),
    Rule("unreadable-title", "a title still in a legacy font after conversion", _unreadable_title),
    Rule("submission", "everything else is a new submission", _submission),
)


def secretary_decided(kind: str) -> Decision:
    """A message held as question-or-submission, filed the way the secretary said (`mailbot replay --as`)."""
    if kind == "question":
        return Decision(Disposition.QUESTION, Action.FILE_QUESTION, "citizen-question", "Thư ký xác định là câu hỏi")
    return Decision(Disposition.FILED, Action.FILE_ARTICLE, "submission", "Thư ký xác định là tin bài")


def decide(msg: ParsedMessage, facts: Facts, agency: Agency) -> Decision:
    for rule in CHAIN:
        decision = rule.check(msg, facts, agency)
        if decision is not None:
            return decision
    raise AssertionError("the submission rule always decides")
