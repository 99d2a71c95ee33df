"""The pages: board, ledger (filters, export, import, bulk), a row, the on-site page, the
notice PDF — each with who may and may not use it."""

import io
from datetime import date, timedelta

import pytest
from openpyxl import Workbook, load_workbook

from gridcity.campaigns.actions import do_create_plan, do_schedule_inspection
from gridcity.campaigns.models import Finding, LedgerRow, LedgerStatus, RectificationNotice
from gridcity.campaigns.tests.helpers import WEST_A, WEST_B, at, bin_campaign, bins, report
from gridcity.testing import build_city, tiny_jpeg

pytestmark = pytest.mark.django_db


@pytest.fixture
def city():
    return build_city()


@pytest.fixture
def campaign(city):
    c = bin_campaign(city)
    report(city, WEST_A, at(3), tag=True)
    report(city, WEST_B, at(4), tag=True)
    return c


def as_(client, city, who):
    client.force_login(city.people[who])
    return client


def test_the_board_shows_progress_and_the_map_data(client, city, campaign):
    r = as_(client, city, "leader").get(f"/campaigns/{campaign.pk}/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "垃圾桶满冒专项整治" in html and 'data-fig="cases">2<' in html
    assert 'id="camp-geojson"' in html and "湖滨街道" in html
    assert as_(client, city, "leader").get("/campaigns/").status_code == 200


def test_the_ledger_filters_and_exports(client, city, campaign):
    c = as_(client, city, "shift_lead")
    r = c.get(f"/campaigns/{campaign.pk}/ledger/?status=pending")
    assert r.status_code == 200 and r.content.decode().count('name="rows"') == 2
    assert (
        c.get(f"/campaigns/{campaign.pk}/ledger/?status=overdue")
        .content.decode()
        .count('name="rows"')
        == 0
    )
    r = c.get(f"/campaigns/{campaign.pk}/ledger/?format=xlsx")
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws["B2"].value == "问题描述" and ws.max_row == 4


def test_a_bad_import_from_the_page_reports_line_and_column(client, city, campaign):
    wb = Workbook()
    wb.active.append(["问题描述", "责任单位", "整改时限"])
    wb.active.append(["满冒", "环境卫生科室", "下周"])
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    buf.name = "bad.xlsx"
    r = as_(client, city, "shift_lead").post(
        f"/campaigns/{campaign.pk}/ledger/import/", {"file": buf}, follow=True
    )
    html = r.content.decode()
    assert "第2行第C列（整改时限）" in html
    assert LedgerRow.objects.count() == 2


def test_bulk_start_and_the_row_page_refuses_a_sign_off_without_evidence(client, city, campaign):
    ids = list(campaign.ledger_rows.values_list("pk", flat=True))
    c = as_(client, city, "sanitation")
    c.post("/campaigns/ledger/bulk/", {"action": "submit", "rows": ids, "next": "/campaigns/"})
    assert set(LedgerRow.objects.values_list("status", flat=True)) == {LedgerStatus.AWAITING}
    c = as_(client, city, "inspector")
    r = c.post(f"/campaigns/ledger/{ids[0]}/", {"action": "sign_off", "note": "已清"}, follow=True)
    assert "没有整改后照片，不能销号" in r.content.decode()
    photo = io.BytesIO(tiny_jpeg())
    photo.name = "after.jpg"
    c.post(f"/campaigns/ledger/{ids[0]}/", {"action": "sign_off", "note": "已清", "photos": photo})
    assert LedgerRow.objects.get(pk=ids[0]).status == LedgerStatus.SIGNED_OFF
    page = c.get(f"/campaigns/ledger/{ids[0]}/").content.decode()
    assert "验收销号（待验收→已销号）：已清" in page
    photo_id = LedgerRow.objects.get(pk=ids[0]).photos.get().pk
    assert f"/campaigns/photos/{photo_id}/" in page
    r = c.get(f"/campaigns/photos/{photo_id}/")
    assert r.status_code == 200 and r["Content-Type"] == "image/jpeg"
    assert as_(client, city, "enforcement").get(f"/campaigns/photos/{photo_id}/").status_code == 404


def test_another_unit_cannot_open_a_row(client, city, campaign):
    row = campaign.ledger_rows.first()
    assert as_(client, city, "enforcement").get(f"/campaigns/ledger/{row.pk}/").status_code == 404


def test_on_site_a_finding_is_recorded_and_a_notice_issued(client, city, campaign):
    plan = do_create_plan(
        acting_user=city.people["leader"],
        name="周检",
        content="垃圾桶",
        method="random",
        openness="open",
        scope="thematic",
        frequency="weekly",
        area=city.streets[0],
        campaign=campaign,
        items=[("满冒", 2)],
    )
    insp = do_schedule_inspection(
        plan,
        acting_user=city.people["leader"],
        inspector=city.people["inspector"],
        on=date.today(),
    )
    url = f"/campaigns/inspections/{insp.pk}/onsite/"
    # Another inspector's task is not hers to see.
    assert as_(client, city, "inspector2").get(url).status_code == 404
    c = as_(client, city, "inspector")
    assert "抽中网格（5）" in c.get(url).content.decode()
    photo = io.BytesIO(tiny_jpeg())
    photo.name = "bin.jpg"
    c.post(
        url,
        {
            "op": "finding",
            "description": "垃圾桶满冒",
            "category": "matter:06042",
            "checklist_item": plan.items.get().pk,
            "outcome": "ledger",
            "lon": WEST_A[0],
            "lat": WEST_A[1],
            "photos": photo,
        },
    )
    f = Finding.objects.get()
    assert f.ledger_row.campaign == campaign and f.photos.count() == 1
    c = as_(client, city, "leader")
    deadline = (date.today() + timedelta(days=7)).isoformat()
    c.post(url, {"op": "notice", "department": city.departments["HJWS"].pk, "deadline": deadline})
    notice = RectificationNotice.objects.get()
    r = c.get(f"/campaigns/notices/{notice.pk}.pdf")
    assert r["Content-Type"] == "application/pdf" and r.content.startswith(b"%PDF")
    assert (
        as_(client, city, "enforcement").get(f"/campaigns/notices/{notice.pk}.pdf").status_code
        == 404
    )
    assert (
        as_(client, city, "sanitation").get(f"/campaigns/notices/{notice.pk}.pdf").status_code
        == 200
    )


def test_the_centre_starts_a_campaign_from_the_page_and_old_cases_are_tagged(client, city):
    report(city, WEST_A, at(3))
    data = {
        "name": "垃圾桶满冒专项整治",
        "starts_on": "2026-06-01",
        "ends_on": "2026-06-30",
        "categories": [bins().pk],
        "areas": [city.streets[0].pk],
        "lead_department": city.departments["HJWS"].pk,
        "ledger_from_cases": "on",
        "default_days": 7,
        "rebound_days": 30,
    }
    assert as_(client, city, "sanitation").post("/campaigns/new/", data).status_code == 403
    r = as_(client, city, "leader").post("/campaigns/new/", {**data, "categories": ["12345"]})
    assert "所选类别不存在：12345" in r.content.decode()
    r = client.post("/campaigns/new/", {**data, "ends_on": "2026-05-01"})
    assert "结束日期不能早于开始日期" in r.content.decode()
    r = client.post("/campaigns/new/", data, follow=True)
    assert "已纳入 1 件案件" in r.content.decode()
    assert LedgerRow.objects.count() == 1
