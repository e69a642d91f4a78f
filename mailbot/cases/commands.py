"""Reply commands: small objects with Vietnamese and English spellings, and the finder that reads them.

Only the first line of what the member wrote now (never quoted text) is read for the command;
what follows on that line and the lines below, up to the signature, is its argument. Matching
ignores case, accents and diacritics: "DUYỆT", "duyệt", "duyet" are the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

from mailbot.mail import htmltext, reply
from mailbot.mail.message import ParsedMessage
from mailbot.mail.vntext import collapse_space, fold
from mailbot.storage.models import InboundMessage, ReviewToken

CaseT = TypeVar("CaseT")


@dataclass(frozen=True)
class Context(Generic[CaseT]):
    """What a command's handler gets: the transaction, the reply, the case it decides, its token and argument."""

    s: Session
    inbound: InboundMessage
    msg: ParsedMessage
    case: CaseT
    token: ReviewToken
    argument: str
    now: datetime


class Refused(Exception):
    """A command that counts but cannot be carried out; the reason goes back to the sender."""


@dataclass(frozen=True)
class Command:
    name: str
    spellings: tuple[str, ...]     # folded, longest first when tried
    usage: str                     # how it is written, shown in the help text
    description: str               # what it does, in Vietnamese
    needs_argument: str = ""       # what is missing when the argument is empty ("" = none needed)
    changes_state: bool = True     # STATUS and HELP only read
    free_text: bool = False        # the argument is prose (an answer): other command words may occur in it


# How each command may be written (folded: no accents, lower case), once for articles and questions alike.
SPELLINGS: dict[str, tuple[str, ...]] = {
    "approve": ("duyet", "approve", "approved"),
    "reject": ("tu choi", "reject"),
    "revise": ("yeu cau chinh sua", "yeu cau sua", "revise"),
    "assign": ("chuyen", "assign"),
    "escalate": ("xin y kien", "escalate"),
    "sensitive": ("nhay cam", "sensitive"),
    "published": ("da dang", "published"),
    "takedown": ("go bai", "go", "takedown"),
    "undo": ("hoan tac", "undo"),
    "status": ("trang thai", "status"),
    "help": ("huong dan", "help"),
    "answer": ("tra loi", "answer"),
    "progress": ("tien do", "progress"),
    "extend": ("gia han", "extend"),
    "qa": ("hoi dap", "qa", "faq"),
    "original": ("da nhan ban goc", "original received"),
}


COMMANDS: tuple[Command, ...] = (
    Command("approve", SPELLINGS["approve"], "DUYỆT (APPROVE)", "duyệt, chuyển bước tiếp theo"),
    Command("reject", SPELLINGS["reject"], "TỪ CHỐI: lý do (REJECT reason)",
            "không duyệt đăng; lý do bắt buộc, có thể dùng mã: CS, BM, SAI, CL, PV, NG", needs_argument="lý do"),
    Command("revise", SPELLINGS["revise"], "YÊU CẦU SỬA: ghi chú (REVISE note)",
            "trả tác giả chỉnh sửa, kèm ghi chú", needs_argument="ghi chú cho tác giả"),
    Command("assign", SPELLINGS["assign"], "CHUYỂN: tên hoặc email thành viên (ASSIGN member)",
            "giao bước này cho một thành viên khác", needs_argument="thành viên nhận"),
    Command("escalate", SPELLINGS["escalate"], "XIN Ý KIẾN (ESCALATE)", "xin ý kiến Giám đốc trước khi quyết định"),
    Command("sensitive", SPELLINGS["sensitive"], "NHẠY CẢM (SENSITIVE)",
            "đánh dấu nội dung liên quan bí mật: cần Giám đốc duyệt thêm", changes_state=True),
    Command("published", SPELLINGS["published"], "ĐÃ ĐĂNG: đường dẫn (PUBLISHED url)",
            "báo đã đăng, kèm đường dẫn bài trên trang", needs_argument="đường dẫn bài đã đăng"),
    Command("takedown", SPELLINGS["takedown"], "GỠ: lý do (TAKEDOWN reason)", "gỡ bài đã đăng",
            needs_argument="lý do gỡ"),
    Command("undo", SPELLINGS["undo"], "HOÀN TÁC (UNDO)", "hủy quyết định vừa gửi (trong thời hạn cho phép)"),
    Command("status", SPELLINGS["status"], "TRẠNG THÁI (STATUS)", "xem trạng thái bài", changes_state=False),
    Command("help", SPELLINGS["help"], "HƯỚNG DẪN (HELP)", "xem hướng dẫn này", changes_state=False),
    Command("original", SPELLINGS["original"], "ĐÃ NHẬN BẢN GỐC: ghi chú (ORIGINAL RECEIVED)",
            "xác nhận đã nhận bản gốc giấy có chữ ký, đóng dấu; bài được chuyển Ban Biên tập"),
)
_ORIGINAL_MENU = ("original", "reject", "status", "help")


