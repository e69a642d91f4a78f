"""The command line as an administrator uses it: demo, run --once, list, show, health."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

from tests import samples
from tests.conftest import BOARD, write_settings


def mailbot(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mailbot", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_demo_files_the_samples_and_shows_what_it_did(tmp_path):
    run = mailbot("demo", "--dir", str(tmp_path / "demo"))
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "BBT-2026-0001 [review]" in out
    assert "[awaiting_details]" in out
    assert "ignored: auto-reply" in out
    assert "question: citizen-question" in out and "HD-2026-0001 [new] Xin hỏi về chứng thực bản sao" in out
    assert "quarantined" in out or "cách ly" in out
    assert len(list((tmp_path / "demo" / "outbox").glob("*.eml"))) >= 6
    assert "mailbot show BBT-2026-0001" in out and "history:" in out


def test_run_once_list_and_show_against_dovecot(tmp_path, dovecot, smtp_sink):
    settings = write_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", dovecot.url, smtp_sink.url)
    env = {"MAILBOT_TEST_IMAP_PASSWORD": dovecot.PASSWORD}
    config_path = str(settings.source)
    dovecot.deliver(samples.build("outlook", sender=("Nguyễn Văn An", "an.nv@binhphuoc.gov.vn"), to=BOARD,
                                  subject="[BÀI] Phổ biến pháp luật ở cơ sở",
                                  text="Bài viết.\n\nNguyễn Văn An\nPhòng PBGDPL\nĐT: 0912 345 678"))
    first = mailbot("--config", config_path, "run", "--once", env=env)
    assert first.returncode == 3 and "--backlog process" in first.stderr  # a full mailbox: the admin chooses
    run = mailbot("--config", config_path, "run", "--once", "--backlog", "process", env=env)
    assert run.returncode == 0, run.stderr
    assert "stp: 1 filed; sent 3, failed 0" in run.stdout

    listed = json.loads(mailbot("--config", config_path, "list", "--json", env=env).stdout)
    assert [(a["reference"], a["category"], a["status"]) for a in listed] == [
        ("BBT-2026-0001", "article", "review")]
    shown = json.loads(mailbot("--config", config_path, "show", "BBT-2026-0001", "--json", env=env).stdout)
    assert shown["author"]["phone"] == "0912 345 678"
    assert [m["kind"] for m in shown["messages_out"]] == [
        "article.author.received", "article.secretary.new", "article.member.review_request"]
    assert all(m["status"] == "sent" for m in shown["messages_out"])
    text = mailbot("--config", config_path, "show", "BBT-2026-0001", env=env).stdout
    assert "filed_complete - -> submitted" in text
    # People read Vietnam time (issue 14 item 17); JSON keeps ISO with its offset.
    assert "+00:00" not in text and "T0" not in text and re.search(r"\d\d:\d\d \d\d/\d\d/20\d\d", text)
    assert shown["received_at"].endswith("+00:00")
    missing = mailbot("--config", config_path, "show", "BBT-2026-9999", env=env)
    assert missing.returncode == 1 and "no article" in missing.stderr


def test_health_reflects_the_heartbeat(tmp_path):
    settings = write_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", f"maildir:{tmp_path / 'in'}",
                              f"file:{tmp_path / 'out'}")
    env = {"MAILBOT_TEST_IMAP_PASSWORD": "x"}
    sick = mailbot("--config", str(settings.source), "health", env=env)
    assert sick.returncode == 1 and "no heartbeat" in sick.stderr
    daemon = subprocess.Popen([sys.executable, "-m", "mailbot", "--config", str(settings.source), "run"],
                              env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not (settings.storage_dir / "heartbeat").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        healthy = mailbot("--config", str(settings.source), "health", env=env)
        assert healthy.returncode == 0, healthy.stderr
    finally:
        daemon.terminate()
        daemon.wait(20)
    assert daemon.returncode == 0
    stale = mailbot("--config", str(settings.source), "health", "--max-age", "0", env=env)
    assert stale.returncode == 1 and "older than" in stale.stderr


def test_questions_digest_report_and_sweep_from_the_command_line(tmp_path):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from openpyxl import load_workbook

    settings = write_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", f"maildir:{tmp_path / 'in'}",
                              f"file:{tmp_path / 'out'}")
    env = {"MAILBOT_TEST_IMAP_PASSWORD": "x"}
    config_path = str(settings.source)
    inbox = tmp_path / "in"
    for sub in ("new", "cur", "tmp"):
        (inbox / sub).mkdir(parents=True, exist_ok=True)
    (inbox / "new" / "1.eml").write_bytes(samples.build(
        "yahoo", sender=("Trần Văn Dân", "tvdan1980@yahoo.com"), to=BOARD, subject="Xin hỏi về thủ tục chứng thực",
        text="Cho tôi hỏi thủ tục chứng thực bản sao cần giấy tờ gì? SĐT 0912 345 678"))
    (inbox / "new" / "2.eml").write_bytes(samples.build(
        "outlook", sender=("Nguyễn Văn An", "an.nv@binhphuoc.gov.vn"), to=BOARD, subject="[BÀI] Phổ biến pháp luật",
        text="Bài viết.\n\nNguyễn Văn An\nPhòng PBGDPL\nĐT: 0912 345 678"))
    run = mailbot("--config", config_path, "run", "--once", env=env)
    assert run.returncode == 0 and "1 filed, 1 question" in run.stdout, run.stdout + run.stderr

    listed = mailbot("--config", config_path, "list", "--questions", env=env).stdout
    assert listed.startswith("HD-") and "Xin hỏi về thủ tục chứng thực" in listed
    reference = listed.split()[0]
    shown = mailbot("--config", config_path, "show", reference, env=env).stdout
    assert "asker:     Trần Văn Dân <tvdan1980@yahoo.com>" in shown and "citizen_answer" in shown
    assert "15 ngày làm việc" in shown

    preview = mailbot("--config", config_path, "digest", "--preview", env=env)
    assert preview.returncode == 0 and "BẢN TIN TUẦN" in preview.stdout and reference in preview.stdout
    before = len(list((tmp_path / "out").glob("*.eml")))
    sent = mailbot("--config", config_path, "digest", "--send", env=env)
    assert sent.returncode == 0 and "sent 1" in sent.stdout, sent.stdout + sent.stderr
    assert len(list((tmp_path / "out").glob("*.eml"))) == before + 1

    month = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%Y-%m")
    out = tmp_path / "report.xlsx"
    report = mailbot("--config", config_path, "report", "monthly", "--month", month, "--out", str(out), env=env)
    assert report.returncode == 0, report.stderr
    assert "received 1" in report.stdout and "questions received 1" in report.stdout
    summary = dict(r[:2] for r in load_workbook(out)["Tổng hợp"].iter_rows(min_row=3, values_only=True) if r[0])
    assert summary["Tin bài nhận"] == 1 and summary["Câu hỏi nhận"] == 1
    bad = mailbot("--config", config_path, "report", "monthly", "--month", "11/2026", env=env)
    assert bad.returncode != 0 and "YYYY-MM" in bad.stderr
    swept = mailbot("--config", config_path, "sweep", env=env)
    assert swept.returncode == 0 and swept.stdout.startswith("stp: sent")


def test_version_and_status_after_a_pass_over_dovecot(tmp_path, dovecot, smtp_sink):
    version = mailbot("--version")
    assert version.returncode == 0 and re.fullmatch(r"mailbot \d+\.\d+\.\d+\S*\n", version.stdout)
    settings = write_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", dovecot.url, smtp_sink.url)
    env = {"MAILBOT_TEST_IMAP_PASSWORD": dovecot.PASSWORD}
    config_path = str(settings.source)
    dovecot.deliver(samples.build("outlook", sender=("Nguyễn Văn An", "an.nv@binhphuoc.gov.vn"), to=BOARD,
                                  subject="[TIN] Hội nghị tổng kết",
                                  text="Tin hội nghị.\n\nNguyễn Văn An\nPhòng PBGDPL\nĐT: 0912 345 678"),
                    samples.build("gmail", sender=("Nguyễn Văn An", "an.nv@binhphuoc.gov.vn"), to=BOARD,
                                  subject="", text=""))
    assert mailbot("--config", config_path, "run", "--once", "--backlog", "process", env=env).returncode == 0
    run = mailbot("--config", config_path, "status", "--json", env=env)
    assert run.returncode == 0, run.stderr
    status = json.loads(run.stdout)
    [stp] = status["agencies"]
    assert stp["agency"] == "stp" and stp["held"] == {"total": 1, "by_rule": {"empty": 1}}
    assert stp["outbox"]["sent"] >= 3 and stp["outbox"]["pending"] == stp["outbox"]["failed"] == 0
    assert stp["mailbox"]["checkpoints"][0]["last_uid"] == 2 and stp["mailbox"]["lag_seconds"] >= 0
    assert stp["reminders_due"] == 0 and stp["tries_in_progress"] == 0
    kinds = ("digest:", "report:", "quota-", "periodic:")
    assert isinstance(stp["periodic_due"], list) and all(k.startswith(kinds) for k in stp["periodic_due"])
    assert status["daemon"]["heartbeat_age_seconds"] is None   # run --once writes none
    text = mailbot("--config", config_path, "status", env=env)
    assert text.returncode == 0 and "held: 1, empty 1" in text.stdout and "outbox: 0 pending" in text.stdout


def test_json_logs_one_object_a_line_named_per_concern_without_personal_data(tmp_path, dovecot, smtp_sink):
    settings = write_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", dovecot.url, smtp_sink.url)
    with open(settings.source, "a", encoding="utf-8") as fh:
        fh.write('\n[service]\nlog_format = "json"\n')
    env = {"MAILBOT_TEST_IMAP_PASSWORD": dovecot.PASSWORD}
    citizen = ("Trần Thị Hoa", "tran.thi.hoa@gmail.com")
    dovecot.deliver(samples.build("gmail", sender=citizen, to=BOARD, subject="Xin hỏi về thủ tục cấp phép",
                                  text="Xin hỏi thủ tục cấp giấy phép xây dựng?\n\nTrần Thị Hoa\nĐT: 0912 345 678"))
    run = mailbot("--config", str(settings.source), "--log-level", "INFO", "run", "--once", "--backlog", "process",
                  env=env)
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    assert lines and all({"time", "level", "logger", "message"} <= set(entry) for entry in lines)
    assert "mailbot.intake" in {entry["logger"] for entry in lines} and all(e["logger"].startswith("mailbot.") for e in lines)
    taken = next(entry for entry in lines if entry["message"] == "message taken in")
    assert taken["disposition"] == "question" and taken["rule"] == "citizen-question"
    for secret in (citizen[1], citizen[0], "0912 345 678"):
        assert secret not in run.stderr
    # --log-format wins over the file.
    text = mailbot("--config", str(settings.source), "--log-format", "text", "--log-level", "INFO", "run", "--once",
                   env=env)
    assert text.returncode == 0 and not any(line.startswith("{") for line in text.stderr.splitlines())


def test_archive_verify_names_every_missing_or_changed_file(tmp_path, dovecot, smtp_sink):
    """Everything is kept and checked against its hash (000 art. 14; 001 art. 10.2; 002 art. 13.2)."""
    settings = write_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", dovecot.url, smtp_sink.url)
    env = {"MAILBOT_TEST_IMAP_PASSWORD": dovecot.PASSWORD}
    config_path = str(settings.source)
    photo = samples.File("anh.jpg", "image/jpeg", samples.jpeg_bytes(3))
    for n in range(2):
        dovecot.deliver(samples.build("gmail", sender=("Nguyễn Văn An", "an.nv@binhphuoc.gov.vn"), to=BOARD,
                                      subject=f"[ẢNH] Ảnh {n}", text=f"Ảnh {n}.\n\nNguyễn Văn An\nPhòng PBGDPL\n"
                                      "ĐT: 0912 345 678", files=(photo,) if n == 0 else ()))
    assert mailbot("--config", config_path, "run", "--once", "--backlog", "process", env=env).returncode == 0
    good = mailbot("--config", config_path, "archive", "verify", env=env)
    assert good.returncode == 0 and "3 stored files checked, 0 bad" in good.stdout
    store = settings.storage_dir
    [stored_photo] = [p for p in (store / "files").rglob("*") if p.is_file()]
    stored_photo.write_bytes(b"changed")
    raws = sorted(p for p in (store / "raw").rglob("*.eml"))
    raws[0].unlink()
    bad = mailbot("--config", config_path, "archive", "verify", env=env)
    assert bad.returncode == 1 and "3 stored files checked, 2 bad" in bad.stdout
    assert "'anh.jpg'" in bad.stdout and "changed (its hash no longer matches)" in bad.stdout
    assert "missing" in bad.stdout and bad.stdout.count("BAD ") == 2


def test_replay_takes_a_held_message_in_again_after_a_fix_and_never_twice(tmp_path, dovecot, smtp_sink, capsys,
                                                                          monkeypatch):
    from mailbot import cli

    monkeypatch.setenv("MAILBOT_TEST_IMAP_PASSWORD", dovecot.PASSWORD)
    database = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    settings = write_settings(tmp_path, database, dovecot.url, smtp_sink.url, intake='outside_senders = "hold"')
    config = ["--config", str(settings.source)]
    sender = ("Lê Văn Tâm", "tam.lv@tanlap.vn")
    dovecot.deliver(samples.build("gmail", sender=sender, to=BOARD, subject="Tin hoạt động xã Tân Lập",
                                  message_id="tin-tan-lap-1@tanlap.vn",
                                  text="Tin hoạt động.\n\nLê Văn Tâm\nCông chức xã Tân Lập\nĐT: 0912 345 678"))
    assert cli.main([*config, "run", "--once", "--backlog", "process"]) == 0
    capsys.readouterr()
    assert cli.main([*config, "list", "--held", "--json"]) == 0
    [held] = json.loads(capsys.readouterr().out)
    assert held["rule"] == "outside-sender"
    # The fix: the commune's domain is accepted now.
    write_settings(tmp_path, database, dovecot.url, smtp_sink.url, intake='outside_senders = "hold"',
                   extra='accepted_domains = ["binhphuoc.gov.vn", "tanlap.vn"]')
    assert not smtp_sink.to(sender[1])
    assert cli.main([*config, "replay", "<tin-tan-lap-1@tanlap.vn>"]) == 0
    said = capsys.readouterr().out
    assert "held (outside-sender) -> filed (submission) BBT-2026-0001" in said
    assert cli.main([*config, "run", "--once"]) == 0
    assert len(smtp_sink.to(sender[1])) == 1   # the acknowledgement, once
    assert cli.main([*config, "replay", "#1"]) == 1
    assert "changed something already; not replayed" in capsys.readouterr().out
    assert cli.main([*config, "run", "--once"]) == 0
    assert len(smtp_sink.to(sender[1])) == 1
    assert cli.main([*config, "replay", "#99"]) == 1


def test_archive_export_writes_each_case_with_its_files_messages_history_and_a_manifest(tmp_path, dovecot,
                                                                                         smtp_sink):
    """The export for the state archive (000 art. 14; 004 art. 10.4 keeps published information permanently)."""
    import hashlib

    settings = write_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", dovecot.url, smtp_sink.url)
    env = {"MAILBOT_TEST_IMAP_PASSWORD": dovecot.PASSWORD}
    config_path = str(settings.source)
    dovecot.deliver(samples.build("gmail", sender=("Nguyễn Văn An", "an.nv@binhphuoc.gov.vn"), to=BOARD,
                                  subject="[ẢNH] Hội nghị", text="Ảnh hội nghị.\n\nNguyễn Văn An\nPhòng PBGDPL\n"
                                  "ĐT: 0912 345 678", files=(samples.File("anh.jpg", "image/jpeg", samples.jpeg_bytes(5)),
                                                             samples.File("setup.exe", "application/octet-stream",
                                                                          b"MZ\x90\x00" + bytes(100)))))
    assert mailbot("--config", config_path, "run", "--once", "--backlog", "process", env=env).returncode == 0
    out = tmp_path / "export"
    run = mailbot("--config", config_path, "archive", "export", "--period", "2026", "--out", str(out), env=env)
    assert run.returncode == 0, run.stderr
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    [item] = manifest["items"]
    assert item["reference"] == "BBT-2026-0001" and item["kind"] == "article"
    assert [q["filename"] for q in item["quarantined_files"]] == ["setup.exe"]
    paths = {f["path"] for f in manifest["files"]}
    base = "stp/BBT-2026-0001"
    assert {f"{base}/record.json", f"{base}/files/v1-anh.jpg", f"{base}/messages/in-1.eml"} <= paths
    assert any(p.startswith(f"{base}/messages/out-") for p in paths) and not any("setup.exe" in p for p in paths)
    for f in manifest["files"]:
        assert hashlib.sha256((out / f["path"]).read_bytes()).hexdigest() == f["sha256"]
    record = json.loads((out / base / "record.json").read_text(encoding="utf-8"))
    assert record["history"] and record["title"] == "Hội nghị"
    again = mailbot("--config", config_path, "archive", "export", "--period", "2026", "--out", str(out), env=env)
    assert again.returncode == 1 and "not empty" in again.stderr
    empty = mailbot("--config", config_path, "archive", "export", "--period", "2025-12", "--out",
                    str(tmp_path / "none"), env=env)
    assert empty.returncode == 0 and empty.stdout.startswith("0 articles and questions")
    assert mailbot("--config", config_path, "archive", "export", "--period", "26", env=env).returncode == 2
