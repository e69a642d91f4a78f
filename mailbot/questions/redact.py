"""Citizens' personal data taken out of text: for the unit that answers, and for the site's Q&A section.

Names become initials ("Nguyễn Văn An" -> "N.V.A."); phone numbers (phonenumbers' matcher, every
Vietnamese written form), email addresses, ID numbers (CMND 9 digits, CCCD 12) and postal
addresses (a labelled "Địa chỉ:" line, or a house number with a street, hamlet or ward) are
replaced with a marker. No library does Vietnamese addresses; the patterns below are ours.
"""

from __future__ import annotations

import re

import phonenumbers

from mailbot.mail.vntext import fold, nfc

PHONE = "[số điện thoại đã ẩn]"
EMAIL = "[email đã ẩn]"
ID_NUMBER = "[số giấy tờ đã ẩn]"
ADDRESS = "[địa chỉ đã ẩn]"

_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_ID_RE = re.compile(r"(?<![\d.,])(\d{12}|\d{9})(?![\d.,])")
_ID_LABEL_RE = re.compile(r"(?i)\b(CCCD|CMND|CMT|căn cước( công dân)?|chứng minh( nhân dân| thư)?|hộ chiếu)"
                          r"(\s*(số|so|:|no\.?))*\s*[:.]?\s*[A-Z]?\d[\d .]{6,14}\d")
_ADDRESS_LABEL_RE = re.compile(r"(?im)^(\s*(địa chỉ|đ/c|dia chi|address|nơi ở|thường trú|tạm trú)\s*[:.-]).*$")
# "số 12 đường Trần Hưng Đạo", "123/4 Lê Lợi, phường 3", "ấp Phú Hòa, xã An Thạnh", "tổ 5, khóm 2"
_ADDRESS_RE = re.compile(
    r"(?i)\b((số nhà|số|nhà)\s+\d+[\w/]*\s*,?\s*(đường|phố|ngõ|hẻm|kiệt)?\s*[^\n,;.]{0,40}"
    r"|\d+[/\d]*\s+(đường|phố|ngõ|hẻm)\s+[^\n,;.]{1,40}"
    r"|(ấp|khóm|thôn|xóm|bản|khu phố|tổ dân phố|tổ)\s+(?P<place>\w)[^\n,;.]{0,30}"
    r"(,\s*(xã|phường|thị trấn)\s+[^\n,;.]{1,30})?)")


def _address(m: re.Match) -> str:
    # "ấp Phú Hòa", "tổ 5" are places; "ấp ủ", "bản sao", "tổ chức" are words.
    place = m.group("place")
    return ADDRESS if place is None or place.isupper() or place.isdigit() else m.group(0)


def initials(name: str) -> str:
    """"Nguyễn Văn An" -> "N.V.A."; empty in, empty out."""
    words = [w for w in nfc(name).split() if w[:1].isalpha()]
    return "".join(f"{w[0].upper()}." for w in words)


def _phones(text: str) -> str:
    out, last = [], 0
    for match in phonenumbers.PhoneNumberMatcher(text, "VN", leniency=phonenumbers.Leniency.POSSIBLE):
        out.append(text[last:match.start])
        out.append(PHONE)
        last = match.end
    out.append(text[last:])
    return "".join(out)


# Numbers that are the law's, not the asker's: document numbers ("Nghị định 15/2020/NĐ-CP",
# "Quyết định số 1234/QĐ-UBND", "Luật số 12/2023/QH15"), dates and amounts. They stay as written.
_LEGAL_RE = re.compile(
    r"\b\d{1,6}/(?:\d{4}/)?[A-ZĐ][A-ZĐa-zđ0-9]*(?:-[A-ZĐ0-9][A-ZĐa-zđ0-9]*)*\b"
    r"|\b\d{1,2}/\d{1,2}/\d{4}\b"
    r"|\b\d{1,3}(?:[.,]\d{3})+(?:[.,]\d+)?\s*(?:đồng|VNĐ|VND|vnđ|đ)\b")


def _keeping_legal_numbers(text: str, redactor) -> str:
    kept: list[str] = []

    def hold(m: re.Match) -> str:
        kept.append(m.group(0))
        return f"\u27e6{len(kept) - 1}\u27e7"

    out = redactor(_LEGAL_RE.sub(hold, text))
    return re.sub("\u27e6(\\d+)\u27e7", lambda m: kept[int(m.group(1))], out)


def redact(text: str, name: str = "", keep_name: bool = False) -> str:
    """`text` without contact details; the asker's `name` as initials unless `keep_name`."""
    return _keeping_legal_numbers(nfc(text), lambda t: _redact(t, name, keep_name))


def _redact(text: str, name: str, keep_name: bool) -> str:
    text = _ADDRESS_LABEL_RE.sub(lambda m: f"{m.group(1)} {ADDRESS}", text)
    text = _EMAIL_RE.sub(EMAIL, text)
    text = _ID_LABEL_RE.sub(lambda m: f"{m.group(1)} {ID_NUMBER}", text)
    text = _ID_RE.sub(ID_NUMBER, text)
    text = _phones(text)
    text = _ADDRESS_RE.sub(_address, text)
    if name and not keep_name:
        text = replace_name(text, name)
    return text


def replace_name(text: str, name: str) -> str:
    """Every writing of the full name (any case, with or without accents) becomes its initials."""
    words = nfc(name).split()
    if len(words) < 2:
        return text
    alternatives = [f"(?:{re.escape(w)}|{re.escape(fold(w))})" for w in words]
    return re.sub(r"(?i)\b" + r"\s+".join(alternatives) + r"\b", initials(name), text)
