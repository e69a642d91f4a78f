"""PDF digital signatures (002 art. 9.1c): what pyHanko finds in PDFs the suite signs itself with a test CA,
the verdict's bounds, the trust store's settings, and the verdict as the board and `show` see it, end to end
on Dovecot and the SMTP sink."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select

from mailbot import config, views
from mailbot.cli import format_detail
from mailbot.config import DEFAULT_LIMITS
from mailbot.mail import signatures
from mailbot.storage.models import Article, Attachment, Deadline, Event
from mailbot.worktime.calendar import TZ
from tests import pdfsign, samples
from tests.review_helpers import (
    AUTHOR,
    BOARD,
    MEMBER,
    SECRETARY,
    SIGNATURE,
    last_to,
    plain_of,
    reply,
    review_board,
    subject_of,
)

CA = pdfsign.root_ca()
SIGNER = pdfsign.person(CA)
ROOTS = (CA.cert.public_bytes(Encoding.DER),)
SIGNED = pdfsign.sign(pdfsign.pdf(), SIGNER, CA)
TODAY = pdfsign.NOW.astimezone(TZ).strftime("%d/%m/%Y")


def states(found: dict) -> tuple[str, list[str]]:
    return found["state"], [s["state"] for s in found["signers"]]


def test_002_art_9_1c_a_valid_signature_names_its_signer_organisation_and_date():
    """002 art. 9.1c: a document signed by a certificate of the agency's trusted CA is valid; the verdict
    names the signer, the organisation and the signing time."""
    found = signatures.check(SIGNED, ROOTS)
    assert states(found) == ("valid", ["valid"])
    assert signatures.summary_vi(found) == f"Ký số hợp lệ: Nguyễn Văn A, Sở Tư pháp tỉnh Bình Phước, {TODAY}"


def test_002_art_9_1c_a_document_changed_after_signing_is_not_valid():
    """002 art. 9.1c: an incremental update that rewrites the page after signing, or a byte changed inside
    the signed range, voids the signature."""
    assert states(signatures.check(pdfsign.change_after_signing(SIGNED), ROOTS)) == ("modified", ["modified"])
    at = SIGNED.index(b"QUYET DINH so 15")
    tampered = SIGNED[:at] + b"QUYET DINH so 16" + SIGNED[at + 16:]
    found = signatures.check(tampered, ROOTS)
    assert states(found) == ("broken", ["broken"])
    assert "bị can thiệp" in signatures.summary_vi(found)


def test_002_art_9_1c_unsigned_untrusted_and_expired_signers_are_told_apart():
    """002 art. 9.1c: an unsigned PDF, a signer outside the trust store, and a certificate expired before
    the signing each get their own reason."""
    assert states(signatures.check(pdfsign.pdf(), ROOTS)) == ("unsigned", [])
    stranger_ca = pdfsign.root_ca("Một CA không được tin cậy")
    stranger = pdfsign.sign(pdfsign.pdf(), pdfsign.person(stranger_ca), stranger_ca)
    assert states(signatures.check(stranger, ROOTS)) == ("untrusted", ["untrusted"])
    assert states(signatures.check(SIGNED, ())) == ("untrusted", ["untrusted"])   # an empty trust store trusts nobody
    expired = pdfsign.person(CA, "Trần Thị B", valid_from=timedelta(days=-400), valid_to=timedelta(days=-3))
    found = signatures.check(pdfsign.sign(pdfsign.pdf(), expired, CA), ROOTS)
    assert states(found) == ("expired", ["expired"])
    assert signatures.summary_vi(found).startswith("Chữ ký số không hợp lệ: chứng thư số của người ký đã hết hạn")
    assert "Trần Thị B" in signatures.summary_vi(found)
    assert signatures.summary_vi(signatures.check(pdfsign.pdf(), ROOTS)) == \
        "Chữ ký số không hợp lệ: tệp không có chữ ký số"


def test_002_art_9_1c_two_signatures_one_broken_make_the_document_invalid():
    """002 art. 9.1c: of two signatures, a valid one does not cover for a broken one: the file was tampered with."""
    two = pdfsign.sign(pdfsign.break_signature(SIGNED), pdfsign.person(CA, "Trần Thị B"), CA, field="Signature2")
    assert states(signatures.check(two, ROOTS)) == ("broken", ["broken", "valid"])
    both = pdfsign.sign(SIGNED, pdfsign.person(CA, "Trần Thị B"), CA, field="Signature2")
    found = signatures.check(both, ROOTS)
    assert states(found) == ("valid", ["valid", "valid"])   # a second signature is a change a signature allows
    assert "Nguyễn Văn A" in signatures.summary_vi(found) and "Trần Thị B" in signatures.summary_vi(found)


def test_a_hostile_or_broken_pdf_gets_a_verdict_within_its_bounds():
    """A PDF pyHanko cannot read is "unreadable", never an exception; the check runs in the extraction child
    under `limits.signature_seconds`."""
    assert signatures.check(b"%PDF-1.4\n1 0 obj garbage\n%%EOF\n", ROOTS)["state"] == "unreadable"
    assert states(signatures.verdict(SIGNED, ROOTS, False, DEFAULT_LIMITS)) == ("valid", ["valid"])
    truncated = SIGNED[: len(SIGNED) // 2] + b"\n%%EOF\n"
    assert signatures.verdict(truncated, ROOTS, False, DEFAULT_LIMITS)["state"] in ("unreadable", "broken")


MINIMAL = """
[[agency]]
slug = "stp"
preset = "binhphuoc"
board_address = "bbt@binhphuoc.gov.vn"
mailbox = "maildir:///tmp/none"
outgoing = "file:///tmp/out"
"""


def test_the_trust_store_is_a_folder_of_certificates_and_a_wrong_one_is_an_error(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text(MINIMAL + '[agency.signatures]\ntrust_store = "trust"\n', encoding="utf-8")
    with pytest.raises(config.ConfigError) as info:
        config.load(path, environ={})
    assert [p.key for p in info.value.problems] == ["agency[0].signatures.trust_store"]
    (tmp_path / "trust").mkdir()
    (tmp_path / "trust" / "notes.txt").write_text("not a certificate")
    with pytest.raises(config.ConfigError) as info:
        config.load(path, environ={})
    assert "notes.txt" in info.value.problems[0].message
    (tmp_path / "trust" / "notes.txt").unlink()
    pdfsign.trust_store(tmp_path / "trust", CA, pdfsign.root_ca("Second root"))
    agency = config.load(path, environ={}).agencies[0]
    assert agency.signatures.enabled and len(agency.signatures.roots) == 2 and not agency.signatures.revocation
    path.write_text(MINIMAL, encoding="utf-8")
    assert not config.load(path, environ={}).agencies[0].signatures.enabled   # off unless a trust store is set


def test_002_art_9_1c_the_verdict_is_recorded_shown_to_the_board_and_printed_by_show(
        tmp_path, database_url, dovecot, smtp_sink, clock):
    """002 art. 9.1c: the verdict on each PDF is kept on its attachment, printed in the secretary's notice and
    the board's review request, and by `show`; a focal point's forward of a colleague's signed decision too."""
    trust = pdfsign.trust_store(tmp_path / "trust", CA)
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock,
                         extra=f'[agency.signatures]\ntrust_store = "{trust}"\n')
    unsigned = pdfsign.pdf("KE HOACH so 20/KH-STP")
    board.say(samples.build("outlook", sender=AUTHOR, to=BOARD, subject="Gửi đăng Quyết định số 15/QĐ-STP",
                            text=f"Kính gửi Ban Biên tập,\nGửi Quyết định đã ký số và kế hoạch kèm theo.\n\n{SIGNATURE}",
                            files=(samples.File("QD 15.pdf", "application/pdf", SIGNED),
                                   samples.File("KH 20.pdf", "application/pdf", unsigned))))
    with board.transaction() as s:
        article = s.scalars(select(Article)).one()
        files = {f.filename: f.signature["state"] for f in s.scalars(select(Attachment))}
        assert files == {"QD 15.pdf": "valid", "KH 20.pdf": "unsigned"}
        shown = format_detail(views.article_detail(s, article.reference))
    valid = f"Ký số hợp lệ: Nguyễn Văn A, Sở Tư pháp tỉnh Bình Phước, {TODAY}"
    assert valid in shown and "Chữ ký số không hợp lệ: tệp không có chữ ký số" in shown
    for person in (SECRETARY, MEMBER):
        text = plain_of(last_to(smtp_sink, person[1]))
        assert valid in text and "Chữ ký số không hợp lệ: tệp không có chữ ký số" in text
    # A focal point forwards a colleague's signed decision: the verdict is the same.
    forward = (f"Chuyển Ban Biên tập đăng.\n\n---------- Forwarded message ---------\n"
               f"From: Trần Thị Hoa <hoa.tt@binhphuoc.gov.vn>\nDate: Mon, 23 Nov 2026 at 08:00\n"
               f"Subject: Quyết định số 16/QĐ-STP\nTo: {AUTHOR[1]}\n\nGửi anh Quyết định số 16.\n"
               "Trần Thị Hoa\nChuyên viên Văn phòng Sở\nĐT: 0271 3879 456\n")
    board.say(samples.build("gmail", sender=AUTHOR, to=BOARD, subject="Fwd: Quyết định số 16/QĐ-STP", text=forward,
                            files=(samples.File("QD 16.pdf", "application/pdf",
                                                pdfsign.sign(pdfsign.pdf("QUYET DINH so 16"), SIGNER, CA)),)))
    with board.transaction() as s:
        newest = s.scalars(select(Article).order_by(Article.id.desc()).limit(1)).one()
        assert newest.author["email"] == "hoa.tt@binhphuoc.gov.vn"
        assert [f.signature["state"] for f in newest.attachments] == ["valid"]
        assert newest.status == "review"   # a document whose signature is valid needs no paper original


