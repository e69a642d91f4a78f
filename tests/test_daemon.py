"""The daemon over time: IDLE wakes it for new mail; SMTP failures are retried later; held mail is announced."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from sqlalchemy import select

from mailbot.storage.models import Article, InboundMessage, OutboxMessage
from tests import samples
from tests.conftest import BOARD, HEAD, SECRETARY
from tests.review_helpers import plain_of, subject_of

AUTHOR = ("Nguyễn Văn An", "an.nv@binhphuoc.gov.vn")
SIGNATURE = "Nguyễn Văn An\nChuyên viên Phòng PBGDPL\nĐT: 0912 345 678"


def test_idle_wakes_the_daemon_for_new_mail(board, caplog):
    """And each pass is logged with what woke it (issue 13: stalls must show where they were)."""
    caplog.set_level(logging.DEBUG, logger="mailbot.run")
    assert board.dovecot.client().has_capability("IDLE")
    stop = threading.Event()
    worker = board.app.worker(board.agency, backlog="process")
    thread = threading.Thread(target=worker.run_forever, args=(stop,), kwargs={"wait": 60}, daemon=True)
    thread.start()
    try:
        def passes() -> list:
            return [r for r in caplog.records if r.getMessage() in ("pass", "slow pass")]

        deadline = time.monotonic() + 20
        while not passes() and time.monotonic() < deadline:   # the first pass, at start
            time.sleep(0.05)
        time.sleep(0.5)  # the daemon is now waiting in IDLE for up to a minute
        board.dovecot.deliver(samples.build("gmail", sender=AUTHOR, to=BOARD, subject="Tin mới",
                                            text=f"Tin.\n\n{SIGNATURE}"))
        deadline = time.monotonic() + 20
        while not notices(board) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(notices(board)) == 1, "IDLE did not wake the daemon"
        while not [r for r in passes() if r.messages] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert passes()[0].woken_by == "start" and passes()[0].messages == 0
        woken = [r for r in passes() if r.messages == 1]
        assert woken and woken[0].woken_by.startswith("IDLE: ") and "EXISTS" in woken[0].woken_by, \
            [(r.woken_by, r.messages) for r in passes()]
    finally:
        stop.set()
        worker.source.close()
        thread.join(10)


def test_closing_the_mailbox_from_another_thread_ends_its_idle_at_once(board):
    """A LOGOUT sent under a thread reading IDLE left one of the two readers waiting out the socket timeout
    (60 s), now and then: tried ten times, the closing and the IDLE both end every time."""
    source = board.worker.source
    for _ in range(10):
        source._ensure()
        ended, closed = threading.Event(), threading.Event()

        def idle(ended=ended):
            try:
                source.wait(30)
            except Exception:  # noqa: BLE001 - the socket closed under the read: what ends the wait
                pass
            ended.set()

        def close(closed=closed):
            source.close()
            closed.set()

        threading.Thread(target=idle, daemon=True).start()
        time.sleep(0.3)
        assert not ended.is_set()                       # waiting in IDLE
        threading.Thread(target=close, daemon=True).start()
        assert closed.wait(5) and ended.wait(5), "closing the connection did not end its IDLE"
        assert source.client is None


def test_a_slow_pass_is_a_warning_with_its_parts(board, caplog):
    import dataclasses

    worker = board.worker
    worker.service = dataclasses.replace(worker.service, slow_pass_seconds=1e-6)
    board.send(samples.build("gmail", sender=AUTHOR, to=BOARD, subject="Tin mới", text=f"Tin.\n\n{SIGNATURE}"))
    worker._timed_pass("IDLE: EXISTS")
    [slow] = [r for r in caplog.records if r.getMessage() == "slow pass"]
    assert slow.levelno == logging.WARNING and slow.woken_by == "IDLE: EXISTS" and slow.messages == 1
    assert slow.sent == 3 and 0 < slow.intake_seconds <= slow.seconds
    assert worker.source.wait(0.3) == "IDLE timeout"


def notices(board) -> list:
    return [m for m in board.sink.to(SECRETARY) if "Tin mới" in subject_of(m)]


def test_the_daemons_scheduler_sends_what_came_due_while_it_was_down(board):
    # Monday 23/11 09:00: the weekly digest came due at 07:30. The scheduler's first sweep runs at start-up.
    stop = threading.Event()
    worker = board.app.worker(board.agency, backlog="process")
    # A short IDLE wait: the loop sees `stop` within a second and ends as `mailbot run` ends it.
    thread = threading.Thread(target=worker.run_forever, args=(stop,), kwargs={"wait": 1}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not board.sink.to(HEAD) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(10)
        worker.source.close()
    assert not thread.is_alive()
    [digest] = board.sink.to(HEAD)
    assert subject_of(digest).startswith("Bản tin tuần 16/11 – 22/11/2026")
    assert len(board.sink.to(SECRETARY)) == 1


def test_smtp_failure_is_retried_later_and_sent_once(board, smtp_sink):
    smtp_sink.stop()  # the relay is down
    board.say(samples.build("gmail", sender=AUTHOR, to=BOARD, subject="Tin hội nghị", text=f"Tin.\n\n{SIGNATURE}"))
    with board.transaction() as s:
        rows = s.scalars(select(OutboxMessage)).all()
        assert [(r.status, r.attempts) for r in rows] == [("pending", 1)] * 3
        assert "Connect" in rows[0].last_error or "refused" in rows[0].last_error.lower()
        due = rows[0].next_attempt_at
    assert due == board.clock() + timedelta(minutes=board.settings.delivery.retry_minutes[0])

    smtp_sink.restart()  # back up, same port
    assert board.run_once().sent == 0  # not due yet
    board.clock.current += timedelta(minutes=2)
    assert board.run_once().sent == 3
    assert board.run_once().sent == 0
    assert len(smtp_sink.messages) == 3
    with board.transaction() as s:
        assert all(r.status == "sent" and r.attempts == 2 for r in s.scalars(select(OutboxMessage)))


def test_a_board_members_reply_is_held_and_a_citizens_question_filed_apart(board):
    board.say(samples.build("gmail", sender=AUTHOR, to=BOARD, subject="Tin hội nghị", text=f"Tin.\n\n{SIGNATURE}"))
    [notice] = board.sink.to(SECRETARY)
    notice_id = notice.message["Message-ID"].strip("<>")
    reply = samples.build("outlook", sender=("Trần Văn Hùng", HEAD), to=BOARD, subject="RE: Tin hội nghị",
                          text="DUYỆT\n\nFrom: Ban Biên tập\nSent: Monday\nTo: Hùng\nSubject: Tin",
                          in_reply_to=notice_id, references=(notice_id,))
    assert board.say(reply).counts == {"held": 1}
    question = samples.build("yahoo", sender=("Trần Văn Dân", "tvdan1980@yahoo.com"), to=BOARD,
                             subject="Xin hỏi về thủ tục chứng thực",
                             text="Cho tôi hỏi thủ tục chứng thực bản sao cần giấy tờ gì? Xin cảm ơn.")
    assert board.say(question).counts == {"question": 1}
    with board.transaction() as s:
        held = {m.from_addr: m.rule for m in s.scalars(select(InboundMessage).where(
            InboundMessage.disposition == "held"))}
        assert s.scalars(select(Article)).one().status == "review"  # a reply to a notice without a token does nothing
    # Held as what it is: a command without a token; never "commands by reply are unsupported".
    assert held == {HEAD: "command-without-token"}
    announced = board.sink.to(SECRETARY)
    assert len(announced) == 3                                  # new article, held reply, question to assign
    held_notice = announced[1].raw.decode("utf-8", "replace")
    assert "chưa được hỗ trợ" not in held_notice and "không mang mã" in plain_of(announced[1])
    [ack] = board.sink.to("tvdan1980@yahoo.com")                # the citizen is acknowledged, not filed as news
    assert "HD-2026-0001" in subject_of(ack)


def test_odt_text_is_extracted_for_the_preview(board):
    import io

    from odf.opendocument import OpenDocumentText
    from odf.text import H, P

    document = OpenDocumentText()
    document.text.addElement(H(outlinelevel=1, text="Tuyên truyền Luật Hòa giải"))
    document.text.addElement(P(text="Nội dung bài viết bằng OpenOffice Writer."))
    buf = io.BytesIO()
    document.write(buf)
    raw = samples.build("thunderbird", sender=AUTHOR, to=BOARD, subject="[BÀI] Hòa giải ở cơ sở",
                        text=f"Bài viết.\n\n{SIGNATURE}",
                        files=(samples.File("bai.odt", "application/vnd.oasis.opendocument.text", buf.getvalue()),))
    board.say(raw)
    [notice] = board.sink.to(SECRETARY)
    body = notice.message.get_payload()[0].get_payload()[0].get_payload(decode=True).decode()
    assert "Nội dung bài viết bằng OpenOffice Writer." in body


def test_smtp_auth_with_the_password_from_the_environment(tmp_path, clock):
    from mailbot import config
    from tests.conftest import Board, write_settings
    from tests.servers import SmtpSink

    sink = SmtpSink(login=("bbt", "mat-khau")).start()
    try:
        url = f"smtp://bbt@127.0.0.1:{sink.port}?starttls=0"
        settings = write_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", f"maildir:{tmp_path / 'in'}", url,
                                  extra='outgoing_password_env = "MAILBOT_TEST_SMTP_PASSWORD"')
        assert settings is None
    except config.ConfigError as exc:  # the variable is not set: named as a problem, nothing sent
        assert [p.key for p in exc.problems] == ["agency[0].outgoing_password_env"]
    settings = config.load(tmp_path / "mailbot.toml", environ={"MAILBOT_TEST_IMAP_PASSWORD": "x",
                                                            "MAILBOT_TEST_SMTP_PASSWORD": "mat-khau"})
    assert settings.agencies[0].outgoing.username == "bbt"
    board = Board(settings, None, None, clock)
    assert board.say(samples.build("gmail", sender=AUTHOR, to=BOARD, subject="Tin",
                                   text=f"Tin.\n\n{SIGNATURE}")).sent == 3
    board.close()
    sink.stop()
    assert len(sink.messages) == 3


def test_a_message_over_the_size_limit_is_held(tmp_path, clock):
    from tests.conftest import Board, write_settings

    settings = write_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", f"maildir:{tmp_path / 'in'}",
                              f"file:{tmp_path / 'out'}", intake="max_message_mb = 0.05")
    board = Board(settings, None, None, clock)
    big = samples.File("anh.jpg", "image/jpeg", b"\xff\xd8\xff\xe0" + b"\x01" * 80_000 + b"\xff\xd9")
    assert board.say(samples.build("gmail", sender=AUTHOR, to=BOARD, subject="Ảnh", text=f"x\n\n{SIGNATURE}",
                                   files=(big,))).counts == {"held": 1}
    with board.transaction() as s:
        assert s.scalars(select(InboundMessage)).one().rule == "too-large"
    board.close()


def test_mail_that_comes_during_a_pass_is_read_without_waiting_for_the_next(board, caplog):
    """Dovecot announces in IDLE only what changes once IDLE began: a message APPENDed while a pass read waited for
    the next message or the IDLE timeout (issue 13's stalls). The daemon looks again after a pass that took mail."""
    caplog.set_level(logging.DEBUG, logger="mailbot.run")
    dataclasses_replace = __import__("dataclasses").replace
    stop = threading.Event()
    worker = board.app.worker(board.agency, backlog="process")
    worker.service = dataclasses_replace(worker.service, lease_seconds=600)   # IDLE renewed every 200 s
    second = samples.build("gmail", sender=AUTHOR, to=BOARD, subject="Tin mới thứ hai", text=f"Tin.\n\n{SIGNATURE}")
    process, delivered = worker.intake.process, []

    def process_and_deliver_another(raw, **kwargs):
        outcome = process(raw, **kwargs)
        if not delivered:
            delivered.append(board.dovecot.deliver(second))   # arrives after this pass searched the mailbox
        return outcome

    worker.intake.process = process_and_deliver_another
    board.dovecot.deliver(samples.build("gmail", sender=AUTHOR, to=BOARD, subject="Tin mới", text=f"Tin.\n\n{SIGNATURE}"))
    thread = threading.Thread(target=worker.run_forever, args=(stop,), kwargs={"wait": 600}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while len(notices(board)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(notices(board)) == 2, "the message that came during the pass waited for the IDLE timeout"
        woken = [(r.woken_by, r.messages) for r in caplog.records if r.getMessage() in ("pass", "slow pass")]
        assert woken[:2] == [("start", 1), ("after a pass that took mail", 1)], woken
    finally:
        stop.set()
        worker.source.close()
        thread.join(10)
