"""A patrol walked without a network, in Debian's Chromium: the start, the fixes and the end wait
in the phone's field outbox (IndexedDB), survive a reload of the tab while still offline, and
arrive complete and once when the network returns. A queue left in localStorage by the older
patrol page is moved into the outbox and stored once too. Screenshots in ./screenshots/."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from gridcity.people import track
from gridcity.people.actions import PointIn, do_record_points, do_start_patrol
from gridcity.people.models import Patrol, PatrolPoint
from gridcity.people.tests.test_patrol_api import ROUTE
from gridcity.testing import build_city
from gridcity.web.tests.conftest import login, new_page, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def at(lon, lat):
    return {"longitude": lon, "latitude": lat, "accuracy": 8}


def wait_for(predicate, page, timeout_ms=60_000):
    for _ in range(timeout_ms // 250):
        if predicate():
            return True
        page.wait_for_timeout(250)
    return predicate()


def test_a_patrol_walked_offline_arrives_complete_and_once_after_a_reload(browser, live_server):
    city = build_city(rules=False)
    page = new_page(browser, phone=True, geolocation=at(*ROUTE[0]), permissions=["geolocation"])
    context = page.context
    login(page, live_server, "inspector")
    # The service worker keeps the field pages (the patrol page among them) for offline use.
    page.goto(f"{live_server.url}/field/")
    expect(page.locator("#offline-ready")).to_be_visible(timeout=30_000)
    page.clock.install()
    page.goto(f"{live_server.url}/people/patrol/")
    page.wait_for_selector(".leaflet-container")

    context.set_offline(True)
    page.click("#start")
    expect(page.locator("#count")).to_have_text("1")
    for i, (lon, lat) in enumerate(ROUTE[1:4], start=2):
        page.clock.fast_forward(30_000)  # half a minute's walk: the fixes so far go to the outbox
        context.set_geolocation(at(lon, lat))
        expect(page.locator("#count")).to_have_text(str(i))
    page.clock.fast_forward(5_000)
    waiting = page.locator("#outbox-list li[data-state=waiting]")
    expect(waiting.first).to_be_visible()
    expect(page.locator("#outbox-list")).to_contain_text("巡查轨迹")
    expect(page.locator("#pending")).to_have_text("4")
    shot(page, "people-patrol-outbox-offline-360")
    assert Patrol.objects.count() == 0

    # Still offline, the tab is reloaded: the page comes from the phone, the patrol goes on.
    page.reload()
    expect(page.locator("#status")).to_contain_text("已恢复")
    expect(page.locator("#count")).to_have_text("4")
    expect(page.locator("#pending")).to_have_text("4")
    for i, (lon, lat) in enumerate(ROUTE[4:], start=5):
        page.clock.fast_forward(30_000)
        context.set_geolocation(at(lon, lat))
        expect(page.locator("#count")).to_have_text(str(i))
    page.clock.fast_forward(30_000)
    page.click("#end")
    expect(page.locator("#status")).to_have_text("已结束，联网后上传")
    expect(page.locator("#pending")).to_have_text(str(len(ROUTE)))
    page.wait_for_timeout(1000)
    assert Patrol.objects.count() == 0

    context.set_offline(False)
    expect(page.locator("#status")).to_contain_text("巡查已结束：里程", timeout=60_000)
    expect(page.locator("#outbox")).to_be_hidden()
    shot(page, "people-patrol-outbox-sent-360")

    patrol = Patrol.objects.get()
    assert patrol.manager == city.people["inspector"]
    assert PatrolPoint.objects.filter(patrol=patrol).count() == len(ROUTE)
    assert sorted(patrol.points.values_list("seq", flat=True)) == list(range(len(ROUTE)))
    assert patrol.points_flagged == 0
    expected = sum(track.haversine_m(*a, *b) for a, b in zip(ROUTE, ROUTE[1:], strict=False))
    assert patrol.distance_m == pytest.approx(expected, abs=0.5)
    assert patrol.ended_at is not None
    assert patrol.cells_visited == 6

    # Nothing is sent a second time on the next visit.
    page.reload()
    page.clock.fast_forward(10_000)
    page.wait_for_timeout(1000)
    assert Patrol.objects.count() == 1
    assert PatrolPoint.objects.count() == len(ROUTE)
    context.close()


def test_a_queue_left_by_the_old_patrol_page_goes_through_the_outbox_once(browser, live_server):
    city = build_city(rules=False)
    her = city.people["inspector"]
    t0 = timezone.now().replace(microsecond=0) - timedelta(minutes=20)
    fixes = [
        {"seq": i, "t": (t0 + timedelta(minutes=i)).isoformat(), "lon": lon, "lat": lat}
        for i, (lon, lat) in enumerate(ROUTE[:4])
    ]
    # The first batch had reached the server, but its answer was lost: it is still queued.
    do_start_patrol(key="old-1", started_at=t0, acting_user=her)
    first = [
        PointIn(p["seq"], t0 + timedelta(minutes=p["seq"]), p["lon"], p["lat"]) for p in fixes[:2]
    ]
    do_record_points("old-1", first, acting_user=her)

    # bypass_csp: the old queue is written into localStorage by a script of the test.
    page = new_page(
        browser,
        phone=True,
        geolocation=at(*ROUTE[3]),
        permissions=["geolocation"],
        bypass_csp=True,
    )
    login(page, live_server, "inspector")
    state = {
        "key": "old-1",
        "user": str(her.pk),
        "seq": 4,
        "buffer": [],
        "trail": [[p["lon"], p["lat"]] for p in fixes],
        "last": None,
        "ended": True,
        "startedAt": t0.isoformat(),
    }
    old_queue = [
        {
            "kind": "start",
            "url": "/api/patrols",
            "body": {"key": "old-1", "started_at": t0.isoformat()},
        },
        {"url": "/api/patrols/old-1/points", "points": fixes[:2]},
        {"url": "/api/patrols/old-1/points", "points": fixes[2:]},
        {
            "kind": "end",
            "url": "/api/patrols/old-1/end",
            "body": {"ended_at": (t0 + timedelta(minutes=10)).isoformat()},
        },
    ]
    page.evaluate(
        """([state, queue]) => {
            localStorage.setItem("gridcity.patrol.v1", state);
            localStorage.setItem("gridcity.patrol.outbox.v1", queue);
        }""",
        [json.dumps(state), json.dumps(old_queue)],
    )
    sent = []
    page.on(
        "request",
        lambda r: (
            sent.append((r.url.split("/api/")[1], r.headers.get("idempotency-key")))
            if "/api/patrols" in r.url
            else None
        ),
    )
    page.goto(f"{live_server.url}/people/patrol/")
    expect(page.locator("#status")).to_contain_text("巡查已结束：里程", timeout=60_000)
    expect(page.locator("#pending")).to_have_text("0")
    # In the old order, each request under its own stable key, through the field outbox.
    assert sent == [
        ("patrols", "patrol-start:old-1"),
        ("patrols/old-1/points", "patrol-points:old-1:0-1"),
        ("patrols/old-1/points", "patrol-points:old-1:2-3"),
        ("patrols/old-1/end", "patrol-end:old-1"),
    ]

    patrol = Patrol.objects.get()
    assert sorted(patrol.points.values_list("seq", flat=True)) == [0, 1, 2, 3]
    assert patrol.ended_at == t0 + timedelta(minutes=10)
    assert page.evaluate("() => localStorage.getItem('gridcity.patrol.outbox.v1')") == "[]"
    page.reload()
    page.wait_for_timeout(2000)
    assert PatrolPoint.objects.count() == 4
    page.context.close()
