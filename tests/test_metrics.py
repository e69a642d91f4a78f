"""Prometheus metrics (issue 17): a real daemon with --metrics, read with a real HTTP GET; its status."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from tests import samples
from tests.conftest import BOARD
from tests.daemons import ENV, daemon, settings_file, wait_until_quiet


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int, timeout: float = 30) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain")
                body = response.read().decode()
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(body) for sample in family.samples}


def test_the_daemon_serves_counters_histograms_and_queue_gauges(tmp_path, dovecot, smtp_sink):
    settings = settings_file(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}", dovecot, smtp_sink)
    port = free_port()
    dovecot.deliver(samples.build("gmail", sender=("Nguyễn Văn An", "an.nv@binhphuoc.gov.vn"), to=BOARD,
                                  subject="Tin hội nghị", text="Tin.\n\nNguyễn Văn An\nChuyên viên Phòng PBGDPL\n"
                                  "ĐT: 0912 345 678"),
                    samples.build("gmail", sender=("Nguyễn Văn An", "an.nv@binhphuoc.gov.vn"), to=BOARD,
                                  subject="", text=""))
    proc = daemon(settings, tmp_path / "daemon.log", "--metrics", f"127.0.0.1:{port}")
    try:
        wait_until_quiet(settings, inbound=2)
        deadline = time.monotonic() + 30
        while True:
            seen = scrape(port)
            if seen.get(("mailbot_outbox_messages_total", (("agency", "stp"), ("result", "sent"))), 0) >= 3 \
                    and seen.get(("mailbot_last_pass_timestamp_seconds", (("agency", "stp"),)), 0) > 0:
                break
            assert time.monotonic() < deadline, seen
            time.sleep(0.3)
        # `status` shows the daemon's last pass, from its heartbeat (written every 10 s).
        deadline = time.monotonic() + 30
        while True:
            status = json.loads(subprocess.run(
                [sys.executable, "-m", "mailbot", "--config", str(settings.source), "status", "--json"],
                capture_output=True, text=True, env={**os.environ, **ENV}, timeout=60).stdout)
            if status["agencies"][0]["mailbox"]["last_pass_at"]:
                break
            assert time.monotonic() < deadline, status
            time.sleep(1)
        assert status["daemon"]["heartbeat_age_seconds"] < 30 and status["daemon"]["problems"] == []
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    stp = (("agency", "stp"),)
    assert seen[("mailbot_intake_messages_total", (("agency", "stp"), ("disposition", "filed")))] == 1
    assert seen[("mailbot_intake_messages_total", (("agency", "stp"), ("disposition", "held")))] == 1
    assert seen[("mailbot_intake_seconds_count", (("agency", "stp"), ("disposition", "filed")))] == 1
    assert seen[("mailbot_intake_seconds_count", (("agency", "stp"), ("disposition", "held")))] == 1
    assert seen[("mailbot_held_messages", stp)] == 1 and seen[("mailbot_outbox_pending", stp)] == 0
    assert time.time() - seen[("mailbot_last_pass_timestamp_seconds", stp)] < 120
    assert ("mailbot_reminders_total", stp) in seen and ("mailbot_outbox_retrying", stp) in seen
    names = {name for name, _ in seen}
    assert not any(re.search(r"@|an\.nv", str(labels)) for _, labels in seen)   # no person in any label
    assert "mailbot_periodic_mail_total" in names and "mailbot_outbox_round_seconds_count" in names