def test_without_a_trust_store_pdf_signatures_are_not_checked(tmp_path, database_url, dovecot, smtp_sink, clock):
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    board.say(samples.build("gmail", sender=AUTHOR, to=BOARD, subject="[TIN] Hội nghị triển khai Quyết định 15",
                            text=f"Kính gửi Ban Biên tập,\nGửi tin hội nghị.\n\n{SIGNATURE}",
                            files=(samples.File("QD 15.pdf", "application/pdf", SIGNED),)))
    with board.transaction() as s:
        [row] = s.scalars(select(Attachment)).all()
        assert row.ok and row.signature is None
    assert "Ký số" not in plain_of(last_to(smtp_sink, SECRETARY[1]))


def decision(board, subject: str, pdf_bytes: bytes | None, name: str = "QD 15.pdf") -> None:
    files = (samples.File(name, "application/pdf", pdf_bytes),) if pdf_bytes else ()
    board.say(samples.build("outlook", sender=AUTHOR, to=BOARD, subject=subject,
                            text=f"Kính gửi Ban Biên tập,\nGửi văn bản đề nghị đăng tải.\n\n{SIGNATURE}", files=files))


def newest(board) -> Article:
    with board.transaction() as s:
        a = s.scalars(select(Article).order_by(Article.id.desc()).limit(1)).one()
        s.expunge(a)
        return a


