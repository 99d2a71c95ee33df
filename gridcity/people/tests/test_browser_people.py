"""The patrol and visit pages on a phone, in Debian's Chromium. Screenshots in ./screenshots/."""

import pytest

from gridcity.people import track
from gridcity.people.models import Pairing, Patrol, PatrolPoint
from gridcity.people.tests.test_patrol_api import ROUTE
from gridcity.testing import build_city, tiny_jpeg
from gridcity.web.tests.conftest import login, new_page, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def at(lon, lat):
    return {"longitude": lon, "latitude": lat, "accuracy": 8}


def test_a_patrol_with_a_dead_zone_makes_one_track_with_the_right_distance_and_cells(
    browser, live_server
):
    city = build_city(rules=False)
    page = new_page(browser, phone=True, geolocation=at(*ROUTE[0]), permissions=["geolocation"])
    context = page.context
    login(page, live_server, "inspector")
    page.clock.install()
    page.goto(f"{live_server.url}/people/patrol/")
    page.wait_for_selector(".leaflet-container")
    shot(page, "people-patrol-ready-360")
    page.click("#start")
    page.wait_for_selector("#count:text-is('1')")
    for i, (lon, lat) in enumerate(ROUTE[1:], start=2):
        if i == 3:
            context.set_offline(True)  # under the flyover
        if i == 5:
            context.set_offline(False)
        page.clock.fast_forward(30_000)  # she walks for half a minute, then the fix arrives
        context.set_geolocation(at(lon, lat))
        page.wait_for_selector(f"#count:text-is('{i}')")
        if i == 4:
            assert page.locator("#pending").inner_text() != "0"
            shot(page, "people-patrol-offline-360")
    page.clock.fast_forward(30_000)
    page.click("#end")
    page.wait_for_selector("#status:has-text('巡查已结束')")
    shot(page, "people-patrol-ended-360")

    patrol = Patrol.objects.get()
    assert Patrol.objects.count() == 1
    assert PatrolPoint.objects.count() == len(ROUTE)
    expected = sum(track.haversine_m(*a, *b) for a, b in zip(ROUTE, ROUTE[1:], strict=False))
    assert patrol.distance_m == pytest.approx(expected, abs=0.5)
    assert patrol.points_flagged == 0
    cells = {city.cell(lon, lat).pk for lon, lat in ROUTE}
    assert set(patrol.cell_visits.values_list("cell_id", flat=True)) == cells
    assert patrol.cells_visited == 6 and patrol.ended_at is not None
    context.close()


def test_a_leader_records_a_visit_on_her_phone(browser, live_server, tmp_path):
    from datetime import date

    from django.utils import timezone

    from gridcity.cases.models import Case
    from gridcity.testing import MID_LAT, WEST

    city = build_city()
    pairing = Pairing.objects.create(
        leader=city.people["leader"],
        community=city.communities[0],
        starts_on=date(2026, 1, 1),
        tasks="帮助解决环境卫生问题",
    )
    photo = tmp_path / "visit.jpg"
    photo.write_bytes(tiny_jpeg())
    page = new_page(
        browser,
        phone=True,
        geolocation=at(WEST + 0.001, MID_LAT + 0.001),
        permissions=["geolocation"],
    )
    login(page, live_server, "leader")
    page.goto(f"{live_server.url}/people/pairings/{pairing.pk}/visit/")
    page.fill("#people", "陈主任、社区书记")
    page.fill("#findings", "走访背街小巷，了解垃圾分类情况")
    page.set_input_files("#photos", str(photo))
    page.fill("#problem-0", "菜场门口垃圾箱满溢")
    page.select_option("#route-0", "case")
    page.select_option("#category-0", "matter:06042")
    page.fill("#problem-1", "老旧小区缺少休闲座椅")
    page.wait_for_function("document.getElementById('lon').value !== ''")
    shot(page, "people-visit-form-360")
    page.click("#save-visit")
    page.wait_for_selector("text=走访记录已保存")
    shot(page, "people-pairing-360")
    visit = pairing.visits.get()
    assert visit.visited_on == timezone.localdate()
    assert visit.photos.count() == 1
    case = Case.objects.get()
    assert visit.problems.get(case__isnull=False).case == case
    assert abs(case.lon - (WEST + 0.001)) < 1e-6
    page.context.close()


def test_the_supervisor_sees_the_track_on_the_map(browser, live_server):
    from datetime import timedelta

    from django.utils import timezone

    from gridcity.people.actions import PointIn, do_record_points, do_start_patrol

    city = build_city(rules=False)
    user = city.people["inspector"]
    t0 = timezone.now() - timedelta(minutes=20)
    do_start_patrol(key="k", started_at=t0, acting_user=user)
    pts = [PointIn(i, t0 + timedelta(minutes=i), lon, lat, 5) for i, (lon, lat) in enumerate(ROUTE)]
    pts.append(PointIn(len(ROUTE), t0 + timedelta(minutes=5, seconds=5), 120.171, 30.246, 5))
    do_record_points("k", pts, acting_user=user)
    page = new_page(browser)
    login(page, live_server, "shift_lead")
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live_server.url}/people/patrols/")
    page.wait_for_timeout(1500)
    assert not errors, errors
    page.wait_for_selector("#board-map path.leaflet-interactive")
    shot(page, "people-patrol-board")
    page.context.close()
