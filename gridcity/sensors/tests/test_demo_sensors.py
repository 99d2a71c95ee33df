"""The demo city's sensors, replayed from real series: what a supervisor sees on the board."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.test import override_settings

from gridcity.cases.models import Case
from gridcity.demo.builder import DemoOptions, build_demo
from gridcity.grids.actions import locate
from gridcity.sensors.models import Device, DeviceKind, DeviceState, Reading, SensorWarning
from gridcity.sensors.models import WarningState as W

# A Wednesday afternoon, as in the demo's own tests.
NOW = datetime(2026, 11, 25, 15, 30, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """The small demo city with its sensors, built once inside a transaction rolled back after."""
    md5 = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=md5), transaction.atomic():
        result = build_demo(DemoOptions(seed=1, months=1, cases=80, cell_size_m=400, now=NOW))
        counts, seconds = result.modules["物联感知"], result.timings["物联感知"]
        print(f"\nsensors demo: {counts} in {seconds:.1f} s")
        yield counts, seconds
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_it_places_devices_of_several_kinds_inside_the_district(demo):
    counts, seconds = demo
    devices = list(Device.objects.all())
    assert counts["devices"] == len(devices) >= 30
    kinds = {d.kind for d in devices}
    assert {DeviceKind.BIN_FILL, DeviceKind.WATER_LEVEL, DeviceKind.MANHOLE_TILT} <= kinds
    for d in devices:
        assert d.cell_id is not None and locate(d.lon, d.lat).cell_id == d.cell_id, d.code
    assert seconds < 60  # about 5 s on an idle 2-core machine; generous for a loaded CI


@pytest.mark.django_db
def test_the_bins_report_up_to_now_and_fill_and_empty(demo):
    counts, _ = demo
    assert counts["readings"] == Reading.objects.count() > 5000
    latest = Reading.objects.order_by("-time").first().time
    assert NOW - timedelta(hours=1) < latest <= NOW
    assert not Reading.objects.filter(time__gt=NOW).exists()
    earliest = Reading.objects.order_by("time").first().time
    assert earliest >= NOW - timedelta(days=14)
    bins = Device.objects.filter(kind=DeviceKind.BIN_FILL)
    assert bins.count() == 24
    for d in bins:
        assert NOW - d.last_seen_at < timedelta(hours=1), d.code
    # A bin's week: it fills up, is emptied (a fall to 0) and fills again.
    fills = list(
        Reading.objects.filter(device=bins[0], metric="fill").values_list("value", flat=True)
    )
    assert max(fills) >= 50 and 0 in fills


@pytest.mark.django_db
def test_warnings_are_open_now_and_earlier_ones_were_cleared(demo):
    open_now = SensorWarning.objects.filter(state=W.OPEN).exclude(rule="silence")
    assert open_now.exists()
    assert Device.objects.filter(state=DeviceState.WARNING).exists()
    cleared = SensorWarning.objects.filter(state=W.CLEARED)
    assert cleared.filter(device__kind=DeviceKind.BIN_FILL).count() >= 10
    assert cleared.filter(device__kind=DeviceKind.WATER_LEVEL).exists()
    assert not SensorWarning.objects.filter(opened_at__gt=NOW).exists()


@pytest.mark.django_db
def test_a_bin_predicted_full_filed_a_case_for_sanitation(demo):
    counts, _ = demo
    filed = SensorWarning.objects.filter(rule="predict_full", case__isnull=False).select_related(
        "case", "case__category", "device"
    )
    assert counts["cases"] >= 1 and filed.exists()
    w = filed.first()
    case = w.case
    assert case.channel == "sensor" and case.category.code == "06042"
    assert case.cell_id is not None
    assert w.device.code in case.description
    # Filed at the moment the warning opened, in the demo's time, not when the test ran.
    assert case.reported_at == w.opened_at <= NOW
    assert case.events.order_by("at").first().at <= NOW
    assert (
        Case.objects.filter(channel="sensor", sensor_warnings__isnull=False).count()
        == (counts["cases"])
    )


@pytest.mark.django_db
def test_a_water_gauge_that_stopped_reporting_is_silent(demo):
    silent = Device.objects.filter(state=DeviceState.SILENT)
    assert silent.exists()
    d = silent.first()
    assert NOW - d.last_seen_at > timedelta(hours=3)
    assert SensorWarning.objects.filter(device=d, rule="silence", state=W.OPEN).exists()


@pytest.mark.django_db
def test_the_sensor_pages_render_the_demo_for_the_leader(demo, client):
    signed_in = client.post("/login/", {"username": "leader", "password": "demo12345"})
    assert signed_in.status_code == 302
    r = client.get("/sensors/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "预计满溢" in html or "即将高位" in html
    assert "SC-BIN-001" in html and "失联" in html
    warned = Device.objects.filter(state=DeviceState.WARNING, kind=DeviceKind.BIN_FILL).first()
    r = client.get(f"/sensors/devices/{warned.code}/")
    assert r.status_code == 200
    assert "<polyline" in r.content.decode()
    r = client.get("/sensors/devices/SC-MH-001/")
    assert r.status_code == 200
    r = client.get("/sensors/forecast/")
    assert r.status_code == 200
    assert "SC-BIN-" in r.content.decode()
