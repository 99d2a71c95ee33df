"""Phones and keyboards in Debian's Chromium: the header is one line on a 320–390 px phone with
the navigation behind a menu button a keyboard opens; the report's position is set without a
mouse (typed coordinates, arrow keys on the map); a position outside every cell is confirmed
before it is sent. Screenshots in ./screenshots/."""

import re

import pytest
from playwright.sync_api import expect

from gridcity.cases.models import Case
from gridcity.testing import MID_LAT, SOUTH, WEST, build_city, tiny_jpeg
from gridcity.web.tests.conftest import login, new_page, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# One line of the header: the brand and the 40 px menu button with 8 px above and below.
ONE_LINE_PX = 60
INSIDE = (WEST + 0.0021, MID_LAT + 0.0013)
# South-west of the district: no cell contains it.
OUTSIDE = (WEST - 0.02, SOUTH - 0.02)


def phone(browser, live_server, width, username=None, **context_args):
    page = new_page(browser, phone=True, **context_args)
    page.set_viewport_size({"width": width, "height": 740})
    if username:
        login(page, live_server, username)
    return page


@pytest.mark.parametrize("width", [320, 390])
@pytest.mark.parametrize(
    ("username", "path"), [("inspector", "/field/"), ("shift_lead", "/people/attendance/")]
)
def test_the_header_is_one_line_and_the_menu_opens_from_the_keyboard(
    browser, live_server, width, username, path
):
    build_city(rules=False)
    page = phone(browser, live_server, width, username)
    page.goto(f"{live_server.url}{path}")
    header = page.locator("header.topbar")
    toggle = page.locator("#menu-toggle")
    nav = page.locator("nav.mainnav")
    expect(toggle).to_be_visible()
    expect(nav).to_be_hidden()
    box = header.bounding_box()
    assert box["height"] <= ONE_LINE_PX, box
    assert box["width"] <= width
    brand = page.locator("header .brand").bounding_box()
    button = toggle.bounding_box()
    assert abs((brand["y"] + brand["height"] / 2) - (button["y"] + button["height"] / 2)) < 6
    shot(page, f"header-{username}-{width}")

    # The skip link, the brand, then the menu button.
    for _ in range(3):
        page.keyboard.press("Tab")
    expect(toggle).to_be_focused()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    page.keyboard.press("Enter")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(nav).to_be_visible()
    page.keyboard.press("Tab")
    expect(nav.locator("a").first).to_be_focused()
    shot(page, f"header-{username}-{width}-open")
    page.keyboard.press("Escape")
    expect(nav).to_be_hidden()
    expect(toggle).to_be_focused()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    page.keyboard.press(" ")
    expect(nav).to_be_visible()
    expect(page.locator("header .userbox select#lang")).to_be_visible()
    assert header.bounding_box()["height"] > ONE_LINE_PX  # open, it takes the room it needs
    page.context.close()


def test_in_english_the_header_is_one_line_too(browser, live_server):
    build_city(rules=False)
    page = phone(browser, live_server, 320, "shift_lead")
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    page.goto(f"{live_server.url}/people/attendance/")
    toggle = page.locator("#menu-toggle")
    expect(toggle).to_have_text("Menu")
    expect(page.locator("header .brand")).to_have_text("GridCity")
    assert page.locator("header.topbar").bounding_box()["height"] <= ONE_LINE_PX
    toggle.focus()
    page.keyboard.press("Enter")
    expect(page.locator("nav.mainnav")).to_be_visible()
    shot(page, "header-english-320-open")
    page.context.close()


def test_without_javascript_the_navigation_stays_open(browser, live_server):
    build_city(rules=False)
    with_js = phone(browser, live_server, 360, "shift_lead")
    state = with_js.context.storage_state()
    with_js.context.close()
    page = phone(browser, live_server, 360, java_script_enabled=False, storage_state=state)
    page.goto(f"{live_server.url}/people/attendance/")
    expect(page.locator("nav.mainnav")).to_be_visible()
    expect(page.locator("#menu-toggle")).to_be_hidden()
    page.context.close()


def test_the_citizens_header_is_one_line_too(browser, live_server):
    build_city(rules=False)
    page = phone(browser, live_server, 320)
    page.goto(f"{live_server.url}/public/")
    expect(page.locator("header .userbox select#lang")).to_be_visible()
    assert page.locator("header.topbar").bounding_box()["height"] <= ONE_LINE_PX
    page.context.close()


