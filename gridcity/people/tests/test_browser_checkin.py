"""Check-ins (打卡) on the grid manager's phone in Debian's Chromium: on duty online, off duty
in a basement without signal, both stored once when the network returns and counted in the
attendance sheet. Screenshots in ./screenshots/."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from gridcity.people import track
from gridcity.people.models import CheckIn
from gridcity.people.views import attendance_rows
from gridcity.testing import MID_LAT, WEST, build_city
from gridcity.web.tests.conftest import login, new_page, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HERE = {"longitude": WEST + 0.002, "latitude": MID_LAT, "accuracy": 10}


def wait_for(predicate, page, timeout_ms=20_000):
    for _ in range(timeout_ms // 250):
        if predicate():
            return True
        page.wait_for_timeout(250)
    return predicate()


def test_a_check_out_made_offline_arrives_once_and_is_counted(browser, live_server):
    city = build_city(rules=False)
    page = new_page(browser, phone=True, geolocation=HERE, permissions=["geolocation"])
    login(page, live_server, "inspector")
    now = datetime.now(UTC).replace(microsecond=0)
    came, left = now - timedelta(hours=9), now - timedelta(minutes=30)

    page.clock.set_fixed_time(came)  # the phone's clock when she taps
    page.goto(f"{live_server.url}/people/patrol/")
    expect(page.locator("#checkin-status")).to_have_text("今天还没有打卡")
    page.get_by_role("button", name="上班打卡").click()
    assert wait_for(lambda: CheckIn.objects.count() == 1, page)
    expect(page.locator("#checkin-list li")).to_have_count(1)

    page.context.set_offline(True)
    page.clock.set_fixed_time(left)
    page.get_by_role("button", name="下班打卡").click()
    expect(page.locator("#checkin-status")).to_contain_text("下班打卡")
    shot(page, "people-checkin-offline-360")
    page.wait_for_timeout(1000)
    assert CheckIn.objects.count() == 1

    page.context.set_offline(False)
    assert wait_for(lambda: CheckIn.objects.count() == 2, page)
    page.reload()
    expect(page.locator("#checkin-list li")).to_have_count(2)
    page.wait_for_timeout(1000)
    assert CheckIn.objects.count() == 2

    her = city.people["inspector"]
    checkin, checkout = CheckIn.objects.order_by("at")
    assert (checkin.kind, checkin.at, checkin.manager) == ("in", came, her)
    assert (checkout.kind, checkout.at) == ("out", left)
    assert abs(checkin.lon - HERE["longitude"]) < 1e-6
    day = timezone.localtime(came).date()
    row = attendance_rows([her], day.replace(day=1))[0]
    counted = row["days"][day.day - 1]
    assert counted["s"] == 8.5 * 3600
    assert counted["status"] == track.ON_DUTY
    page.context.close()