def article_menu(has_director: bool, awaiting_original: bool = False) -> tuple[Command, ...]:
    """What a notification offers: only what the agency's configuration supports (XIN Ý KIẾN needs a director)
    and what the article's position allows (ĐÃ NHẬN BẢN GỐC only while it waits for its signed original).

    The finder still knows every command, so one written anyway is answered with why it cannot be done.
    """
    if awaiting_original:
        return tuple(c for c in COMMANDS if c.name in _ORIGINAL_MENU)
    return tuple(c for c in COMMANDS if (has_director or c.name != "escalate") and c.name != "original")

# Commands on a citizen's question: the secretary assigns it to a unit, the unit answers, the board
# reviews the answer with the article commands, anyone holding it may extend the time limit once.
QUESTION_COMMANDS: tuple[Command, ...] = (
    Command("assign", SPELLINGS["assign"], "CHUYỂN: tên đơn vị (ASSIGN unit)",
            "giao câu hỏi cho đơn vị trả lời (tên, tên viết tắt đều được)", needs_argument="tên đơn vị"),
    Command("answer", SPELLINGS["answer"], "TRẢ LỜI: nội dung (ANSWER text)",
            "gửi nội dung trả lời (viết bên dưới và/hoặc đính kèm tệp) để Ban Biên tập duyệt", free_text=True),
    Command("progress", SPELLINGS["progress"], "TIẾN ĐỘ: nội dung (PROGRESS text)",
            "báo tiến độ xử lý phản ánh, kiến nghị cho người gửi", needs_argument="nội dung thông báo tiến độ",
            free_text=True),
    Command("extend", SPELLINGS["extend"], "GIA HẠN: lý do (EXTEND reason)",
            "gia hạn trả lời (khi phải xin ý kiến bộ, ngành); người hỏi được báo hạn mới",
            needs_argument="lý do gia hạn"),
    Command("approve", SPELLINGS["approve"], "DUYỆT (APPROVE)",
            "duyệt câu trả lời; sau bước cuối, câu trả lời được gửi người hỏi"),
    Command("revise", SPELLINGS["revise"], "YÊU CẦU SỬA: ghi chú (REVISE note)",
            "trả đơn vị sửa câu trả lời, kèm ghi chú", needs_argument="ghi chú cho đơn vị"),
    Command("reject", SPELLINGS["reject"], "TỪ CHỐI: lý do (REJECT reason)",
            "câu hỏi chưa giao: không trả lời (báo người hỏi lý do); câu trả lời: trả đơn vị làm lại",
            needs_argument="lý do"),
    Command("qa", SPELLINGS["qa"], "HỎI ĐÁP (QA)",
            "chuẩn bị đăng chuyên mục Hỏi đáp (đã ẩn thông tin cá nhân người hỏi)"),
    Command("status", SPELLINGS["status"], "TRẠNG THÁI (STATUS)", "xem trạng thái câu hỏi", changes_state=False),
    Command("help", SPELLINGS["help"], "HƯỚNG DẪN (HELP)", "xem hướng dẫn này", changes_state=False),
)

# The regulation's grounds for refusal (002 art. 12.3; 004 art. 6.3b), as short codes.
REJECT_REASONS = {
    "cs": "Trái chủ trương, đường lối của Đảng, chính sách, pháp luật của Nhà nước",
    "bm": "Có nội dung bí mật nhà nước hoặc chưa được phép công bố",
    "sai": "Thông tin không đúng sự thật",
    "cl": "Chưa đạt yêu cầu về chất lượng",
    "pv": "Không thuộc phạm vi, chức năng của trang thông tin",
    "ng": "Không rõ nguồn gốc",
}



