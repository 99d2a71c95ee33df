"""Bulk export: streamed CSV and GeoJSON, XLSX from a temporary file; the JSON API's filters
and the caller's scope apply."""

import csv
import io
import json

import pytest
from openpyxl import load_workbook

from gridcity.accounts.actions import do_create_token
from gridcity.cases.actions import ReportInput, do_report_case
from gridcity.taxonomy.models import Category

pytestmark = pytest.mark.django_db


@pytest.fixture
def cases(city):
    garbage = Category.objects.get(kind="matter", code="06042")
    made = []
    for i in range(3):
        made.append(
            do_report_case(
                ReportInput(
                    category=garbage,
                    channel="inspector",
                    lon=120.161 + i * 0.001,
                    lat=30.243,
                    description=f'垃圾满溢 {i}, "quoted"',
                ),
                acting_user=city.people["inspector"],
            ).case
        )
    made.append(
        do_report_case(
            ReportInput(category=garbage, channel="hotline", address="某路1号"),
            acting_user=city.people["intake"],
        ).case
    )
    return made


def _body(response) -> bytes:
    assert response.streaming
    return b"".join(response.streaming_content)


def test_it_streams_csv_with_a_token(client, city, cases):
    token = do_create_token(city.people["dispatcher"])
    r = client.get("/open311/export/cases.csv", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(_body(r).decode("utf-8-sig"))))
    assert rows[0][0] == "案件编号"
    assert {row[0] for row in rows[1:]} == {c.number for c in cases}
    assert any('"quoted"' in row[6] for row in rows[1:])


def test_it_applies_the_api_filters(client, city, cases):
    client.force_login(city.people["dispatcher"])
    r = client.get("/open311/export/cases.csv", {"status": "unlocated"})
    rows = list(csv.reader(io.StringIO(_body(r).decode("utf-8-sig"))))
    assert [row[0] for row in rows[1:]] == [cases[3].number]
    r = client.get("/open311/export/cases.csv", {"status": ["dispatched", "unlocated"], "q": ""})
    assert len(list(csv.reader(io.StringIO(_body(r).decode("utf-8-sig"))))) == 5


def test_it_is_scoped_to_what_the_user_may_see(client, city, cases):
    client.force_login(city.people["municipal"])  # no garbage case is dispatched to them
    r = client.get("/open311/export/cases.csv")
    assert len(list(csv.reader(io.StringIO(_body(r).decode("utf-8-sig"))))) == 1


def test_it_streams_geojson(client, city, cases):
    client.force_login(city.people["dispatcher"])
    r = client.get("/open311/export/cases.geojson")
    doc = json.loads(_body(r))
    assert doc["type"] == "FeatureCollection"
    by_id = {f["id"]: f for f in doc["features"]}
    assert by_id[cases[0].number]["geometry"]["coordinates"] == [cases[0].lon, cases[0].lat]
    assert by_id[cases[3].number]["geometry"] is None
    assert by_id[cases[0].number]["properties"]["department"] == "环境卫生科室"


def test_it_writes_xlsx(client, city, cases):
    client.force_login(city.people["dispatcher"])
    r = client.get("/open311/export/cases.xlsx")
    assert r.status_code == 200
    wb = load_workbook(io.BytesIO(b"".join(r.streaming_content)), read_only=True)
    rows = list(wb.active.iter_rows(values_only=True))
    assert rows[0][0] == "案件编号" and len(rows) == 5


def test_an_empty_result_is_still_a_valid_file(client, city):
    client.force_login(city.people["dispatcher"])
    assert json.loads(_body(client.get("/open311/export/cases.geojson")))["features"] == []


def test_it_refuses_strangers_and_bad_filters(client, city, cases):
    assert client.get("/open311/export/cases.csv").status_code == 401
    assert (
        client.get("/open311/export/cases.csv", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    )
    client.force_login(city.people["dispatcher"])
    assert client.get("/open311/export/cases.csv", {"status": "nope"}).status_code == 400
    assert client.get("/open311/export/cases.csv", {"category": "99999"}).status_code == 400
    assert client.get("/open311/export/cases.csv", {"reported_from": "x"}).status_code == 400
