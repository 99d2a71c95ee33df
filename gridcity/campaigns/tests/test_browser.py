"""The campaign board and the on-site inspection page in Debian's Chromium; screenshots in
./screenshots/ (look at them)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from gridcity.campaigns.actions import (
    do_create_campaign,
    do_create_plan,
    do_schedule_inspection,
    do_transition_ledger_row,
    sweep_ledger,
)
from gridcity.campaigns.models import Finding, LedgerStatus
from gridcity.campaigns.tests.helpers import EAST_A, WEST_A, WEST_B, bins, report
from gridcity.testing import build_city, tiny_jpeg
from gridcity.web.tests.conftest import login, new_page, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def current_campaign(city):
    now = timezone.now()
    today = timezone.localdate()
    campaign = do_create_campaign(
        acting_user=city.people["leader"],
        name="垃圾桶满冒专项整治",
        starts_on=today - timedelta(days=10),
        ends_on=today + timedelta(days=20),
        categories=[bins()],
        areas=[city.streets[0]],
        lead_department=city.departments["HJWS"],
        goals="同一网格 7 天内不得重复出现满冒",
    )
    for i, where in enumerate((WEST_A, WEST_B, (WEST_A[0] + 0.002, WEST_A[1]), EAST_A)):
        report(city, where, now - timedelta(days=9 - 2 * i), tag=True)
    rows = list(campaign.ledger_rows.order_by("pk"))
    do_transition_ledger_row(
        rows[0], "submit", acting_user=city.people["sanitation"], photos=[("a.jpg", tiny_jpeg())]
    )
    do_transition_ledger_row(
        rows[0], "sign_off", acting_user=city.people["shift_lead"], note="已清运"
    )
    do_transition_ledger_row(rows[1], "start", acting_user=city.people["sanitation"])
    sweep_ledger(now=now + timedelta(days=3))
    return campaign


def test_the_campaign_board_shows_progress_and_the_map(browser, live_server):  # noqa: F811
    city = build_city()
    campaign = current_campaign(city)
    page = new_page(browser)
    login(page, live_server, "leader")
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/")
    page.wait_for_selector("#camp-map[data-ready='1'] path.leaflet-interactive")
    assert page.inner_text("[data-fig=cases]") == "3"
    assert page.inner_text("[data-fig=signed]") == "1"
    assert page.locator("#camp-map .leaflet-interactive").count() >= 4  # area + three rows
    shot(page, "campaigns-board")
    page.click("text=整改台账")
    page.wait_for_selector("table.camp-table")
    assert page.locator("input[name=rows]").count() == 3
    shot(page, "campaigns-ledger")
    page.locator("table.camp-table a").first.click()
    page.wait_for_selector(".camp-facts")
    shot(page, "campaigns-row")
    page.context.close()

    phone = new_page(browser, phone=True)
    login(phone, live_server, "leader")
    phone.goto(f"{live_server.url}/campaigns/{campaign.pk}/")
    phone.wait_for_selector("#camp-map[data-ready='1']")
    width = phone.evaluate("document.documentElement.scrollWidth")
    shot(phone, "campaigns-board-360")
    assert width <= 360
    phone.context.close()


def test_an_inspector_records_a_finding_on_site_from_her_phone(browser, live_server, tmp_path):  # noqa: F811
    city = build_city()
    plan = do_create_plan(
        acting_user=city.people["leader"],
        name="垃圾桶满冒随机抽查",
        content="垃圾桶满冒、周边散落垃圾",
        method="random",
        openness="undercover",
        scope="thematic",
        frequency="weekly",
        area=city.streets[0],
        sample_size=4,
        items=[("垃圾桶满冒", 2), ("周边散落垃圾", 1)],
    )
    insp = do_schedule_inspection(
        plan,
        acting_user=city.people["leader"],
        inspector=city.people["inspector"],
        on=timezone.localdate(),
        seed="demo",
    )
    page = new_page(
        browser,
        phone=True,
        geolocation={"longitude": WEST_A[0], "latitude": WEST_A[1]},
        permissions=["geolocation"],
    )
    login(page, live_server, "inspector")
    page.goto(f"{live_server.url}/campaigns/inspections/{insp.pk}/onsite/")
    page.wait_for_selector("#pos-text:has-text('已定位')")
    photo = tmp_path / "bin.jpg"
    photo.write_bytes(tiny_jpeg())
    page.set_input_files("#f-photos", str(photo))
    page.fill("#f-desc", "湖滨路 3 号垃圾桶满冒，周边散落")
    page.select_option("#f-item", label="垃圾桶满冒（-2）")
    page.fill("#f-cat", "06042")
    page.fill("#f-measures", "当日清运，增加频次")
    shot(page, "campaigns-onsite-360")
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.click("#finding-form button[type=submit]")
    page.wait_for_selector(".messages:has-text('已记录发现')")
    shot(page, "campaigns-onsite-saved-360")
    f = Finding.objects.get()
    assert f.ledger_row.status == LedgerStatus.PENDING
    assert f.ledger_row.department == city.departments["HJWS"]
    assert abs(f.lon - WEST_A[0]) < 1e-6 and f.photos.count() == 1
    page.context.close()
