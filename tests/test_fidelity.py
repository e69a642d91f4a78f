"""Titles from subjects as staff write them (issue 14 item 5): the submission label is not part of the title."""

from __future__ import annotations

import pytest

from mailbot.articles.filing import title_of


@pytest.mark.parametrize("subject, title", [
    ("Tin bài: Hội nghị tổng kết công tác tư pháp", "Hội nghị tổng kết công tác tư pháp"),
    ("Bài viết: Tuyên truyền Luật Hòa giải ở cơ sở", "Tuyên truyền Luật Hòa giải ở cơ sở"),
    ("Gửi bài: Gương điển hình tiên tiến", "Gương điển hình tiên tiến"),
    ("Gửi tin bài - Tập huấn nghiệp vụ hộ tịch", "Tập huấn nghiệp vụ hộ tịch"),
    ("Tin: Lễ ra quân", "Lễ ra quân"),
    ("V/v đăng tải kế hoạch phổ biến pháp luật 2027", "đăng tải kế hoạch phổ biến pháp luật 2027"),
    ("Về việc: cung cấp thông tin", "cung cấp thông tin"),
    ("RE: [TIN] Tin bài: Hội thảo khoa học", "Hội thảo khoa học"),
    # Words that merely begin a title stay.
    ("Tin học hóa công tác hộ tịch", "Tin học hóa công tác hộ tịch"),
    ("Bài học kinh nghiệm từ cơ sở", "Bài học kinh nghiệm từ cơ sở"),
    ("Tin bài:", "Tin bài"),
])
def test_the_submission_label_is_taken_off_the_title(subject, title):
    assert title_of(subject) == title
