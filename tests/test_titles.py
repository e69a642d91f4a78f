"""Unlabelled signatures cut between title and unit (issue 14 item 4), where the title itself has unit-like words.

Ranks (ngạch) keep their grade ("Kiểm sát viên sơ cấp", "Chuyên viên chính"), a commune civil servant keeps
their field ("Công chức Văn hóa - Xã hội"), and the unit starts at its marker (UBND, Sở, Phòng, Trung tâm,
Chi cục, Văn phòng, Thi hành án ...).
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mailbot.articles import sender
from mailbot.storage.models import Article
from tests import samples
from tests.conftest import write_settings
from tests.review_helpers import BOARD, review_board


@pytest.fixture(scope="module")
def agency(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("titles")
    return write_settings(tmp, f"sqlite:///{tmp / 'x.sqlite3'}", f"maildir:{tmp / 'in'}",
                          f"file:{tmp / 'out'}").agencies[0]


@pytest.mark.parametrize("line, title, unit", [
    ("Công chức Văn hóa - Xã hội, UBND xã Tân Lập", "Công chức Văn hóa - Xã hội", "UBND xã Tân Lập"),
    ("Công chức Tư pháp - Hộ tịch xã Minh Hưng", "Công chức Tư pháp - Hộ tịch", "UBND xã Minh Hưng"),
    ("Công chức Văn phòng - Thống kê, UBND phường Tân Phú", "Công chức Văn phòng - Thống kê", "UBND phường Tân Phú"),
    ("Chuyên viên chính Phòng Hành chính tư pháp", "Chuyên viên chính", "Phòng Hành chính tư pháp"),
    ("Thẩm tra viên – Thi hành án dân sự huyện Đồng Phú", "Thẩm tra viên", "Thi hành án dân sự huyện Đồng Phú"),
    ("Kiểm sát viên sơ cấp", "Kiểm sát viên sơ cấp", ""),
    ("Chấp hành viên trung cấp Chi cục Thi hành án dân sự huyện Lộc Ninh", "Chấp hành viên trung cấp",
     "Chi cục Thi hành án dân sự huyện Lộc Ninh"),
    ("Phó Trưởng phòng Hành chính - Tổng hợp, Văn phòng Sở", "Phó Trưởng phòng Hành chính - Tổng hợp",
     "Văn phòng Sở"),
    ("Trưởng phòng Tư pháp", "Trưởng phòng", "Phòng Tư pháp"),
    ("Thanh tra viên chính, Thanh tra Sở", "Thanh tra viên chính", "Thanh tra Sở"),
    ("Kế toán trưởng, Trung tâm Trợ giúp pháp lý", "Kế toán trưởng", "Trung tâm Trợ giúp pháp lý"),
    ("Viên chức hạng III, Trung tâm Dịch vụ đấu giá tài sản", "Viên chức hạng III",
     "Trung tâm Dịch vụ đấu giá tài sản"),
    ("Chuyên viên Phòng PBGDPL", "Chuyên viên", "Phòng PBGDPL"),
])
def test_the_cut_falls_between_title_and_unit(line, title, unit):
    assert sender.split_title(line) == (title, unit)


def test_a_line_without_a_title_is_not_cut():
    assert sender.split_title("Nguyễn Văn An") == ("", "")
    assert sender.split_title("Chuyên viên") == ("Chuyên viên", "")


@pytest.mark.parametrize("block, title, unit, name", [
    ("Trân trọng,\nLê Văn Tâm\nCông chức Văn hóa - Xã hội, UBND xã Tân Lập\nĐT: 0912 345 678",
     "Công chức Văn hóa - Xã hội", "UBND xã Tân Lập", "Lê Văn Tâm"),
    ("Trân trọng,\nPhạm Thị Hạnh\nKiểm sát viên sơ cấp\nViện kiểm sát nhân dân huyện Đồng Phú\n0912 345 678",
     "Kiểm sát viên sơ cấp", "Viện kiểm sát nhân dân huyện Đồng Phú", "Phạm Thị Hạnh"),
])
def test_a_whole_signature_reads_each_field(agency, block, title, unit, name):
    details = sender.from_text(f"Kính gửi Ban Biên tập,\nGửi tin.\n\n{block}", agency)
    assert (details.name, details.title, details.unit) == (name, title, unit)
    assert details.phone == "0912 345 678" and "unit" not in details.missing()


def test_a_commune_civil_servants_article_is_filed_with_title_and_unit(tmp_path, database_url, dovecot,
                                                                      smtp_sink, clock):
    board = review_board(tmp_path, database_url, dovecot, smtp_sink, clock)
    text = ("Kính gửi Ban Biên tập,\nXã Tân Lập gửi tin ngày hội đại đoàn kết.\n\nTrân trọng,\nLê Văn Tâm\n"
            "Công chức Văn hóa - Xã hội, UBND xã Tân Lập\nĐT: 0912 345 678")
    board.say(samples.build("outlook", sender=("Lê Văn Tâm", "tam.lv@binhphuoc.gov.vn"), to=BOARD,
                            subject="[TIN] Ngày hội đại đoàn kết ở Tân Lập", text=text))
    with board.transaction() as s:
        article = s.scalars(select(Article)).one()
    assert article.author["title"] == "Công chức Văn hóa - Xã hội"
    assert article.author["unit"] == "UBND xã Tân Lập" and article.missing == []
    board.close()
