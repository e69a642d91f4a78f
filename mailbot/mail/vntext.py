"""Vietnamese text: NFC, charset decoding with fallbacks, folding for matching, legacy TCVN3/VNI repair."""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass

import viparse

# Charset names seen in the wild that Python does not know, or knows under another name.
_CHARSET_ALIASES = {
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "x-sjis": "shift_jis",
    "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
    "iso-8859-8-i": "iso-8859-8",
    "x-user-defined": "windows-1252",
    "us-ascii": "ascii",
    "ansi_x3.4-1968": "ascii",
    "vni": "windows-1252",  # VNI text travels as cp1252 bytes; the legacy repair below converts it
    "tcvn": "windows-1252",
    "tcvn3": "windows-1252",
    "windows-1258": "cp1258",
}


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def codec_for(charset: str | None) -> str | None:
    if not charset:
        return None
    name = charset.strip().strip('"').lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):   # unknown, or not a name at all (a NUL in it)
        return None
    # Only text codecs: "base64", "zlib_codec", "rot13" are codecs too, "undefined" always fails,
    # "idna" and "punycode" are for host names. A label naming one of those is treated as no label.
    if not getattr(info, "_is_text_encoding", True) or info.name in ("undefined", "idna", "punycode"):
        return None
    return info.name


def decode_bytes(data: bytes, charset: str | None) -> tuple[str, str | None]:
    """Decode body or header bytes; returns (NFC text, a defect note or None).

    Declared charset first; then UTF-8 (the commonest mislabel); then windows-1258, the
    Vietnamese Windows code page; latin-1 last, which never fails.
    """
    declared = codec_for(charset)
    if declared:
        try:
            return nfc(data.decode(declared)), None
        except (UnicodeError, LookupError, ValueError):
            pass
    for fallback in ("utf-8", "cp1258"):
        try:
            text = data.decode(fallback)
        except UnicodeDecodeError:
            continue
        note = None if declared is None and charset is None else f"charset {charset!r} did not decode; used {fallback}"
        return nfc(text), note
    try:
        text = data.decode(declared or "latin-1", errors="replace")
    except (UnicodeError, LookupError, ValueError):
        text = data.decode("latin-1")
    return nfc(text), f"charset {charset!r} did not decode; replaced bad bytes"


_FOLD_EXTRA = str.maketrans({"đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O"})


# Combining marks, as NFD leaves them after a letter (Latin, Greek, Cyrillic and the extended blocks).
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")


def fold(text: str) -> str:
    """Lowercase, strip diacritics and đ: 'YÊU CẦU SỬA' and 'yeu cau sua' compare equal. Linear and in C:
    it runs over whole bodies. Vietnamese text is folded by one table lookup a character; whatever else is
    left goes the general way (`_fold_decomposed`), which gives the same result for every text."""
    if text.isascii():
        return text.lower()
    text = text.translate(_FOLD_LATIN)
    if text.isascii():
        return text.lower()
    return _fold_decomposed(text)


def _fold_decomposed(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text.translate(_FOLD_EXTRA))
    return _COMBINING.sub("", decomposed).lower()


# Each precomposed Latin letter (Latin-1 to Latin Extended-B, and Latin Extended Additional, where Vietnamese's
# letters are) whose fold is one ASCII letter, mapped to it. Folding is per character for these, so replacing
# them first changes nothing else: a Greek final sigma still sees a letter before it.
_FOLD_LATIN = {cp: f for cp in (*range(0xC0, 0x250), *range(0x1E00, 0x1F00))
               if len(chr(cp).lower()) == 1 and (f := _fold_decomposed(chr(cp))).isascii()}


# Surface characters of TCVN3/ABC text read as Latin-1: symbols standing where letters belong.
# (TCVN3 also uses Latin-1 letters such as ö or ñ, but those are real letters in other
# languages; viparse's detection judges them. These symbols inside words are never text.)
_TCVN3_MARKERS = set("¸µ¶·¹«¬®\u00ad¦§¡¢£¤¥¨©ª»¾¼½")
# Typical UTF-8-read-as-cp1252 sequences ("Ã¡", "á»" ...).
_UTF8_AS_LATIN1 = re.compile(r"(?:Ã[\u0080-\u00bf]|á[»º][\u0080-\u00bf]|Ä[‘\u0091\u0090]|Æ°|Æ¡)")


