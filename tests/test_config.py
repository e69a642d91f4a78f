"""Configuration: presets layer under the agency's table; `check` reports every problem at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mailbot import config

MINIMAL = """
[[agency]]
slug = "{slug}"
preset = "{preset}"
name = "Test"
board_address = "bbt@example.gov.vn"
mailbox = "maildir:inbox"
outgoing = "file:out"
"""


@pytest.mark.parametrize("preset", ["binhphuoc", "kontum", "vkssoctrang", "cchcsoctrang"])
def test_each_preset_loads(tmp_path, preset):
    path = tmp_path / "m.toml"
    path.write_text(MINIMAL.format(slug="a", preset=preset), encoding="utf-8")
    settings = config.load(path, environ={})
    agency = settings.agencies[0]
    assert agency.name == "Test"  # the agency's own value wins over the preset's
    assert {c.name for c in agency.categories} == set(config.CATEGORIES)
    assert len(agency.workflow.steps) >= 2, "the preset carries the regulation's workflow steps"
    assert agency.mailbox.path == str(tmp_path / "inbox")
    assert settings.database_url == f"sqlite:///{tmp_path / 'storage' / 'mailbot.sqlite3'}"


def test_cchc_preset_confirms_outside_senders_and_uses_its_prefix(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text(MINIMAL.format(slug="a", preset="cchcsoctrang"), encoding="utf-8")
    agency = config.load(path, environ={}).agencies[0]
    assert agency.workflow.outside_confirmation and agency.workflow.publish_on_approval
    assert agency.accepted_domains == ("soctrang.gov.vn",)
    assert agency.reference_prefix == "CCHC"


BROKEN = """
database = 12
colour = "blue"

[[agency]]
slug = "Bad Slug"
name = "X"
board_address = "not-an-address"
mailbox = "pop3://mail.example"
outgoing = "smtp://relay.example:587"
outgoing_password_env = "NO_SUCH_VARIABLE_HERE"
reference_prefix = "bbt"
preset = "atlantis"

[[agency.members]]
name = "A"
email = "a@example.gov.vn"
role = "chief"

[[agency.units]]
name = "Phòng A"
monthly_quota = -1

[agency.intake]
accepted_types = ["docx", "exe"]
default_category = "gossip"
"""


def test_every_problem_is_reported_at_once(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text(BROKEN, encoding="utf-8")
    with pytest.raises(config.ConfigError) as info:
        config.load(path, environ={})
    keys = {p.key for p in info.value.problems}
    assert {"database", "colour", "agency[0].slug", "agency[0].board_address", "agency[0].mailbox",
            "agency[0].outgoing_password_env", "agency[0].reference_prefix", "agency[0].preset",
            "agency[0].members[0].role", "agency[0].units[0].monthly_quota", "agency[0].intake.accepted_types",
            "agency[0].intake.default_category"} <= keys
    assert all(p.file == str(path) for p in info.value.problems)


def test_check_command_exits_non_zero_and_names_file_and_key(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text(BROKEN, encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "mailbot", "--config", str(path), "check"],
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert f"{path}: agency[0].members[0].role: 'chief' is not one of" in run.stderr
    assert "problem(s)" in run.stderr


def test_example_config_is_valid():
    example = Path(__file__).resolve().parents[1] / "config" / "mailbot.example.toml"
    settings = config.load(example, environ={"MAILBOT_BP_IMAP_PASSWORD": "x", "MAILBOT_BP_SMTP_PASSWORD": "y"})
    agency = settings.agencies[0]
    assert agency.mailbox.scheme == "imaps" and agency.mailbox.password == "x"
    assert agency.outgoing.starttls and agency.outgoing.port == 587
    assert [m.role for m in agency.members] == ["head", "deputy_head", "member", "secretary", "director"]


def test_staff_directory_imports_from_csv_with_vietnamese_headers(tmp_path):
    (tmp_path / "staff.csv").write_text(
        "Họ và tên,Đơn vị,Chức vụ,Điện thoại,Email\n"
        "Lê Thị Hoa,Văn phòng Sở,Chuyên viên,0271 3879 456,Hoa.LT@example.gov.vn\n"
        "Sai Địa Chỉ,Văn phòng Sở,,,not-an-email\n", encoding="utf-8")
    path = tmp_path / "m.toml"
    path.write_text(MINIMAL.format(slug="a", preset="kontum") + 'staff_csv = "staff.csv"\n', encoding="utf-8")
    with pytest.raises(config.ConfigError) as info:
        config.load(path, environ={})
    [problem] = info.value.problems
    assert "line 3" in problem.message and problem.key == "agency[0].staff_csv"
    (tmp_path / "staff.csv").write_text(
        "Họ và tên,Đơn vị,Chức vụ,Điện thoại,Email\nLê Thị Hoa,Văn phòng Sở,Chuyên viên,0271 3879 456,"
        "Hoa.LT@example.gov.vn\n", encoding="utf-8")
    agency = config.load(path, environ={}).agencies[0]
    assert agency.staff_by_email("hoa.lt@example.gov.vn").title == "Chuyên viên"
