"""Issue #14, point 4: formula injection and control characters.

Whatever someone types ends up in a spreadsheet some day: a description written as a formula
(`=HYPERLINK("http://evil","x")`, `+cmd|…`, `@SUM(…)`, `-1+1`) is written to every CSV and
XLSX export as text with a leading apostrophe (OWASP's rule), never as a live formula. Control
characters are stripped from every typed text where it enters (the API, the public form, Open311,
notes), keeping line breaks and tabs in multi-line text; and old rows stored before that still
leave the Open311 XML parseable and the exports writable."""

import csv
import io
import json
from datetime import date
from xml.etree import ElementTree as ET

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from openpyxl import load_workbook

from gridcity.accounts.actions import do_create_token
from gridcity.campaigns.actions import do_create_ledger_row
from gridcity.campaigns.ledger_io import export_ledger_xlsx
from gridcity.campaigns.tests.helpers import WEST_A, bin_campaign
from gridcity.cases.models import Case, CaseEvent
from gridcity.lib.text import clean_text, spreadsheet_cell
from gridcity.open311.keys import do_create_api_key
from gridcity.taxonomy.actions import export_standards
from gridcity.taxonomy.models import FilingCondition
from gridcity.testing import MID_LAT, build_city, tiny_jpeg

HYPERLINK = '=HYPERLINK("http://evil","x")'
FORMULAS = [
    HYPERLINK,
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
]
WEST = (120.1630, MID_LAT + 0.0012)


@pytest.fixture
def city(db):
    return build_city()


@pytest.fixture
def token(city) -> str:
    return do_create_token(city.people["dispatcher"])


