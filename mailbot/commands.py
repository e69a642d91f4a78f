"""Reply commands: small objects with Vietnamese and English spellings, and the finder that reads them.

Only the first line of what the member wrote now (never quoted text) is read for the command;
what follows on that line and the lines below, up to the signature, is its argument. Matching
ignores case, accents and diacritics: "DUYỆT", "duyệt", "duyet" are the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailbot import reply
from mailbot.vntext import collapse_space, fold


@dataclass(frozen=True)
class Command:
    name: str
    spellings: tuple[str, ...]     # folded, longest first when tried
    usage: str                     # how it is written, shown in the help text
    description: str               # what it does, in Vietnamese
    needs_argument: str = ""       # what is missing when the argument is empty ("" = none needed)
    changes_state: bool = True     # STATUS and HELP only read


COMMANDS: tuple[Command, ...] = (
    Command("approve", ("duyet", "approve", "approved"), "DUYỆT (APPROVE)", "duyệt, chuyển bước tiếp theo"),
    Command("reject", ("tu choi", "reject"), "TỪ CHỐI: lý do (REJECT reason)",
            "không duyệt đăng; lý do bắt buộc, có thể dùng mã: CS, BM, SAI, CL, PV, NG", needs_argument="lý do"),
    Command("revise", ("yeu cau chinh sua", "yeu cau sua", "revise"), "YÊU CẦU SỬA: ghi chú (REVISE note)",
            "trả tác giả chỉnh sửa, kèm ghi chú", needs_argument="ghi chú cho tác giả"),
    Command("assign", ("chuyen", "assign"), "CHUYỂN: tên hoặc email thành viên (ASSIGN member)",
            "giao bước này cho một thành viên khác", needs_argument="thành viên nhận"),
    Command("escalate", ("xin y kien", "escalate"), "XIN Ý KIẾN (ESCALATE)", "xin ý kiến Giám đốc trước khi quyết định"),
    Command("sensitive", ("nhay cam", "sensitive"), "NHẠY CẢM (SENSITIVE)",
            "đánh dấu nội dung liên quan bí mật: cần Giám đốc duyệt thêm", changes_state=True),
    Command("published", ("da dang", "published"), "ĐÃ ĐĂNG: đường dẫn (PUBLISHED url)",
            "báo đã đăng, kèm đường dẫn bài trên trang", needs_argument="đường dẫn bài đã đăng"),
    Command("takedown", ("go bai", "go", "takedown"), "GỠ: lý do (TAKEDOWN reason)", "gỡ bài đã đăng",
            needs_argument="lý do gỡ"),
    Command("undo", ("hoan tac", "undo"), "HOÀN TÁC (UNDO)", "hủy quyết định vừa gửi (trong thời hạn cho phép)"),
    Command("status", ("trang thai", "status"), "TRẠNG THÁI (STATUS)", "xem trạng thái bài", changes_state=False),
    Command("help", ("huong dan", "help"), "HƯỚNG DẪN (HELP)", "xem hướng dẫn này", changes_state=False),
)
BY_NAME = {c.name: c for c in COMMANDS}

# The regulation's grounds for refusal (002 art. 12.3; 004 art. 6.3b), as short codes.
REJECT_REASONS = {
    "cs": "Trái chủ trương, đường lối của Đảng, chính sách, pháp luật của Nhà nước",
    "bm": "Có nội dung bí mật nhà nước hoặc chưa được phép công bố",
    "sai": "Thông tin không đúng sự thật",
    "cl": "Chưa đạt yêu cầu về chất lượng",
    "pv": "Không thuộc phạm vi, chức năng của trang thông tin",
    "ng": "Không rõ nguồn gốc",
}

_SPELLINGS = sorted(((s, c) for c in COMMANDS for s in c.spellings), key=lambda x: len(x[0]), reverse=True)
_SIGNATURE = re.compile(r"^(--\s*|tran trong|than ai|best regards|regards|thanks|cam on)\b")


@dataclass(frozen=True)
class Found:
    command: Command | None
    argument: str
    problem: str = ""   # why nothing was understood (shown with the help text)


def _match(folded_line: str) -> tuple[Command, int] | None:
    for spelling, command in _SPELLINGS:
        if re.match(rf"{re.escape(spelling)}(?=$|[\s:.,;!\-–])", folded_line):
            return command, len(spelling)
    return None


def find(text: str) -> Found:
    """The command in a reply's new text. Nothing is guessed: unclear means no command."""
    new = reply.split(text).new
    lines = [x.strip() for x in new.split("\n")]
    lines = [x for x in lines if x]
    if not lines:
        return Found(None, "", "thư trả lời không có nội dung mới (chỉ có phần trích dẫn)")
    first = lines[0].lstrip("*_ ").rstrip("*_ ")
    folded = fold(first)
    hit = _match(folded)
    if hit is None:
        return Found(None, "", f"không hiểu lệnh \"{first[:60]}\"")
    command, length = hit
    rest = first[length:].lstrip(" :.-–")
    frest = fold(rest)
    others = (s for s, c in _SPELLINGS if c is not command and len(s) > 2)
    if _match(frest) is not None or (not command.needs_argument and any(
            re.search(rf"(^|\W){re.escape(s)}($|\W)", frest) for s in others)):
        return Found(None, "", f"dòng \"{first[:60]}\" có nhiều lệnh; mỗi thư chỉ một lệnh")
    for later in lines[1:]:
        if _SIGNATURE.match(fold(later)):
            break
        if _match(fold(later)) and later.upper() == later and len(later) < 40:
            return Found(None, "", "thư có nhiều lệnh; mỗi thư chỉ một lệnh")
        rest = f"{rest}\n{later}" if rest else later
    argument = rest.strip()
    if command.needs_argument and not argument:
        return Found(None, "", f"lệnh {command.usage.split(':')[0].split(' (')[0]} cần {command.needs_argument}")
    return Found(command, argument)


def reject_reason(argument: str) -> str:
    """Expand a reason code ("CL", "cl: ảnh mờ") into the regulation's words, keeping any note."""
    code, _, note = argument.partition(":") if ":" in argument else argument.partition(" ")
    ground = REJECT_REASONS.get(fold(code.strip()))
    if ground is None:
        return collapse_space(argument)
    return f"{ground}" + (f" ({collapse_space(note)})" if note.strip() else "")
