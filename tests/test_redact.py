"""The Q&A entry keeps the law's numbers (issue 14 item 15) and still hides the asker's."""

from __future__ import annotations

import pytest

from mailbot.questions.redact import EMAIL, ID_NUMBER, PHONE, redact

ANSWER = ("Căn cứ Nghị định số 23/2015/NĐ-CP ngày 16/02/2015 của Chính phủ và Thông tư 01/2020/TT-BTP, "
          "Quyết định số 1234/QĐ-UBND của UBND tỉnh, Luật Hộ tịch số 60/2014/QH13 (Điều 5, khoản 2), "
          "lệ phí chứng thực là 2.000 đồng/trang; mức phạt từ 1.000.000 đồng đến 3.000.000 đồng.")


@pytest.mark.parametrize("reference", ["23/2015/NĐ-CP", "16/02/2015", "01/2020/TT-BTP", "1234/QĐ-UBND",
                                       "60/2014/QH13", "Điều 5, khoản 2", "2.000 đồng", "1.000.000 đồng",
                                       "3.000.000 đồng"])
def test_legal_numbers_dates_and_amounts_stay(reference):
    assert reference in redact(ANSWER, "Trần Văn Dân")


def test_the_askers_contact_details_still_go():
    text = redact(f"{ANSWER} Tôi là Trần Văn Dân, ĐT 0987 654 321, tvdan1980@yahoo.com, CCCD 079123456789.",
                  "Trần Văn Dân")
    assert PHONE in text and EMAIL in text and ID_NUMBER in text and "T.V.D." in text
    assert "0987" not in text and "079123456789" not in text and "23/2015/NĐ-CP" in text
