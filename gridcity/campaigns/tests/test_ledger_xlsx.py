"""Bulk import is all or nothing and names the line and column of every error; export uses
the usual ledger layout."""

import io
from datetime import date

import pytest
from openpyxl import Workbook, load_workbook

from gridcity.campaigns.ledger_io import EXPORT_COLUMNS, do_import_ledger, export_ledger_xlsx
from gridcity.campaigns.models import LedgerRow, LedgerSource
from gridcity.campaigns.tests.helpers import WEST_A, bin_campaign
from gridcity.lib.errors import Forbidden, InvalidInput
from gridcity.testing import build_city

pytestmark = pytest.mark.django_db
HEADER = ["序号", "问题描述", "位置", "责任单位", "整改措施", "整改时限", "备注", "经度", "纬度"]


@pytest.fixture
def city():
    return build_city()


def xlsx(rows, header=HEADER, title=True) -> bytes:
    wb = Workbook()
    ws = wb.active
    if title:
        ws.append(["垃圾桶满冒问题清单"])
    ws.append(header)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


GOOD = [
    [
        1,
        "湖滨路垃圾桶满冒",
        "湖滨路 3 号",
        "环境卫生科室",
        "增加清运",
        date(2026, 6, 10),
        "",
        WEST_A[0],
        WEST_A[1],
    ],
    [2, "东坡路垃圾箱破损满溢", "东坡路", "HJWS", "更换垃圾箱", "2026-06-12", "复查", None, None],
]


def test_it_imports_good_rows_into_the_campaign_ledger(city):
    campaign = bin_campaign(city)
    rows = do_import_ledger(xlsx(GOOD), acting_user=city.people["shift_lead"], campaign=campaign)
    assert [r.description for r in rows] == ["湖滨路垃圾桶满冒", "东坡路垃圾箱破损满溢"]
    assert all(r.source == LedgerSource.IMPORT and r.campaign == campaign for r in rows)
    assert rows[0].cell is not None and rows[1].deadline == date(2026, 6, 12)
    assert rows[1].department == city.departments["HJWS"]


def test_a_bad_date_names_line_and_column_and_imports_nothing(city):
    bad = [GOOD[0], [2, "东坡路垃圾箱", "", "环境卫生科室", "", "2026-13-45", "", None, None]]
    with pytest.raises(InvalidInput) as exc:
        do_import_ledger(xlsx(bad), acting_user=city.people["shift_lead"], campaign=None)
    assert exc.value.message.startswith("第4行第F列（整改时限）")
    assert exc.value.extra["errors"][0] == {
        "line": 4,
        "column": "F",
        "header": "整改时限",
        "message": "日期“2026-13-45”无效，应为 YYYY-MM-DD",
    }
    assert LedgerRow.objects.count() == 0


def test_a_wrong_column_names_its_place_and_imports_nothing(city):
    header = [*HEADER[:4], "整改办法", *HEADER[5:]]
    with pytest.raises(InvalidInput) as exc:
        do_import_ledger(
            xlsx(GOOD, header=header), acting_user=city.people["shift_lead"], campaign=None
        )
    errors = exc.value.extra["errors"]
    assert (errors[0]["line"], errors[0]["column"], errors[0]["header"]) == (2, "E", "整改办法")
    assert LedgerRow.objects.count() == 0


def test_every_error_is_reported_at_once(city):
    bad = [
        [1, "", "", "不存在的单位", "", "", "", "abc", 30.2],
    ]
    with pytest.raises(InvalidInput) as exc:
        do_import_ledger(
            xlsx(bad, title=False), acting_user=city.people["shift_lead"], campaign=None
        )
    where = {(e["line"], e["column"]) for e in exc.value.extra["errors"]}
    assert where == {(2, "B"), (2, "D"), (2, "F"), (2, "H")}


def test_a_file_that_is_not_a_workbook_is_refused(city):
    with pytest.raises(InvalidInput, match="XLSX"):
        do_import_ledger(b"not a zip", acting_user=city.people["shift_lead"], campaign=None)


def test_a_department_cannot_import(city):
    with pytest.raises(Forbidden):
        do_import_ledger(xlsx(GOOD), acting_user=city.people["sanitation"], campaign=None)
    assert LedgerRow.objects.count() == 0


def test_export_uses_the_ledger_layout(city):
    campaign = bin_campaign(city)
    do_import_ledger(xlsx(GOOD), acting_user=city.people["shift_lead"], campaign=campaign)
    data = export_ledger_xlsx(
        campaign.ledger_rows.select_related("department", "cell", "case"),
        "垃圾桶满冒专项整治整改台账",
    )
    ws = load_workbook(io.BytesIO(data)).active
    assert ws["A1"].value == "垃圾桶满冒专项整治整改台账"
    assert [c.value for c in ws[2]] == EXPORT_COLUMNS
    assert [c.value for c in ws[3]][:2] == [1, "湖滨路垃圾桶满冒"]
    assert ws["G3"].value == "未整改" and ws["D4"].value == "环境卫生科室"