LEGACY_ENCODINGS = ("tcvn3", "vni")
# The detector costs about 10 µs a character: it sees at most this much of a text (a 2 MB body took 20 s),
# and only when the text holds a character a legacy keyboard produces when read as Latin-1 or cp1252.
DETECT_SAMPLE = 20_000
_LEGACY_CHARS = re.compile("[\u0080-\u00ff\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc"
                           "\u2013-\u203a\u20ac\u2122]")


_UNICODE_ONLY_VI = re.compile("[\u0102\u0103\u0110\u0111\u0128\u0129\u0168\u0169\u01a0\u01a1\u01af\u01b0"
                              "\u1ea0-\u1ef9]")


@dataclass(frozen=True)
class Repaired:
    text: str
    encoding: str | None  # the legacy encoding converted from, if any


def repair_legacy(text: str, hint: str | None = None, sample: int = DETECT_SAMPLE) -> Repaired:
    """Convert text typed in TCVN3 or VNI fonts to Unicode; plain Unicode comes back as it was.

    `hint` is an encoding already detected elsewhere in the same message: a subject is often
    too short for detection on its own, but shares its body's keyboard. The detector sees the first
    `sample` characters only (it costs about 10 µs a character).
    """
    if not text:
        return Repaired(text, None)
    if _UTF8_AS_LATIN1.search(text):
        # UTF-8 bytes read as Latin-1/cp1252 upstream: reversible exactly, or not at all.
        for codec in ("cp1252", "latin-1"):
            try:
                return Repaired(nfc(text.encode(codec).decode("utf-8")), "utf-8-as-latin-1")
            except UnicodeError:
                continue
        return Repaired(text, None)
    head = text[:sample]
    legacy = len(_LEGACY_CHARS.findall(head))
    if not legacy:
        return Repaired(text, None)   # ASCII, or real Unicode letters: no legacy keyboard to look for
    # Letters only Unicode has (ạ, ơ, ư, đ, ...), which no legacy keyboard read as Latin-1 or cp1252 can
    # produce: where they are at least as many as the Latin-1-range ones (á, ô, ... which both share), the
    # text is Vietnamese in Unicode and the detector (10 µs a character, most of intake's time on a long
    # Word file) is not run.
    if len(_UNICODE_ONLY_VI.findall(head)) >= legacy:
        return Repaired(text, None)
    detected = viparse.detect_text_encoding(head)
    if detected is None and hint in LEGACY_ENCODINGS and looks_mojibake(head):
        detected = hint
    # Only the two keyboards the regulations name; a guess at VISCII or VPS on text that is
    # broken some other way turns it into different garbage.
    if detected not in LEGACY_ENCODINGS:
        return Repaired(text, None)
    fixed = nfc(viparse.fix(text, encoding=detected))
    return Repaired(fixed, detected) if not looks_mojibake(fixed) else Repaired(text, None)


def looks_mojibake(text: str) -> bool:
    """True when text still carries legacy-font or double-decoded characters."""
    if _UTF8_AS_LATIN1.search(text) or "\ufffd" in text:
        return True
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return False
    markers = sum(1 for c in text if c in _TCVN3_MARKERS)
    return markers >= 2 and markers / len(letters) > 0.04


_MARKERS = re.compile("[" + re.escape("".join(sorted(_TCVN3_MARKERS - set("«»")))) + "]")
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n")


def legacy_residue(text: str, sample: int = DETECT_SAMPLE) -> bool:
    """True when a text, after conversion, still holds legacy-font text: over the whole, or in a sentence of
    its own (a document half converted, where the whole no longer looks like either)."""
    head = text[:sample]
    if _UTF8_AS_LATIN1.search(head):   # UTF-8 read as Latin-1 that could not be reversed
        return sum(1 for c in head[:2000] if c.isalpha()) >= 20
    # Vietnamese in Unicode has none of these marks: fewer than three and there is nothing to look for (the
    # count runs in C; this is every message's path).
    if len(_MARKERS.findall(head)) < 3:
        return False
    if looks_mojibake(head):
        return True
    for sentence in _SENTENCE.split(head):
        letters = sum(1 for c in sentence if c.isalpha())
        # Guillemets are TCVN3 letters too, and a Unicode sentence may quote «like this»: three markers at least.
        markers = sum(1 for c in sentence if c in _TCVN3_MARKERS and c not in "«»")
        if letters >= 20 and markers >= 3 and markers / letters > 0.08:
            return True
    return False


def collapse_space(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()
