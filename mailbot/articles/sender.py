"""The sender details the regulations require (full name, unit, title, phone or address), read from mail.

Sources, in order of trust for each field: what the sender wrote in the message (labelled
lines in any order, or the usual unlabelled signature block), then the staff directory, then
the From display name (name only). Phones are checked with phonenumbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import phonenumbers

from mailbot.config import Agency
from mailbot.mail.vntext import collapse_space, fold

# Folded label -> field. Longest labels first so "ho va ten" wins over "ten".
_LABELS = {
    "ho va ten": "name", "ho ten": "name", "ten": "name", "nguoi viet": "name", "tac gia": "name",
    "nguoi gui": "name", "full name": "name", "name": "name",
    "chuc vu": "title", "chuc danh": "title", "title": "title", "position": "title",
    "don vi": "unit", "dv": "unit", "co quan": "unit", "phong": "unit", "unit": "unit",
    "dien thoai": "phone", "dt": "phone", "sdt": "phone", "dd": "phone", "di dong": "phone",
    "so dien thoai": "phone", "tel": "phone", "phone": "phone", "mobile": "phone",
    "dia chi": "address", "address": "address",
    "email": "email", "e-mail": "email", "thu dien tu": "email",
}
_LABEL_RE = re.compile(
    r"(?:^|[\s,;|/(-])(" + "|".join(sorted((re.escape(k) for k in _LABELS), key=len, reverse=True)) + r")\s*[:.]\s*")
# Civil-service ranks (ngạch) and titles (chức danh, chức vụ) a signature line may open with, folded. A rank's
# grade ("chính", "cao cấp", "sơ cấp", "hạng II") and a commune civil servant's field ("Văn hóa - Xã hội") are
# part of the title; the unit starts at the first unit marker after it.
_TITLE_WORDS = (
    "chuyen vien cao cap", "chuyen vien chinh", "chuyen vien", "can su", "nhan vien", "van thu", "luu tru vien",
    "truong phong", "pho truong phong", "giam doc", "pho giam doc", "chanh van phong", "pho chanh van phong",
    "chanh thanh tra", "pho chanh thanh tra", "can bo", "cong chuc", "vien chuc", "ke toan truong", "ke toan vien",
    "ke toan", "thanh tra vien cao cap", "thanh tra vien chinh", "thanh tra vien", "tro giup vien phap ly",
    "tro giup vien", "cong tac vien", "truong ban", "pho truong ban", "thu ky", "chu tich", "pho chu tich",
    "kiem sat vien", "kiem tra vien", "kiem soat vien", "dieu tra vien", "tham tra vien", "tham phan",
    "chap hanh vien", "tham tra vien chinh", "tham tra vien cao cap", "thu ky thi hanh an", "thu ky toa an",
    "vien truong", "pho vien truong", "to truong", "to pho", "giam dinh vien", "phong vien", "bien tap vien",
    "hoa giai vien", "bao cao vien", "tuyen truyen vien", "giao vien", "giang vien", "bac si", "y si",
    "dieu duong", "ky su", "ky thuat vien", "chi cuc truong", "chi cuc pho", "cuc truong", "cuc pho",
    "chanh an", "pho chanh an", "bi thu", "pho bi thu", "truong tram", "pho truong tram", "truong khoa",
    "hieu truong", "pho hieu truong", "trung ta", "thieu ta", "dai uy", "thuong uy", "trung uy", "thieu uy",
)
_GRADE = re.compile(r"(?:so cap|trung cap|cao cap|chinh|hang\s+(?:i{1,3}|iv|[1-4])\b|bac\s+\d+)")
# The fields of commune civil servants (Luật Cán bộ, công chức; Nghị định 33/2023/NĐ-CP).
_COMMUNE_FIELD = re.compile(
    r"(?:tu phap\s*[-–]\s*ho tich|van hoa\s*[-–]\s*xa hoi|van phong\s*[-–]\s*thong ke|tai chinh\s*[-–]\s*ke toan"
    r"|dia chinh\s*[-–]\s*(?:xay dung|nong nghiep)(?:\s*[-–]\s*(?:do thi|xay dung))?(?:\s*(?:va|-)\s*moi truong)?"
    r"|chi huy truong (?:ban )?quan su|truong cong an)")
# Words a unit's name starts with (folded), written with a capital in the signature.
_UNIT_MARKERS = re.compile(
    r"(?<![\w])(?:ubnd|hdnd|uy ban|so|phong|trung tam|chi cuc|cuc|tong cuc|van phong|vien|thanh tra|ban|hoi"
    r"|truong|benh vien|cong an|toa an|thi hanh an|chi cuc thads|thads|dai|bao|huyen uy|tinh uy|thanh uy|dang uy"
    r"|mat tran|doan|nha van hoa|tram|khoa|bo|hoc vien|ngan hang|kho bac|chi nhanh)(?![\w])")
# A title whose last word is the kind of unit it heads: "Trưởng phòng Tư pháp" heads the Phòng Tư pháp.
_HEADS = {"truong phong": "Phòng", "pho truong phong": "Phòng", "truong ban": "Ban", "pho truong ban": "Ban",
          "chanh van phong": "Văn phòng", "pho chanh van phong": "Văn phòng"}
_TITLES_LONGEST = tuple(sorted(set(_TITLE_WORDS), key=len, reverse=True))
_UNIT_WORDS = (
    "phong", "van phong", "trung tam", "thanh tra", "chi cuc", "so ", "ubnd", "uy ban", "vien kiem sat",
    "ban ", "hoi ", "truong ", "benh vien", "cong an", "toa an", "cuc ", "tong cuc", "doan ", "phong tu phap",
)
_ADDRESS_HINTS = ("duong", "phuong", "xa ", "huyen", "tinh", "tp.", "thanh pho", "quan ", "thi xa", "so nha", "khu pho", "ap ")
_SIGNOFF = re.compile(r"^(tran trong|than ai|kinh thu|best regards|regards|thanks|thank you|cam on|xin cam on)\b")
_NAME_WORD = re.compile(r"^[^\W\d_]+$")


@dataclass(frozen=True)
class Details:
    name: str = ""
    unit: str = ""
    title: str = ""
    phone: str = ""
    address: str = ""
    email: str = ""
    problems: tuple[str, ...] = ()        # e.g. a phone number that is not one
    sources: dict[str, str] = field(default_factory=dict)

    def merged(self, other: Details, source: str) -> Details:
        """Fill fields still empty from `other`, noting where each came from."""
        changes: dict[str, str] = {}
        sources = dict(self.sources)
        for name in ("name", "unit", "title", "phone", "address", "email"):
            if not getattr(self, name) and getattr(other, name):
                changes[name] = getattr(other, name)
                sources[name] = other.sources.get(name, source)
        problems = self.problems + tuple(p for p in other.problems if p not in self.problems)
        if changes.get("phone"):
            problems = tuple(p for p in problems if "điện thoại" not in p)
        return replace(self, **changes, sources=sources, problems=problems)

    def missing(self, require_email: bool = False) -> list[str]:
        """What the regulation asks for and is not there: name, unit, contact (phone or address)."""
        out = []
        if not self.name:
            out.append("name")
        if not self.unit:
            out.append("unit")
        if not self.phone and not self.address:
            out.append("contact")
        if require_email and not self.email:
            out.append("email")
        return out

    def as_dict(self) -> dict:
        return {"name": self.name, "unit": self.unit, "title": self.title, "phone": self.phone,
                "address": self.address, "email": self.email, "sources": dict(self.sources),
                "problems": list(self.problems)}

    @classmethod
    def from_dict(cls, data: dict) -> Details:
        return cls(**{k: data.get(k, "") for k in ("name", "unit", "title", "phone", "address", "email")},
                   sources=dict(data.get("sources", {})), problems=tuple(data.get("problems", ())))


def normalise_phone(value: str) -> tuple[str, str | None]:
    """('0912 345 678', None) for a Vietnamese or international number; ('', reason) otherwise."""
    # A note in brackets, or after a dash, is not part of the number: "0912.345.678 (di động)",
    # "0271 3879 123 - máy lẻ 15", "0987 111 222 (Zalo)"; an extension written in it is kept.
    # Brackets around digits alone are an area code: "(0260) 3862 123".
    number, *notes = re.split(r"\s[-–]\s", re.sub(r"\([^()]*[^\W\d_][^()]*\)", " ", value))
    extension = re.search(r"(?:máy lẻ|số lẻ|ext\.?)\s*(\d{1,6})", " ".join([number, *notes]), re.IGNORECASE)
    cleaned = re.sub(r"(?:máy lẻ|số lẻ|ext\.?)\s*\d{1,6}", " ", number, flags=re.IGNORECASE).strip().strip(".,;:")
    if extension:
        cleaned = f"{cleaned} ext. {extension.group(1)}"
    if re.search(r"[^\W\d_]", cleaned.replace("ext", "")):
        # phonenumbers would map letters through the keypad ("xxx" -> 999): refuse them first.
        return "", f"số điện thoại \"{value}\" có chữ cái"
    try:
        number = phonenumbers.parse(cleaned, "VN")
    except phonenumbers.NumberParseException:
        return "", f"\"{value}\" không phải số điện thoại"
    if not phonenumbers.is_valid_number(number):
        return "", f"số điện thoại \"{value}\" không hợp lệ"
    fmt = (phonenumbers.PhoneNumberFormat.NATIONAL if number.country_code == 84
           else phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    return phonenumbers.format_number(number, fmt), None


def _canonical_unit(value: str, agency: Agency) -> str:
    """The configured unit a free-text unit names (by name, alias or abbreviation), else the text."""
    f = fold(collapse_space(value))
    for unit in agency.units:
        for candidate in (unit.name, *unit.aliases):
            c = fold(candidate)
            if c and (f == c or re.search(r"(^|\W)" + re.escape(c) + r"($|\W)", f)):
                return unit.name
    return collapse_space(value)


def _labelled(lines: list[str]) -> tuple[dict[str, str], list[int]]:
    found: dict[str, str] = {}
    used = []
    for idx, line in enumerate(lines):
        folded = fold(line)
        matches = list(_LABEL_RE.finditer(folded))
        # Only labels that open the line, or follow another label's value on the same line.
        if not matches or matches[0].start(1) > 3:
            continue
        for n, m in enumerate(matches):
            end = matches[n + 1].start(1) if n + 1 < len(matches) else len(line)
            value = line[m.end():end].strip(" \t-–,;|")
            key = _LABELS[m.group(1)]
            if value and key not in found:
                found[key] = value
        used.append(idx)
    return found, used


def _looks_like_name(line: str) -> bool:
    words = line.split()
    if not 2 <= len(words) <= 6 or any(not _NAME_WORD.match(w) for w in words):
        return False
    if not all(w[0].isupper() for w in words):
        return False
    f = fold(line)
    return not f.startswith(_TITLE_WORDS) and not f.startswith(_UNIT_WORDS) and not _SIGNOFF.match(f)


def _title_word(folded: str) -> str:
    """The longest title a folded line opens with, as a whole word; "" when none."""
    return next((t for t in _TITLES_LONGEST if folded.startswith(t)
                 and (len(folded) == len(t) or not folded[len(t)].isalnum())), "")


def split_title(line: str) -> tuple[str, str]:
    """A signature line that opens with a title, cut into (title, unit) between the two: the rank's grade and a
    commune civil servant's field stay with the title, the unit starts at the first capitalised unit marker
    ("Công chức Văn hóa - Xã hội, UBND xã Tân Lập" -> "Công chức Văn hóa - Xã hội" / "UBND xã Tân Lập").
    ("", "") when the line does not open with a title."""
    folded = fold(line)
    word = _title_word(folded)
    if not word:
        return "", ""
    end = len(word)
    for pattern in (_GRADE, _COMMUNE_FIELD) if word in ("cong chuc", "can bo") else (_GRADE,):
        gap = len(folded[end:]) - len(folded[end:].lstrip(" "))
        m = pattern.match(folded, end + gap)
        if m and (m.end() == len(folded) or not folded[m.end()].isalnum()):
            end = m.end()
    for m in _UNIT_MARKERS.finditer(folded, end):
        if line[m.start()].isupper():
            between = line[end:m.start()].strip(" ,;|-–")
            title = f"{line[:end]} {between}" if between else line[:end]
            return collapse_space(title), line[m.start():].strip(" ,;|-–")
    rest = line[end:].strip(" ,;|-–")
    if re.match(r"(?:xa|phuong|thi tran) ", fold(rest)):
        rest = f"UBND {rest}"   # "Công chức Tư pháp - Hộ tịch xã Minh Hưng" works for the commune's committee
    elif rest and word in _HEADS and not fold(rest).startswith(fold(_HEADS[word])):
        rest = f"{_HEADS[word]} {rest}"   # "Trưởng phòng Tư pháp": the head of the Phòng Tư pháp
    return line[:end].strip(), rest


def signature_block(text: str, max_lines: int = 12) -> list[str]:
    """The last short lines of a text: where people put their name, title, unit and phone."""
    lines = [collapse_space(x) for x in text.strip().split("\n")]
    block: list[str] = []
    for line in reversed(lines):
        if len(block) >= max_lines:
            break
        if line in ("--", "-- "):
            break
        if len(line) > 160:
            break
        block.append(line)
    block.reverse()
    # Start after a sign-off ("Trân trọng,") when there is one.
    for i, line in enumerate(block):
        if _SIGNOFF.match(fold(line)):
            block = block[i + 1:]
            break
    return [x for x in block if x]


def from_text(text: str, agency: Agency) -> Details:
    """Details written in a message: labelled lines anywhere near the end, else a plain signature."""
    lines = [collapse_space(x) for x in text.split("\n") if x.strip()]
    tail = lines[-25:]
    found, used = _labelled(tail)
    problems: list[str] = []
    sources: dict[str, str] = {k: "message" for k in found}
    signature = [x for i, x in enumerate(tail) if i not in used]
    sig = signature_block("\n".join(signature)) if signature else []

    for line in sig:
        f = fold(line)
        if "phone" not in found:
            for match in phonenumbers.PhoneNumberMatcher(line, "VN"):
                found["phone"] = match.raw_string
                sources["phone"] = "signature"
                break
            if "phone" in found:
                continue
        if "title" not in found:
            title, rest = split_title(line)
            if title:
                found["title"], sources["title"] = title, "signature"
                if rest and "unit" not in found:
                    found["unit"], sources["unit"] = rest, "signature"
                continue
        if "unit" not in found and (f.startswith(_UNIT_WORDS) or _canonical_unit(line, agency) != collapse_space(line)):
            found["unit"], sources["unit"] = line, "signature"
            continue
        if "address" not in found and any(h in f for h in _ADDRESS_HINTS) and re.search(r"\d", line):
            found["address"], sources["address"] = line, "signature"
            continue
        if "name" not in found and _looks_like_name(line):
            found["name"], sources["name"] = line, "signature"

    phone = ""
    if found.get("phone"):
        phone, problem = normalise_phone(found["phone"])
        if problem:
            problems.append(problem)
            sources.pop("phone", None)
    unit = _canonical_unit(found["unit"], agency) if found.get("unit") else ""
    return Details(name=collapse_space(found.get("name", "")), unit=unit,
                   title=collapse_space(found.get("title", "")), phone=phone,
                   address=collapse_space(found.get("address", "")), email=found.get("email", "").lower(),
                   problems=tuple(problems), sources={k: v for k, v in sources.items() if k in found})


def from_directory(email: str, agency: Agency) -> Details:
    person = agency.staff_by_email(email)
    if person is None:
        return Details()
    phone, _ = normalise_phone(person.phone) if person.phone else ("", None)
    return Details(name=person.name, unit=_canonical_unit(person.unit, agency) if person.unit else "",
                   title=person.title, phone=phone, email=person.email,
                   sources={k: "directory" for k in ("name", "unit", "title", "phone", "email")})


def from_display_name(display: str, email: str) -> Details:
    name = collapse_space(re.sub(r"[\"'()]", " ", display or ""))
    name = name if _looks_like_name(name) else ""
    return Details(name=name, email=email.lower(),
                   sources={k: "From header" for k, v in (("name", name), ("email", email)) if v})


def from_domain(email: str, agency: Agency) -> Details:
    """The unit whose own mail domain the address is in (units[].domains)."""
    unit = agency.unit_by_domain(email)
    return Details(unit=unit.name, sources={"unit": "mail domain"}) if unit else Details()


def gather(text: str, email: str, display: str, agency: Agency) -> Details:
    """All sources together, for one person: the message first, then the directory, then the unit's mail domain
    (unit only), then the header (name only)."""
    return (from_text(text, agency)
            .merged(from_directory(email, agency), "directory")
            .merged(from_domain(email, agency), "mail domain")
            .merged(from_display_name(display, email), "From header"))


FIELD_LABELS_VI = {
    "name": "Họ và tên",
    "unit": "Đơn vị công tác",
    "contact": "Số điện thoại hoặc địa chỉ liên hệ",
    "email": "Địa chỉ thư điện tử",
    "title": "Chức vụ",
    "signed_original": "bản văn bản có chữ ký số hợp lệ (tệp PDF ký số) hoặc bản gốc giấy có chữ ký, đóng dấu",
    "photos": "Ảnh minh họa cho tin hoạt động",
}