def signed_board(tmp_path, database_url, dovecot, smtp_sink, clock):
    trust = pdfsign.trust_store(tmp_path / "trust", CA)
    return review_board(tmp_path, database_url, dovecot, smtp_sink, clock,
                        extra=f'[agency.signatures]\ntrust_store = "{trust}"\n')


def test_002_art_9_1c_an_unsigned_document_waits_for_its_signed_original_and_the_signed_reply_sends_it_on(
        tmp_path, database_url, dovecot, smtp_sink, clock):
    """002 art. 9.1c: a document the leaders issue, sent without a valid digital signature, waits as "awaiting
    signed original": the sender is told why, the secretary may confirm a paper original, the wait has its
    deadline and reminders, and the sender's reply with the signed PDF sends it to the board."""
    board = signed_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    decision(board, "Gửi đăng Quyết định số 15/QĐ-STP", pdfsign.pdf())
    a = newest(board)
    assert (a.category, a.status, a.missing) == ("document", "awaiting_original", ["signed_original"])
    ask = last_to(smtp_sink, AUTHOR[1], "Cần bản có chữ ký số hoặc bản gốc")
    assert "Văn bản này chưa đạt vì: tệp không có chữ ký số." in plain_of(ask)
    notice = plain_of(last_to(smtp_sink, SECRETARY[1], "Chờ bản gốc"))
    assert "ĐÃ NHẬN BẢN GỐC" in notice and "tệp không có chữ ký số" in notice and "DUYỆT" not in notice
    assert not smtp_sink.to(MEMBER[1])
    with board.transaction() as s:
        [wait] = s.scalars(select(Deadline).where(Deadline.article_id == a.id, Deadline.position ==
                                                  "awaiting_original")).all()
        assert (wait.rule_name, wait.closed_at) == ("author_original", None)
    # Before the deadline the sender is reminded (office hours, on the deadline's day).
    clock.current = wait.due_at - timedelta(hours=2)
    board.run_once()
    assert any("gửi bản có chữ ký số hoặc bản gốc" in subject_of(m) for m in smtp_sink.to(AUTHOR[1]))
    # The author answers with the signed file: the board gets it, the secretary's token is spent.
    board.say(reply(ask, "outlook_vi", AUTHOR, "Em gửi lại bản đã ký số ạ.",
                    files=(samples.File("QD 15 ky so.pdf", "application/pdf", SIGNED),)))
    a = newest(board)
    assert (a.status, a.missing) == ("review", [])
    assert "Ký số hợp lệ: Nguyễn Văn A" in plain_of(last_to(smtp_sink, MEMBER[1], "Cần xử lý"))
    with board.transaction() as s:
        assert s.get_one(Deadline, wait.id).closed_at is not None
    late = reply(last_to(smtp_sink, SECRETARY[1], "Chờ bản gốc"), "gmail", SECRETARY, "ĐÃ NHẬN BẢN GỐC")
    board.say(late)
    assert newest(board).status == "review"
    assert "không có hiệu lực" in plain_of(smtp_sink.to(SECRETARY[1])[-1])


