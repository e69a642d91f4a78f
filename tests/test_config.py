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


TYPOS = [
    ("databse", "database", 'databse = "sqlite:///x"\n', ""),
    ("agency[0].acepted_domains", "accepted_domains", 'acepted_domains = ["x.gov.vn"]\n', ""),
    ("agency[0].workflow.trusted_authserv_di", "trusted_authserv_id", "",
     '[agency.workflow]\ntrusted_authserv_di = "mx.x.gov.vn"\n'),
    ("agency[0].digest.wekday", "weekday", "", '[agency.digest]\nwekday = "monday"\n'),
    ("agency[0].members[0].rol", "role", "", '[[agency.members]]\nname = "A"\nemail = "a@x.gov.vn"\nrol = "head"\n'),
    ("agency[0].workflow.steps[0].rolse", "roles", "",
     '[[agency.workflow.steps]]\nname = "edit"\nroles = ["member"]\nrolse = ["head"]\n'),
    ("agency[0].questions.steps[0].lable", "label", "",
     '[[agency.questions.steps]]\nname = "ok"\nroles = ["head"]\nlable = "x"\n'),
    ("agency[0].deadlines.publication.working_dys", "working_days", "",
     '[agency.deadlines]\npublication = { working_days = 1, working_dys = 2 }\n'),
    ("agency[0].categories.news.keywods", "keywords", "", '[agency.categories.news]\nkeywods = ["tin"]\n'),
    ("agency[0].intake.max_atachment_mb", "max_attachment_mb", "", "[agency.intake]\nmax_atachment_mb = 5\n"),
    ("agency[0].calendar.offce_hours", "office_hours", "", '[agency.calendar]\noffce_hours = []\n'),
]


@pytest.mark.parametrize("key, suggestion, top, table", TYPOS, ids=[t[0] for t in TYPOS])
def test_every_unknown_key_at_any_depth_fails_check_and_names_the_closest(tmp_path, key, suggestion, top, table):
    """Security: a misspelt key never switches a check off silently."""
    path = tmp_path / "m.toml"
    agency = MINIMAL.format(slug="a", preset="binhphuoc").replace('outgoing = "file:out"\n',
                                                                 'outgoing = "file:out"\n' + (top if key.startswith("agency") else ""))
    path.write_text((top if not key.startswith("agency") else "") + agency + table, encoding="utf-8")
    with pytest.raises(config.ConfigError) as info:
        config.load(path, environ={})
    [problem] = [p for p in info.value.problems if p.key == key]
    assert f"did you mean {suggestion!r}" in problem.message


def test_check_names_every_unknown_key_at_once(tmp_path):
    """Security: `mailbot check` fails on misspelt keys at three depths, naming each."""
    path = tmp_path / "m.toml"
    path.write_text('databse = "x"\n' + MINIMAL.format(slug="a", preset="binhphuoc") +
                    '[agency.workflow]\ntrusted_authserv_di = "mx.x.gov.vn"\n'
                    '[[agency.members]]\nname = "A"\nemail = "a@x.gov.vn"\nrole = "head"\nrol = "head"\n',
                    encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "mailbot", "--config", str(path), "check"], capture_output=True,
                          text=True)
    assert done.returncode == 2
    for key in ("databse", "agency[0].workflow.trusted_authserv_di", "agency[0].members[0].rol"):
        assert key in done.stderr + done.stdout, key


@pytest.mark.parametrize("url, allowed", [
    ("imap://bbt@mail.binhphuoc.gov.vn/INBOX", True),                    # STARTTLS required at connect time
    ("imap://bbt@mail.binhphuoc.gov.vn/INBOX?starttls=0", False),        # would send the password in clear
    ("imap://bbt@mail.binhphuoc.gov.vn/INBOX?starttls=0&plaintext=1", True),
    ("imap://bbt@127.0.0.1:1143/INBOX?starttls=0", True),                # loopback never leaves the machine
    ("imap://bbt@mail.binhphuoc.gov.vn/INBOX?starttls=maybe", False),
    ("imap://bbt@mail.binhphuoc.gov.vn/INBOX?startls=1", False),          # a typo in an option is an error too
])
def test_a_password_is_never_sent_in_clear_unless_the_url_says_so(tmp_path, url, allowed):
    """Security: imap:// and smtp:// log in only after STARTTLS, except on loopback or with ?plaintext=1."""
    kinds = ("imap", "imaps", "maildir")
    if allowed:
        endpoint = config.parse_endpoint(url, kinds, tmp_path)
        assert endpoint.plaintext_ok == ("plaintext=1" in url or "127.0.0.1" in url)
    else:
        with pytest.raises(ValueError):
            config.parse_endpoint(url, kinds, tmp_path)


def test_check_warns_when_commands_count_on_the_token_alone(tmp_path):
    """Security: `check` says how reply commands are authenticated, and warns about the opt-out."""
    path = tmp_path / "m.toml"
    path.write_text(MINIMAL.format(slug="a", preset="binhphuoc") +
                    "[agency.workflow]\naccept_unauthenticated_commands = true\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "mailbot", "--config", str(path), "check"], capture_output=True,
                          text=True)
    assert done.returncode == 0
    assert "WARNING agency a: workflow.accept_unauthenticated_commands = true" in done.stdout
    assert "token alone" in done.stdout


def test_types_are_strict_and_every_error_has_its_path(tmp_path):
    """A number written as text, a flag written as a word: errors, never silently converted."""
    path = tmp_path / "m.toml"
    path.write_text(MINIMAL.format(slug="a", preset="binhphuoc") +
                    '[agency.intake]\nmax_attachment_mb = "25"\n[agency.workflow]\nreply_to_token = "yes"\n'
                    '[[agency.units]]\nname = "Phòng A"\nfocal_points = ["khong-phai-email"]\n', encoding="utf-8")
    with pytest.raises(config.ConfigError) as info:
        config.load(path, environ={})
    keys = {p.key: p.message for p in info.value.problems}
    assert set(keys) == {"agency[0].intake.max_attachment_mb", "agency[0].workflow.reply_to_token",
                         "agency[0].units[0].focal_points[0]"}
    assert "not an email address" in keys["agency[0].units[0].focal_points[0]"]
