"""What an attachment really is (libmagic), whether it may reach the board, and its text for previews.

Every check is bounded: archives are inflated chunk by chunk up to the agency's limits, PDFs are scanned
for active content with bounded decompression, and text is extracted in a child process with a time limit
(mailbot.mail.extraction).
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass

import magic
import olefile

from mailbot.config import DEFAULT_LIMITS, IntakeSettings, LimitSettings, SignatureSettings
from mailbot.mail.vntext import collapse_space, nfc, repair_legacy

# libmagic's MIME type -> our kind.
_KINDS = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/msword": "doc",
    "application/vnd.oasis.opendocument.text": "odt",
    "application/pdf": "pdf",
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/bmp": "bmp",
    "image/x-ms-bmp": "bmp",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.oasis.opendocument.spreadsheet": "ods",
    "text/plain": "txt",
    "audio/mpeg": "mp3",
    "video/mp4": "mp4",
    "application/zip": "zip",
}
_EXECUTABLE_MIME = {
    "application/x-dosexec", "application/x-msdownload", "application/x-executable", "application/x-sharedlib",
    "application/x-pie-executable", "application/x-mach-binary", "application/x-msi", "application/x-ms-installer",
    "text/x-shellscript", "application/x-bat", "application/java-archive", "application/x-ms-shortcut",
    "text/x-msdos-batch", "application/vnd.microsoft.portable-executable",
}
_MACRO_MIME = {
    "application/vnd.ms-word.document.macroenabled.12", "application/vnd.ms-word.template.macroenabled.12",
    "application/vnd.ms-excel.sheet.macroenabled.12", "application/vnd.ms-powerpoint.presentation.macroenabled.12",
}
# Extensions that are dangerous whatever the bytes say.
_DANGEROUS_EXT = {
    "exe", "com", "scr", "bat", "cmd", "pif", "msi", "msp", "js", "jse", "vbs", "vbe", "wsf", "wsh", "ps1",
    "jar", "lnk", "hta", "cpl", "reg", "dll", "docm", "dotm", "xlsm", "xltm", "pptm", "potm", "ppsm", "sh",
    "apk", "iso", "img",
}
_EXT_KIND = {"jpeg": "jpg", "jpe": "jpg", "jfif": "jpg", "tif": "tiff", "dot": "doc", "dotx": "docx"}


@dataclass(frozen=True)
class Verdict:
    kind: str            # our kind ("docx", "jpg", ...) or "" when unknown
    sniffed: str         # libmagic's MIME type
    ok: bool
    reason: str = ""     # why it is quarantined, in Vietnamese for the sender
    text: str = ""       # extracted text (Word, OpenDocument), legacy fonts converted
    legacy_encoding: str | None = None
    dangerous: bool = False   # quarantined as possibly hostile (a program, macros, a disguise), not merely broken
    signature: dict | None = None   # a PDF's digital signatures, where the agency checks them (mailbot.mail.signatures)


def extension(filename: str) -> str:
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return _EXT_KIND.get(ext, ext)


def sniff(data: bytes) -> str:
    return magic.from_buffer(data[: 1 << 20], mime=True).lower()


# Bidirectional overrides and isolates, zero-width marks and other format characters: "hóa-đơn\u202Efdp.exe"
# shows as "hóa-đơnexe.pdf". Stored names keep none of them.
_UNSAFE_NAME_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def safe_filename(name: str) -> str:
    """A file name as the board may see it: no control, format (bidi, zero-width) or unassigned characters,
    no path separators, at most 255 characters."""
    cleaned = "".join(c for c in nfc(name) if unicodedata.category(c) not in _UNSAFE_NAME_CATEGORIES)
    cleaned = cleaned.replace("/", "_").replace("\\", "_")
    return collapse_space(cleaned).strip(". ")[:255]


def inspect(filename: str, data: bytes, settings: IntakeSettings, limits: LimitSettings = DEFAULT_LIMITS,
            signatures: SignatureSettings | None = None) -> Verdict:
    """Decide whether a file may go to the board; the reason is written for the sender. With `signatures`
    configured, a good PDF's digital signatures are checked too."""
    sniffed = sniff(data) if data else "application/x-empty"
    kind = _KINDS.get(sniffed, "")
    ext = extension(filename)
    mb = settings.max_attachment_bytes / (1024 * 1024)

    def quarantine(reason: str, dangerous: bool = False) -> Verdict:
        return Verdict(kind=kind, sniffed=sniffed, ok=False, reason=reason, dangerous=dangerous)

    if not data:
        return quarantine("tệp rỗng (0 byte)")
    if len(data) > settings.max_attachment_bytes:
        return quarantine(f"tệp lớn hơn giới hạn {mb:g} MB")
    if sniffed in _EXECUTABLE_MIME:
        return quarantine("tệp chương trình chạy được (có thể chứa mã độc)", dangerous=True)
    if ext in _DANGEROUS_EXT:
        return quarantine(f"loại tệp .{ext} có thể chứa mã độc (chương trình hoặc macro)", dangerous=True)
    archive = _archive_problem(data, limits) if kind in _ZIP_KINDS or sniffed == "application/zip" else ""
    if archive:
        return quarantine(archive)
    if sniffed in _MACRO_MIME or (kind in ("docx", "xlsx", "zip") and _ooxml_has_macros(data)):
        return quarantine("tài liệu có chứa macro", dangerous=True)
    if ext and ext in _KINDS.values() and kind and ext != kind and not _compatible(ext, kind):
        return quarantine(f"tên tệp là .{ext} nhưng nội dung thực tế là {kind or sniffed}", dangerous=True)
    if ext and ext in _KINDS.values() and not kind:
        return quarantine(f"tên tệp là .{ext} nhưng nội dung không phải tệp .{ext} hợp lệ ({sniffed})")
    if kind not in settings.accepted_types:
        shown = kind or ext or sniffed
        return quarantine(f"loại tệp {shown} không thuộc các loại được nhận ({', '.join(settings.accepted_types)})")
    problem = _corruption(kind, data)
    if problem:
        return quarantine(f"tệp bị hỏng: {problem}")
    if kind == "doc" and _ole_has_macros(data):
        return quarantine("tài liệu có chứa macro", dangerous=True)
    if kind == "pdf":
        active = pdf_active_content(data, limits.archive_inflated_bytes)
        if active:
            return quarantine(f"tệp PDF có nội dung tự chạy ({', '.join(active)})", dangerous=True)
        if signatures is not None and signatures.enabled:
            from mailbot.mail import signatures as pdf_signatures

            found = pdf_signatures.verdict(data, signatures.roots, signatures.revocation, limits)
            return Verdict(kind=kind, sniffed=sniffed, ok=True, signature=found)
    if kind in _IMAGE_KINDS:
        hidden = polyglot(kind, data)
        if hidden:
            return quarantine(f"ảnh có chứa dữ liệu khác ẩn bên trong ({hidden})", dangerous=True)
    if kind in ("docx", "odt"):
        from mailbot.mail import extraction  # a child process; only Word and OpenDocument files need it

        extracted = extraction.extract(kind, data, limits)
        if extracted.problem:
            return quarantine(extracted.problem)
        return Verdict(kind=kind, sniffed=sniffed, ok=True, text=extracted.text, legacy_encoding=extracted.encoding)
    return Verdict(kind=kind, sniffed=sniffed, ok=True)