def api_report(client, city, description: str, lon: float = WEST[0]) -> dict:
    r = client.post(
        "/api/cases",
        json.dumps({"category": "06042", "lon": lon, "lat": WEST[1], "description": description}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {do_create_token(city.people['inspector'])}",
    )
    assert r.status_code == 201, r.content
    return r.json()


def export_csv(client, token) -> list[list[str]]:
    r = client.get("/open311/export/cases.csv", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert r.status_code == 200
    return list(csv.reader(io.StringIO(b"".join(r.streaming_content).decode("utf-8-sig"))))


def export_xlsx(client, token):
    r = client.get("/open311/export/cases.xlsx", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert r.status_code == 200, r.content[:300]
    return load_workbook(io.BytesIO(b"".join(r.streaming_content))).active


def description_cells(ws) -> list:
    header = [c.value for c in ws[1]]
    column = header.index("问题描述") + 1
    return [ws.cell(row, column) for row in range(2, ws.max_row + 1)]


# --- formulas -------------------------------------------------------------------------------


def test_a_hyperlink_description_is_text_in_the_csv_and_the_xlsx(client, city, token):
    api_report(client, city, HYPERLINK)
    rows = export_csv(client, token)
    column = rows[0].index("问题描述")
    assert rows[1][column] == "'" + HYPERLINK
    (cell,) = description_cells(export_xlsx(client, token))
    assert cell.data_type == "s"
    assert cell.value == "'" + HYPERLINK


def test_every_formula_start_is_neutralised(client, city, token):
    for i, text in enumerate(FORMULAS):
        api_report(client, city, text, lon=WEST[0] + i * 0.0015)
    assert Case.objects.count() == len(FORMULAS)
    rows = export_csv(client, token)
    column = rows[0].index("问题描述")
    assert sorted(r[column] for r in rows[1:]) == sorted("'" + f for f in FORMULAS)
    cells = description_cells(export_xlsx(client, token))
    assert {c.data_type for c in cells} == {"s"}
    assert sorted(c.value for c in cells) == sorted("'" + f for f in FORMULAS)


def test_numbers_stay_numbers_and_plain_text_stays_as_it_was():
    assert spreadsheet_cell(-3.5) == -3.5
    assert spreadsheet_cell("-3.50") == "-3.50"
    assert spreadsheet_cell(date(2026, 6, 1)) == date(2026, 6, 1)
    assert spreadsheet_cell(None) == ""
    assert spreadsheet_cell("垃圾桶满溢 = 臭") == "垃圾桶满溢 = 臭"
    assert spreadsheet_cell("\tcmd") == "'\tcmd"
    assert spreadsheet_cell("\r=1+1") == "'\r=1+1"


def test_a_formula_typed_into_a_campaign_ledger_is_exported_as_text(city):
    campaign = bin_campaign(city)
    do_create_ledger_row(
        acting_user=city.people["inspector"],
        campaign=campaign,
        description=HYPERLINK,
        measures="=1+1",
        department=city.departments["HJWS"],
        deadline=date(2026, 6, 10),
        lon=WEST_A[0],
        lat=WEST_A[1],
    )
    data = export_ledger_xlsx(campaign.ledger_rows.select_related("department", "cell"), "台账")
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet["B3"].value == "'" + HYPERLINK and sheet["B3"].data_type == "s"
    assert sheet["E3"].value == "'=1+1" and sheet["E3"].data_type == "s"


def test_a_formula_in_a_filing_standard_is_exported_as_text(city):
    FilingCondition.objects.filter(pk=FilingCondition.objects.first().pk).update(
        text="@SUM(1+1)*cmd|' /C calc'!A0"
    )
    rows = list(csv.reader(io.StringIO(export_standards("csv").decode("utf-8-sig"))))
    assert any(cell == "'@SUM(1+1)*cmd|' /C calc'!A0" for row in rows for cell in row)
    ws = load_workbook(io.BytesIO(export_standards("xlsx"))).active
    cells = [c for row in ws.iter_rows() for c in row if c.value and "SUM" in str(c.value)]
    assert [(c.value, c.data_type) for c in cells] == [("'@SUM(1+1)*cmd|' /C calc'!A0", "s")]


# --- control characters ---------------------------------------------------------------------


def public_report(client, description: str):
    client.get("/public/")
    return client.post(
        "/public/",
        {
            "category": "matter:06042",
            "lon": str(WEST[0]),
            "lat": str(WEST[1]),
            "description": description,
            "reporter_name": "王\x1b[31m大妈",
            "key": "public-bell-1",
            "photo": SimpleUploadedFile("bin.jpg", tiny_jpeg(), "image/jpeg"),
        },
    )


def test_a_bell_in_an_anonymous_description_leaves_xml_and_xlsx_working(client, city, token):
    r = public_report(Client(), "垃圾桶满溢\x07，臭味\u0085很大\r\n第二行\t附近")
    assert r.status_code == 302, r.content[:300]
    case = Case.objects.get()
    assert case.description == "垃圾桶满溢，臭味很大\n第二行\t附近"
    assert case.reporter_name == "王[31m大妈"
    r = client.get("/open311/v2/requests.xml")
    assert r.status_code == 200
    (request,) = ET.fromstring(r.content)
    assert request.find("description").text == case.description
    (cell,) = description_cells(export_xlsx(client, token))
    assert cell.value == case.description


def test_old_rows_with_control_characters_still_export_and_parse(client, city, token):
    api_report(client, city, "垃圾桶满溢")
    # Stored before input was cleaned: straight into the table.
    case = Case.objects.get()
    Case.objects.filter(pk=case.pk).update(
        description="满溢\x07\x1b\x0b\x7f\x9b=1", address="路\x01"
    )
    CaseEvent.objects.filter(case=case).update(note="备注\x07")
    for url in ("/open311/v2/requests.xml", "/open311/v2/servicerequestupdates.xml"):
        for params in ({}, {"extensions": "true"}):
            r = client.get(url, params)
            assert r.status_code == 200
            ET.fromstring(r.content)
    raw = do_create_api_key("内部合作方")
    from gridcity.open311.models import ApiKey

    ApiKey.objects.update(may_see_internal=True)
    r = client.get("/open311/v2/requests.xml", {"extensions": "true", "api_key": raw})
    assert "备注" in ET.fromstring(r.content).find("request/notes/note/description").text
    (cell,) = description_cells(export_xlsx(client, token))
    assert cell.value == "满溢=1"
    rows = export_csv(client, token)
    assert rows[1][rows[0].index("问题描述")] == "满溢=1"


def test_control_characters_are_stripped_from_open311_posts_and_notes(client, city, token):
    key = do_create_api_key("12345 热线平台")
    r = client.post(
        "/open311/v2/requests.json",
        {
            "api_key": key,
            "service_code": "matter-06042",
            "lat": WEST[1],
            "long": WEST[0],
            "description": "第一行\x07\r\n第二行\x1b[2J",
            "address_string": "湖滨路\n3号\x08",
            "first_name": "张\x9f三",
        },
    )
    assert r.status_code == 200, r.content
    case = Case.objects.get()
    assert case.description == "第一行\n第二行[2J"
    assert case.address == "湖滨路 3号"
    assert case.reporter_name == "张三"
    # The grid manager's phone sends a note with a terminal escape in it.
    r = client.post(
        f"/api/cases/{case.number}/transitions",
        json.dumps(
            {"action": "verify", "verified": True, "note": "属实\x07\x1b]0;pwned\x07\r\n已拍照"}
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {do_create_token(city.people['inspector'])}",
    )
    assert r.status_code == 200, r.content
    assert CaseEvent.objects.get(case=case, action="verify").note == "属实]0;pwned\n已拍照"


def test_clean_text_rules():
    assert clean_text("  a\x00b\x07c\x1b\x7f\x85\x9fd\ud800e\ufffe  ") == "abcde"
    assert clean_text("a\r\nb\rc\u2028d\te", multiline=True) == "a\nb\nc\nd\te"
    assert clean_text("a\r\nb\tc") == "a b c"
    assert clean_text(None) == ""
