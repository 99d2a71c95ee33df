"""The grid manager's day without a network, in Debian's Chromium: the field pages open from a
fresh tab after one visit, fifty reports with three phone-sized photos each wait on the phone
and arrive once each, and a check-in made offline is counted. Screenshots in ./screenshots/."""

import io
import time
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect

from gridcity.cases.models import Attachment, AttachmentKind, Case, Report
from gridcity.people.models import CheckIn
from gridcity.testing import SOUTH, WEST, build_city
from gridcity.web.tests.conftest import login, new_page, shot
from gridcity.web.tests.test_browser_field import HERE, phone
from gridcity.web.tests.test_field_pages import report, walk_to_handled

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REPORTS = 50
PHOTOS = 3


def phone_photo(k: int) -> bytes:
    """A 12-megapixel JPEG of about 3 MB, as a phone takes: noise does not compress."""
    tile = Image.merge("RGB", [Image.effect_noise((1000, 1000), 50 + k) for _ in range(3)])
    img = Image.new("RGB", (4000, 3000))
    for x in range(0, 4000, 1000):
        for y in range(0, 3000, 1000):
            img.paste(tile, (x, y))
    img = Image.blend(img, Image.linear_gradient("L").resize((4000, 3000)).convert("RGB"), 0.68)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=80)
    return out.getvalue()


def offline_ready(page) -> None:
    """The service worker has kept this user's pages and data."""
    expect(page.locator("#offline-ready")).to_be_visible(timeout=30_000)


def test_the_field_pages_open_from_a_fresh_tab_without_a_network(browser, live_server):
    city = build_city()
    case = walk_to_handled(city, report(city.people["inspector"]))
    page = phone(browser, live_server, "inspector")
    page.goto(f"{live_server.url}/field/")
    offline_ready(page)
    context = page.context
    page.close()

    context.set_offline(True)
    tab = context.new_page()
    tab.goto(f"{live_server.url}/field/")
    banner = tab.locator(".offline-banner")
    expect(banner).to_contain_text("离线：显示的是")
    expect(banner).to_contain_text("保存的内容")
    task = tab.locator(f"a[href='/field/tasks/{case.number}/']")
    expect(task).to_be_visible()
    shot(tab, "offline-home-360")

    # A task page never opened before: kept because it is on her list.
    task.click()
    expect(tab.locator("h1")).to_contain_text("核查")
    expect(tab.locator(".facts")).to_contain_text(case.number)
    expect(tab.locator(".offline-banner")).to_contain_text("离线：显示的是")
    expect(tab.locator("#task-map .leaflet-marker-icon")).to_be_visible()

    tab.goto(f"{live_server.url}/field/report/")
    expect(tab.locator(".offline-banner")).to_contain_text("离线：显示的是")
    # The categories and the beat's cells come from the phone.
    expect(tab.locator("#category option[value='matter:06042']")).to_have_count(1)
    expect(tab.locator("#pick-map path").first).to_be_attached()
    shot(tab, "offline-report-360")

    tab.goto(f"{live_server.url}/people/patrol/")
    expect(tab.locator(".offline-banner")).to_contain_text("离线：显示的是")
    expect(tab.locator("#start")).to_be_visible()

    # A page never kept says so, in the product's words, instead of the browser's error.
    tab.goto(f"{live_server.url}/field/tasks/NO-SUCH-CASE/")
    expect(tab.locator("h1")).to_have_text("当前没有网络")
    context.close()


