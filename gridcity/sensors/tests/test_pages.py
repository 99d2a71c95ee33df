"""The warnings board, a device page and the clearance forecast: centre staff only."""

from datetime import timedelta

import pytest
from django.utils import timezone

from gridcity.sensors.actions import do_ingest_readings, do_register_device


def fill_up(code, values, step_min=10):
    now = timezone.now()
    n = len(values)
    do_ingest_readings(
        [
            {
                "device": code,
                "time": (now - timedelta(minutes=step_min * (n - 1 - i))).isoformat(),
                "metric": "fill",
                "value": v,
            }
            for i, v in enumerate(values)
        ]
    )


@pytest.fixture
def bins(city):
    for i, lon in enumerate((120.1610, 120.1700, 120.1650)):
        do_register_device(
            f"BIN-{i}", "bin_fill", acting_user=None, lon=lon, lat=30.2440, name=f"{i}号垃圾箱"
        )
    fill_up("BIN-0", [70, 75, 80, 85])  # full in ~1.5 h
    fill_up("BIN-1", [80, 85, 90, 95])  # full in ~0.5 h
    fill_up("BIN-2", [10, 10, 11, 11])  # not soon


@pytest.mark.django_db
def test_the_board_shows_open_warnings_and_the_device_map(client, city, bins):
    client.force_login(city.people["dispatcher"])
    r = client.get("/sensors/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "预计满溢" in html and "sensor-map-data" in html and "#d23a2c" in html


@pytest.mark.django_db
def test_a_device_page_draws_its_readings_and_cases(client, city, bins):
    client.force_login(city.people["leader"])
    r = client.get("/sensors/devices/BIN-1/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "<svg" in html and "<polyline" in html
    assert "引发的案件（1）" in html
    assert client.get("/sensors/devices/NOPE/").status_code == 404


@pytest.mark.django_db
def test_the_forecast_orders_bins_for_a_route_from_the_depot(client, city, bins):
    client.force_login(city.people["dispatcher"])
    r = client.get("/sensors/forecast/?hours=3&depot=120.1600,30.2440")
    assert r.status_code == 200
    stops = r.context["stops"]
    assert [s.device.code for s in stops] == ["BIN-0", "BIN-1"]
    assert [s.order for s in stops] == [1, 2]


@pytest.mark.django_db
def test_outsiders_are_kept_out(client, city):
    assert client.get("/sensors/").status_code == 302
    client.force_login(city.people["inspector"])
    assert client.get("/sensors/").status_code == 403
    assert client.get("/sensors/forecast/").status_code == 403
