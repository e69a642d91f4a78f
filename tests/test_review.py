"""Review by reply, end to end on Dovecot + the SMTP sink: every preset's steps, from every client."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from mailbot import metrics
from mailbot.storage.models import Article, Event, InboundMessage, ReviewToken
from tests import samples
from tests.review_helpers import (
    AUTHOR,
    DEPUTY,
    DIRECTOR,
    DOCX,
    HEAD,
    MEMBER,
    SECRETARY,
    UNIT_HEAD,
    last_to,
    plain_of,
    reply,
    review_board,
    stamp,
    subject_of,
    submission,
)


@pytest.fixture
def bp(tmp_path, database_url, dovecot, smtp_sink, clock):
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    yield board
    board.close()


def article(board) -> Article:
    with board.transaction() as s:
        a = s.scalars(select(Article)).one()
        s.expunge(a)
        return a


def history(board) -> list[tuple[str, str, str]]:
    with board.transaction() as s:
        return [(e.kind, e.to_status, e.actor) for e in s.scalars(select(Event).order_by(Event.id))]


def position(board) -> str:
    a = article(board)
    return f"{a.status}:{a.step}" if a.step else a.status


def test_binh_phuoc_three_steps_publication_and_takedown(bp):
    """Bình Phước's three steps, then the secretary publishes (002 art. 15); takedown is the board's decision (000
    art. 9)."""
    sink = bp.sink
    assert bp.say(submission()).counts == {"filed": 1}
    assert position(bp) == "review:edit"
    # The edit step goes to everyone who may edit; the author is never asked.
    for who in (MEMBER, DEPUTY, HEAD):
        request = last_to(sink, who[1], "Cần xử lý (Biên tập)")
        assert request.message["Reply-To"].startswith("bbt+")
        assert "DUYỆT (APPROVE)" in plain_of(request)
        # The regulation's grounds keep their capitals (issue 14 item 13): never "đảng", "nhà nước".
        assert "Đảng" in plain_of(request) and "Nhà nước" in plain_of(request) and "đảng" not in plain_of(request)
    assert sink.to(AUTHOR[1]) and not [m for m in sink.to(AUTHOR[1]) if "Cần xử lý" in subject_of(m)]

    assert bp.say(reply(last_to(sink, MEMBER[1], "Biên tập"), "gmail", MEMBER, "DUYỆT")).counts == {"command": 1}
    assert position(bp) == "review:verify"
    receipt = last_to(sink, MEMBER[1], "Đã thực hiện")
    assert "chuyển sang bước Thẩm định" in plain_of(receipt)
    assert "Trưởng ban" in plain_of(receipt)  # who acts next

    bp.say(reply(last_to(sink, HEAD[1], "Thẩm định"), "outlook_vi", HEAD, "Duyệt"))
    assert position(bp) == "review:final_check"
    bp.say(reply(last_to(sink, DEPUTY[1], "Kiểm tra lần cuối"), "outlook_en", DEPUTY, "APPROVE"))
    assert position(bp) == "approved"

    package = last_to(sink, SECRETARY[1], "Đã duyệt, đề nghị đăng")
    parts = {p.get_filename(): p for p in package.message.walk() if p.get_filename()}
    page = parts["BBT-2026-0001.html"].get_payload(decode=True).decode()
    assert "<h1>Hội nghị tổng kết công tác tư pháp</h1>" in page
    # The Word file's own heading repeats the title: the page shows it once (issue 14, item 14).
    assert "Hội nghị tổng kết công tác tư pháp" not in page.split("</h1>", 1)[1]
    assert "Sở Tư pháp tổ chức hội nghị" in page and "Nguyễn Văn An, Phòng Phổ biến" in page
    assert "Ảnh hội nghị.jpg" in parts
    assert "Đã được duyệt" in subject_of(last_to(sink, AUTHOR[1], "Đã được duyệt"))

    url = "https://stp.binhphuoc.gov.vn/tin-tuc/hoi-nghi-tong-ket-2026"
    bp.say(reply(package, "thunderbird", SECRETARY, f"ĐÃ ĐĂNG: {url}"))
    assert position(bp) == "published" and article(bp).published_url == url
    assert url in plain_of(last_to(sink, AUTHOR[1], "Đã đăng"))

    bp.say(reply(last_to(sink, HEAD[1], "Đã đăng"), "zimbra", HEAD, "GỠ: số liệu chưa chính xác"))
    assert position(bp) == "taken_down"
    assert "số liệu chưa chính xác" in plain_of(last_to(sink, SECRETARY[1], "Quyết định gỡ bài"))
    assert [k for k, _, _ in history(bp)] == [
        "filed_complete", "review_started", "step_approved", "step_approved", "final_approved", "published",
        "taken_down"]


def test_procuracy_sensitive_content_goes_to_the_director(tmp_path, database_url, dovecot, smtp_sink, clock):
    """The deputy head reviews, the head decides (000 art. 10); secrets need the director (000 art. 9)."""
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock, preset="vkssoctrang")
    board.say(submission("[MẬT] Kết quả kiểm sát vụ án"))
    assert position(board) == "review:review" and article(board).sensitive
    assert not [m for m in smtp_sink.to(HEAD[1]) if "Cần xử lý" in subject_of(m)]  # the deputy head reviews first
    board.say(reply(last_to(smtp_sink, DEPUTY[1], "Xem xét"), "iphone", DEPUTY, "Duyệt"))
    assert position(board) == "review:decide"
    board.say(reply(last_to(smtp_sink, HEAD[1], "Quyết định"), "gmail_mobile", HEAD, "duyet"))
    assert position(board) == "director_review"
    board.say(reply(last_to(smtp_sink, DIRECTOR[1], "Cần xử lý"), "outlook_vi", DIRECTOR, "ĐỒNG Ý DUYỆT"))
    assert position(board) == "director_review"  # "ĐỒNG Ý DUYỆT" is not a command: nothing is guessed
    assert "không hiểu lệnh" in plain_of(last_to(smtp_sink, DIRECTOR[1], "Hướng dẫn"))
    board.say(reply(last_to(smtp_sink, DIRECTOR[1], "Cần xử lý"), "outlook_vi", DIRECTOR, "DUYỆT"))
    assert position(board) == "approved" and article(board).director_approved
    board.close()


def test_kon_tum_unit_head_confirms_first(tmp_path, database_url, dovecot, smtp_sink, clock):
    """The unit head confirms first (001 art. 18.2; 002 art. 9.1a; 004 art. 7.2a); members edit, the head approves,
    the office publishes (001 art. 13-17)."""
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock, preset="kontum")
    board.say(submission())
    assert position(board) == "unit_review"
    request = last_to(smtp_sink, UNIT_HEAD[1], "Cần xử lý")
    assert "Lãnh đạo đơn vị" in plain_of(request)
    assert not [m for m in smtp_sink.to(MEMBER[1]) if "Cần xử lý" in subject_of(m)]
    board.say(reply(request, "gmail_mobile", UNIT_HEAD, "Duyệt"))
    assert position(board) == "review:edit"
    board.say(reply(last_to(smtp_sink, MEMBER[1], "Biên tập"), "zimbra", MEMBER, "DUYỆT"))
    board.say(reply(last_to(smtp_sink, HEAD[1], "Phê duyệt"), "iphone", HEAD, "DUYỆT"))
    assert position(board) == "approved"
    board.close()


def test_001_art_18_2_authors_outside_the_directory_are_confirmed_by_the_unit_their_signature_or_domain_names(
        tmp_path, database_url, dovecot, smtp_sink, clock):
    """Unit pre-approval (001 art. 18.2) for staff who are not in the directory: the unit from their signature,
    else the unit whose mail domain they write from."""
    unit_extra = 'domains = ["pbgdpl.binhphuoc.gov.vn"]'
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock, preset="kontum", unit_extra=unit_extra)
    mai = ("Trần Thị Mai", "mai.tt@binhphuoc.gov.vn")
    board.say(submission(sender=mai, text="Gửi tin.\n\nTrân trọng,\nTrần Thị Mai\nChuyên viên Phòng PBGDPL\n"
                                          "ĐT: 0913 222 333"))
    assert position(board) == "unit_review"
    assert "Lãnh đạo đơn vị" in plain_of(last_to(smtp_sink, UNIT_HEAD[1], "Cần xử lý"))
    board.close()

    (tmp_path / "domain").mkdir()
    board = review_board(tmp_path / "domain", database_url, dovecot, smtp_sink, clock, preset="kontum",
                         unit_extra=unit_extra)
    tung = ("Lê Văn Tùng", "tung.lv@pbgdpl.binhphuoc.gov.vn")
    board.say(submission("[TIN] Tuyên truyền pháp luật ở cơ sở", sender=tung,
                         text="Gửi tin.\n\nLê Văn Tùng\nĐT: 0913 444 555\nĐịa chỉ: 12 Trần Hưng Đạo, Đồng Xoài"))
    with board.transaction() as s:
        tung_article = s.scalars(select(Article).where(Article.submitter_email == tung[1])).one()
    assert tung_article.status == "unit_review"
    assert len([m for m in smtp_sink.to(UNIT_HEAD[1]) if "Cần xử lý" in subject_of(m)]) == 2
    board.close()


@pytest.mark.parametrize("unit_line, gap", [
    ("Chuyên viên Văn phòng Sở", "đơn vị Văn phòng Sở chưa cấu hình lãnh đạo đơn vị"),
    ("Chuyên viên Phòng Kế hoạch - Tài chính", "không xác định được đơn vị của tác giả"),
])
def test_001_art_18_2_a_pre_approval_that_cannot_happen_is_told_to_the_secretary(
        tmp_path, database_url, dovecot, smtp_sink, clock, unit_line, gap):
    """Where no unit head is known, the article goes to the board and the secretary is told why its unit's
    confirmation (001 art. 18.2) could not be asked for; once."""
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock, preset="kontum",
                         unit_extra='\n[[agency.units]]\nname = "Văn phòng Sở"\naliases = ["VP"]\n')
    mai = ("Trần Thị Mai", "mai.tt@binhphuoc.gov.vn")
    board.say(submission(sender=mai, text=f"Gửi tin.\n\nTrân trọng,\nTrần Thị Mai\n{unit_line}\nĐT: 0913 222 333"))
    assert position(board) == "review:edit"
    [told] = [m for m in smtp_sink.to(SECRETARY[1]) if "Chưa lấy được ý kiến lãnh đạo đơn vị" in subject_of(m)]
    assert gap in plain_of(told) and "BBT-2026-0001" in subject_of(told)
    assert not [m for m in smtp_sink.to(UNIT_HEAD[1]) if "Cần xử lý" in subject_of(m)]
    with board.transaction() as s:
        kinds = [e.kind for e in s.scalars(select(Event).order_by(Event.id))]
    assert kinds.count("unit_review_skipped") == 1
    board.run_once()
    assert len([m for m in smtp_sink.to(SECRETARY[1]) if "Chưa lấy được" in subject_of(m)]) == 1
    board.close()


def test_cchc_outside_sender_is_confirmed_then_published_at_once(tmp_path, database_url, dovecot, smtp_sink, clock):
    """Outside senders may send content (002 art. 7.3); from outside @soctrang.gov.vn the unit leader confirms it
    (004 art. 10.1a); members review, the head approves (004 art. 6.1d, 10.2); published at once (004 art.
    10.3a)."""
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock, preset="cchcsoctrang")
    outsider = ("Trương Thị Ngọc", "ngoc.tt1990@gmail.com")
    board.say(submission("[TIN] Cải cách thủ tục hành chính cấp xã", sender=outsider,
                         text="Gửi tin.\n\nHọ tên: Trương Thị Ngọc\nĐơn vị: Phòng PBGDPL\nĐT: 0913 111 222"))
    assert position(board) == "unit_review"
    board.say(reply(last_to(smtp_sink, UNIT_HEAD[1], "Cần xử lý"), "outlook_vi", UNIT_HEAD, "DUYỆT"))
    board.say(reply(last_to(smtp_sink, MEMBER[1], "Thẩm định"), "gmail", MEMBER, "DUYỆT"))
    board.say(reply(last_to(smtp_sink, HEAD[1], "Phê duyệt"), "gmail", HEAD, "DUYỆT"))
    assert position(board) == "approved"
    assert last_to(smtp_sink, SECRETARY[1], "ĐĂNG NGAY")
    assert "được đăng ngay" in plain_of(last_to(smtp_sink, outsider[1], "Đã được duyệt"))
    board.close()


def test_forged_from_and_failed_dkim_have_no_effect_and_alert_the_head(tmp_path, database_url, dovecot, smtp_sink,
                                                                          clock):
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock, authserv="mx.binhphuoc.gov.vn")
    board.say(submission())
    request = last_to(smtp_sink, MEMBER[1], "Biên tập")
    # Someone else replies with Bảo's token.
    forged = reply(request, "gmail", ("Kẻ gian", "attacker@evil.example"), "DUYỆT")
    assert board.say(forged).counts == {"command": 1}
    assert position(board) == "review:edit"
    assert "attacker@evil.example" in plain_of(last_to(smtp_sink, HEAD[1], "Cảnh báo"))
    # Bảo's own address, but his mail server's signature failed; a pass added further down is ignored.
    headers = (("Authentication-Results", "mx.binhphuoc.gov.vn; dkim=fail header.d=binhphuoc.gov.vn; dmarc=fail"),
               ("Authentication-Results", "mx.binhphuoc.gov.vn.evil.example; dkim=pass"))
    board.say(reply(request, "gmail", MEMBER, "DUYỆT", extra_headers=headers))
    assert position(board) == "review:edit"
    assert len([m for m in smtp_sink.to(HEAD[1]) if "Cảnh báo" in subject_of(m)]) == 2
    passing = (("Authentication-Results", "mx.binhphuoc.gov.vn; dkim=none; dmarc=pass header.from=binhphuoc.gov.vn"),)
    board.say(reply(request, "gmail", MEMBER, "DUYỆT", extra_headers=passing))
    assert position(board) == "review:verify"
    with board.transaction() as s:
        reasons = [m.reason for m in s.scalars(select(InboundMessage).order_by(InboundMessage.id))][1:]
    assert reasons[0].startswith("forged-sender") and reasons[1].startswith("unauthenticated")
    board.close()


def commands_counted(bp) -> dict[str, float]:
    return {outcome: metrics.REGISTRY.get_sample_value(
        "mailbot_commands_total", {"agency": bp.agency.slug, "outcome": outcome}) or 0 for outcome in ("applied", "refused")}


def test_replay_and_a_second_decision_on_the_same_step(bp):
    before = commands_counted(bp)
    bp.say(submission())
    to_member = last_to(bp.sink, MEMBER[1], "Biên tập")
    to_deputy = last_to(bp.sink, DEPUTY[1], "Biên tập")
    bp.say(reply(to_member, "gmail", MEMBER, "DUYỆT"))
    assert position(bp) == "review:verify"
    bp.say(reply(to_member, "gmail", MEMBER, "DUYỆT"))  # the same notification again
    assert position(bp) == "review:verify"
    assert "đã được dùng" in plain_of(last_to(bp.sink, MEMBER[1], "không có hiệu lực"))
    bp.say(reply(to_deputy, "outlook_vi", DEPUTY, "TỪ CHỐI: CL"))  # too late: Bảo decided first
    assert position(bp) == "review:verify"
    told = plain_of(last_to(bp.sink, DEPUTY[1], "không có hiệu lực"))
    assert "đã chuyển sang bước khác" in told and MEMBER[1] in told
    # The metrics count each command by outcome: one applied, the replay and the late one refused.
    after = commands_counted(bp)
    assert (after["applied"] - before["applied"], after["refused"] - before["refused"]) == (1, 2)


def test_an_author_cannot_approve_their_own_article_and_a_former_member_cannot_act(tmp_path, database_url, dovecot,
                                                                                     smtp_sink, clock):
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    # Bảo, a member, sends an article himself: he is not asked to edit it...
    board.say(submission(sender=MEMBER, text="Bài của tôi.\n\nPhạm Quốc Bảo\nPhòng PBGDPL\nĐT: 0913 000 111"))
    assert not [m for m in smtp_sink.to(MEMBER[1]) if "Cần xử lý" in subject_of(m)]
    # ...and a token that reaches him anyway (made before he wrote it, say) does not let him approve it.
    with board.transaction() as s:
        a = s.scalars(select(Article)).one()
        board.worker.intake.review.issue(s, a, MEMBER[1], "member", board.clock())
        token = s.scalars(select(ReviewToken).where(ReviewToken.member == MEMBER[1])).one().token
    forged_request = samples.build("gmail", sender=MEMBER, to="bbt@binhphuoc.gov.vn", subject="Re: BBT-2026-0001",
                                   text="DUYỆT", in_reply_to=f"mailbot.t-{token}@binhphuoc.gov.vn",
                                   extra_headers=stamp(MEMBER[1]))
    board.say(forged_request)
    assert position(board) == "review:edit"
    assert "tác giả" in plain_of(last_to(smtp_sink, MEMBER[1], "không có hiệu lực"))
    board.close()

    # The deputy leaves the board; her old notification is no longer enough.
    second = review_board(tmp_path, database_url, dovecot, smtp_sink, clock, without=(DEPUTY[1],))
    second.say(reply(last_to(smtp_sink, DEPUTY[1], "Biên tập"), "gmail", DEPUTY, "DUYỆT"))
    assert position(second) == "review:edit"
    with second.transaction() as s:
        assert "not-member" in s.scalars(select(InboundMessage).order_by(InboundMessage.id.desc())).first().reason
    second.close()


def test_revise_and_resubmit_returns_to_the_step_that_asked(bp):
    """The board asks the sender to complete or clarify (002 art. 12.1); the revision returns to the step that
    asked."""
    bp.say(submission())
    bp.say(reply(last_to(bp.sink, MEMBER[1], "Biên tập"), "gmail", MEMBER, "DUYỆT"))
    bp.say(reply(last_to(bp.sink, HEAD[1], "Thẩm định"), "outlook_vi", HEAD,
                 "YÊU CẦU SỬA: bổ sung chú thích ảnh\nvà số liệu người tham dự"))
    assert position(bp) == "awaiting_revision"
    ask = last_to(bp.sink, AUTHOR[1], "Cần chỉnh sửa")
    assert "bổ sung chú thích ảnh\nvà số liệu người tham dự" in plain_of(ask)
    corrected = samples.File("Tin hội nghị.docx", DOCX, samples.docx_bytes("Hội nghị (bản sửa)", ["Có 120 đại biểu."]))
    bp.say(reply(ask, "outlook_vi", AUTHOR, "Em gửi bản đã sửa ạ.", files=(corrected,)))
    a = article(bp)
    assert (a.status, a.step, a.version) == ("review", "verify", 2)
    request = last_to(bp.sink, HEAD[1], "Thẩm định")
    assert "phiên bản 2" in plain_of(request)
    files = {p.get_filename(): p.get_payload(decode=True) for p in request.message.walk() if p.get_filename()}
    assert sorted(files) == ["Tin hội nghị.docx", "Ảnh hội nghị.jpg"]
    assert files["Tin hội nghị.docx"] == corrected.data  # the corrected version, not the first
    bp.say(reply(request, "outlook_vi", HEAD, "DUYỆT"))
    assert position(bp) == "review:final_check"


def test_undo_within_the_window_and_not_after(bp):
    bp.say(submission())
    bp.say(reply(last_to(bp.sink, MEMBER[1], "Biên tập"), "gmail", MEMBER, "DUYỆT"))
    assert position(bp) == "review:verify"
    bp.clock.current += timedelta(minutes=5)
    bp.say(reply(last_to(bp.sink, MEMBER[1], "Đã thực hiện"), "gmail", MEMBER, "HOÀN TÁC"))
    assert position(bp) == "review:edit"
    with bp.transaction() as s:
        verify_tokens = s.scalars(select(ReviewToken).where(ReviewToken.step == "verify")).all()
        assert verify_tokens and all(t.revoked_at for t in verify_tokens)
    bp.say(reply(last_to(bp.sink, DEPUTY[1], "Biên tập"), "gmail", DEPUTY, "DUYỆT"))  # a fresh request
    assert position(bp) == "review:verify"
    bp.clock.current += timedelta(minutes=30)
    bp.say(reply(last_to(bp.sink, DEPUTY[1], "Đã thực hiện"), "gmail", DEPUTY, "undo"))
    assert position(bp) == "review:verify"
    assert "Không hoàn tác được" in plain_of(last_to(bp.sink, DEPUTY[1], "không có hiệu lực"))


def test_an_editors_file_becomes_a_new_version(bp):
    bp.say(submission())
    edited = samples.File("Tin hội nghị - đã biên tập.docx", DOCX, samples.docx_bytes("Hội nghị", ["Đã biên tập."]))
    bp.say(reply(last_to(bp.sink, MEMBER[1], "Biên tập"), "thunderbird", MEMBER, "DUYỆT", files=(edited,)))
    a = article(bp)
    assert (a.step, a.version) == ("verify", 2)
    assert ("edited_version", "review:edit", MEMBER[1]) in history(bp)  # stored at the step that edited it
    request = last_to(bp.sink, HEAD[1], "Thẩm định")
    assert sorted(p.get_filename() for p in request.message.walk() if p.get_filename()) == [
        "Tin hội nghị - đã biên tập.docx", "Ảnh hội nghị.jpg"]


@pytest.mark.parametrize("text,problem", [
    ("", "không có nội dung mới"),                      # only the quoted notification, menu and all
    ("Ok anh", "không hiểu lệnh"),
    ("Duyệt hoặc từ chối?", "nhiều lệnh"),
    ("TỪ CHỐI", "cần lý do"),
])
def test_unclear_replies_get_help_and_change_nothing(bp, text, problem):
    bp.say(submission())
    for client in ("outlook_vi", "iphone"):
        bp.say(reply(last_to(bp.sink, MEMBER[1], "Biên tập"), client, MEMBER, text))
        assert position(bp) == "review:edit"
        assert problem in plain_of(last_to(bp.sink, MEMBER[1], "Hướng dẫn"))


def test_every_menu_command_works_or_says_why_not_without_a_director(tmp_path, database_url, dovecot, smtp_sink,
                                                                      clock):
    """A board with no director configured: XIN Ý KIẾN is not offered, and written anyway it is answered."""
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock, without=(DIRECTOR[1],))
    board.say(submission())
    request = last_to(smtp_sink, MEMBER[1], "Biên tập")
    assert "XIN Ý KIẾN" not in plain_of(request) and "DUYỆT (APPROVE)" in plain_of(request)
    board.say(reply(request, "gmail", MEMBER, "XIN Ý KIẾN"))
    assert position(board) == "review:edit"
    told = plain_of(last_to(smtp_sink, MEMBER[1], "không có hiệu lực"))
    assert "chưa cấu hình Giám đốc" in told
    board.say(reply(request, "gmail", MEMBER, "DUYỆT"))  # the notice was not used up by the refused command
    assert position(board) == "review:verify"
    board.close()


def test_assign_reject_escalate_and_status(bp):
    """Content is passed to the member for its field (002 art. 11.1; 004 art. 10.2); a refusal states its reason
    (002 art. 12.3; 004 art. 6.3b)."""
    bp.say(submission())
    bp.say(reply(last_to(bp.sink, HEAD[1], "Biên tập"), "outlook_vi", HEAD, "CHUYỂN: Phạm Quốc Bảo"))
    assert article(bp).assignee == MEMBER[1]
    bp.say(reply(last_to(bp.sink, DEPUTY[1], "Biên tập"), "gmail", DEPUTY, "DUYỆT"))  # her token was withdrawn
    assert position(bp) == "review:edit"
    bp.say(reply(last_to(bp.sink, MEMBER[1], "Biên tập"), "gmail", MEMBER, "TRẠNG THÁI"))
    assert "đang xét duyệt" in plain_of(last_to(bp.sink, MEMBER[1], "Đã thực hiện"))
    bp.say(reply(last_to(bp.sink, MEMBER[1], "Biên tập"), "gmail", MEMBER, "DUYỆT"))
    bp.say(reply(last_to(bp.sink, HEAD[1], "Thẩm định"), "zimbra", HEAD, "XIN Ý KIẾN: nội dung liên quan vụ án"))
    assert position(bp) == "director_review"
    bp.say(reply(last_to(bp.sink, DIRECTOR[1], "Cần xử lý"), "gmail", DIRECTOR, "DUYỆT"))
    assert position(bp) == "review:verify"  # back to the step that asked
    bp.say(reply(last_to(bp.sink, HEAD[1], "Thẩm định"), "outlook_en", HEAD, "REJECT ng"))
    assert position(bp) == "rejected"
    assert "Không rõ nguồn gốc" in plain_of(last_to(bp.sink, AUTHOR[1], "Không được duyệt"))


def test_a_unit_can_require_its_heads_confirmation_where_the_agency_does_not(tmp_path, database_url, dovecot,
                                                                              smtp_sink, clock):
    """A unit head's pre-approval set per unit (001 art. 18.2; 002 art. 9.1a; 004 art. 7.2a)."""
    # Bình Phước has no pre-approval; this one unit asks for it.
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock, unit_extra="preapproval = true")
    board.say(submission())
    assert position(board) == "unit_review"
    board.close()