def test_002_art_9_1c_the_sender_is_told_plainly_what_is_wrong_with_the_signature(
        tmp_path, database_url, dovecot, smtp_sink, clock):
    """002 art. 9.1c: modified after signing, a signer the agency does not trust, an expired certificate,
    and a broken second signature each reach the sender in plain Vietnamese; a news item needs none."""
    board = signed_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    stranger_ca = pdfsign.root_ca("CA lạ")
    expired = pdfsign.person(CA, "Trần Thị B", valid_from=timedelta(days=-400), valid_to=timedelta(days=-3))
    cases = [
        ("Quyết định số 21/QĐ-STP", pdfsign.change_after_signing(SIGNED), "tệp đã bị sửa đổi sau khi ký"),
        ("Quyết định số 22/QĐ-STP", pdfsign.sign(pdfsign.pdf(), pdfsign.person(stranger_ca), stranger_ca),
         "không thuộc tổ chức chứng thực mà cơ quan tin cậy"),
        ("Quyết định số 23/QĐ-STP", pdfsign.sign(pdfsign.pdf(), expired, CA), "đã hết hạn"),
        ("Quyết định số 24/QĐ-STP", pdfsign.sign(pdfsign.break_signature(SIGNED), SIGNER, CA, field="S2"),
         "không còn nguyên vẹn"),
    ]
    for subject, data, reason in cases:
        decision(board, subject, data)
        assert newest(board).status == "awaiting_original"
        assert reason in plain_of(last_to(smtp_sink, AUTHOR[1], subject))
    board.say(samples.build("gmail", sender=AUTHOR, to=BOARD, subject="[TIN] Hội nghị tổng kết",
                            text=f"Kính gửi Ban Biên tập,\nGửi tin hội nghị.\n\n{SIGNATURE}",
                            files=(samples.File("Tin.pdf", "application/pdf", pdfsign.pdf()),)))
    assert newest(board).status == "review"


