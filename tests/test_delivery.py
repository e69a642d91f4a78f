"""The outbox against a real SMTP sink: each recipient's answer handled on its own, the administrator told
of failures once per period, claims shared by several senders, and periodic mail sent by hand then swept."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from mailbot import app as app_module
from mailbot import cli
from mailbot.app import Health
from mailbot.outbound import outbox
from mailbot.storage.models import OutboxMessage, OutboxStatus, ReminderSent
from tests.conftest import ADMIN, BOARD, HEAD, SECRETARY
from tests.review_helpers import plain_of, subject_of
from tests.servers import Dovecot

GOOD, GONE, FULL = "tot@binhphuoc.gov.vn", "khongco@binhphuoc.gov.vn", "day@binhphuoc.gov.vn"


def queue(board, n: int = 1, to: tuple[str, ...] = (GOOD,), key: str = "t") -> list[int]:
    ids = []
    with board.transaction() as s:
        for i in range(n):
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = BOARD, ", ".join(to), f"Thư thử {key} {i}"
            msg["Message-ID"] = f"<{key}-{i}@binhphuoc.gov.vn>"
            msg.set_content("Nội dung.")
            ids.append(outbox.enqueue(s, board.agency, f"{key}:{i}", "test", msg, board.clock()).id)
    return ids


def rows(board) -> dict[int, OutboxMessage]:
    with board.transaction() as s:
        return {r.id: r for r in s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "test"))}


def alerts(sink) -> list:
    return [m for m in sink.to(ADMIN) if "không gửi được" in subject_of(m)]


def test_each_recipient_is_answered_on_its_own(board, smtp_sink):
    smtp_sink.handler.rcpt_replies = {GONE: "550 5.1.1 Mailbox does not exist", FULL: "452 4.2.2 Mailbox full"}
    [mid] = queue(board, to=(GOOD, GONE, FULL))
    board.worker.deliver()
    [first] = [m for m in smtp_sink.messages if subject_of(m).startswith("Thư thử")]
    assert first.rcpt_tos == [GOOD]
    row = rows(board)[mid]
    assert row.status == OutboxStatus.PENDING and row.attempts == 1
    assert row.deliveries[GOOD]["state"] == "sent"
    assert row.deliveries[GONE] == {**row.deliveries[GONE], "state": "failed", "code": 550}
    assert row.deliveries[FULL]["state"] == "pending" and row.deliveries[FULL]["code"] == 452
    assert row.next_attempt_at == board.clock() + timedelta(minutes=1)

    # The 550 is told at once, grouped in one alert; the 452 is not a failure yet.
    [alert] = alerts(smtp_sink)
    text = plain_of(alert)
    assert GONE in text and "550" in text and FULL not in text

    # The mailbox has room again: only the deferred recipient gets it, once.
    smtp_sink.handler.rcpt_replies = {GONE: "550 5.1.1 Mailbox does not exist"}
    board.clock.current += timedelta(minutes=2)
    board.worker.deliver()
    copies = [m for m in smtp_sink.messages if m.message["Message-ID"] == "<t-0@binhphuoc.gov.vn>"]
    assert [m.rcpt_tos for m in copies] == [[GOOD], [FULL]]
    row = rows(board)[mid]
    assert row.status == OutboxStatus.PARTIAL and row.attempts == 2 and row.sent_at is not None
    assert len(alerts(smtp_sink)) == 1
    board.clock.current += timedelta(hours=3)
    board.worker.deliver()
    assert len(smtp_sink.messages) == 3   # nothing more: every recipient is settled


def test_a_permanent_refusal_fails_at_once_and_failures_are_grouped(board, smtp_sink):
    smtp_sink.handler.rcpt_replies = {GONE: "550 5.1.1 Mailbox does not exist"}
    queue(board, n=5, to=(GONE,), key="a")
    board.worker.deliver()
    assert all(r.status == OutboxStatus.FAILED and r.attempts == 1 for r in rows(board).values())
    [alert] = alerts(smtp_sink)
    assert plain_of(alert).count(GONE) == 5 and subject_of(alert).startswith("[Cần xem] 5 thư")

    # More failures within the hour wait for the next alert: never a storm.
    queue(board, n=3, to=(GONE,), key="b")
    board.clock.current += timedelta(minutes=10)
    board.worker.deliver()
    assert len(alerts(smtp_sink)) == 1
    board.clock.current += timedelta(minutes=55)
    board.worker.deliver()
    second = alerts(smtp_sink)[1]
    assert subject_of(second).startswith("[Cần xem] 3 thư")
    board.clock.current += timedelta(hours=2)
    board.worker.deliver()
    assert len(alerts(smtp_sink)) == 2


def test_a_refused_message_and_retries_used_up(board, smtp_sink):
    policy = board.settings.delivery
    smtp_sink.handler.rcpt_replies = {FULL: "451 4.3.0 Try again later"}
    [mid] = queue(board, to=(FULL,))
    for attempt in range(1, len(policy.retry_minutes) + 1):
        board.worker.deliver()
        row = rows(board)[mid]
        assert row.status == OutboxStatus.PENDING and row.attempts == attempt
        assert not alerts(smtp_sink)
        board.clock.current = row.next_attempt_at
    board.worker.deliver()
    row = rows(board)[mid]
    assert row.status == OutboxStatus.FAILED and row.attempts == len(policy.retry_minutes) + 1
    assert "lần thử" in row.deliveries[FULL]["error"]
    [alert] = alerts(smtp_sink)
    assert FULL in plain_of(alert)

    # A whole message refused at DATA (5xx) fails for every recipient at once.
    smtp_sink.handler.rcpt_replies, smtp_sink.handler.data_reply = {}, "554 5.7.1 Rejected as spam"
    [spam] = queue(board, to=(GOOD, FULL), key="spam")
    board.worker.deliver()
    row = rows(board)[spam]
    assert row.status == OutboxStatus.FAILED and {d["code"] for d in row.deliveries.values()} == {554}


def test_an_alert_that_fails_is_not_alerted_about(board, smtp_sink):
    smtp_sink.handler.rcpt_replies = {GONE: "550 no", ADMIN: "550 no"}
    queue(board, to=(GONE,))
    board.worker.deliver()
    board.clock.current += timedelta(hours=2)
    board.worker.deliver()
    with board.transaction() as s:
        kinds = [r.kind for r in s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]
        assert kinds == ["test", outbox.ALERT_KIND]
        assert s.scalar(select(OutboxMessage).where(OutboxMessage.kind == outbox.ALERT_KIND)).needs_alert is False


def test_the_sender_takes_a_turn_at_the_database_only_for_work(board, smtp_sink):
    """Issue 13: on SQLite each transaction is a turn at the one write lock, behind intake's filings. A round
    claims once; each message's record is a transaction of its own, and the last one of a batch claims the next
    batch with it; failures to alert on are looked for after a round with failures, or once a minute."""
    from dataclasses import replace

    from sqlalchemy import event

    turns: list[int] = []
    event.listen(board.app.db.engine, "begin", lambda conn: turns.append(1))

    def round_of(n: int, **kw) -> int:
        queue(board, n=n, **kw)
        turns.clear()
        board.worker.deliver()
        return len(turns)

    assert round_of(3) == 1 + 3 + 1             # one claim, three records; the first round looks for failures
    board.clock.current += timedelta(seconds=30)
    assert round_of(2, key="u") == 1 + 2        # no second claim, no look
    smtp_sink.handler.rcpt_replies = {GONE: "550 5.1.1 Mailbox does not exist"}
    # A failure: the look finds it; the administrator's alert is claimed and sent in the same round.
    assert round_of(1, to=(GONE,), key="g") == 1 + 1 + 1 + 1 + 1
    assert len(alerts(smtp_sink)) == 1
    board.clock.current += timedelta(seconds=30)
    assert round_of(0) == 1                       # nothing due: one claim finds it so
    board.clock.current += timedelta(seconds=31)
    assert round_of(0) == 1 + 1                   # a minute since the last look: another
    ids = queue(board, n=5, key="f")
    turns.clear()
    outbox.deliver(board.app.db, board.agency, board.worker.transport, board.clock(),
                   policy=replace(board.settings.delivery, batch=2))
    assert len(turns) == 1 + 5                    # batches of 2, 2 and 1: each next one claimed with a record
    assert all(r.status == OutboxStatus.SENT for i, r in rows(board).items() if i in ids)
    assert sorted(m.message["Message-ID"] for m in smtp_sink.messages if "<f-" in m.message["Message-ID"]) \
        == [f"<f-{i}@binhphuoc.gov.vn>" for i in range(5)]   # each once


def test_the_sender_keeps_its_connection_between_rounds_and_replaces_one_that_went(board, smtp_sink):
    """Issue 13: the sender thread sends a batch for each message filed; one connection serves them all while
    they come (KEEP_CONNECTION_SECONDS), checked with a NOOP before each use. A connection the server closed
    meanwhile is replaced without the mail waiting for a retry; a connection kept too long is ended first;
    `close()` says QUIT."""
    transport, policy = board.worker.transport, board.settings.delivery
    assert isinstance(transport, outbox.SmtpTransport)
    handler = smtp_sink.handler

    def send(key: str) -> outbox.Delivered:
        ids = queue(board, n=2, key=key)
        done = outbox.deliver(board.app.db, board.agency, transport, board.clock(), policy=policy)
        assert {i: r.status for i, r in rows(board).items() if i in ids} == dict.fromkeys(ids, OutboxStatus.SENT)
        return done

    for key in "abc":
        send(key)
    assert (handler.greetings, handler.quits) == (1, 0)      # three rounds, one connection
    handler.drop_at_noop = True
    assert send("d").sent == 2 and handler.greetings == 2     # hung up on: a new connection, nothing deferred
    transport.keep_seconds = 0
    send("e")
    assert (handler.greetings, handler.quits) == (3, 1)      # too old to use: QUIT, then a new one
    transport.close()
    assert handler.quits == 2
    queue(board, n=1, key="w")
    board.worker.deliver()   # not the sender thread's round: the connection ends with the call
    assert (handler.greetings, handler.quits) == (4, 3)
    assert len([m for m in smtp_sink.messages if subject_of(m).startswith("Thư thử")]) == 11   # each once

    # The sender thread: its rounds share the connection, and it hangs up once it has had nothing to send for
    # keep_seconds.
    from functools import partial

    transport.keep_seconds = 30
    dispatcher = app_module.Dispatcher(partial(board.worker.deliver, keep_open=True), Health(), board.agency.slug,
                                       idle=transport.close, keep_seconds=2)
    dispatcher.start()
    try:
        for key in "xy":
            queue(board, n=1, key=key)
            dispatcher.kick()
            deadline = time.monotonic() + 10
            while len(smtp_sink.to(GOOD)) < 12 + (key == "y") and time.monotonic() < deadline:
                time.sleep(0.02)
        assert handler.greetings == 5   # both rounds on one connection
        deadline = time.monotonic() + 10
        while handler.quits < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert handler.quits == 4
    finally:
        dispatcher.stop()


def test_each_message_is_recorded_the_moment_the_server_accepts_it(board, smtp_sink):
    """A sender that dies after two messages: those two are sent for good, the rest go once, later."""
    ids = queue(board, n=5)

    class Dies(Exception):
        pass

    real = board.worker.transport

    class DyingTransport:
        def send(self, messages, sender, on_result):
            count = {"n": 0}

            def record(m, attempt):
                on_result(m, attempt)
                count["n"] += 1
                if count["n"] == 2:
                    raise Dies()
                return True
            real.send(messages, sender, record)

    with pytest.raises(Dies):
        outbox.deliver(board.app.db, board.agency, DyingTransport(), board.clock())
    states = [rows(board)[i].status for i in ids]
    assert states == [OutboxStatus.SENT] * 2 + [OutboxStatus.PENDING] * 3
    # The dead sender's claim keeps the rest off until it expires; then they go, each once.
    assert board.worker.deliver().sent == 0
    board.clock.current += timedelta(minutes=board.settings.delivery.claim_minutes + 1)
    assert board.worker.deliver().sent == 3
    ids_seen = [m.message["Message-ID"] for m in smtp_sink.messages]
    assert len(ids_seen) == len(set(ids_seen)) == 5


def test_several_senders_share_the_outbox_without_sending_twice(board, smtp_sink):
    queue(board, n=240)
    smtp_sink.handler.delay = 0.002
    workers = [board.app.worker(board.agency, backlog="process") for _ in range(4)]
    for n, w in enumerate(workers):
        w.holder = f"sender-{n}"
    threads = [threading.Thread(target=w.deliver) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ids_seen = [m.message["Message-ID"] for m in smtp_sink.messages]
    assert len(ids_seen) == 240 and len(set(ids_seen)) == 240
    assert all(r.status == OutboxStatus.SENT and r.attempts == 1 for r in rows(board).values())


def test_digest_and_report_sent_by_hand_then_swept_go_once(board, smtp_sink, monkeypatch, tmp_path):
    # Monday 23/11/2026 09:00 (Vietnam): the digest came due at 07:30, the monthly report is due
    # on 01/12. By hand first, then the sweep, then by hand again.
    monkeypatch.setenv("MAILBOT_TEST_IMAP_PASSWORD", Dovecot.PASSWORD)
    # The commands import the App when they run: the test's clock goes in where they find it.
    real = type(board.app)
    monkeypatch.setattr(app_module, "App", lambda settings: real(settings, now=board.clock))
    config = str(board.settings.source)
    assert cli.main(["--config", config, "digest", "--send"]) == 0
    board.worker.send_due(periodic=True)
    assert cli.main(["--config", config, "digest", "--send"]) == 0
    digests = [m for m in smtp_sink.to(HEAD) if subject_of(m).startswith("Bản tin tuần")]
    assert len(digests) == 1

    board.clock.current = board.clock.current.replace(month=12, day=1, hour=3)   # 10:00 on 01/12
    out = tmp_path / "r.xlsx"
    assert cli.main(["--config", config, "report", "monthly", "--month", "2026-11", "--send", "--out",
                     str(out)]) == 0
    board.worker.send_due(periodic=True)
    assert cli.main(["--config", config, "report", "monthly", "--month", "2026-11", "--send", "--out",
                     str(out)]) == 0
    reports = [m for m in smtp_sink.to(HEAD) if "Báo cáo" in subject_of(m) and "11/2026" in subject_of(m)]
    assert len(reports) == 1
    with board.transaction() as s:
        keys = sorted(r.key for r in s.scalars(select(ReminderSent)) if r.key.startswith(("digest", "report")))
    assert keys == ["digest:2026-11-23", "digest:2026-11-30", "report:2026-11"]  # 30/11: the sweep on 01/12
    # The month not yet over is refused rather than sent as a partial report.
    with pytest.raises(SystemExit, match="is not over"):
        cli.main(["--config", config, "report", "monthly", "--month", "2026-12", "--send", "--out", str(out)])


def test_mail_goes_out_while_a_long_backlog_is_still_being_filed(board, smtp_sink):
    from tests import samples
    board.dovecot.deliver(*[samples.build("gmail", sender=("Nguyễn Văn An", "an.nv@binhphuoc.gov.vn"), to=BOARD,
                                          subject=f"Tin số {i}", text=f"Tin {i}.\n\nNguyễn Văn An\nChuyên viên "
                                          "Phòng PBGDPL\nĐT: 0912 345 678") for i in range(30)])
    seen_mid_pass: list[int] = []

    def progress(n: int, _disposition: str) -> None:
        if n == 10:   # a third of the way: the sender thread has been woken by each filing
            deadline = time.monotonic() + 10
            while not smtp_sink.messages and time.monotonic() < deadline:
                time.sleep(0.05)
            seen_mid_pass.append(len(smtp_sink.messages))

    report = board.worker.run_pass_resilient(progress=progress, sleep=lambda _: None)
    assert seen_mid_pass and seen_mid_pass[0] > 0
    with board.transaction() as s:
        queued = len(s.scalars(select(OutboxMessage)).all())
    ids = [m.message["Message-ID"] for m in smtp_sink.messages]
    # Thirty from one sender: past the submission rate (20 an hour) and the answer cap (10 a day) the rest
    # is filed unanswered (test_brakes.py), still well over thirty mails.
    assert report.counts == {"filed": 30} and report.sent == len(ids) == len(set(ids)) == queued >= 30


def test_health_reports_what_the_daemon_says_is_wrong(board, capsys, monkeypatch):
    monkeypatch.setenv("MAILBOT_TEST_IMAP_PASSWORD", Dovecot.PASSWORD)
    heartbeat = board.settings.storage_dir / "heartbeat"
    heartbeat.parent.mkdir(parents=True, exist_ok=True)
    cli.write_heartbeat(heartbeat, ["database unavailable: OperationalError: connection refused"])
    assert cli.main(["--config", str(board.settings.source), "health"]) == 1
    assert "unhealthy: database unavailable" in capsys.readouterr().err
    cli.write_heartbeat(heartbeat, [])
    assert cli.main(["--config", str(board.settings.source), "health"]) == 0


def test_health_fails_while_mail_keeps_being_refused_for_too_long(board, capsys, monkeypatch):
    """The board's clock is a week behind the command's: a 4xx-refused mail of the board's pass has been
    retrying for longer than [service] outbox_stuck_minutes when `health` looks."""
    monkeypatch.setenv("MAILBOT_TEST_IMAP_PASSWORD", Dovecot.PASSWORD)
    heartbeat = board.settings.storage_dir / "heartbeat"
    heartbeat.parent.mkdir(parents=True, exist_ok=True)
    cli.write_heartbeat(heartbeat, [])
    config = ["--config", str(board.settings.source), "health"]
    assert cli.main(config) == 0
    board.sink.handler.rcpt_replies = {a: "451 4.3.0 try later" for a in (SECRETARY, "an.nv@binhphuoc.gov.vn",
                                                                          "hung.tv@binhphuoc.gov.vn")}
    from tests import samples
    board.say(samples.build("gmail", sender=("Nguyễn Văn An", "an.nv@binhphuoc.gov.vn"), to=BOARD, subject="Tin",
                            text="Tin.\n\nNguyễn Văn An\nChuyên viên Phòng PBGDPL\nĐT: 0912 345 678"))
    capsys.readouterr()
    assert cli.main(config) == 1
    assert "retrying for over 60 min" in capsys.readouterr().err


def test_a_mailbox_not_read_for_too_long_is_a_health_problem():
    health = Health()
    health.read("stp", allowed=0.001)
    time.sleep(0.01)
    assert health.problems() and health.problems()[0].startswith("mailbox of stp not read for")
    health.read("stp", allowed=600)
    assert health.problems() == []
    health.read("stp", allowed=0.001)
    health.not_reading("stp")   # another process holds it now
    time.sleep(0.01)
    assert health.problems() == []


def test_outgoing_mail_is_serialised_to_the_standard_librarys_bytes():
    """The outbox writes each body in one piece (render.serialise, issue 13); the bytes are as_bytes()'s, for
    text, HTML, an inline image, binary and text attachments with mixed line ends, and an enclosed message."""
    import os

    from mailbot.outbound.render import MAIL_POLICY, serialise

    msg = EmailMessage(policy=MAIL_POLICY)
    msg["From"], msg["To"] = "Ban Biên tập <bbt@binhphuoc.gov.vn>", "thu.nt@binhphuoc.gov.vn"
    msg["Subject"] = "[BBT-2026-0001] Cần xử lý (Biên tập): Hội nghị tổng kết công tác phổ biến giáo dục pháp luật"
    msg.set_content("Kính gửi Thư ký,\n\nBài mới.\r\nDòng hai.\rDòng ba.\n" * 40)
    msg.add_alternative("<p>Kính gửi <b>Thư ký</b></p>\n" * 40, subtype="html")
    html = msg.get_body(("html",))
    assert html is not None
    html.add_related(os.urandom(5000), maintype="image", subtype="jpeg", cid="<anh1>", filename="Ảnh 1.jpg")
    msg.add_attachment(os.urandom(300_000), maintype="application", subtype="pdf", filename="Báo cáo.pdf")
    msg.add_attachment("Dòng một\r\nDòng hai\nDòng ba\r".encode(), maintype="text", subtype="plain",
                       filename="ghi chú.txt")
    inner = EmailMessage()
    inner["Subject"] = "Thư gốc"
    inner.set_content("Nội dung thư gốc.\n")
    msg.add_attachment(inner)
    msg.preamble, msg.epilogue = "This is a multi-part message in MIME format.\r\n", "\n"
    assert serialise(msg) == msg.as_bytes()


def test_an_attachment_is_encoded_once_for_every_mail_it_goes_with(tmp_path):
    """The secretary's notice and each review request carry the same files: the renderer encodes each small
    file once and shares the part (issue 13); a file over the cache's share is encoded per mail, and the
    cache keeps PART_CACHE_BYTES at most. Each mail still carries the file's exact bytes."""
    import os
    from datetime import datetime, timezone
    from email import message_from_bytes, policy

    from mailbot.config import Agency, Endpoint
    from mailbot.outbound import render

    for name, text in (("t.subject.j2", "Bài mới"), ("t.txt.j2", "{{ text }}"), ("t.html.j2", "<p>{{ text }}</p>")):
        (tmp_path / name).write_text(text)
    renderer = render.Renderer(tmp_path)
    agency = Agency(slug="a", name="Sở Tư pháp", website="https://x.gov.vn", board_address="bbt@x.gov.vn",
                    mailbox=Endpoint("maildir:x", "maildir"), outgoing=Endpoint("file:y", "file"),
                    reference_prefix="BBT", message_id_domain="x.gov.vn")
    photo = render.FileToAttach("Ảnh 1.jpg", "image/jpeg", os.urandom(200_000))
    big = render.FileToAttach("Báo cáo.pdf", "application/pdf", os.urandom(render.PART_CACHE_BYTES // 4 + 1))

    def mail(*files):
        return renderer.compose("t", agency, ["thu.nt@binhphuoc.gov.vn"], {"text": "Bài mới."},
                                now=datetime(2026, 12, 3, tzinfo=timezone.utc), files=files)

    first, second = mail(photo, big), mail(render.FileToAttach(photo.filename, photo.content_type,
                                                                 bytes(photo.data)), big)
    parts = [list(m.iter_attachments()) for m in (first, second)]
    assert parts[0][0] is parts[1][0]                 # the photo: one part, found again by its content
    assert parts[0][1] is not parts[1][1]             # the large file: encoded for each mail
    stdlib = EmailMessage(policy=render.MAIL_POLICY)  # the part as the standard library encodes it
    stdlib.set_content(photo.data, maintype="image", subtype="jpeg", filename=photo.filename, disposition="attachment")
    assert render.serialise(parts[0][0]) == render.serialise(stdlib)
    for m in (first, second):
        back = message_from_bytes(render.serialise(m), policy=policy.default)
        got = {a.get_filename(): a.get_content() for a in back.iter_attachments()}
        assert got == {photo.filename: photo.data, big.filename: big.data}

    for i in range(12):   # 12 files of 1 MB: only the newest 8 MB stay
        mail(render.FileToAttach(f"{i}.bin", "application/octet-stream", os.urandom(1024 * 1024)))
    assert renderer._parts_bytes <= render.PART_CACHE_BYTES
    assert photo not in renderer._parts


def test_a_boundary_found_in_the_text_is_drawn_again(monkeypatch):
    from mailbot.outbound import render

    drawn = iter([7, 7, 8])
    monkeypatch.setattr(render.secrets, "randbits", lambda bits: next(drawn))
    taken = render._Generator._make_boundary(None)
    assert taken == "=" * 15 + "0000000000000000007=="
    assert render._Generator._make_boundary(b"text\n--" + taken.encode() + b"--\n") == \
        "=" * 15 + "0000000000000000008=="


@pytest.mark.parametrize("raw", [b"", b"a", b"a\n", b"a\r\n", b"a\r", b"a\r\r\nb", b"\n\r\n\r\r\n\n", b"x\ry\nz",
                                 b"Subject: x\n\n" + b"line\n" * 500 + b"end"])
def test_the_size_given_to_the_server_is_the_size_data_sends(raw):
    from aiosmtplib.protocol import normalize_message_line_endings

    assert outbox.wire_size(raw) == len(normalize_message_line_endings(raw))


@pytest.mark.parametrize("raw", [b"", b"a", b".", b"..", b"a\n", b".a\n.b\n..c\n", b"a\n.\n", b"a\r\n.\r\nb", b"a\r",
                                 b"a\r\r\nb", b"\n\r\n\r\r\n\n", b"x\ry\nz", b"\n.\n.\n", b".\r.\n.",
                                 b"Subject: x\n\n" + b"line\n.dot\n" * 500 + b"end"])
def test_the_bytes_given_to_data_are_what_aiosmtplib_would_send(raw):
    """Issue 13: the message goes up to its final dot, then the dot once the message before it is recorded; the
    bytes are those of aiosmtplib's data() (line ends, dot-stuffing), made without its regexes."""
    from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings

    assert outbox.wire(raw) == PERIOD_REGEX.sub(b"..", normalize_message_line_endings(raw))


def test_a_mails_final_dot_waits_for_the_record_of_the_one_before(board, smtp_sink):
    """Issue 13: the next mail's exchange goes on while the one before it is recorded, but the server accepts
    it only once that record is done: at most one mail is ever accepted and not yet recorded, so a crash re-sends
    at most one. A record that fails cuts the connection before the next mail's final dot: that mail is not
    delivered, and goes later, once."""
    transport = board.worker.transport
    queue(board, n=3, key="d")
    with board.transaction() as s:
        batch = [outbox.Outgoing(r.id, r.message_id, r.raw, tuple(r.recipients))
                 for r in s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "test").order_by(OutboxMessage.id))]
    first_recorded, release = threading.Event(), threading.Event()
    seen_while_recording: list[int] = []

    class Dies(Exception):
        pass

    def on_result(m, attempt):
        assert attempt.accepted == (GOOD,)
        if m.id == batch[0].id:
            first_recorded.set()
            # The second mail is written meanwhile, all but its final dot: the sink must not have it.
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline:
                seen_while_recording.append(len(smtp_sink.messages))
                time.sleep(0.02)
            release.wait(10)
            return True
        raise Dies()   # the second record fails: the third mail must not be accepted

    sending = threading.Thread(target=lambda: pytest.raises(Dies, transport.send, batch, BOARD, on_result))
    sending.start()
    assert first_recorded.wait(10)
    release.set()
    sending.join(15)
    assert not sending.is_alive()
    transport.close()
    assert set(seen_while_recording) == {1}
    assert [m.message["Message-ID"] for m in smtp_sink.messages] == ["<d-0@binhphuoc.gov.vn>", "<d-1@binhphuoc.gov.vn>"]
