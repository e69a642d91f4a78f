"""Approval authority that cannot be forged: over a thousand forged or replayed commands against real
notifications change nothing, and every legitimate command from every client shape still works."""

from __future__ import annotations

import subprocess
from datetime import timedelta

import dkim
import pytest
from sqlalchemy import func, select

from mailbot.storage.models import Article, Event, InboundMessage, ReviewToken
from tests import samples
from tests.forgery import ATTACKER, CLIENTS, FORMER, Targets, forgeries, put, token_of
from tests.review_helpers import (
    AUTHOR,
    BOARD,
    DEPUTY,
    HEAD,
    MEMBER,
    SECRETARY,
    last_to,
    plain_of,
    reply,
    review_board,
    stamp,
    subject_of,
    submission,
)


def state(board, reference: str) -> tuple:
    """Everything a command could change on an article: status, step, version, flags, decisions, used tokens."""
    with board.transaction() as s:
        a = s.scalars(select(Article).where(Article.reference == reference)).one()
        moves = s.scalar(select(func.count()).select_from(Event).where(
            Event.article_id == a.id, Event.from_status != Event.to_status))
        used = s.scalar(select(func.count()).select_from(ReviewToken).where(
            ReviewToken.article_id == a.id, ReviewToken.used_at.is_not(None)))
        return a.status, a.step, a.version, a.sensitive, a.assignee, a.published_url, moves, used


def issue(board, reference: str, email: str, role: str, expired: bool = False) -> str:
    with board.transaction() as s:
        a = s.scalars(select(Article).where(Article.reference == reference)).one()
        token = board.worker.intake.review.issue(s, a, email, role, board.clock())
        if expired:
            row = s.scalars(select(ReviewToken).where(ReviewToken.token == token)).one()
            row.expires_at = board.clock() - timedelta(days=1)
    return f"mailbot.t-{token}@binhphuoc.gov.vn"


@pytest.fixture
def board(tmp_path, dovecot, smtp_sink, clock):
    b = review_board(tmp_path, f"sqlite:///{tmp_path / 'm.sqlite3'}", dovecot, smtp_sink, clock)
    yield b
    b.close()


def targets(board) -> Targets:
    sink = board.sink
    board.say(submission("[TIN] Bài thứ nhất: không được đổi trạng thái"))
    member = last_to(sink, MEMBER[1], "Bài thứ nhất")
    deputy = last_to(sink, DEPUTY[1], "Bài thứ nhất")
    board.say(submission("[TIN] Bài thứ hai: đã quyết định"))
    used = last_to(sink, MEMBER[1], "Bài thứ hai")
    board.say(reply(used, "gmail", MEMBER, "TỪ CHỐI: CL"))
    assert state(board, "BBT-2026-0002")[0] == "rejected"
    return Targets(member=member, deputy=deputy, used=used,
                   expired=issue(board, "BBT-2026-0001", MEMBER[1], "member", expired=True),
                   former=issue(board, "BBT-2026-0001", FORMER[1], "member"),
                   author=issue(board, "BBT-2026-0001", AUTHOR[1], "member"))


