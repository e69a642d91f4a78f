"""Pure pieces: legacy-font repair, phone forms, sender signatures, reply splitting, every template renders."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mailbot.articles import sender
from mailbot.mail import reply
from mailbot.mail.vntext import looks_mojibake, repair_legacy


def test_vni_text_is_converted():
    """VNI text to Unicode (001 art. 3; 002 art. 4.1; 004 art. 9.1)."""
    vni = "Hoäi nghò toång keát coâng taùc tö phaùp naêm 2026 cuûa Sôû Tö phaùp"
    repaired = repair_legacy(vni)
    assert repaired.encoding == "vni"
    assert repaired.text == "Hội nghị tổng kết công tác tư pháp năm 2026 của Sở Tư pháp"


def test_foreign_latin_text_is_left_alone():
    for text in ("Eelanalüüsi päring", "Die heiße Zypernsonne quälte Max", "¿Qué tal, señor?"):
        assert repair_legacy(text).encoding is None
        assert not looks_mojibake(text)


@pytest.mark.parametrize("written,expected", [
    ("0912 345 678", "0912 345 678"), ("0912.345.678", "0912 345 678"), ("+84 912 345 678", "0912 345 678"),
    ("02713.860.205", "0271 3860 205"), ("(0260) 3862 123", "0260 3862 123"),
])
def test_vietnamese_phone_forms(written, expected):
    assert sender.normalise_phone(written) == (expected, None)


@pytest.mark.parametrize("written", ["xxx", "09xx 123 456", "0912", "12345"])
def test_not_phone_numbers(written):
    phone, problem = sender.normalise_phone(written)
    assert phone == "" and problem


@pytest.mark.parametrize("text,new", [
    ("Đã bổ sung.\n\nVào Th 2, 23 thg 11, 2026 lúc 09:15 Ban Biên tập <b@x.vn> đã viết:\n> cũ", "Đã bổ sung."),
    ("OK\n\nOn Mon, Nov 23, 2026 at 9:15 AM Ban <b@x.vn>\nwrote:\n\n> old", "OK"),
    ("Gửi lại\n\n________________________________\nTừ: Ban <b@x.vn>\nĐã gửi: Thứ Hai\nĐến: a\nChủ đề: x\n\ncũ",
     "Gửi lại"),
    ("Bổ sung\n\n----- Thư gốc -----\nTừ: Ban", "Bổ sung"),
    ("Ban wrote:\n> quoted\n\nAnswer below", "Answer below"),
    ("Đây\n\nGửi từ iPhone của tôi", "Đây"),
])
def test_reply_split(text, new):
    assert reply.split(text).new == new


def test_every_template_renders():
    from mailbot.config import Agency, Endpoint
    from mailbot.outbound.render import Renderer
    from mailbot.paths import templates_dir
    from mailbot.storage.models import Article, Attachment, InboundMessage

    agency = Agency(slug="a", name="Sở Tư pháp", website="https://x.gov.vn", board_address="bbt@x.gov.vn",
                    mailbox=Endpoint("maildir:x", "maildir"), outgoing=Endpoint("file:y", "file"),
                    reference_prefix="BBT", message_id_domain="x.gov.vn")
    now = datetime(2026, 11, 23, tzinfo=timezone.utc)
    f = Attachment(filename="a.docx", size=2048, version=1, reason="lý do", sniffed_type="x", sha256="0" * 64)
    art = Article(reference="BBT-2026-0001", title="Tin", status="submitted", category="news", received_at=now,
                  submitter_email="a@x.gov.vn", missing=["unit"])
    inbound = InboundMessage(id=1, from_name="A", from_addr="a@x.gov.vn", subject="S", received_at=now)
    author = sender.Details(name="A", unit="U", email="a@x.gov.vn").as_dict()
    context = {"article": art, "author": author, "status_label": "x",
               "files": [f], "quarantined": [f], "missing_labels": ["Đơn vị công tác", "Ảnh minh họa cho tin hoạt động"],
               "photos_label": "Ảnh minh họa cho tin hoạt động", "photos_requested": True,
               "hints": [{"kind": "language", "text": "h"}], "category_label": "Tin",
               "problems": [], "preview": "p", "not_attached": [f], "added": [f], "note": "n", "inbound": inbound,
               "reason": "r", "role_label": "Trưởng ban", "commands": __import__("mailbot.cases.commands").cases.commands.COMMANDS,
               "reasons": {"cl": "x"}, "expires_days": 14, "undo_minutes": 15, "done": "d", "refused": False,
               "next_people": ["x"], "problem": "p", "decision": "approved", "detail": "d", "publish_at_once": False,
               "why": "w", "token_member": "m", "author_line": "a", "images": [f], "current_files": [f],
               "step_label": "Biên tập", "threshold": "overdue", "due": now, "explanation": "e", "deadline": None,
               "failures": [{"subject": "S", "message_id": "m@x", "reference": "BBT-2026-0001", "created_at": now,
                             "attempts": 1, "refused": [{"address": "b@x.gov.vn", "code": 550, "error": "no"}]}],
               "every": 60, "secretaries": [],
               "kind": "flood", "address": "a@x.gov.vn", "count": 21, "limit": 20, "reference": "BBT-2026-0002"}
    context.update(_question_and_period_context(agency, now))
    renderer = Renderer(templates_dir())
    names = sorted({str(p.relative_to(templates_dir())).split(".")[0]
                    for p in templates_dir().rglob("*.subject.j2")})
    assert len(names) >= 39
    for name in names:
        msg = renderer.compose(name, agency, ["b@x.gov.vn"], context, now=now)
        assert msg.get_body(("plain",)).get_content().strip()
        assert msg.get_body(("html",)) is not None, f"{name} has no HTML part"
    answers = renderer.compose("message/secretary/brake", agency, ["b@x.gov.vn"], {**context, "kind": "answers"}, now=now)
    assert "trả lời tự động tới a@x.gov.vn" in answers.get_body(("plain",)).get_content()


def _question_and_period_context(agency, now):
    """What the question, digest, report and quota templates read, with every branch's data present."""
    from mailbot.cases import commands
    from mailbot.config import PeriodicReport, StaffMember, Unit
    from mailbot.reports import stats
    from mailbot.storage.models import Deadline, Question

    q = Question(reference="HD-2026-0001", kind="question", status="assigned", step="", title="Hỏi",
                 body_text="Nội dung", asker_name="Nguyễn Văn Bình", asker_email="b@gmail.com", unit="Phòng A",
                 answer_text="Trả lời", answer_version=1, extended=True, extension_reason="xin ý kiến Bộ",
                 due_at=now, received_at=now, qa_text="Hỏi: N.V.B. hỏi")
    tally = stats.Tally("Phòng A", "Phòng A", quota=2, received=1, news=1, photos=2)
    period = stats.Stats(stats.Period.month(2026, 11), received=3, units=[tally], authors=[tally],
                         queue=[stats.Waiting("BBT-2026-0001", "Tin", "đang xét duyệt", 2, now, True)],
                         questions_due=[stats.Waiting("HD-2026-0001", "Hỏi", "đơn vị", 1, now, False)],
                         questions={"received": 1}, questions_by_unit={"Phòng A": {"received": 1}},
                         on_time={"board": (3, 1)})
    return {"q": q, "kind_label": "câu hỏi", "received": now, "text": "Nội dung", "board_side": True,
            "commands": commands.QUESTION_COMMANDS, "units": [Unit("Phòng A", ("PA",))], "stats": period,
            "rate": stats.rate, "basis": "received", "contributed": lambda t: t.received, "tally": tally,
            "staff": (StaffMember("A", "a@x.gov.vn"), {"news": 0}, {"news": 1}), "labels": {"news": "Tin"},
            "authors": [tally], "report": PeriodicReport("monthly", "Báo cáo tháng", "monthly_report"),
            "label": "tháng 11/2026", "unit": Unit("Phòng A"), "rule_label": "30 ngày làm việc", "date_wanted": True,
            "contribution": Deadline(outcome="missed", due_at=now, start_at=now),
            "gap": "đơn vị chưa cấu hình lãnh đạo",
            "staff_quotas": [stats.StaffQuota(tally, {"news": 1}, {"news": 1, "article": 1})]}


