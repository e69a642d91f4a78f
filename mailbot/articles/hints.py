"""What intake notices in an article's text for the editor, never a refusal: quoted content without its
author and source (001 art. 7.1d, 7.2; 004 art. 4.6), and text that is not Vietnamese in Unicode
(001 art. 3; 002 art. 4.1; 004 art. 9.1).

Each hint is a dict {"kind", "text"} kept on the article (`Article.hints`), shown in the secretary's
notice, the board's review request and `mailbot show`. The checks are cheap and bounded: they see at
most `SAMPLE` characters of each text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from mailbot.mail.vntext import legacy_residue

SAMPLE = 50_000          # characters of each text the checks read
QUOTE_CHARS = 200        # a quoted passage this long is a reproduction, not a phrase
MIN_LETTERS = 80         # below this, a text is too short to say what language it is in
PARAGRAPHS = 24          # paragraphs of a long text the language model reads (each its first CLASSIFIED_CHARS)
CLASSIFIED_CHARS = 400
IDENTIFY_SECONDS = 20    # for the language model to read them, in the extraction child
_PARAGRAPH = re.compile(r"\n+")   # paragraphs of a document, lines of a mail
# Letters no other language writes: ă, đ, ơ, ư and the vowels with Vietnamese tone marks (Latin Extended
# Additional, Ạ to ỹ). A paragraph with at least VIETNAMESE_SHARE of its letters among them is Vietnamese
# without asking the model: such text runs at 20-35 %, French naming Hà Nội at about 1 %.
_VIETNAMESE_ONLY = re.compile("[ăĂđĐơƠưƯ\u1ea0-\u1ef9]")
VIETNAMESE_SHARE = 0.1
_NOT_LETTERS = re.compile(r"[\W\d_]+")

# Press agencies, newspapers, magazines and news sites a staff member copies from. A name alone is a sign,
# not proof: "Báo Kon Tum" may be a partner at an event. The editor decides.
_NAMED = (r"TTXVN|Thông tấn xã(?: Việt Nam)?|Vietnam ?Plus|VnExpress|Dân trí|Vietnam ?Net|Zing ?News|VOV|VTV|"
          r"Đài Tiếng nói Việt Nam|Đài Truyền hình Việt Nam|Cổng (?:Thông tin điện tử|TTĐT) Chính phủ|"
          r"(?:[Bb]áo|[Tt]ạp chí) (?:điện tử )?[A-ZĐ][\wÀ-ỹ]*(?: [A-ZĐ][\wÀ-ỹ]*){0,3}")
_SITE = r"(?<![@.\w])[\w-]+(?:\.[\w-]+)*\.(?:vn|com|net|org)\b"
_SOURCE = f"(?:{_NAMED}|{_SITE})"
_SOURCES = re.compile(_SOURCE)
# The same without a site's address: for a text with no ".vn", ".com", ".net" or ".org" in it, where that
# alternative cannot match and costs most of the search (it is tried at every word).
_NAMED_SOURCES = re.compile(f"(?:{_NAMED})")
_SITE_ENDING = re.compile(r"\.(?:vn|com|net|org)\b")
# "trích" as in quoting; not the administrative "trích yếu" (a document's summary line), "trích lục" (an
# extract of a civil record), "trích xuất" or "trích lập".
_EXCERPT = re.compile(r"\btrích(?! (?:yếu|lục|xuất|lập|ngang|nộp))\b", re.IGNORECASE)
_QUOTE_MARKS = re.compile(r"[“”\"«»]")
# An attribution: "Nguồn: ..." (or "Nguồn tin:", "Nguồn ảnh:") opening a line or brackets, or "Theo" naming a
# source ("Theo TTXVN", "(Theo báo Nhân Dân)"): "Theo Kế hoạch số 12" is prose, not an attribution.
_ATTRIBUTION = re.compile(r"(?:(?:^|[\n(\[])\s*Nguồn(?: tin| ảnh| bài)?\s*:|\b[Tt]heo\s+(?:" + _SOURCE +
                          r"|báo|tạp chí|trang|cổng|đài|tác giả))", re.MULTILINE)

_LANGUAGE_NAMES_VI = {"en": "tiếng Anh", "fr": "tiếng Pháp", "zh": "tiếng Trung", "lo": "tiếng Lào",
                      "km": "tiếng Khmer", "ru": "tiếng Nga", "ja": "tiếng Nhật", "ko": "tiếng Hàn",
                      "th": "tiếng Thái", "de": "tiếng Đức", "es": "tiếng Tây Ban Nha"}


def for_article(texts: Iterable[str], own_domains: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The hints for an article whose texts (its mail body's new part, its documents' text) are given."""
    sample = [t[:SAMPLE] for t in texts if t and t.strip()]
    hints = []
    attribution = missing_attribution(sample, own_domains)
    if attribution:
        hints.append({"kind": "attribution", "text": attribution})
    hints.extend(language(sample))
    return hints