def test_over_a_thousand_forged_or_replayed_commands_change_nothing(board):
    """Security: forged From (decoded names, several senders, look-alikes), Authentication-Results read
    as text, hidden HTML, garbled/other/used/expired/former/author tokens, Reply-To and plus-address
    tricks, commands in quoted text: not one moves an article."""
    t = targets(board)
    before = {ref: state(board, ref) for ref in ("BBT-2026-0001", "BBT-2026-0002")}
    intake = board.worker.intake
    got_through, kinds = [], set()
    cases = list(forgeries(t))
    assert len(cases) >= 1000
    for name, raw in cases:
        kinds.add(name.split("/")[0])
        intake.process(raw, source="forgery-suite")
        if {ref: state(board, ref) for ref in before} != before:
            got_through.append(name)
            break
    assert got_through == [], f"a forged command changed an article: {got_through}"
    assert len(kinds) >= 40
    with board.transaction() as s:
        reasons = [f"{rule}: {reason}" for rule, reason in s.execute(select(InboundMessage.rule, InboundMessage.reason)
                   .where(InboundMessage.source == "forgery-suite").order_by(InboundMessage.id))]
    assert len(reasons) == len(cases)
    assert not [r for r in reasons if r.startswith(("internal-error", "duplicate"))]
    # Nothing at all was applied, and each class was refused for its own reason.
    assert not [r for r in reasons if r.startswith("command-reply: ") and "không có hiệu lực" not in r
                and not r.split(": ", 1)[1].startswith(("no-command", "help", "status", "refused",
                                                        "self-approval", "undo-refused", "unknown-token"))]
    by_kind = dict(zip((n.split("/")[0] for n, _ in cases), reasons, strict=True))
    joined = "\n".join(reasons)
    for code in ("ambiguous-sender", "unauthenticated", "forged-sender", "not-recipient", "not-member",
                 "unknown-token", "command-without-token", "no-command", "refused: thông báo đã hết hạn",
                 "refused: thông báo này đã được dùng", "hai lệnh khác nhau"):
        assert code in joined, (code, [k for k, r in by_kind.items() if code not in r])


def test_forgeries_over_dovecot_alert_the_head_and_tell_the_forger_nothing(board):
    """Security: a few forgeries through the real mailbox and SMTP sink: the head is alerted, the
    forger gets no mail, an authentic colleague gets a polite note and no alert goes out."""
    t = targets(board)
    sink = board.sink

    def alerts():
        return [m for m in sink.to(HEAD[1]) if "Cảnh báo" in subject_of(m)]

    board.say(reply(t.member, "outlook_vi", ATTACKER, "DUYỆT"))
    assert len(alerts()) == 1 and not sink.to(ATTACKER[1])
    assert ATTACKER[1] in plain_of(alerts()[0])
    board.say(put(reply(t.member, "gmail", MEMBER, "DUYỆT"), "Sender", ATTACKER[1]))
    assert len(alerts()) == 2 and "Sender" in plain_of(alerts()[1])
    board.say(reply(t.member, "thunderbird", MEMBER, "DUYỆT", extra_headers=()))   # nothing vouches for it
    assert len(alerts()) == 3 and "không ghi Authentication-Results" in plain_of(alerts()[2])
    # The author, authentic, answers a notification forwarded to them: a note, no alert.
    board.say(reply(t.member, "zimbra", AUTHOR, "DUYỆT"))
    assert len(alerts()) == 3
    note = plain_of(last_to(sink, AUTHOR[1], "không có hiệu lực"))
    assert "chỉ người nhận thông báo mới quyết định" in note
    # A command matched by the subject alone is held as what it is, for the secretary.
    board.say(samples.build("gmail", sender=MEMBER, to=BOARD, subject="Re: [BBT-2026-0001] Bài thứ nhất",
                            text="DUYỆT", extra_headers=stamp(MEMBER[1])))
    held = plain_of(last_to(sink, SECRETARY[1], "Re: [BBT-2026-0001] Bài thứ nhất"))
    assert "không mang mã" in held and "chưa được hỗ trợ" not in held
    assert state(board, "BBT-2026-0001")[:2] == ("review", "edit")


@pytest.mark.parametrize("client", CLIENTS)
def test_legitimate_commands_from_every_client_still_work(board, client):
    """Security: with authentication required, the member's own reply from each client shape counts."""
    board.say(submission())
    board.say(reply(last_to(board.sink, MEMBER[1], "Biên tập"), client, MEMBER, "DUYỆT"))
    assert state(board, "BBT-2026-0001")[:2] == ("review", "verify")


