"""The field pages in Debian's Chromium: a grid manager's phone (online and offline), a check
task, the citizens' page, the map and the leader's dashboard. Screenshots in ./screenshots/."""

import pytest

from gridcity.cases.models import Case, Status
from gridcity.testing import MID_LAT, build_city, tiny_jpeg
from gridcity.web.tests.conftest import login, new_page, shot
from gridcity.web.tests.test_field_pages import BIN, report, walk_to_closed, walk_to_handled

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HERE = {"longitude": BIN[0], "latitude": BIN[1]}


def phone(browser, live_server, username):
    page = new_page(browser, phone=True, geolocation=HERE, permissions=["geolocation"])
    login(page, live_server, username)
    return page


def compose(page, tmp_path, description="垃圾箱满溢，周边散落"):
    photo = tmp_path / "bin.jpg"
    photo.write_bytes(tiny_jpeg())
    page.wait_for_selector("#position-text:has-text('经度')")
    page.set_input_files("#photo", str(photo))
    page.wait_for_selector("#photo-previews img")
    page.fill("#cat-search", "垃圾")
    page.wait_for_selector("#category option[value='matter:06042']")
    page.select_option("#category", "matter:06042")
    page.fill("#description", description)


def wait_for(predicate, page, timeout_ms=15_000):
    for _ in range(timeout_ms // 250):
        if predicate():
            return True
        page.wait_for_timeout(250)
    return predicate()


def test_a_grid_manager_reports_an_overflowing_bin_from_her_phone(browser, live_server, tmp_path):
    build_city()
    page = phone(browser, live_server, "inspector")
    page.goto(f"{live_server.url}/field/report/")
    compose(page, tmp_path)
    shot(page, "field-report-360")
    page.click("#send")
    page.wait_for_selector("#sent:has-text('上报成功')")
    shot(page, "field-report-sent-360")
    case = Case.objects.get()
    assert case.status == Status.DISPATCHED
    assert case.department.name == "环境卫生科室"
    assert case.attachments.count() == 1
    assert abs(case.lon - BIN[0]) < 1e-6 and abs(case.lat - MID_LAT - 0.001) < 1e-6
    page.context.close()


def test_an_offline_report_waits_and_is_sent_exactly_once(browser, live_server, tmp_path):
    build_city()
    page = phone(browser, live_server, "inspector")
    page.goto(f"{live_server.url}/field/report/")
    compose(page, tmp_path, "桥下信号弱时上报")
    page.context.set_offline(True)
    page.click("#send")
    page.wait_for_selector("#outbox-count:has-text('1')")
    assert page.is_visible("#outbox")
    shot(page, "field-report-offline-360")
    assert Case.objects.count() == 0
    page.context.set_offline(False)
    assert wait_for(lambda: Case.objects.count() == 1, page)
    page.wait_for_selector("#outbox", state="hidden")
    page.reload()
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)
    assert Case.objects.count() == 1
    assert page.is_hidden("#outbox")
    page.context.close()


def test_a_grid_manager_passes_a_check_on_her_phone(browser, live_server, tmp_path):
    city = build_city()
    case = walk_to_handled(city, report(city.people["inspector"]))
    page = phone(browser, live_server, "inspector")
    page.goto(f"{live_server.url}/field/")
    shot(page, "field-home-360")
    page.click(f"a[href='/field/tasks/{case.number}/']")
    page.wait_for_selector("#task-map .leaflet-marker-icon")
    photo = tmp_path / "after.jpg"
    photo.write_bytes(tiny_jpeg((20, 160, 20)))
    page.check("input[name=result][value=yes]")
    page.set_input_files("#id_photo", str(photo))
    shot(page, "field-task-360")
    page.click("button[type=submit].primary")
    page.wait_for_selector(".messages")
    case.refresh_from_db()
    assert case.status == Status.CHECKED
    assert case.attachments.filter(kind="check").count() == 1
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{live_server.url}/field/")
    shot(page, "field-home-1920")
    page.context.close()


def test_the_leader_sees_the_closed_case_on_the_dashboard(browser, live_server):
    city = build_city()
    walk_to_closed(city, report(city.people["inspector"]))
    report(city.people["inspector"], lon=BIN[0] + 0.003, lat=BIN[1])
    page = new_page(browser)
    login(page, live_server, "leader")
    page.goto(f"{live_server.url}/dashboard/")
    page.wait_for_selector("#dash-map path.leaflet-interactive")
    closed = page.locator(".figures").first.locator(".figure", has_text="结案").first
    assert closed.locator(".fig-value").inner_text() == "1"
    shot(page, "dashboard-1920")
    page.set_viewport_size({"width": 360, "height": 740})
    shot(page, "dashboard-360")
    page.goto(f"{live_server.url}/map/")
    page.wait_for_selector("#map-count:has-text('件')")
    shot(page, "map-360")
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{live_server.url}/map/?status=all")
    page.wait_for_selector(".cluster, path.leaflet-interactive")
    shot(page, "map-1920")
    page.context.close()


def test_a_citizen_reports_from_the_public_page(browser, live_server, tmp_path):
    build_city()
    photo = tmp_path / "dog.jpg"
    photo.write_bytes(tiny_jpeg())
    page = new_page(browser, phone=True, geolocation=HERE, permissions=["geolocation"])
    page.goto(f"{live_server.url}/public/")
    page.click("#locate-me")
    page.wait_for_selector("#position-text:has-text('经度')")
    page.set_input_files("#id_photo", str(photo))
    page.fill("#cat-search", "遛狗")
    page.fill("#id_description", "小区门口遛狗不牵绳")
    shot(page, "public-360")
    page.click("button[type=submit].primary")
    page.wait_for_selector(".case-reference")
    case = Case.objects.get()
    assert case.category.name == "遛狗不牵绳"
    assert page.inner_text(".case-reference").replace("-", "") == case.public_reference
    shot(page, "public-lookup-360")
    page.set_viewport_size({"width": 1920, "height": 1080})
    shot(page, "public-lookup-1920")
    page.goto(f"{live_server.url}/public/")
    shot(page, "public-1920")
    page.context.close()