def missing_attribution(texts: list[str], own_domains: Iterable[str] = ()) -> str | None:
    """Why the text looks reproduced from elsewhere without naming its source, or None."""
    text = "\n".join(texts)
    if _ATTRIBUTION.search(text):
        return None
    own = tuple(d.lower() for d in own_domains)
    signs = []
    sources = _SOURCES if _SITE_ENDING.search(text) else _NAMED_SOURCES
    names = [m.group(0) for m in sources.finditer(text)
             if not m.group(0).lower().endswith(own) and not m.group(0).lower().endswith("gov.vn")]
    if names:
        signs.append("nêu tên " + ", ".join(dict.fromkeys(names[:3])))
    if _EXCERPT.search(text):
        signs.append("có chữ “trích”")
    quoted = _longest_quote(text)
    if quoted >= QUOTE_CHARS:
        signs.append(f"có đoạn trong ngoặc kép dài {quoted} ký tự")
    if not signs:
        return None
    return (f"Bài có dấu hiệu sử dụng nội dung của nguồn khác ({'; '.join(signs)}) nhưng không ghi "
            "“Nguồn: …” hoặc “Theo …”. Quy chế yêu cầu thông tin trích dẫn ghi rõ tác giả và nguồn; "
            "đề nghị kiểm tra, có thể yêu cầu tác giả bổ sung.")


def _longest_quote(text: str) -> int:
    """The longest run of text between an opening and a closing quotation mark, in one pass."""
    longest, opened = 0, -1
    for m in _QUOTE_MARKS.finditer(text):
        mark = m.group(0)
        if opened >= 0 and mark in "”\"»":
            longest = max(longest, m.start() - opened)
            opened = -1
        elif mark in "“\"«":
            opened = m.end()
    return longest


def language(texts: list[str]) -> list[dict[str, Any]]:
    """A hint when the text is still in a legacy font, or is mostly another language. Vietnamese first with
    an English (or other) section after it is what the regulations allow, and is not flagged."""
    if any(legacy_residue(t) for t in texts):
        return [{"kind": "legacy_font", "text": "Nội dung còn ký tự phông chữ cũ (TCVN3/VNI) sau khi tự động "
                 "chuyển đổi; cần chuyển sang Unicode (TCVN 6909:2001) trước khi đăng."}]
    paragraphs = [(p, n) for t in texts for p in _PARAGRAPH.split(t) if (n := _letters(p)) >= 20]
    if len(paragraphs) > PARAGRAPHS:   # a long document: the first paragraph and an even spread of the rest
        step = len(paragraphs) / (PARAGRAPHS - 1)
        paragraphs = [paragraphs[0]] + [paragraphs[int(1 + i * step)] for i in range(PARAGRAPHS - 1)
                                        if int(1 + i * step) < len(paragraphs)]
    # A paragraph written in letters only Vietnamese has is Vietnamese without asking the model; the model reads
    # the others, and only when what it says could still change the outcome (below).
    plain = [len(_VIETNAMESE_ONLY.findall(paragraph)) >= VIETNAMESE_SHARE * letters for paragraph, letters in paragraphs]
    known = sum(letters for (_, letters), vi in zip(paragraphs, plain, strict=True) if vi)
    whole = sum(letters for _, letters in paragraphs)
    if whole < MIN_LETTERS or known >= whole / 2 or (paragraphs and plain[0] and known >= whole / 3):
        return []   # too short to say, or Vietnamese enough whatever the rest is
    unsure = [paragraph[:CLASSIFIED_CHARS] for (paragraph, _), vi in zip(paragraphs, plain, strict=True) if not vi]
    found = _identify_all(unsure)
    if found is None or len(found) != len(unsure):
        return []
    told = iter(found)
    codes = ["vi" if vi else next(told) for vi in plain]
    counted: dict[str, int] = {}
    first = None
    for (_, letters), code in zip(paragraphs, codes, strict=True):
        counted[code] = counted.get(code, 0) + letters
        first = first or code
    vietnamese = counted.get("vi", 0) / whole
    if vietnamese >= 0.5 or (first == "vi" and vietnamese >= 1 / 3):
        return []
    other = max((c for c in counted if c != "vi"), key=lambda c: counted[c])
    name = _LANGUAGE_NAMES_VI.get(other, f"ngôn ngữ khác ({other})")
    return [{"kind": "language", "text": f"Nội dung chủ yếu không phải tiếng Việt (khoảng "
             f"{round(100 * (1 - vietnamese))}% là {name}). Quy chế: ngôn ngữ chính là tiếng Việt, bộ mã "
             "Unicode; phần tiếng nước ngoài (nếu có) đặt sau phần tiếng Việt."}]


def warm() -> None:
    """Start the child and load the language model there now (about 1 s), not inside the first message's filing
    transaction: the daemon calls it as it starts, so a restart's first message is no slower than the next."""
    _identify_all(["Ban Biên tập"])


def _letters(text: str) -> int:
    return len(_NOT_LETTERS.sub("", text))


def _identify_all(texts: list[str]) -> list[str] | None:
    """Each text's language, from the model in the extraction child (mailbot.mail.language); None when the
    child could not say in IDENTIFY_SECONDS (a hint is a courtesy: the article is filed without it)."""
    from mailbot.mail import extraction, language

    found = extraction.bounded(language.identify, (texts,), IDENTIFY_SECONDS, "language", sum(map(len, texts)))
    return found if isinstance(found, list) else None
