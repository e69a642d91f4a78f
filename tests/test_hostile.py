"""Broken and hostile mail (issue 12, first part): charset labels that are not text codecs, Message-IDs with
control characters, References floods. Each must be read, filed or held for a reason, never "internal-error"."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mailbot.mail.message import MAX_THREAD_IDS, decode_header_value, msgids, parse
from mailbot.mail.vntext import decode_bytes
from mailbot.storage.models import InboundMessage, OutboxMessage
from tests import samples
from tests.conftest import BOARD

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
    # Unicode text is looked at through the same sample; ASCII never reaches the detector.
    seen.clear()
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