def test_002_art_9_1c_the_secretary_confirms_the_paper_original_by_reply_with_the_token_authority(
        tmp_path, database_url, dovecot, smtp_sink, clock):
    """002 art. 9.1c: ĐÃ NHẬN BẢN GỐC from the secretary, answering the notice sent to her, sends the document to
    the board; the same words from another member answering her notice, or in a review position, do nothing."""
    board = signed_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    decision(board, "Gửi đăng Chỉ thị số 02/CT-STP", pdfsign.pdf("CHI THI so 02"))
    notice = last_to(smtp_sink, SECRETARY[1], "Chờ bản gốc")
    board.say(reply(notice, "gmail", MEMBER, "ĐÃ NHẬN BẢN GỐC"))   # not hers to send
    assert newest(board).status == "awaiting_original"
    board.say(reply(notice, "outlook_vi", SECRETARY, "Đã nhận bản gốc\nBản giấy có dấu đỏ, nhận lúc 14:00."))
    a = newest(board)
    assert a.status == "review"
    with board.transaction() as s:
        events = [(e.kind, e.actor, e.detail) for e in s.scalars(select(Event).where(Event.article_id == a.id))]
    assert ("paper_original_confirmed", SECRETARY[1], "Bản giấy có dấu đỏ, nhận lúc 14:00.") in events
    request = plain_of(last_to(smtp_sink, MEMBER[1], "Cần xử lý"))
    assert "ĐÃ NHẬN BẢN GỐC" not in request and "DUYỆT" in request
    board.say(reply(last_to(smtp_sink, MEMBER[1], "Cần xử lý"), "gmail", MEMBER, "ĐÃ NHẬN BẢN GỐC"))
    assert newest(board).status == "review"
    assert "bài không ở trạng thái chờ bản gốc" in plain_of(smtp_sink.to(MEMBER[1])[-1])


def test_002_art_9_1c_without_a_trust_store_a_document_waits_for_its_paper_original(
        tmp_path, database_url, dovecot, smtp_sink, clock):
    """002 art. 9.1c: the Bình Phước preset asks for the original even where no trust store is configured:
    the sender is told the signature could not be checked, and the secretary's confirmation sends it on."""
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    decision(board, "Gửi đăng Quyết định số 15/QĐ-STP", SIGNED)
    assert newest(board).status == "awaiting_original"
    assert "chưa kiểm tra được chữ ký số" in plain_of(last_to(smtp_sink, AUTHOR[1], "Cần bản có chữ ký số"))
    board.say(reply(last_to(smtp_sink, SECRETARY[1], "Chờ bản gốc"), "gmail", SECRETARY, "ĐÃ NHẬN BẢN GỐC"))
    assert newest(board).status == "review"


def test_002_art_9_1c_a_document_held_after_a_flood_is_released_into_its_wait_for_the_original(
        tmp_path, database_url, dovecot, smtp_sink, clock):
    """002 art. 9.1c: an unsigned document filed past the submission rate, once released, waits for its
    original, and the secretary gets the notice to confirm the paper one; the board is not asked yet."""
    trust = pdfsign.trust_store(tmp_path / "trust", CA)
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock,
                         extra=f'[agency.signatures]\ntrust_store = "{trust}"\n\n'
                               '[agency.limits]\nsubmissions_per_hour = 1\n')
    decision(board, "Quyết định số 31/QĐ-STP", pdfsign.pdf("QUYET DINH so 31"))
    decision(board, "Quyết định số 32/QĐ-STP", pdfsign.pdf("QUYET DINH so 32"))
    held = newest(board)
    assert held.status == "awaiting_original"
    assert not [m for m in smtp_sink.to(SECRETARY[1]) if held.reference in subject_of(m) and "Chờ bản gốc"
                in subject_of(m)]
    said = board.worker.intake.release(held.reference)
    assert said == f"{held.reference} released; it waits for its signed original (the secretary was asked)"
    board.run_once()
    assert [m for m in smtp_sink.to(SECRETARY[1]) if held.reference in subject_of(m) and "Chờ bản gốc" in subject_of(m)]
    assert newest(board).status == "awaiting_original"
    assert not [m for m in smtp_sink.to(MEMBER[1]) if held.reference in subject_of(m)]