def fill_report(page, tmp_path):
    photo = tmp_path / "bin.jpg"
    photo.write_bytes(tiny_jpeg())
    page.set_input_files("#photo", str(photo))
    expect(page.locator("#photo-previews img")).to_have_count(1)
    page.fill("#cat-search", "垃圾")
    page.wait_for_selector("#category option[value='matter:06042']", state="attached")
    page.select_option("#category", "matter:06042")
    page.fill("#description", "垃圾箱满溢")


def type_position(page, lon, lat):
    page.fill("#coord-lon", f"{lon:.6f}")
    page.fill("#coord-lat", f"{lat:.6f}")
    page.locator("#coord-lat").press("Enter")


def test_a_grid_manager_sets_the_position_from_the_keyboard(browser, live_server, tmp_path):
    city = build_city()
    page = phone(browser, live_server, 390, "inspector")  # no location permission
    page.goto(f"{live_server.url}/field/report/")
    page.wait_for_selector(".leaflet-container")
    expect(page.get_by_label("经度", exact=True)).to_be_visible()
    expect(page.get_by_label("纬度", exact=True)).to_be_visible()

    # The map focused, the first arrow puts the marker in its middle, the next ones move it.
    page.locator("#pick-map").focus()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#position-text")).to_contain_text("经度")
    start = float(page.locator("#coord-lon").input_value())
    lat0 = float(page.locator("#coord-lat").input_value())
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Shift+ArrowUp")
    expect(page.locator("#coord-lon")).not_to_have_value(f"{start:.6f}")
    moved = float(page.locator("#coord-lon").input_value())
    assert moved > start
    assert float(page.locator("#coord-lat").input_value()) > lat0  # north, not panned away

    # Typed coordinates, Enter: the marker goes there and the cell is named.
    type_position(page, *INSIDE)
    cell = city.cell(*INSIDE)
    expect(page.locator("#position-text")).to_contain_text(cell.code)
    expect(page.locator("#position-warning")).to_be_hidden()
    assert Case.objects.count() == 0  # Enter in a coordinate sends nothing
    fill_report(page, tmp_path)
    shot(page, "field-report-keyboard-390")
    page.click("#send")
    expect(page.locator("#sent")).to_contain_text(re.compile("上报成功|已保存"))
    page.wait_for_timeout(200)
    for _ in range(40):
        if Case.objects.exists():
            break
        page.wait_for_timeout(250)
    case = Case.objects.get()
    assert abs(case.lon - INSIDE[0]) < 1e-6 and abs(case.lat - INSIDE[1]) < 1e-6
    assert case.cell_id == cell.pk
    page.context.close()


def test_a_position_outside_every_cell_is_confirmed_before_sending(browser, live_server, tmp_path):
    build_city()
    page = phone(browser, live_server, 390, "inspector")
    page.goto(f"{live_server.url}/field/report/")
    page.wait_for_selector(".leaflet-container")
    type_position(page, *OUTSIDE)
    warning = page.locator("#position-warning")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("不在任何网格内")
    fill_report(page, tmp_path)
    page.click("#send")
    expect(warning).to_contain_text("再次点击发送")
    shot(page, "field-report-outside-390")
    page.wait_for_timeout(1000)
    assert Case.objects.count() == 0

    page.click("#send")
    for _ in range(40):
        if Case.objects.exists():
            break
        page.wait_for_timeout(250)
    case = Case.objects.get()
    assert case.cell_id is None
    assert abs(case.lon - OUTSIDE[0]) < 1e-6
    page.context.close()


def test_a_map_click_outside_every_cell_warns_the_citizen_too(browser, live_server):
    build_city()
    page = phone(browser, live_server, 390)
    page.goto(f"{live_server.url}/public/")
    page.wait_for_selector(".leaflet-container")
    type_position(page, *INSIDE)
    expect(page.locator("#position-text")).to_contain_text("网格")
    expect(page.locator("#position-warning")).to_be_hidden()
    assert page.locator("input[name=lon]").input_value().startswith(f"{INSIDE[0]:.6f}")

    # Zoomed out far enough to see past the district's edge, a click south-west of it.
    page.locator("#pick-map").focus()
    for _ in range(6):
        page.keyboard.press("-")
    box = page.locator("#pick-map").bounding_box()
    page.mouse.click(box["x"] + 8, box["y"] + box["height"] - 8)
    expect(page.locator("#position-warning")).to_contain_text("不在任何网格内")
    page.select_option("#id_category", index=1)
    page.fill("#id_description", "路灯不亮")
    page.locator("#public-form button[type=submit]").click()
    expect(page.locator("#position-warning")).to_contain_text("再次点击发送")
    assert Case.objects.count() == 0
    page.context.close()
