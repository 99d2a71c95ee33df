"""A campaign walked from the pages alone, in Debian's Chromium: launched by the leader with
categories and areas picked by name, cases tagged (a closed one straight to 待验收), rows worked
by the unit, verified and signed off (销号), and a bin full again in a signed-off cell raising a
反弹 warning on the board. Screenshots in ./screenshots/ (look at them)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from gridcity.campaigns.actions import do_create_plan, do_schedule_inspection
from gridcity.campaigns.models import Campaign, Finding, LedgerStatus, ReboundWarning
from gridcity.campaigns.tests.helpers import WEST_A
from gridcity.cases.models import Case
from gridcity.testing import build_city, tiny_jpeg
from gridcity.web.tests.conftest import login, new_page, shot
from gridcity.web.tests.test_field_pages import BIN, report, walk_to_closed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ELSEWHERE = (BIN[0] + 0.002, BIN[1])  # the same street, another cell


def row_of(campaign: Campaign, case: Case):
    return campaign.ledger_rows.get(case=case)


def test_a_campaign_goes_from_launch_to_sign_off_and_a_rebound_shows_on_the_board(
    browser, live_server, tmp_path
):
    city = build_city()
    now = timezone.now()
    # The history before the launch: one case already closed, one still with the unit.
    closed = walk_to_closed(
        city, report(city.people["inspector"], reported_at=now - timedelta(days=2))
    )
    waiting = report(
        city.people["inspector"],
        lon=ELSEWHERE[0],
        lat=ELSEWHERE[1],
        reported_at=now - timedelta(days=1),
    )
    today = timezone.localdate()

    # The leader launches the campaign, picking the category and the street by name.
    page = new_page(browser)
    login(page, live_server, "leader")
    page.goto(f"{live_server.url}/campaigns/")
    page.click("text=发起专项整治")
    page.fill("#id_name", "垃圾满溢专项整治")
    page.fill("#id_starts_on", (today - timedelta(days=3)).isoformat())
    page.fill("#id_ends_on", (today + timedelta(days=27)).isoformat())
    page.fill("#pick-categories .camp-pick-filter", "满溢")
    page.get_by_label("06042 垃圾站（箱）满溢").check()
    page.fill("#pick-areas .camp-pick-filter", "湖滨")
    page.get_by_label("湖滨街道（整个街道）").check()
    page.select_option("#id_lead_department", label="环境卫生科室")
    shot(page, "campaigns-launch")
    page.click("#campaign-form button[type=submit]")
    page.wait_for_selector(".messages:has-text('已纳入 2 件案件')")
    campaign = Campaign.objects.get()
    assert page.inner_text("[data-fig=cases]") == "2"
    # The closed case entered as rectified and awaiting sign-off, the open one as waiting.
    assert row_of(campaign, closed).status == LedgerStatus.AWAITING
    assert row_of(campaign, waiting).status == LedgerStatus.PENDING
    page.click("text=修改整治")
    page.fill("#id_goals", "满溢 2 小时内清运")
    page.click("#campaign-form button[type=submit]")
    page.wait_for_selector("#history:has-text('整治目标')")
    page.context.close()

    # The unit starts on its row and submits it with an after-photo.
    after = tmp_path / "after.jpg"
    after.write_bytes(tiny_jpeg((20, 160, 20)))
    unit = new_page(browser)
    login(unit, live_server, "sanitation")
    unit.goto(f"{live_server.url}/campaigns/{campaign.pk}/ledger/")
    unit.click(f"text={row_of(campaign, waiting).number}")
    unit.click("form:has(input[value=start]) button")
    unit.wait_for_selector("h1 .st-rectifying")
    unit.set_input_files("form:has(input[value=submit]) input[type=file]", str(after))
    unit.fill("form:has(input[value=submit]) textarea", "已清运，增加频次")
    unit.click("form:has(input[value=submit]) button")
    unit.wait_for_selector("h1 .st-awaiting")
    assert not unit.locator("input[value=sign_off]").count()  # the unit never signs off its work
    unit.context.close()

    # The shift lead verifies both rows: one on the unit's photo, one on the case's own.
    lead = new_page(browser)
    login(lead, live_server, "shift_lead")
    for case in (waiting, closed):
        lead.goto(f"{live_server.url}/campaigns/ledger/{row_of(campaign, case).pk}/")
        lead.wait_for_selector(".camp-photos img")
        lead.fill("form:has(input[value=sign_off]) textarea", "现场核实已清运")
        lead.click("form:has(input[value=sign_off]) button")
        lead.wait_for_selector("h1 .st-signed_off")
    shot(lead, "campaigns-row-signed-off")
    lead.context.close()

    # A week later in real life, minutes here: the bin is full again where it was signed off.
    phone = new_page(
        browser,
        phone=True,
        geolocation={"longitude": BIN[0], "latitude": BIN[1]},
        permissions=["geolocation"],
    )
    login(phone, live_server, "inspector")
    phone.goto(f"{live_server.url}/field/report/")
    photo = tmp_path / "bin.jpg"
    photo.write_bytes(tiny_jpeg())
    phone.wait_for_selector("#position-text:has-text('经度')")
    phone.set_input_files("#photo", str(photo))
    phone.wait_for_selector("#photo-previews img")
    phone.fill("#cat-search", "满溢")
    phone.wait_for_selector("#category option[value='matter:06042']")
    phone.select_option("#category", "matter:06042")
    phone.fill("#description", "垃圾箱又满了")
    phone.click("#send")
    phone.wait_for_selector("#sent:has-text('上报成功')")
    phone.context.close()

    board = new_page(browser)
    login(board, live_server, "leader")
    board.goto(f"{live_server.url}/campaigns/{campaign.pk}/")
    board.wait_for_selector("#camp-map[data-ready='1'] path.leaflet-interactive")
    assert board.inner_text("[data-fig=rebounds]") == "1"
    assert "销号后，同一网格再次出现" in board.inner_text("#rebounds")
    assert board.inner_text("[data-fig=signed]") == "2"
    assert ReboundWarning.objects.get().cell_id == closed.cell_id
    assert "发起专项整治" in board.inner_text("#history")
    shot(board, "campaigns-board")
    board.context.close()

    small = new_page(browser, phone=True)
    login(small, live_server, "leader")
    small.goto(f"{live_server.url}/campaigns/{campaign.pk}/")
    small.wait_for_selector("#camp-map[data-ready='1']")
    shot(small, "campaigns-board-360")
    assert small.evaluate("document.documentElement.scrollWidth") <= 360
    small.goto(f"{live_server.url}/campaigns/{campaign.pk}/edit/")
    shot(small, "campaigns-edit-360")
    assert small.evaluate("document.documentElement.scrollWidth") <= 360
    small.context.close()


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