def _spellings(commands: tuple[Command, ...]) -> list[tuple[str, Command]]:
    return sorted(((s, c) for c in commands for s in c.spellings), key=lambda x: len(x[0]), reverse=True)


_SPELLINGS = {id(COMMANDS): _spellings(COMMANDS), id(QUESTION_COMMANDS): _spellings(QUESTION_COMMANDS)}
_SIGNATURE = re.compile(r"^(--\s*|tran trong|than ai|best regards|regards|thanks|cam on)\b")
# Prose (an answer to a citizen) may thank the asker: only a sign-off or "--" ends it.
_SIGNOFF = re.compile(r"^(--\s*$|tran trong\b|than ai\b|best regards\b)")


@dataclass(frozen=True)
class Found:
    command: Command | None
    argument: str
    problem: str = ""   # why nothing was understood (shown with the help text)


def _match(folded_line: str, spellings: list[tuple[str, Command]]) -> tuple[Command, int] | None:
    for spelling, command in spellings:
        if re.match(rf"{re.escape(spelling)}(?=$|[\s:.,;!\-–])", folded_line):
            return command, len(spelling)
    return None


def find(text: str, commands: tuple[Command, ...] = COMMANDS) -> Found:
    """The command in a reply's new text. Nothing is guessed: unclear means no command."""
    spellings = _SPELLINGS[id(commands)]
    new = reply.split(text).new
    lines = [x.strip() for x in new.split("\n")]
    lines = [x for x in lines if x]
    if not lines:
        return Found(None, "", "thư trả lời không có nội dung mới (chỉ có phần trích dẫn)")
    first = lines[0].lstrip("*_ ").rstrip("*_ ")
    folded = fold(first)
    hit = _match(folded, spellings)
    if hit is None:
        return Found(None, "", f"không hiểu lệnh \"{first[:60]}\"")
    command, length = hit
    rest = first[length:].lstrip(" :.-–")
    frest = fold(rest)
    others = (s for s, c in spellings if c is not command and len(s) > 2)
    if not command.free_text and (_match(frest, spellings) is not None or (not command.needs_argument and any(
            re.search(rf"(^|\W){re.escape(s)}($|\W)", frest) for s in others))):
        return Found(None, "", f"dòng \"{first[:60]}\" có nhiều lệnh; mỗi thư chỉ một lệnh")
    end = _SIGNOFF if command.free_text else _SIGNATURE
    if command.free_text:  # prose keeps its paragraphs
        lines = [x.rstrip() for x in new.split("\n")]
        lines = lines[next(i for i, x in enumerate(lines) if x.strip()) + 1:]
    else:
        lines = lines[1:]
    for later in lines:
        if end.match(fold(later.strip())):
            break
        if not command.free_text and _match(fold(later.strip()), spellings) and later.upper() == later \
                and len(later) < 40:
            return Found(None, "", "thư có nhiều lệnh; mỗi thư chỉ một lệnh")
        rest = f"{rest}\n{later}" if rest else later
    argument = rest.strip()
    if command.needs_argument and not argument:
        return Found(None, "", f"lệnh {command.usage.split(':')[0].split(' (')[0]} cần {command.needs_argument}")
    return Found(command, argument)


def read(msg: ParsedMessage, commands: tuple[Command, ...] = COMMANDS) -> Found:
    """The command in what the member sees: the plain text where there is one (hidden HTML never counts).

    When the message also has an HTML alternative that shows a different command, the reply is
    unclear: a client showing the HTML would have shown its reader something else.
    """
    found = find(msg.text, commands)
    if found.command is not None and msg.alternative_html:
        shown = find(htmltext.to_text(msg.alternative_html), commands)
        if shown.command is not None and shown.command.name != found.command.name:
            return Found(None, "", "phần HTML và phần văn bản của thư ghi hai lệnh khác nhau; xin gửi lại một lệnh")
    return found


def reject_reason(argument: str) -> str:
    """Expand a reason code ("CL", "cl: ảnh mờ") into the regulation's words, keeping any note."""
    code, _, note = argument.partition(":") if ":" in argument else argument.partition(" ")
    ground = REJECT_REASONS.get(fold(code.strip()))
    if ground is None:
        return collapse_space(argument)
    return f"{ground}" + (f" ({collapse_space(note)})" if note.strip() else "")
