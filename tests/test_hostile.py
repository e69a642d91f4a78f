"""Broken and hostile mail (issue 12): charset labels that are not text codecs, Message-IDs with control
characters, References floods, every limit of [agency.limits], hostile attachments, the poison-message guard,
and logs without personal data. Each message is read, filed or held for a reason, never "internal-error"
and never unbounded. Loops and floods are in test_brakes.py, the fuzz run in test_fuzz.py."""

from __future__ import annotations

import io
import logging
import secrets
import struct
import time
import zipfile
import zlib

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from mailbot.app import Health
from mailbot.config import ConfigError, IntakeSettings, LimitSettings
from mailbot.logs import KeyValueFormatter
from mailbot.mail.attachments import inspect, pdf_active_content
from mailbot.mail.message import MAX_THREAD_IDS, decode_header_value, html_depth, msgids, parse
from mailbot.mail.vntext import decode_bytes
from mailbot.storage.models import Attachment, InboundMessage, IntakeAttempt, OutboxMessage
from tests import samples
from tests.conftest import BOARD, write_settings

SIGNATURE = "Nguyễn Văn An\nChuyên viên Phòng PBGDPL\nĐT: 0912 345 678"
# Names Python knows as codecs but that are not text encodings, or that always fail, or are not names.
NOT_TEXT = ["undefined", "idna", "punycode", "base64", "zlib_codec", "bz2", "hex", "uu", "rot13", "utf\x00-8",
            "x-unknown", ""]


@pytest.mark.parametrize("label", NOT_TEXT)
def test_every_charset_label_falls_back_to_readable_text(label):
    body, note = decode_bytes("Hội nghị tổng kết".encode(), label)
    assert body == "Hội nghị tổng kết"
    assert decode_header_value(f"=?{label}?q?H=E1=BB=99i_ngh=E1=BB=8B?=") == "Hội nghị"


