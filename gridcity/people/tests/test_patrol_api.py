"""A grid manager's patrol through the API: distance, visited cells, one track per key, bad
fixes flagged and the patrol still saved."""

from datetime import UTC, datetime, timedelta

import pytest

from gridcity.grids.models import Beat
from gridcity.people import track
from gridcity.people.models import Patrol, PatrolPoint, PointFlag
from gridcity.testing import SOUTH, WEST

T0 = datetime(2026, 5, 4, 7, 40, tzinfo=UTC)

# Along the south edge of the west street: three steps east, then two north, a minute apart.
ROUTE = [
    (WEST + 0.0005, SOUTH + 0.0004),
    (WEST + 0.0015, SOUTH + 0.0004),
    (WEST + 0.0025, SOUTH + 0.0004),
    (WEST + 0.0035, SOUTH + 0.0004),
    (WEST + 0.0035, SOUTH + 0.0014),
    (WEST + 0.0035, SOUTH + 0.0024),
]


def points(route, start_seq=0, start_s=0):
    return [
        {
            "seq": start_seq + i,
            "t": (T0 + timedelta(seconds=start_s + 60 * i)).isoformat(),
            "lon": lon,
            "lat": lat,
            "accuracy": 10,
        }
        for i, (lon, lat) in enumerate(route)
    ]


def expected_distance(route):
    return sum(track.haversine_m(*a, *b) for a, b in zip(route, route[1:], strict=False))


@pytest.fixture
def inspector(client, city):
    client.force_login(city.people["inspector"])
    return client


def start(client, key="p-1"):
    return client.post(
        "/api/patrols",
        {"key": key, "started_at": T0.isoformat()},
        content_type="application/json",
    )


def send(client, pts, key="p-1"):
    return client.post(
        f"/api/patrols/{key}/points", {"points": pts}, content_type="application/json"
    )


def test_it_measures_a_scripted_patrol(inspector, city):
    assert start(inspector).status_code == 201
    pts = points(ROUTE)
    assert send(inspector, pts[:3]).status_code == 200
    r = send(inspector, pts[3:])
    assert r.status_code == 200, r.content
    end = inspector.post(
        "/api/patrols/p-1/end",
        {"ended_at": (T0 + timedelta(minutes=30)).isoformat()},
        content_type="application/json",
    ).json()
    assert end["distance_m"] == pytest.approx(expected_distance(ROUTE), abs=0.2)
    assert end["duty_seconds"] == 1800
    cells = {city.cell(lon, lat).pk for lon, lat in ROUTE}
    beat = Beat.objects.get(code="B001")
    assert end["cells_visited"] == len(cells) == 6
    assert end["coverage"] == pytest.approx(6 / beat.cells.count(), abs=1e-4)
    patrol = Patrol.objects.get()
    assert set(patrol.cell_visits.values_list("cell_id", flat=True)) == cells


def test_a_retried_start_gives_one_track_not_two(inspector, city):
    assert start(inspector).status_code == 201
    again = start(inspector)
    assert again.status_code == 200 and again.json()["created"] is False
    assert Patrol.objects.count() == 1


def test_a_batch_sent_twice_stores_each_point_once(inspector, city):
    start(inspector)
    send(inspector, points(ROUTE[:3]))
    r = send(inspector, points(ROUTE[:3])).json()
    assert r["accepted"] == 0 and r["duplicates"] == 3
    assert PatrolPoint.objects.count() == 3


def test_late_points_fill_the_gap_in_sequence_order(inspector, city):
    start(inspector)
    pts = points(ROUTE)
    send(inspector, pts[3:])  # the batch kept offline arrives after the later one
    r = send(inspector, pts[:3]).json()
    assert r["distance_m"] == pytest.approx(expected_distance(ROUTE), abs=0.2)
    assert r["points_flagged"] == 0


def test_bad_points_are_flagged_and_the_patrol_still_saves(inspector, city):
    start(inspector)
    pts = points(ROUTE[:3])
    jump = {"seq": 3, "t": (T0 + timedelta(seconds=130)).isoformat(), "lon": 120.30, "lat": 30.3}
    backwards = {
        "seq": 4,
        "t": (T0 + timedelta(seconds=10)).isoformat(),
        "lon": ROUTE[1][0],
        "lat": ROUTE[1][1],
    }
    r = send(inspector, [*pts, jump, backwards])
    assert r.status_code == 200
    body = r.json()
    assert body["points_total"] == 5 and body["points_flagged"] == 2
    assert body["distance_m"] == pytest.approx(expected_distance(ROUTE[:3]), abs=0.2)
    flags = dict(PatrolPoint.objects.values_list("seq", "flag"))
    assert flags[3] == PointFlag.TOO_FAST and flags[4] == PointFlag.OUT_OF_ORDER
    assert (
        inspector.post("/api/patrols/p-1/end", {}, content_type="application/json").status_code
        == 200
    )


def test_another_grid_managers_patrol_is_not_hers(client, city):
    client.force_login(city.people["inspector"])
    start(client)
    client.force_login(city.people["inspector2"])
    assert send(client, points(ROUTE[:1])).status_code == 403
    assert start(client).status_code == 403


def test_an_outsider_cannot_patrol(client, city):
    client.force_login(city.people["sanitation"])
    assert start(client).status_code == 403
    client.logout()
    assert start(client).status_code == 401


def test_a_point_off_the_globe_is_refused_with_its_field(inspector, city):
    start(inspector)
    r = send(inspector, [{"seq": 0, "t": T0.isoformat(), "lon": 200, "lat": 30}])
    assert r.status_code == 422
    assert r.json()["field"] == "points[0].lon"
