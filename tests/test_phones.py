"""Phone numbers as staff write them (issue 14 item 3): a note in brackets or after a dash is not the number."""

from __future__ import annotations

import pytest

from mailbot.articles import sender
from tests.conftest import write_settings


@pytest.mark.parametrize("written, number", [
    ("0912.345.678 (di động)", "0912 345 678"),
    ("0271 3879 123 - máy lẻ 15", "0271 3879 123 ext. 15"),
    ("0987 111 222 (Zalo)", "0987 111 222"),
    ("0912 345 678 – anh An", "0912 345 678"),
    ("(0260) 3862 123", "0260 3862 123"),       # brackets around digits: the area code
    ("02713.860.205", "0271 3860 205"),
])
def test_a_note_beside_the_number_is_not_part_of_it(written, number):
    assert sender.normalise_phone(written) == (number, None)


def test_letters_in_the_number_itself_are_still_refused():
    number, problem = sender.normalise_phone("0912xxx678")
    assert number == "" and problem is not None and "chữ cái" in problem


def test_a_signature_with_a_noted_phone_is_complete(tmp_path):
    settings = write_settings(tmp_path, f"sqlite:///{tmp_path / 'x.sqlite3'}", f"maildir:{tmp_path / 'in'}",
                              f"file:{tmp_path / 'out'}")
    details = sender.from_text("Họ tên: Trần Thị Lan\nĐơn vị: Phòng PBGDPL\nDĐ: 0987 111 222 (Zalo)",
                               settings.agencies[0])
    assert details.phone == "0987 111 222" and not details.problems