def test_the_publishing_page_shows_the_title_once():
    """Issue 14, item 14: a Word file's own heading that repeats the title (any case, spacing or entity) is
    left out of the body; a first paragraph that says something else stays."""
    from mailbot.articles.publish import article_page, without_repeated_title

    title = "Hội nghị tổng kết công tác tư pháp năm 2026"
    body = "<h1>HỘI NGHỊ TỔNG KẾT  CÔNG TÁC <strong>TƯ PHÁP</strong> NĂM 2026</h1><p>Sáng 20/11, Sở tổ chức.</p>"
    assert without_repeated_title(title, body) == "<p>Sáng 20/11, Sở tổ chức.</p>"
    page = article_page(title, body, "Nguyễn Văn An", "BBT-2026-0001")
    assert page.count("NĂM 2026") == 0 and page.count(f"<h1>{title}</h1>") == 1
    kept = "<p>Hội nghị tổng kết công tác tư pháp năm 2026 đã diễn ra sáng nay.</p>"
    assert without_repeated_title(title, kept) == kept
    assert without_repeated_title(title, "<p>Sáng 20/11.</p>") == "<p>Sáng 20/11.</p>"


def test_the_fast_fold_is_the_general_fold_for_every_character_and_text():
    """vntext.fold replaces Vietnamese letters by table (issue 13: about 3x faster over a long document); what it
    gives must be what the general way gives, character by character and in mixed text."""
    import random

    from mailbot.mail.vntext import _fold_decomposed, fold

    chars = [chr(cp) for cp in range(0x30000) if not 0xD800 <= cp <= 0xDFFF]
    differ = [c for c in chars if fold(c) != _fold_decomposed(c)]
    assert differ == []
    rnd = random.Random(7)
    pool = "ĐđẠạẶặỀềỖỗỰựÝýİıΣσςΑαКкßﬁ한국\u0301\u0323 aZ09.\n"
    for _ in range(300):
        text = "".join(rnd.choice(pool) for _ in range(rnd.randrange(1, 40)))
        assert fold(text) == _fold_decomposed(text), repr(text)
    assert fold("NGÀY DIỄN RA: Thứ Hai") == "ngay dien ra: thu hai"