def test_an_expired_notification_no_longer_counts(bp):
    bp.say(submission())
    request = last_to(bp.sink, MEMBER[1], "Biên tập")
    bp.clock.current += timedelta(days=15)  # tokens live 14 days by default
    bp.say(reply(request, "gmail", MEMBER, "DUYỆT"))
    assert position(bp) == "review:edit"
    assert "hết hạn" in plain_of(last_to(bp.sink, MEMBER[1], "không có hiệu lực"))


def test_show_prints_the_review_history(bp):
    from mailbot.cli import format_detail
    from mailbot.views import article_detail

    bp.say(submission())
    bp.say(reply(last_to(bp.sink, MEMBER[1], "Biên tập"), "gmail", MEMBER, "DUYỆT"))
    with bp.transaction() as s:
        text = format_detail(article_detail(s, "BBT-2026-0001"))
    assert "status:    review:verify (đang xét duyệt), version 1" in text
    assert f"step_approved review:edit -> review:verify by {MEMBER[1]}" in text


def test_each_step_runs_a_deadline_that_explains_itself_and_follows_calendar_changes(
        tmp_path, database_url, dovecot, smtp_sink):
    """Each step and the wait for publication has its deadline: the site is updated every working day (001 art.
    10.1; 002 art. 13.1)."""
    from mailbot.cli import format_detail
    from mailbot.storage.models import Deadline
    from mailbot.views import article_detail
    from tests.conftest import Clock

    clock = Clock(datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc))  # Friday 15:00 in Hà Nội time
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    board.say(submission())
    board_side = Deadline.position != "contribution"   # the sender's own time limit is tested elsewhere
    with board.transaction() as s:
        [edit] = s.scalars(select(Deadline).where(board_side)).all()
        assert (edit.position, edit.due_at.astimezone(timezone(timedelta(hours=7))).date().isoformat()) == \
            ("review:edit", "2026-11-23")
    clock.current += timedelta(days=4)  # Tuesday 24/11: late
    board.say(reply(last_to(smtp_sink, MEMBER[1], "Biên tập"), "gmail", MEMBER, "DUYỆT"))
    with board.transaction() as s:
        rows = s.scalars(select(Deadline).where(board_side).order_by(Deadline.id)).all()
        assert [(d.position, d.outcome, d.closed_at is None) for d in rows] == [
            ("review:edit", "missed", False), ("review:verify", "", True)]
        text = format_detail(article_detail(s, "BBT-2026-0001"))
    assert "review:verify (workflow.steps.verify.deadline): due 17:00 25/11/2026 [open]" in text  # 17:00
    assert "Quy định: 1 ngày làm việc" in text
    board.close()

    # The province declares 25/11 a day off: at the next start the open deadline moves to 26/11.
    config_path = tmp_path / "mailbot.toml"
    config_path.write_text(config_path.read_text(encoding="utf-8").replace(
        "[agency.workflow]", '[agency.calendar]\ndays_off = { "2026-11-25" = "Nghỉ theo quyết định của tỉnh" }\n\n'
                             "[agency.workflow]"), encoding="utf-8")
    from mailbot import config
    from tests.conftest import Board
    board = Board(config.load(config_path, environ={"MAILBOT_TEST_IMAP_PASSWORD": dovecot.PASSWORD}), dovecot,
                  smtp_sink, clock)
    with board.transaction() as s:
        verify = s.scalars(select(Deadline).where(Deadline.closed_at.is_(None))).one()
        assert verify.due_at == datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)
        assert "25/11/2026 (Nghỉ theo quyết định của tỉnh)" in verify.explanation
    board.close()
