"""What an attachment really is (libmagic), whether it may reach the board, and its text for previews."""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass

import magic
import olefile

from mailbot.config import IntakeSettings
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


def extension(filename: str) -> str:
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return _EXT_KIND.get(ext, ext)


def sniff(data: bytes) -> str:
    return magic.from_buffer(data[: 1 << 20], mime=True).lower()


def inspect(filename: str, data: bytes, settings: IntakeSettings) -> Verdict:
    """Decide whether a file may go to the board; the reason is written for the sender."""
    sniffed = sniff(data) if data else "application/x-empty"
    kind = _KINDS.get(sniffed, "")
    ext = extension(filename)
    mb = settings.max_attachment_bytes / (1024 * 1024)

    def quarantine(reason: str) -> Verdict:
        return Verdict(kind=kind, sniffed=sniffed, ok=False, reason=reason)

    if not data:
        return quarantine("tệp rỗng (0 byte)")
    if len(data) > settings.max_attachment_bytes:
        return quarantine(f"tệp lớn hơn giới hạn {mb:g} MB")
    if sniffed in _EXECUTABLE_MIME:
        return quarantine("tệp chương trình chạy được (có thể chứa mã độc)")
    if ext in _DANGEROUS_EXT:
        return quarantine(f"loại tệp .{ext} có thể chứa mã độc (chương trình hoặc macro)")
    if sniffed in _MACRO_MIME or (kind in ("docx", "xlsx", "zip") and _ooxml_has_macros(data)):
        return quarantine("tài liệu có chứa macro")
    if ext and ext in _KINDS.values() and kind and ext != kind and not _compatible(ext, kind):
        return quarantine(f"tên tệp là .{ext} nhưng nội dung thực tế là {kind or sniffed}")
    if ext and ext in _KINDS.values() and not kind:
        return quarantine(f"tên tệp là .{ext} nhưng nội dung không phải tệp .{ext} hợp lệ ({sniffed})")
    if kind not in settings.accepted_types:
        shown = kind or ext or sniffed
        return quarantine(f"loại tệp {shown} không thuộc các loại được nhận ({', '.join(settings.accepted_types)})")
    problem = _corruption(kind, data)
    if problem:
        return quarantine(f"tệp bị hỏng: {problem}")
    if kind == "doc" and _ole_has_macros(data):
        return quarantine("tài liệu có chứa macro")
    text, encoding = extract_text(kind, data)
    return Verdict(kind=kind, sniffed=sniffed, ok=True, text=text, legacy_encoding=encoding)


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
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                bad = zf.testzip()
                if bad:
                    return f"phần {bad} trong tệp bị lỗi"
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
    """Text of a Word or OpenDocument file, in document order, legacy fonts converted."""
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
    import docx  # python-docx; imported here, it is slow to import and only needed for Word files

    document = docx.Document(io.BytesIO(data))
    lines: list[str] = []
    for block in document.iter_inner_content():
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