_ZIP_KINDS = ("docx", "xlsx", "odt", "ods", "zip")
_IMAGE_KINDS = ("jpg", "png", "gif", "bmp")
_CHUNK = 1 << 20


def _archive_problem(data: bytes, limits: LimitSettings) -> str:
    """A zip (and so any OOXML or ODF file) over the limits: too many entries, or inflating past the total
    size or the ratio allowed. Entries are really inflated, chunk by chunk, so a lying header changes
    nothing; work stops at the first limit reached. Also catches entries that do not inflate (corruption)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            entries = zf.infolist()
            if len(entries) > limits.archive_members:
                return f"tệp nén có {len(entries):,} thành phần, vượt giới hạn {limits.archive_members:,}"
            budget = min(limits.archive_inflated_bytes, max(len(data), 64 * 1024) * limits.archive_ratio)
            total = 0
            for info in entries:
                if info.is_dir():
                    continue
                with zf.open(info) as member:
                    while chunk := member.read(_CHUNK):
                        total += len(chunk)
                        if total > budget:
                            return ("tệp nén khi giải nén lớn bất thường (quá "
                                    f"{budget / 1048576:,.0f} MB hoặc quá {limits.archive_ratio} lần kích thước tệp)")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError, OSError,
            RuntimeError, zlib.error) as exc:
        # RuntimeError: an encrypted entry; the rest: a damaged archive.
        return f"tệp bị hỏng: không mở được ({type(exc).__name__})"
    return ""


# PDF names that start something when the file is opened or touched: scripts, launching programs,
# automatic actions, files carried inside. A name may spell a character as #xx (/J#61vaScript).
_PDF_NAME = re.compile(rb"/([A-Za-z0-9#]{2,40})")
_PDF_ACTIVE = {"JavaScript", "JS", "Launch", "AA", "EmbeddedFile", "EmbeddedFiles", "OpenAction", "RichMedia",
               "XFA", "SubmitForm", "ImportData"}
_PDF_ACTION_KINDS = {"JavaScript", "JS", "Launch", "SubmitForm", "ImportData", "GoToE", "GoToR", "Rendition"}
_PDF_STREAM = re.compile(rb"(?<!end)stream\r?\n")


def _pdf_names(data: bytes) -> set[str]:
    names = set()
    for m in _PDF_NAME.finditer(data):
        raw = m.group(1)
        if b"#" in raw:
            raw = re.sub(rb"#([0-9A-Fa-f]{2})", lambda h: bytes([int(h.group(1), 16)]), raw)
        names.add(raw.decode("latin-1"))
    return names


def _pdf_inflated(data: bytes, budget: int) -> list[bytes]:
    """The Flate streams of a PDF inflated (object streams hide dictionaries there), `budget` bytes in all."""
    out: list[bytes] = []
    view = memoryview(data)
    for m in _PDF_STREAM.finditer(data):
        if budget <= 0:
            break
        inflater = zlib.decompressobj()
        try:
            chunk = inflater.decompress(view[m.end():], min(budget, 16 * _CHUNK))
        except zlib.error:
            continue
        budget -= len(chunk)
        out.append(chunk)
    return out


def pdf_active_content(data: bytes, budget: int = LimitSettings.archive_inflated_bytes) -> list[str]:
    """The active-content names a PDF carries (its own bytes and its inflated streams), sorted; [] when none.

    /OpenAction counts only when it is an action (a dictionary or a reference), not a page to open at.
    """
    names = _pdf_names(data)
    texts = [data]
    for inflated in _pdf_inflated(data, budget):   # a filter's name may itself be spelt with #xx: inflate all
        names |= _pdf_names(inflated)
        texts.append(inflated)
    found = names & _PDF_ACTIVE
    if "OpenAction" in found and (not names & _PDF_ACTION_KINDS
                                  or all(re.search(rb"/OpenAction\s*\[", t) for t in texts if b"/OpenAction" in t)):
        # "/OpenAction [3 0 R /Fit]" opens at a page; an action dictionary is active only with a kind that is.
        found.discard("OpenAction")
    return sorted(f"/{n}" for n in found)


# What another file looks like from its first bytes: checked where an image's data ends, and the longer
# ones anywhere after it.
_EMBEDDED = {b"PK\x03\x04": "tệp nén ZIP", b"Rar!\x1a\x07": "tệp nén RAR", b"7z\xbc\xaf\x27\x1c": "tệp nén 7z",
             b"%PDF-": "tệp PDF", b"MZ": "chương trình Windows", b"\x7fELF": "chương trình",
             b"<script": "mã script", b"<?php": "mã PHP", b"<html": "trang HTML", b"#!/": "mã script"}
# Phones append data after a JPEG's end on purpose: Samsung's SEFT trailer, motion photos (an MP4).
_CAMERA_TRAILERS = (b"SEFH", b"SEFT", b"ftypmp4", b"ftypisom", b"MotionPhoto_Data")
_PADDING = b"\x00\xff \r\n\t"


def _image_end(kind: str, data: bytes) -> int:
    """Where the image data ends (just past its end marker), or -1 when it cannot be told."""
    if kind == "png":
        at = data.rfind(b"IEND")
        return at + 8 if at >= 0 else -1
    if kind == "jpg":
        at = data.rfind(b"\xff\xd9")
        return at + 2 if at >= 0 else -1
    if kind == "gif":
        return len(data.rstrip(b"\x00")) if data.rstrip(b"\x00").endswith(b";") else -1
    return -1


def polyglot(kind: str, data: bytes) -> str:
    """What an image hides: an archive's directory (a zip, RAR or 7z inside), or another file's bytes after
    its end marker. Padding after the end, and the trailers phones write there, are not hidden files."""
    if zipfile.is_zipfile(io.BytesIO(data)):
        return "tệp nén ZIP"
    for marker in (b"Rar!\x1a\x07", b"7z\xbc\xaf\x27\x1c"):
        if marker in data:
            return _EMBEDDED[marker]
    end = _image_end(kind, data)
    if end < 0:
        return ""
    trailer = data[end:].lstrip(_PADDING)
    if not trailer.rstrip(_PADDING):
        return ""
    for magic_bytes, label in _EMBEDDED.items():
        if trailer.startswith(magic_bytes) or len(magic_bytes) >= 5 and magic_bytes in trailer.lower():
            return label
    if any(t in trailer for t in _CAMERA_TRAILERS):
        return ""
    return f"{len(trailer):,} byte sau phần kết thúc của ảnh"


def _compatible(ext: str, kind: str) -> bool:
    # A .docx saved as a plain zip by some tools, or a Word 97 file with a .docx name, are
    # still Word documents; text files go by many names.
    return {ext, kind} in ({"doc", "docx"},) or kind == "txt" and ext in ("csv", "txt")


def _ooxml_has_macros(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return any(n.lower().endswith("vbaproject.bin") for n in zf.namelist())
    except zipfile.BadZipFile:
        return False


def _ole_has_macros(data: bytes) -> bool:
    try:
        with olefile.OleFileIO(data) as ole:
            return ole.exists("Macros") or ole.exists("_VBA_PROJECT_CUR")
    except OSError:
        return False


def _corruption(kind: str, data: bytes) -> str:
    if kind in ("docx", "xlsx", "odt", "ods"):
        required = {"docx": "word/document.xml", "xlsx": "xl/workbook.xml", "odt": "content.xml",
                    "ods": "content.xml"}[kind]
        try:
            # Every entry was inflated (and its CRC checked) by _archive_problem already.
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                if required not in zf.namelist():
                    return "thiếu nội dung văn bản"
        except (zipfile.BadZipFile, EOFError, ValueError) as exc:
            return f"không mở được ({exc})"
    elif kind in ("doc", "xls"):
        try:
            with olefile.OleFileIO(data) as ole:
                stream = "WordDocument" if kind == "doc" else "Workbook"
                if not ole.exists(stream) and not (kind == "xls" and ole.exists("Book")):
                    return "thiếu nội dung văn bản"
        except OSError as exc:
            return f"không mở được ({exc})"
    elif kind == "pdf":
        if b"%%EOF" not in data[-2048:]:
            return "tệp PDF không đầy đủ (thiếu phần kết thúc)"
    elif kind == "jpg":
        if b"\xff\xd9" not in data[-4096:]:
            return "ảnh JPEG không đầy đủ"
    elif kind == "png":
        if b"IEND" not in data[-64:]:
            return "ảnh PNG không đầy đủ"
    return ""


def extract_text(kind: str, data: bytes) -> tuple[str, str | None]:
    """Text of a Word or OpenDocument file, in document order, legacy fonts converted. Unbounded in time:
    called in the child process of mailbot.mail.extraction, never directly."""
    try:
        if kind == "docx":
            text = _docx_text(data)
        elif kind == "odt":
            text = _odt_text(data)
        else:
            return "", None
    except Exception:  # noqa: BLE001 - a preview is a courtesy; the file itself is checked above
        return "", None
    repaired = repair_legacy(nfc(text))
    return repaired.text, repaired.encoding


def _docx_text(data: bytes) -> str:
    """The main document part read with python-docx's own XML classes and proxies. `docx.Document` opens the
    whole package first (styles, settings, fonts, theme, every relationship): three quarters of the time, for
    none of the text (issue 13)."""
    # python-docx, imported here: it is slow to import and only needed for Word files
    from docx.document import _Body
    from docx.opc.constants import RELATIONSHIP_TYPE
    from docx.opc.oxml import parse_xml as parse_package_xml
    from docx.opc.packuri import PackURI
    from docx.oxml.parser import parse_xml

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        rels = parse_package_xml(z.read("_rels/.rels"))  # type: ignore[arg-type]  # lxml reads bytes as python-docx does
        main = next(rel.get("Target", "") for rel in rels
                    if rel.get("Type") == RELATIONSHIP_TYPE.OFFICE_DOCUMENT and rel.get("TargetMode") != "External")
        body = parse_xml(z.read(PackURI.from_rel_ref("/", main).membername)).body
    lines: list[str] = []
    # No parent: the proxies reach the package only for styles and images, which the text needs neither of.
    for block in _Body(body, None).iter_inner_content():  # type: ignore[arg-type]
        if hasattr(block, "rows"):
            for row in block.rows:
                cells = [collapse_space(c.text) for c in row.cells]
                lines.append(" | ".join(dict.fromkeys(c for c in cells if c)))
        else:
            lines.append(block.text)
    return "\n".join(lines).strip()


def _odt_text(data: bytes) -> str:
    from odf import opendocument, teletype
    from odf.namespaces import TEXTNS

    document = opendocument.load(io.BytesIO(data))
    lines: list[str] = []

    def walk(node) -> None:
        for child in node.childNodes:
            if child.nodeType != child.ELEMENT_NODE:
                continue
            if child.qname in ((TEXTNS, "p"), (TEXTNS, "h")):
                lines.append(teletype.extractText(child))
            else:
                walk(child)

    walk(document.text)
    return "\n".join(lines).strip()


def first_line(text: str, limit: int = 200) -> str:
    for line in text.split("\n"):
        line = collapse_space(line)
        if len(re.sub(r"\W", "", line)) >= 3:
            return line[:limit]
    return ""
