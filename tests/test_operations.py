"""What the administrator installs (issue 17): the systemd units, the cron lines, the Dockerfile and the lock
file. No Docker engine runs here: what the image runs is checked against what the tests run."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from mailbot import cli

ROOT = Path(__file__).resolve().parent.parent
MAILBOT = Path(sys.executable).parent / "mailbot"


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed here")
def test_the_systemd_units_verify(tmp_path):
    units = []
    for unit in sorted((ROOT / "config" / "systemd").iterdir()):
        text = unit.read_text().replace("/opt/mailbot/.venv/bin/mailbot", str(MAILBOT))
        (tmp_path / unit.name).write_text(text)
        units.append(str(tmp_path / unit.name))
    assert {Path(u).name for u in units} == {"mailbot.service", "mailbot-health.service", "mailbot-health.timer"}
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], capture_output=True, text=True)
    # verify exits 0 on some mistakes (a bad value is "ignored"): any word from it is a failure here.
    assert done.returncode == 0 and done.stderr.strip() == "" and done.stdout.strip() == "", done.stderr


def test_every_cron_line_is_a_real_command_on_a_valid_schedule():
    lines = [line for line in (ROOT / "config" / "cron" / "mailbot").read_text().splitlines()
             if line.strip() and not line.startswith("#") and not re.match(r"^[A-Z_]+=", line)]
    assert len(lines) >= 4
    parser = cli.build_parser()
    commands = set()
    for line in lines:
        fields = line.split(None, 6)
        schedule, user, command = fields[:5], fields[5], fields[6]
        assert all(re.fullmatch(r"(\*|\d+(-\d+)?)(/\d+)?(,\d+)*", f) for f in schedule), line
        assert user == "mailbot" and command.startswith("/opt/mailbot/.venv/bin/mailbot ")
        words = shlex.split(command.replace(r"$(date +\%F)", "2026-12-02").split(">")[0])[1:]
        args = parser.parse_args(["--config", "x.toml", *words])   # a typo here exits the test
        commands.add(args.command)
    assert {"run", "sweep", "archive", "backup"} <= commands


def test_the_dockerfile_pins_what_the_tests_run_on():
    docker = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)$", docker, re.M).group(1)
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base), base
    assert re.search(r"USER mailbot", docker) and 'HEALTHCHECK' in docker and '"mailbot", "health"' in docker
    # The Debian package at the version this Debian 12 machine runs the tests with.
    for package, version in re.findall(r"\b(libmagic1)=(\S+)", docker):
        if shutil.which("dpkg-query"):
            here = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True)
            assert here.stdout == version, (package, here.stdout, version)
    assert "pip install --no-cache-dir -r requirements.lock" in docker and "--no-deps ." in docker
    # The lock names every runtime dependency, and the tests run on exactly its versions.
    lock = dict(line.split("==") for line in (ROOT / "requirements.lock").read_text().splitlines()
                if line and not line.startswith("#"))
    canonical = {re.sub(r"[-_.]+", "-", k).lower(): v for k, v in lock.items()}
    for requirement in metadata.requires("mailbot") or []:
        if "extra ==" in requirement and "postgres" not in requirement:
            continue
        name = re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", requirement).group(0)).lower()
        assert name in canonical, f"{name} is not in requirements.lock"
    for name, version in canonical.items():
        assert metadata.version(name) == version, f"{name}: installed {metadata.version(name)}, locked {version}"
