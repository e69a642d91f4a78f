"""Each rule of the chain on its own: the message and facts that make it speak, and what it decides."""

from __future__ import annotations

import dataclasses

import pytest

from mailbot import config
from mailbot.inbound import rules
from mailbot.inbound.rules import Action, Disposition, Facts
from mailbot.mail.message import parse
from tests.conftest import write_settings

BOARD = "bbt@binhphuoc.gov.vn"
STAFF = "hoa.lt@binhphuoc.gov.vn"   # on the staff directory of tests.conftest
HEAD = "hung.tv@binhphuoc.gov.vn"   # a board member there


def raw(*headers: str, body: str = "Nội dung tin.\n\nLê Thị Hoa\nVăn phòng Sở\nĐT: 0271 3879 456") -> bytes:
    fields = {"From": f"Lê Thị Hoa <{STAFF}>", "To": BOARD, "Subject": "Tin hội nghị",
              "Message-ID": "<m1@binhphuoc.gov.vn>"}
    for h in headers:
        name, _, value = h.partition(": ")
        fields[name] = value
    head = "".join(f"{k}: {v}\r\n" for k, v in fields.items() if v != "-")
    return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body.replace("\n", "\r\n")).encode()


@pytest.fixture(scope="module")
def agency(tmp_path_factory) -> config.Agency:
    tmp = tmp_path_factory.mktemp("rules")
    settings = write_settings(tmp, f"sqlite:///{tmp / 'x.sqlite3'}", f"maildir:{tmp / 'in'}", f"file:{tmp / 'out'}",
                              extra='accepted_domains = ["binhphuoc.gov.vn"]',
                              intake='outside_senders = "hold"\nmax_message_mb = 1')
    return settings.agencies[0]


def member(agency: config.Agency) -> config.Member:
    found = agency.member_by_email(HEAD)
    assert found is not None
    return found


# (rule, message headers, facts, body or None, expected disposition, expected action)
CASES = [
    ("own-mail", (f"From: {BOARD}",), {}, None, Disposition.IGNORED, Action.NOTHING),
    # Its message is made by nesting (test_hostile.py); here the parser's verdict stands in for it.
    ("unreadable-structure", (), {}, None, Disposition.HELD, Action.HOLD),
    ("over-limit", ("Subject: Tin " + "x" * 70_000,), {}, None, Disposition.HELD, Action.HOLD),
    ("bounce", ("From: MAILER-DAEMON@mx.example", "Subject: Undelivered Mail Returned to Sender"),
     {"bounced_outbox_ids": (7,)}, None, Disposition.IGNORED, Action.RECORD_BOUNCE),
    ("auto-reply", ("Auto-Submitted: auto-replied",), {}, None, Disposition.IGNORED, Action.NOTHING),
    ("bulk", ("List-Id: <tin.example.org>",), {}, None, Disposition.IGNORED, Action.NOTHING),
    ("duplicate", (), {"duplicate_of": 3}, None, Disposition.DUPLICATE, Action.NOTHING),
    ("ambiguous-sender", ("Sender: ke.gian@evil.example",), {"carries_token": True}, None, Disposition.HELD,
     Action.HOLD_AND_ALERT),
    ("command-reply", (), {"carries_token": True}, None, Disposition.COMMAND, Action.COMMAND),
    ("no-sender", ("From: -",), {}, None, Disposition.HELD, Action.HOLD),
    ("question-follow-up", ("From: dan@yahoo.com",), {"thread_question_id": 1, "thread_question_asker": "dan@yahoo.com"},
     None, Disposition.FOLLOWUP, Action.QUESTION_FOLLOW_UP),
    ("question-thread-stranger", (), {"thread_question_id": 1, "thread_question_asker": "dan@yahoo.com"}, None,
     Disposition.HELD, Action.HOLD),
    ("follow-up", (), {"thread_article_id": 1, "thread_article_people": (STAFF,)}, None, Disposition.FOLLOWUP,
     Action.ARTICLE_FOLLOW_UP),
    ("command-without-token", (f"From: {HEAD}",), {"thread_article_id": 1, "member": True}, "DUYỆT", Disposition.HELD,
     Action.HOLD),
    ("board-reply", (f"From: {HEAD}",), {"thread_article_id": 1, "member": True}, "Anh xem giúp.", Disposition.HELD,
     Action.HOLD),
    ("thread-stranger", (), {"thread_article_id": 1}, None, Disposition.HELD, Action.HOLD),
    ("reply-to-notice", (), {"replies_to_our_mail": True}, None, Disposition.HELD, Action.HOLD),
    # Its file is attached and inspected below; the parser alone does not judge files.
    ("suspicious-attachment", (), {}, "Anh xem giúp tệp đính kèm.", Disposition.HELD, Action.HOLD_SUSPICIOUS),
    ("citizen-question", ("From: dan@yahoo.com", "Subject: Xin hỏi về chứng thực"), {}, "Cho tôi hỏi thủ tục.",
     Disposition.QUESTION, Action.FILE_QUESTION),
    ("outside-sender", ("From: ai.do@gmail.com",), {}, None, Disposition.HELD, Action.HOLD),
    ("too-large", (), {"raw_size": 2 * 1048576}, None, Disposition.HELD, Action.HOLD),
    ("empty", ("Subject: -",), {}, "", Disposition.HELD, Action.HOLD),
    ("unreadable-title", (), {"title_unreadable": True}, None, Disposition.HELD, Action.HOLD),
    ("submission", (), {}, None, Disposition.FILED, Action.FILE_ARTICLE),
]


def test_every_rule_of_the_chain_has_a_case():
    named = {c[0] for c in CASES}
    # The thread rule decides under six names of its own; every other rule under its own name.
    assert {"question-follow-up", "question-thread-stranger", "follow-up", "command-without-token", "board-reply",
            "thread-stranger", "reply-to-notice"} <= named
    assert {r.name for r in rules.CHAIN} - {"thread"} <= named


@pytest.mark.parametrize("rule, headers, facts, body, disposition, action", CASES, ids=[c[0] for c in CASES])
def test_each_rule_speaks_for_its_own_case(agency, rule, headers, facts, body, disposition, action):
    facts = dict(facts)
    sender_member = member(agency) if facts.pop("member", False) else None
    msg = parse(raw(*headers) if body is None else raw(*headers, body=body))
    if rule == "unreadable-structure":
        msg = dataclasses.replace(msg, structure_problem="cấu trúc MIME lồng nhau quá sâu")
    if rule == "suspicious-attachment":
        from mailbot.inbound.intake import prepare
        from tests import samples

        exe = samples.File("Hồ sơ.doc", "application/msword", b"MZ\x90\x00\x03" + b"\x00" * 300)
        msg = prepare(parse(samples.build("gmail", sender=("Lê Thị Hoa", "hoa.lt@example.gov.vn"),
                                          to="bbt@example.gov.vn", subject="Hồ sơ", text=body, files=(exe,))),
                      intake=agency.intake).msg
    decision = rules.decide(msg, Facts(sender_member=sender_member, **facts), agency)
    assert (decision.rule, decision.disposition, decision.action) == (rule, disposition, action)
    assert decision.reason and not decision.reason.startswith(rule)  # a reason a secretary can read, apart


def test_a_rule_passes_what_is_not_its_own(agency):
    msg = parse(raw())
    for rule in rules.CHAIN[:-1]:
        assert rule.check(msg, Facts(sender_is_staff=True), agency) is None, rule.name
    assert rules.CHAIN[-1].check(msg, Facts(), agency) is not None  # the last rule always decides
