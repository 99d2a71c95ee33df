"""A rule that fires raises a warning and, for a bin about to overflow, files 06042 ahead of
time — once per device while its case is open; warnings clear when readings recover."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from gridcity.cases.models import Case, Channel, Status
from gridcity.sensors.actions import (
    do_ingest_readings,
    do_register_device,
    idempotency_key,
    purge_old_readings,
    sweep_silence,
)
from gridcity.sensors.models import DeviceState, Reading, SensorWarning, WarningState

NOW = timezone.datetime(2026, 5, 6, 15, 30, tzinfo=timezone.get_fixed_timezone(480))


def fill(device, values, *, end=NOW, step_min=10):
    n = len(values)
    return [
        {
            "device": device.code,
            "time": (end - timedelta(minutes=step_min * (n - 1 - i))).isoformat(),
            "metric": "fill",
            "value": v,
        }
        for i, v in enumerate(values)
    ]


def ingest(items, now=NOW):
    with time_machine.travel(now, tick=False):
        return do_ingest_readings(items)


@pytest.mark.django_db
def test_it_files_06042_ahead_of_time_for_a_bin_rising_fast(bin_device, city):
    # 15:30: 78 % and rising 13 %/h → predicted full at about 17:10.
    r = ingest(fill(bin_device, [71.5, 73.7, 75.8, 78]))
    assert r.warnings_opened == 2 and r.cases_filed == 1
    full = SensorWarning.objects.get(rule="predict_full")
    assert "预计 10" in full.reason and full.predicted_at.astimezone(NOW.tzinfo).hour == 17
    case = full.case
    assert case.category.code == "06042" and case.channel == Channel.SENSOR
    assert case.status == Status.DISPATCHED and case.department == city.departments["HJWS"]
    assert case.cell_id == bin_device.cell_id
    bin_device.refresh_from_db()
    assert bin_device.state == DeviceState.WARNING


@pytest.mark.django_db
def test_it_files_once_while_the_case_is_open(bin_device):
    ingest(fill(bin_device, [71.5, 73.7, 75.8, 78]))
    later = NOW + timedelta(minutes=30)
    r = ingest(fill(bin_device, [82, 85, 88], end=later), now=later)
    assert r.warnings_opened == 0 and r.cases_filed == 0
    assert Case.objects.count() == 1
    assert SensorWarning.objects.filter(state=WarningState.OPEN).count() == 2


@pytest.mark.django_db
def test_it_clears_on_emptying_and_snoozes_while_the_case_is_open(bin_device):
    ingest(fill(bin_device, [71.5, 73.7, 75.8, 78]))
    emptied = NOW + timedelta(minutes=20)
    r = ingest(fill(bin_device, [2], end=emptied), now=emptied)
    assert r.warnings_cleared == 2
    assert not SensorWarning.objects.filter(state=WarningState.OPEN).exists()
    bin_device.refresh_from_db()
    assert bin_device.state == DeviceState.NORMAL
    # It fills again while the first case is still open: a new warning, the same case.
    again = NOW + timedelta(hours=3)
    r = ingest(fill(bin_device, [60, 75, 90, 99], end=again, step_min=20), now=again)
    assert r.warnings_opened == 2 and r.cases_filed == 0
    w = SensorWarning.objects.get(rule="predict_full", state=WarningState.OPEN)
    assert w.case == Case.objects.get() and "不重复立案" in w.case_note


@pytest.mark.django_db
def test_the_case_is_idempotent_per_device_rule_and_window(bin_device):
    ingest(fill(bin_device, [71.5, 73.7, 75.8, 78]))
    w = SensorWarning.objects.get(rule="predict_full")
    key = idempotency_key(bin_device, "predict_full", w.opened_at)
    assert w.case.reports.get().idempotency_key == key
    assert key.startswith("sensor:BIN-001:predict_full:")


@pytest.mark.django_db
def test_a_manhole_tilt_files_for_its_component_and_clears_with_hysteresis(city):
    dev, _ = do_register_device("MH-1", "manhole_tilt", acting_user=None, lon=120.1630, lat=30.2448)
    items = [{"device": "MH-1", "time": NOW.isoformat(), "value": 22}]
    r = ingest(items)
    assert r.cases_filed == 1
    assert SensorWarning.objects.get().case.category.code == "01002"
    t1 = NOW + timedelta(minutes=5)
    assert (
        ingest([{"device": "MH-1", "time": t1.isoformat(), "value": 9}], now=t1).warnings_cleared
        == 0
    )
    t2 = NOW + timedelta(minutes=10)
    assert (
        ingest([{"device": "MH-1", "time": t2.isoformat(), "value": 2}], now=t2).warnings_cleared
        == 1
    )


@pytest.mark.django_db
def test_a_silent_device_is_warned_not_filed_and_cleared_by_a_reading(bin_device):
    ingest(fill(bin_device, [10, 11, 12]))
    assert sweep_silence(now=NOW + timedelta(minutes=29)).silent == 0
    assert sweep_silence(now=NOW + timedelta(minutes=31)).silent == 1
    assert sweep_silence(now=NOW + timedelta(minutes=40)).silent == 0  # already warned
    w = SensorWarning.objects.get(rule="silence")
    assert w.case is None and "未上报" in w.reason
    bin_device.refresh_from_db()
    assert bin_device.state == DeviceState.SILENT
    back = NOW + timedelta(minutes=50)
    r = ingest(fill(bin_device, [13], end=back), now=back)
    assert r.warnings_cleared == 1
    bin_device.refresh_from_db()
    assert bin_device.state == DeviceState.NORMAL


@pytest.mark.django_db
def test_a_device_override_switches_a_rule_off(city):
    do_register_device(
        "BIN-Q",
        "bin_fill",
        acting_user=None,
        lon=120.1630,
        lat=30.2448,
        rules={"predict_full": None},
    )
    r = ingest([{"device": "BIN-Q", "time": NOW.isoformat(), "value": 100}])
    assert r.cases_filed == 0 and r.warnings_opened == 1  # predict_high only


@pytest.mark.django_db
def test_retention_deletes_old_readings_only(bin_device, settings):
    settings.GRIDCITY_SENSOR_RETENTION_DAYS = 30
    ingest(fill(bin_device, [1], end=NOW - timedelta(days=40)) + fill(bin_device, [2]))
    assert purge_old_readings(now=NOW) == 1
    assert list(Reading.objects.values_list("value", flat=True)) == [2.0]