def _word_file(main_part: str = "word/document.xml") -> tuple[bytes, str]:
    """A Word file with a heading, a tab, a run added to a paragraph, a table with merged cells and a paragraph
    after it; its main part stored under `main_part`. Returns the file and python-docx's own reading of it."""
    import io
    import zipfile

    import docx

    document = docx.Document()
    document.add_heading("Tiêu đề bài viết", 1)
    document.add_paragraph("Đoạn một\tcó tab").add_run(" và thêm chữ")
    table = document.add_table(rows=3, cols=3)
    for i in range(3):
        for j in range(3):
            table.cell(i, j).text = f"ô {i}{j}"
    table.cell(0, 0).merge(table.cell(0, 1))
    table.cell(1, 2).merge(table.cell(2, 2))
    document.add_paragraph("Sau bảng")
    buf = io.BytesIO()
    document.save(buf)
    data = buf.getvalue()
    if main_part != "word/document.xml":   # as some producers name it: found through the package's relationships
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
            for item in src.infolist():
                body = src.read(item)
                if item.filename in ("[Content_Types].xml", "_rels/.rels"):
                    body = body.replace(b"word/document.xml", main_part.encode())
                if item.filename == "word/_rels/document.xml.rels":
                    item.filename = main_part.replace("word/", "word/_rels/") + ".rels"
                dst.writestr(item.filename if item.filename != "word/document.xml" else main_part, body)
        data = out.getvalue()
    lines = []
    for block in docx.Document(io.BytesIO(data)).iter_inner_content():
        if isinstance(block, docx.table.Table):
            for row in block.rows:
                cells = [" ".join(c.text.split()) for c in row.cells]
                lines.append(" | ".join(dict.fromkeys(c for c in cells if c)))
        else:
            lines.append(block.text)
    return data, "\n".join(lines).strip()


@pytest.mark.parametrize("main_part", ["word/document.xml", "word/document2.xml"])
def test_a_word_files_text_is_what_python_docx_reads_from_the_whole_package(main_part):
    """Issue 13: only the main part is parsed; the text is the one docx.Document gives, tables and all."""
    from mailbot.mail.attachments import extract_text

    data, expected = _word_file(main_part)
    # the file is what the test means it to be: both merges, and the paragraph after the table
    assert "ô 00 ô 01 | ô 02" in expected and expected.count("ô 12 ô 22") == 2 and expected.endswith("Sau bảng")
    assert extract_text("docx", data) == (expected, None)


def test_remembered_headers_keep_the_line_end_check_and_each_policys_line_ends():
    """Issue 13: outgoing headers are parsed and folded once for all the mails that share them. A value with a
    line end (a header injection) is still refused every time, and one header object shared by two mails is
    folded with each serialising policy's own line ends."""
    from email.message import EmailMessage

    from mailbot.outbound.render import MAIL_POLICY, serialise

    for _ in range(2):
        with pytest.raises(ValueError):
            EmailMessage(policy=MAIL_POLICY)["Subject"] = "Tin mới\r\nBcc: ke.la@example.com"
    subject = "Đã nhận bài: Hội nghị tổng kết công tác phổ biến giáo dục pháp luật năm 2026 của Sở Tư pháp"
    first, second = EmailMessage(policy=MAIL_POLICY), EmailMessage(policy=MAIL_POLICY)
    for msg in (first, second):
        msg["Subject"] = subject
        msg["Auto-Submitted"] = "auto-replied"
    assert first["Subject"] is second["Subject"]   # one parse for both
    crlf = MAIL_POLICY.clone(linesep="\r\n")
    lf_bytes, crlf_bytes = serialise(first), first.as_bytes(policy=crlf)
    assert serialise(second) == lf_bytes
    assert b"\r\n" not in lf_bytes and lf_bytes.count(b"\n") >= 3   # folded over several lines
    assert crlf_bytes == lf_bytes.replace(b"\n", b"\r\n")
    assert str(second["Subject"]) == subject