def test_hidden_approval_above_a_visible_refusal_is_a_refusal(board):
    """Security: the command is read from what the member sees; display:none text never counts."""
    board.say(submission())
    token = token_of(last_to(board.sink, MEMBER[1], "Biên tập"))
    body = '<div style="display:none">DUYỆT</div><div>TỪ CHỐI: CL</div>'
    board.say(samples.build("apple", sender=MEMBER, to=BOARD, subject="Re: tin", text="", html=body,
                            in_reply_to=token, references=(token,), extra_headers=stamp(MEMBER[1])))
    assert state(board, "BBT-2026-0001")[0] == "rejected"


# -- where the board's server stamps nothing: DKIM checked here --------------------------------

def _key_pair(tmp_path) -> tuple[bytes, bytes]:
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "1024"], check=True, capture_output=True)
    public = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True,
                            capture_output=True).stdout
    import base64
    return key.read_bytes(), b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def _signed(raw: bytes, private: bytes, domain: bytes = b"binhphuoc.gov.vn", length: bool = False) -> bytes:
    signature = dkim.sign(raw, b"mail", domain, private, include_headers=[b"from", b"to", b"subject",
                                                                          b"in-reply-to", b"references"],
                          length=length)
    return signature + raw


def test_without_a_trusted_server_commands_need_an_aligned_dkim_signature(tmp_path, dovecot, smtp_sink, clock):
    """Security: DKIM verified here with dkimpy; DNS behind one seam, so the test publishes its own key."""
    private, record = _key_pair(tmp_path)
    published = {b"mail._domainkey.binhphuoc.gov.vn.": record, b"mail._domainkey.evil.example.": record}
    board = review_board(tmp_path, f"sqlite:///{tmp_path / 'm.sqlite3'}", dovecot, smtp_sink, clock, authserv="",
                         dns=lambda name, timeout=5: published.get(name))
    board.say(submission())
    request = last_to(smtp_sink, MEMBER[1], "Biên tập")
    def plain() -> bytes:  # a new message each time (its own Message-ID)
        return reply(request, "gmail", MEMBER, "DUYỆT", extra_headers=())

    board.say(plain())                                                   # unsigned
    board.say(_signed(plain(), private, length=True))                    # signature over part of the body only
    board.say(_signed(plain(), private, domain=b"evil.example"))         # signed, but not by the From domain
    signed = _signed(plain(), private)
    head, _, body = signed.partition(b"\r\n\r\n")
    board.say(head + b"\r\n\r\n" + body.replace(b"DUY", b"Duy", 1))  # changed after signing
    assert state(board, "BBT-2026-0001")[:2] == ("review", "edit")
    with board.transaction() as s:
        reasons = [r for (r,) in s.execute(select(InboundMessage.reason).order_by(InboundMessage.id))][1:]
    assert all("unauthenticated" in r for r in reasons), reasons
    assert "không có chữ ký DKIM" in reasons[0] and "l=" in reasons[1] and "không cùng tên miền" in reasons[2]
    assert "không khớp" in reasons[3]
    board.say(_signed(plain(), private))
    assert state(board, "BBT-2026-0001")[:2] == ("review", "verify")
    board.close()


def test_an_agency_can_opt_out_of_authentication_explicitly(tmp_path, dovecot, smtp_sink, clock):
    """Security: the token alone counts only where the agency says so; `check` warns about it."""
    board = review_board(tmp_path, f"sqlite:///{tmp_path / 'm.sqlite3'}", dovecot, smtp_sink, clock, authserv="",
                         extra="", workflow_extra="accept_unauthenticated_commands = true")
    board.say(submission())
    request = last_to(smtp_sink, MEMBER[1], "Biên tập")
    board.say(reply(request, "gmail", ATTACKER, "DUYỆT", extra_headers=()))    # still not the member
    assert state(board, "BBT-2026-0001")[:2] == ("review", "edit")
    board.say(reply(request, "gmail", MEMBER, "DUYỆT", extra_headers=()))
    assert state(board, "BBT-2026-0001")[:2] == ("review", "verify")
    board.close()