def raw_with(charset: str, message_id: str = "<ok-1@binhphuoc.gov.vn>", references: str = "") -> bytes:
    refs = f"References: {references}\r\n" if references else ""
    return (f"From: =?{charset}?b?Tmd1eeG7hW4gVsSDbiBBbg==?= <an.nv@binhphuoc.gov.vn>\r\n"
            f"To: {BOARD}\r\nSubject: =?{charset}?q?Tin_h=E1=BB=99i_ngh=E1=BB=8B?=\r\n"
            f"Message-ID: {message_id}\r\n{refs}Date: Mon, 23 Nov 2026 08:30:00 +0700\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=\"{charset}\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            ).encode("utf-8", "surrogateescape") + f"Nội dung tin.\r\n\r\n{SIGNATURE}\r\n".encode()


@pytest.mark.parametrize("label", ["undefined", "zlib_codec", "base64", "idna", "utf\x00-8"])
def test_a_message_in_a_hostile_charset_is_filed(board, label):
    report = board.say(raw_with(label))
    assert report.counts == {"filed": 1}
    with board.transaction() as s:
        [row] = s.scalars(select(InboundMessage)).all()
        assert row.rule != "internal-error" and row.from_addr == "an.nv@binhphuoc.gov.vn"
        assert row.subject == "Tin hội nghị"


def test_a_message_id_with_a_control_character_does_not_reach_our_headers(board):
    report = board.say(raw_with("utf-8", message_id="<abc\x01\x7fdef@evil.example>",
                                references="<x\x02y@evil.example> <root@binhphuoc.gov.vn>"))
    assert report.counts == {"filed": 1}
    with board.transaction() as s:
        raws = [r.raw for r in s.scalars(select(OutboxMessage))]
    assert raws and all(b"\x01" not in r and b"\x02" not in r and b"\x7f" not in r for r in raws)
    assert len(board.sink.messages) == len(raws)


def test_a_references_flood_keeps_the_first_and_the_newest():
    ids = [f"<{n}.flood@example.com>" for n in range(12_000)]
    kept = msgids(" ".join(ids))
    assert len(kept) == MAX_THREAD_IDS
    assert kept[0] == "0.flood@example.com" and kept[-1] == "11999.flood@example.com"
    raw = samples.build("gmail", sender=("Nguyễn Văn An", "an.nv@binhphuoc.gov.vn"), to=BOARD, subject="Tin",
                        text=f"Tin.\n\n{SIGNATURE}", references=tuple(i.strip("<>") for i in ids))
    assert len(parse(raw).references) == MAX_THREAD_IDS


def test_the_legacy_font_detector_sees_a_bounded_sample(monkeypatch):
    from mailbot.mail import vntext
    seen: list[int] = []
    real = vntext.viparse.detect_text_encoding
    monkeypatch.setattr(vntext.viparse, "detect_text_encoding", lambda t: seen.append(len(t)) or real(t))
    tcvn3 = "Th«ng b¸o vÒ viÖc tæ chøc héi nghÞ tæng kÕt c«ng t¸c n¨m. "
    big = tcvn3 * (2_000_000 // len(tcvn3))
    repaired = vntext.repair_legacy(big)
    assert repaired.encoding == "tcvn3" and repaired.text.startswith("Thông báo về việc tổ chức hội nghị")
    assert seen == [vntext.DETECT_SAMPLE]
    # Text whose accented letters are all in Latin-1 (as a legacy keyboard's would be) is looked at
    # through the same sample; Vietnamese in Unicode (letters no legacy keyboard yields) and ASCII never
    # reach the detector.
    seen.clear()
    assert vntext.repair_legacy("Thông báo: tài chính, máy tính. " * 60_000).encoding is None
    assert vntext.repair_legacy("Thông báo về việc tổ chức hội nghị " * 50_000).encoding is None
    assert vntext.repair_legacy("plain ascii " * 100_000).encoding is None
    assert seen == [vntext.DETECT_SAMPLE]


def nested(levels: int) -> bytes:
    head = (f"From: Nguyễn Văn An <an.nv@binhphuoc.gov.vn>\r\nTo: {BOARD}\r\nSubject: Tin lồng nhau\r\n"
            "Message-ID: <deep-1@binhphuoc.gov.vn>\r\nMIME-Version: 1.0\r\n")
    body = "".join(f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n" for i in range(levels))
    body += f"Content-Type: text/plain; charset=utf-8\r\n\r\nDUYỆT\r\n\r\n{SIGNATURE}\r\n"
    body += "".join(f"--b{i}--\r\n" for i in reversed(range(levels)))
    return (head + body).encode()


def test_mime_nested_deeper_than_the_parser_goes_is_held_with_the_reason(board):
    assert parse(nested(3000)).structure_problem   # the standard library's parser gives up near 1,000
    assert not parse(nested(50)).structure_problem
    report = board.say(nested(3000))
    assert report.counts == {"held": 1}
    with board.transaction() as s:
        [row] = s.scalars(select(InboundMessage)).all()
        assert row.rule == "unreadable-structure" and "lồng nhau quá sâu" in row.reason
        assert row.from_addr == "an.nv@binhphuoc.gov.vn" and row.subject == "Tin lồng nhau"


# -- limits (each a setting) ---------------------------------------------------------------------

def plain(headers: str = "", body: str = "Nội dung tin.") -> bytes:
    return (f"From: Nguyễn Văn An <an.nv@binhphuoc.gov.vn>\r\nTo: {BOARD}\r\nSubject: Tin\r\n{headers}"
            f"Message-ID: <{secrets.token_hex(6)}@binhphuoc.gov.vn>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n").encode() + f"{body}\r\n\r\n{SIGNATURE}\r\n".encode()


def multipart(n_parts: int) -> bytes:
    parts = "".join(f"--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; "
                    f"filename=f{i}.bin\r\n\r\nabc\r\n" for i in range(n_parts))
    return (f"From: an.nv@binhphuoc.gov.vn\r\nTo: {BOARD}\r\nSubject: Tin\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: multipart/mixed; boundary=B\r\n\r\n{parts}--B--\r\n").encode()


def nested_mime(levels: int) -> bytes:
    head = "".join(f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n" for i in range(levels))
    return f"From: an.nv@binhphuoc.gov.vn\r\nTo: {BOARD}\r\nSubject: Tin\r\n{head}Content-Type: text/plain\r\n\r\nhi\r\n".encode()


LIMITED = LimitSettings(parts=20, mime_depth=10, header_chars=2_000, addresses_per_header=50, html_depth=100)


@pytest.mark.parametrize("raw, named", [
    (multipart(21), "hơn 20 phần"),
    (nested_mime(11), "quá 10 tầng"),
    (plain("X-Flood: " + "=?utf-8?q?a?= " * 300 + "\r\n"), "dài quá 2,000 ký tự"),
    (plain("Cc: " + ", ".join(f"a{i}@x.vn" for i in range(51)) + "\r\n"), "hơn 50 địa chỉ"),
])
def test_each_limit_names_itself(raw, named):
    assert named in parse(raw, LIMITED).over_limit
    assert parse(raw).over_limit == ""   # the defaults are far above these


def test_html_nested_past_the_limit_is_not_sanitised():
    html = "<div>" * 101 + "Nội dung" + "</div>" * 101
    raw = (f"From: an.nv@binhphuoc.gov.vn\r\nTo: {BOARD}\r\nSubject: Tin\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/html; charset=utf-8\r\n\r\n" + html).encode()
    msg = parse(raw, LIMITED)
    assert "HTML lồng nhau quá 100 tầng" in msg.over_limit and msg.html == ""
    assert html_depth("<p><br><img src=x><div><span/></div></p>", 100) == 2


def test_a_header_over_the_limit_is_cut_before_anything_decodes_it():
    subject = " ".join(["=?utf-8?q?T=E1=BB=9Bi?="] * 50_000)   # 1.2 MB of encoded-words
    msg = parse(plain().replace(b"Subject: Tin", b"Subject: " + subject.encode()), LIMITED)
    assert "Subject dài quá" in msg.over_limit and len(msg.subject) < 2_000


def test_limits_are_read_from_the_configuration(tmp_path):
    settings = write_settings(tmp_path, "sqlite://", "maildir:in", "file:out",
                              extra="[agency.limits]\nparts = 12\nheader_kb = 8\narchive_inflated_mb = 5\n")
    limits = settings.agencies[0].limits
    assert (limits.parts, limits.header_chars, limits.archive_inflated_bytes) == (12, 8192, 5 * 1024 * 1024)
    assert limits.answers_per_day == 10 and limits.attempts == 2
    with pytest.raises(ConfigError) as refused:
        write_settings(tmp_path, "sqlite://", "maildir:in", "file:out", extra="[agency.limits]\npart = 12\n")
    assert "did you mean 'parts'" in str(refused.value)


def test_a_message_over_a_limit_is_held_with_the_limit_named(board):
    report = board.say(multipart(400))
    assert report.counts == {"held": 1}
    with board.transaction() as s:
        row = s.scalars(select(InboundMessage)).one()
        assert row.rule == "over-limit" and "hơn 300 phần" in row.reason
        assert s.scalar(select(func.count()).select_from(Attachment)) == 0   # nothing was filed or sniffed


# -- hostile attachments ----------------------------------------------------------------------------

def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def docx_bomb(inflated: int) -> bytes:
    real = zipfile.ZipFile(io.BytesIO(samples.docx_bytes("Tin", ["Nội dung."])))
    members = {n: real.read(n) for n in real.namelist()}
    members["word/media/zeros.bin"] = bytes(inflated)
    return zip_bytes(members)


INTAKE = IntakeSettings()
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def test_a_docx_that_inflates_past_the_ratio_is_quarantined_without_inflating_it_all():
    bomb = docx_bomb(40 * 1024 * 1024)   # 40 MB of zeros in about 40 KB
    verdict = inspect("bao-cao.docx", bomb, INTAKE)
    assert not verdict.ok and "giải nén lớn bất thường" in verdict.reason
    small = LimitSettings(archive_inflated_bytes=1024 * 1024, archive_ratio=10_000)
    assert "quá 1 MB" in inspect("bao-cao.docx", docx_bomb(2 * 1024 * 1024), INTAKE, small).reason
    assert inspect("bao-cao.docx", samples.docx_bytes("Tin", ["Nội dung bình thường."]), INTAKE).ok


def test_an_archive_with_too_many_members_is_quarantined():
    many = zip_bytes({f"f{i}.txt": b"x" for i in range(60)})
    verdict = inspect("tai-lieu.zip", many, IntakeSettings(accepted_types=("zip",)), LimitSettings(archive_members=50))
    assert not verdict.ok and "60 thành phần" in verdict.reason


def test_text_extraction_over_its_time_is_quarantined_and_the_next_file_is_read():
    doc = samples.docx_bytes("Thông báo", ["Nội dung thông báo."])
    hurried = LimitSettings(extraction_seconds=0.0005)
    verdict = inspect("thong-bao.docx", doc, INTAKE, hurried)
    assert not verdict.ok and "không đọc được nội dung tệp trong" in verdict.reason
    again = inspect("thong-bao.docx", doc, INTAKE)   # a fresh child
    assert again.ok and "Nội dung thông báo." in again.text


def pdf(*objects: bytes, trailer: bytes = b"") -> bytes:
    body = b"%PDF-1.7\n" + b"\n".join(b"%d 0 obj\n%s\nendobj" % (n + 1, o) for n, o in enumerate(objects))
    return body + b"\ntrailer\n<< /Root 1 0 R " + trailer + b">>\n%%EOF\n"


PAGES = b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
PAGE = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"


def objstm(hidden: bytes) -> bytes:
    data = zlib.compress(b"4 0 " + hidden)
    return b"<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream" % (len(data), data)


@pytest.mark.parametrize("catalog, extra, named", [
    (b"<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>", (), "/JavaScript"),
    (b"<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /J#61vaScript /J#53 (x) >> >>", (), "/JavaScript"),
    (b"<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /Launch /F (cmd.exe) >> >>", (), "/Launch"),
    (b"<< /Type /Catalog /Pages 2 0 R /AA << /O 5 0 R >> >>", (), "/AA"),
    (b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles 5 0 R >> >>", (), "/EmbeddedFiles"),
    (b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>", (objstm(b"<< /S /JavaScript /JS (x) >>"),), "/JS"),
])
def test_pdf_active_content_is_quarantined(catalog, extra, named):
    data = pdf(catalog, PAGES, PAGE, *extra)
    verdict = inspect("cong-van.pdf", data, INTAKE)
    assert verdict.kind == "pdf" and not verdict.ok and named in verdict.reason, verdict


def test_a_plain_pdf_and_one_opening_at_a_page_are_accepted():
    assert inspect("cong-van.pdf", pdf(b"<< /Type /Catalog /Pages 2 0 R >>", PAGES, PAGE), INTAKE).ok
    at_page = pdf(b"<< /Type /Catalog /Pages 2 0 R /OpenAction [3 0 R /Fit] >>", PAGES, PAGE)
    assert pdf_active_content(at_page) == [] and inspect("cong-van.pdf", at_page, INTAKE).ok


def png_bytes() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b""))


@pytest.mark.parametrize("name, data, hidden", [
    ("anh.jpg", samples.jpeg_bytes() + zip_bytes({"run.js": b"WScript.Shell"}), "ZIP"),
    ("anh.png", png_bytes() + b"<script>alert(1)</script>", "mã script"),
    ("anh.jpg", samples.jpeg_bytes() + b"MZ\x90\x00" + bytes(200), "chương trình Windows"),
    ("anh.jpg", samples.jpeg_bytes() + b"\x13\x37" * 300, "byte sau phần kết thúc"),
])
def test_image_polyglots_are_quarantined(name, data, hidden):
    verdict = inspect(name, data, INTAKE)
    assert not verdict.ok and hidden in verdict.reason, verdict


def test_padding_and_camera_trailers_after_an_image_are_not_polyglots():
    assert inspect("anh.jpg", samples.jpeg_bytes() + bytes(512), INTAKE).ok
    assert inspect("anh.jpg", samples.jpeg_bytes() + b"\x00" * 8 + b"SEFH" + b"\x01" * 100 + b"SEFT", INTAKE).ok
    assert inspect("anh.png", png_bytes(), INTAKE).ok


def test_bidi_and_control_characters_leave_a_file_name_and_the_original_is_kept(board):
    reversed_exe = "hoa-don\u202efdp.exe"
    tidy = "Báo cáo\u200b tháng\u0007 11.docx"
    raw = samples.build("gmail", sender=("Nguyễn Văn An", "an.nv@binhphuoc.gov.vn"), to=BOARD, subject="Tin",
                        text=f"Tin.\n\n{SIGNATURE}", files=(
                            samples.File(reversed_exe, "application/pdf", b"MZ\x90\x00" + bytes(300)),
                            samples.File(tidy, DOCX, samples.docx_bytes("Báo cáo", ["Nội dung."]))))
    assert board.say(raw).counts == {"filed": 1}
    with board.transaction() as s:
        rows = {a.filename: a for a in s.scalars(select(Attachment))}
    assert set(rows) == {"hoa-donfdp.exe", "Báo cáo tháng 11.docx"}
    assert rows["hoa-donfdp.exe"].original_name == reversed_exe and not rows["hoa-donfdp.exe"].ok
    assert rows["Báo cáo tháng 11.docx"].original_name == tidy and rows["Báo cáo tháng 11.docx"].ok
    assert board.sink.messages and all("\u202e".encode() not in m.raw for m in board.sink.messages)


# -- the poison-message guard -------------------------------------------------------------------------

def test_a_message_that_kills_intake_twice_is_held_and_the_mailbox_moves_on(board, monkeypatch):
    from mailbot.inbound import intake as intake_module
    real = intake_module.parse_raw
    poison = plain(body="Thư làm tiến trình dừng.")

    def dies(raw, limits, spool):
        if "tiến trình dừng".encode() in raw.read():
            raise KeyboardInterrupt   # stands in for a kill or a hang cut short by the supervisor
        return real(raw, limits, spool)

    monkeypatch.setattr(intake_module, "parse_raw", dies)
    board.send(poison)
    for _ in range(2):
        with pytest.raises(KeyboardInterrupt):
            board.run_once()
    with board.transaction() as s:
        assert s.scalar(select(IntakeAttempt.attempts)) == 2
        assert s.scalar(select(func.count()).select_from(InboundMessage)) == 0
    board.send(plain(body="Một tin bình thường."))
    report = board.run_once()   # the third try is never made: held, and the next message is read
    assert report.counts == {"held": 1, "filed": 1}
    with board.transaction() as s:
        held = s.scalars(select(InboundMessage).where(InboundMessage.rule == "poison-message")).one()
        assert "đã được thử xử lý 2 lần" in held.reason and "dừng giữa chừng" in held.reason
        assert s.scalar(select(func.count()).select_from(IntakeAttempt)) == 0


def test_work_past_its_time_shows_in_the_health_report():
    health = Health()
    with health.busy("intake of test", allowed=0):
        time.sleep(0.01)
        [problem] = health.problems()
        assert problem.startswith("intake of test busy for")
    assert health.problems() == []


# -- privacy -----------------------------------------------------------------------------------------

def test_an_error_on_a_citizens_question_logs_neither_their_address_nor_their_name(board, monkeypatch, caplog):
    citizen, name = "tran.thi.hoa@gmail.com", "Trần Thị Hoa"

    def fails(*args, **kwargs):
        raise ValueError(f"cannot store question from {name} <{citizen}> (0912 345 678)")

    monkeypatch.setattr(board.worker.intake.questions, "file", fails)
    raw = samples.build("gmail", sender=(name, citizen), to=BOARD, subject="Xin hỏi về thủ tục cấp phép",
                        text="Xin hỏi thủ tục cấp giấy phép xây dựng nhà ở?\n\nTrần Thị Hoa\nĐT: 0912 345 678")
    with caplog.at_level(logging.INFO, logger="mailbot"):
        assert board.say(raw).counts == {"held": 1}
    lines = "\n".join(KeyValueFormatter().format(r) for r in caplog.records)
    assert "intake failed" in lines and "ValueError" in lines and "fails" in lines
    for secret in (citizen, name, "0912 345 678", "345 678"):
        assert secret not in lines
    with board.transaction() as s:
        held = s.scalars(select(InboundMessage)).one()
        assert held.rule == "internal-error" and citizen not in held.reason and name not in held.reason


def test_database_errors_never_quote_the_values_of_a_row(board):
    with pytest.raises(IntegrityError) as failed, board.transaction() as s:
        s.execute(text("INSERT INTO agencies (slug, name) VALUES (:slug, :name)"),
                  {"slug": board.agency.slug, "name": "tran.thi.hoa@gmail.com"})
    assert "tran.thi.hoa@gmail.com" not in str(failed.value)


def test_a_child_that_died_of_something_else_is_replaced_and_the_file_read():
    from mailbot.mail import extraction
    doc = samples.docx_bytes("Thông báo", ["Nội dung thông báo."])
    assert extraction.extract("docx", doc, LimitSettings()).text
    process = extraction._current().process   # killed behind its back (the OOM killer)
    process.kill()
    process.join()
    again = extraction.extract("docx", doc, LimitSettings())
    assert again.problem == "" and "Nội dung thông báo." in again.text


def test_files_are_checked_and_read_before_the_filing_transaction_opens(board, monkeypatch):
    from contextlib import contextmanager

    from mailbot.inbound import intake as intake_module
    open_transactions = []
    checked_inside: list[bool] = []
    real_transaction, real_inspect = type(board.app.db).transaction, intake_module.files.inspect

    @contextmanager
    def counted(self):
        open_transactions.append(1)
        try:
            with real_transaction(self) as s:
                yield s
        finally:
            open_transactions.pop()

    def inspect_watched(*args, **kwargs):
        checked_inside.append(bool(open_transactions))
        return real_inspect(*args, **kwargs)

    monkeypatch.setattr(type(board.app.db), "transaction", counted)
    monkeypatch.setattr(intake_module.files, "inspect", inspect_watched)
    raw = samples.build("gmail", sender=("Nguyễn Văn An", "an.nv@binhphuoc.gov.vn"), to=BOARD, subject="Tin",
                        text=f"Tin.\n\n{SIGNATURE}", files=(
                            samples.File("tin.docx", DOCX, samples.docx_bytes("Tin", ["Nội dung tin."])),))
    assert board.say(raw).counts == {"filed": 1}
    assert checked_inside == [False]
    with board.transaction() as s:
        assert "Nội dung tin." in s.scalars(select(Attachment.text_preview)).one()


def test_tries_cut_short_by_a_database_outage_do_not_count_against_the_message(board, monkeypatch):
    from sqlalchemy.exc import OperationalError

    intake = board.worker.intake
    real = type(intake)._process
    outages = [1, 2, 3]

    def flaky(self, raw, sha, source, arrived, *rest):
        if outages:
            outages.pop()
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return real(self, raw, sha, source, arrived, *rest)

    monkeypatch.setattr(type(intake), "_process", flaky)
    raw = plain(body="Tin gửi lúc cơ sở dữ liệu gián đoạn.")
    for _ in range(3):
        with pytest.raises(OperationalError):
            intake.process(raw)
    outcome = intake.process(raw)
    assert outcome.rule == "submission" and outcome.disposition == "filed"