def test_fifty_reports_with_three_photos_each_wait_offline_and_arrive_once(
    browser, live_server, tmp_path
):
    build_city()
    files = []
    for k in range(PHOTOS):
        path = tmp_path / f"photo{k}.jpg"
        path.write_bytes(phone_photo(k))
        files.append(str(path))
    sizes = [Path(f).stat().st_size for f in files]
    assert all(2_500_000 < s < 4_000_000 for s in sizes), sizes

    page = phone(browser, live_server, "inspector")
    page.goto(f"{live_server.url}/field/report/")
    offline_ready(page)
    expect(page.locator("#category option[value='matter:06042']")).to_have_count(1)
    started = time.monotonic()
    page.context.set_offline(True)
    count = page.locator("#outbox-count")
    for i in range(REPORTS):
        # 50 places 60 m apart in her beat: none is a duplicate of another.
        lon = WEST + 0.0006 + (i % 10) * 0.0006
        lat = SOUTH + 0.0006 + (i // 10) * 0.0006
        page.context.set_geolocation({"longitude": lon, "latitude": lat})
        page.click("#locate-me")
        expect(page.locator("#position-text")).to_contain_text(f"{lon:.5f}")
        page.set_input_files("#photo", files)
        page.select_option("#category", "matter:06042")
        page.fill("#description", f"离线上报 {i + 1:02d}")
        # The button waits until the three photos are resized.
        page.click("#send")
        expect(count).to_have_text(str(i + 1))
    queued = time.monotonic() - started
    waiting = page.locator("#outbox-list li[data-state=waiting]")
    expect(waiting).to_have_count(5)
    page.click("#outbox-more")
    expect(waiting).to_have_count(REPORTS)
    expect(waiting.first).to_contain_text("06042 垃圾站（箱）满溢")
    expect(waiting.first).to_contain_text("等待")
    shot(page, "offline-outbox-50-360")
    assert Case.objects.count() == 0

    page.context.set_offline(False)
    expect(page.locator("#outbox")).to_be_hidden(timeout=120_000)
    sent = time.monotonic() - started - queued
    assert Case.objects.count() == REPORTS
    assert Report.objects.count() == REPORTS
    assert not Report.objects.filter(is_duplicate=True).exists()
    descriptions = set(Case.objects.values_list("description", flat=True))
    assert descriptions == {f"离线上报 {i + 1:02d}" for i in range(REPORTS)}
    photos = Attachment.objects.filter(kind=AttachmentKind.REPORT)
    assert photos.count() == REPORTS * PHOTOS
    for case in Case.objects.all():
        assert case.attachments.filter(kind=AttachmentKind.REPORT).count() == PHOTOS
    # Resized on the phone: the longest side at most 1600 px.
    one = photos.first()
    with one.file.open("rb") as f, Image.open(f) as img:
        assert max(img.size) <= 1600
    print(f"\n50 reports x 3 photos: queued offline in {queued:.1f} s, sent in {sent:.1f} s")

    # Opening the page again sends nothing twice.
    page.reload()
    expect(page.locator("#report-form")).to_be_visible()
    expect(page.locator("#outbox")).to_be_hidden()
    assert Case.objects.count() == REPORTS
    page.context.close()


def test_a_check_in_made_offline_is_counted_once(browser, live_server):
    city = build_city()
    page = phone(browser, live_server, "inspector")
    page.goto(f"{live_server.url}/people/patrol/")
    expect(page.locator("button[data-checkin=in]")).to_be_visible()
    page.context.set_offline(True)
    page.click("button[data-checkin=in]")
    waiting = page.locator("#outbox-list li[data-state=waiting]")
    expect(waiting).to_have_count(1)
    expect(waiting).to_contain_text("上班打卡")
    assert CheckIn.objects.count() == 0

    # The tab is closed while offline; the check-in is on the phone, not in the tab.
    context = page.context
    page.close()
    context.set_offline(False)
    tab = context.new_page()
    tab.goto(f"{live_server.url}/field/")
    expect(tab.locator("#outbox")).to_be_hidden()
    checkin = CheckIn.objects.get()
    assert checkin.manager == city.people["inspector"]
    assert checkin.kind == "in"
    assert abs(checkin.lon - HERE["longitude"]) < 1e-6
    # Taken at the tap, not when the network came back.
    assert checkin.at < checkin.received_at
    tab.reload()
    expect(tab.locator("#outbox")).to_be_hidden()
    assert CheckIn.objects.count() == 1
    context.close()


def test_a_refused_item_says_why_and_can_be_retried_or_discarded(browser, live_server, tmp_path):
    build_city()
    # bypass_csp: the test itself puts an item in the outbox with page.evaluate.
    page = new_page(browser, phone=True, bypass_csp=True)
    login(page, live_server, "inspector")
    page.goto(f"{live_server.url}/field/")
    # A report queued for a category that was withdrawn before the phone came back online.
    page.evaluate(
        """() => window.GridCityOutbox.add({kind: "report", url: "/api/cases",
            key: window.GridCityOutbox.uuid4(), label: "00000 已停用类别",
            payload: {category: "matter:00000", lon: 120.163, lat: 30.243, crs: "wgs84",
                      description: "x"}, photos: []})"""
    )
    page.locator("#outbox-retry").click()
    item = page.locator("#outbox-list li[data-state=failed]")
    expect(item).to_contain_text("发送失败")
    expect(item).to_contain_text("类别 matter:00000 不存在")
    item.get_by_role("button", name="重试").click()
    expect(item).to_contain_text("类别 matter:00000 不存在")
    page.once("dialog", lambda d: d.accept())
    item.get_by_role("button", name="放弃").click()
    expect(page.locator("#outbox")).to_be_hidden()
    assert Case.objects.count() == 0
    page.context.close()
