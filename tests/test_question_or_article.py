"""An outside sender's mail: an article or a citizen's question? (issue 14 item 10)

Legal news is full of the words citizens' letters use ("tiếp công dân, giải quyết khiếu nại, tố cáo",
"kiến nghị", "giải đáp pháp luật"), so those words decide nothing alone. The signals a secretary reads do:
for an article, a submission label in the subject, Word files and photos, a signature with title and unit,
text written as news; for a question, questions in the first person. When they do not settle it, the mail is
held for the secretary, who files it with `mailbot replay #N --as article|question`.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mailbot.inbound import rules
from mailbot.inbound.intake import prepare
from mailbot.inbound.rules import Facts
from mailbot.mail.message import parse
from mailbot.storage.models import Article, InboundMessage, Question
from tests import samples
from tests.conftest import write_settings
from tests.review_helpers import BOARD, DOCX, SECRETARY, last_to, plain_of, review_board

REPORTER = ("Trần Văn Phóng", "phong.tv@baobinhphuoc.vn")
CITIZEN = ("Nguyễn Thị Hồng", "hong.nguyen1975@gmail.com")
NEWS = ("Sáng 20/11, Thanh tra tỉnh tổ chức hội nghị tổng kết công tác tiếp công dân, giải quyết khiếu nại, tố "
        "cáo năm 2026. Tham dự có đại diện các sở, ngành. Năm qua, các cơ quan đã tiếp 1.250 lượt công dân, "
        "tiếp nhận 430 đơn kiến nghị, phản ánh.")
SIGNED = "\n\nTrân trọng,\nTrần Văn Phóng\nPhóng viên Báo Bình Phước\nĐT: 0913 555 666"


def docx(title: str) -> samples.File:
    return samples.File(f"{title}.docx", DOCX, samples.docx_bytes(title, [NEWS]))


def photo(n: int = 1) -> samples.File:
    return samples.File(f"anh-{n}.jpg", "image/jpeg", samples.jpeg_bytes(n + 4))


# (what it is, sender, subject, text, files, the decision)
CASES = [
    ("news of a citizens' reception conference, labelled, with Word file, photo and signature", REPORTER,
     "[TIN] Hội nghị tổng kết công tác tiếp công dân, giải quyết khiếu nại, tố cáo", "Gửi tin." + SIGNED,
     (docx("Hội nghị tiếp công dân"), photo()), "article"),
    ("an article on legal Q&A, labelled, Word file only", REPORTER,
     "Bài viết: Giải đáp pháp luật về kiến nghị của cử tri", "Kính gửi Ban Biên tập, gửi bài viết." + SIGNED,
     (docx("Giải đáp pháp luật"),), "article"),
    ("news written in the body, no file, signed", REPORTER, "Hội nghị tiếp công dân định kỳ tháng 11",
     NEWS + SIGNED, (), "article"),
    ("photos of a reception day, 'Gửi tin ảnh'", REPORTER, "Gửi tin ảnh ngày tiếp công dân", "Ảnh: Quang cảnh.",
     (photo(1), photo(2)), "article"),
    ("a citizen asks about a complaint, in the first person", CITIZEN, "Hỏi về thủ tục khiếu nại",
     "Tôi muốn hỏi: tôi khiếu nại quyết định thu hồi đất của UBND huyện thì nộp đơn ở đâu? Tôi có phải nộp phí "
     "không?\nNguyễn Thị Hồng, 0987 654 321", (), "question"),
    ("a citizen's recommendation with a photo of the paper", CITIZEN, "Kiến nghị về việc cấp sổ đỏ",
     "Gia đình tôi nộp hồ sơ cấp giấy chứng nhận từ tháng 3 nhưng đến nay chưa được giải quyết. Tôi kiến nghị "
     "cơ quan xem xét. Xin cho tôi hỏi bao giờ thì có kết quả?\nNguyễn Thị Hồng", (photo(),), "question"),
    ("a question with no question words but a first-person question mark", CITIZEN, "Về hộ tịch",
     "Chào anh chị, tôi sinh con ở nước ngoài thì đăng ký khai sinh ở đâu ạ?", (), "question"),
    ("legal words and nothing else", CITIZEN, "Kiến nghị về công tác tiếp công dân",
     "Công tác tiếp công dân, giải quyết khiếu nại, tố cáo cần được quan tâm hơn.", (), "unsure"),
    ("a labelled article whose sender asks a question about it", CITIZEN, "[TIN] Ngày hội pháp luật ở xã",
     "Cho tôi hỏi tin này có đăng được không? Tôi là người dân, không phải cán bộ.", (docx("Ngày hội"),),
     "unsure"),
    ("neither: a short note with no signal, as before an article", REPORTER, "Thông tin gửi Ban Biên tập",
     "Gửi Ban Biên tập thông tin tham khảo.", (), "article"),
]


@pytest.fixture(scope="module")
def agency(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("kind")
    return write_settings(tmp, f"sqlite:///{tmp / 'x.sqlite3'}", f"maildir:{tmp / 'in'}", f"file:{tmp / 'out'}",
                          extra='accepted_domains = ["binhphuoc.gov.vn"]').agencies[0]


def decide(agency, sender, subject, text, files):
    raw = samples.build("gmail", sender=sender, to=BOARD, subject=subject, text=text, files=files)
    msg = prepare(parse(raw), agency.limits, agency.intake).msg
    return rules.decide(msg, Facts(), agency), rules.signals(msg, agency)


@pytest.mark.parametrize("what, sender, subject, text, files, expected", CASES, ids=[c[0] for c in CASES])
def test_each_kind_is_told_by_the_signals_a_secretary_reads(agency, what, sender, subject, text, files, expected):
    decision, found = decide(agency, sender, subject, text, files)
    assert found.verdict() == expected, (what, found)
    rule = {"article": "submission", "question": "citizen-question", "unsure": "question-or-submission"}[expected]
    assert decision.rule == rule, (what, decision)
    if expected == "unsure":
        assert decision.disposition == rules.Disposition.HELD and "--as article" in decision.reason


def test_staff_mail_is_never_taken_for_a_question(agency):
    """A staff address (the accepted domains) always sends articles, whatever words it uses."""
    decision, _ = decide(agency, ("Lê Thị Hoa", "hoa.lt@binhphuoc.gov.vn"), "Cho tôi hỏi về lịch tiếp công dân",
                         "Tôi muốn hỏi lịch tiếp công dân tháng 12?", ())
    assert decision.rule == "submission"


def test_an_unsure_mail_is_held_and_the_secretary_files_it(tmp_path, database_url, dovecot, smtp_sink, clock,
                                                           monkeypatch):
    """Held with its signals named; the secretary's `replay --as` files it, as an article or as a question."""
    from mailbot.cli import main

    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    for subject, text in (("Kiến nghị về công tác tiếp công dân", "Công tác tiếp công dân cần được quan tâm hơn."),
                          ("Giải đáp pháp luật về khiếu nại", "Nhiều người dân chưa nắm được quy định về khiếu nại.")):
        board.say(samples.build("gmail", sender=CITIZEN, to=BOARD, subject=subject, text=text))
    with board.transaction() as s:
        held = s.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
        assert [m.rule for m in held] == ["question-or-submission"] * 2
        assert not s.scalars(select(Article)).all() and not s.scalars(select(Question)).all()
    told = last_to(smtp_sink, SECRETARY[1])
    assert "chưa rõ là tin bài hay câu hỏi" in plain_of(told) and "--as article" in plain_of(told)
    assert not smtp_sink.to(CITIZEN[1])              # nobody answers the sender before the secretary decides
    monkeypatch.setenv("MAILBOT_TEST_IMAP_PASSWORD", dovecot.PASSWORD)
    config = str(tmp_path / "mailbot.toml")
    assert main(["--config", config, "replay", f"#{held[0].id}", "--as", "question"]) == 0
    assert main(["--config", config, "replay", f"#{held[1].id}", "--as", "article"]) == 0
    with board.transaction() as s:
        assert s.scalars(select(Question)).one().title == "Kiến nghị về công tác tiếp công dân"
        assert s.scalars(select(Article)).one().title == "Giải đáp pháp luật về khiếu nại"
    board.close()
