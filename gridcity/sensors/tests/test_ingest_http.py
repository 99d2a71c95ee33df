"""POST /api/sensors/readings: every reading validated, the good ones kept, the bad ones
reported with a reason."""

from datetime import timedelta

import pytest
from django.utils import timezone

from gridcity.sensors.actions import do_register_device
from gridcity.sensors.models import Reading


def iso(minutes_ago=0):
    return (timezone.now() - timedelta(minutes=minutes_ago)).isoformat()


@pytest.mark.django_db
def test_it_stores_the_good_half_and_reports_the_bad_half(post_readings, bin_device):
    good = [
        {"device": "BIN-001", "time": iso(30 - i), "metric": "fill", "value": 40 + i}
        for i in range(5)
    ]
    bad = [
        {"device": "BIN-404", "time": iso(5), "metric": "fill", "value": 50},
        {"device": "BIN-001", "time": "昨天下午", "metric": "fill", "value": 50},
        {"device": "BIN-001", "time": iso(-60), "metric": "fill", "value": 50},
        {"device": "BIN-001", "time": iso(3), "metric": "fill", "value": "满了"},
        {"device": "BIN-001", "time": iso(2), "metric": "fill", "value": -99999},
    ]
    r = post_readings(good[:3] + bad + good[3:])
    assert r.status_code == 207, r.content
    body = r.json()
    assert body["stored"] == 5 and body["received"] == 10
    reasons = {x["index"]: x["reason"] for x in body["rejected"]}
    assert set(reasons) == {3, 4, 5, 6, 7}
    assert "未登记的设备" in reasons[3]
    assert "时间无效" in reasons[4]
    assert "晚于当前时间" in reasons[5]
    assert "不是数字" in reasons[6]
    assert "哨兵值" in reasons[7]
    assert Reading.objects.filter(device=bin_device).count() == 5


@pytest.mark.django_db
def test_malformed_json_is_a_400_in_chinese(post_readings, bin_device):
    r = post_readings(None, raw='[{"device": "BIN-001", "time": ')
    assert r.status_code == 400
    assert r.json()["error"] == "请求体不是有效的 JSON"
    r = post_readings({"what": 1})
    assert r.status_code == 422 and "读数数组" in r.json()["error"]
    assert Reading.objects.count() == 0


@pytest.mark.django_db
def test_a_batch_of_only_unknown_devices_is_a_422(post_readings, city):
    r = post_readings([{"device": "GHOST", "time": iso(), "metric": "fill", "value": 1}])
    assert r.status_code == 422
    assert "未登记的设备" in r.json()["error"]


@pytest.mark.django_db
def test_sentinels_of_the_chicago_sensors_are_rejected(post_readings, city):
    do_register_device("CHI-OHIO", "water_level", acting_user=None)
    r = post_readings(
        [
            {"device": "CHI-OHIO", "time": iso(), "metric": "level", "value": "-99999"},
            {"device": "CHI-OHIO", "time": iso(), "metric": "turbidity", "value": -9999.0},
            {"device": "CHI-OHIO", "time": iso(), "metric": "level", "value": 1.2},
        ]
    )
    assert r.status_code == 207
    assert [x["index"] for x in r.json()["rejected"]] == [0, 1]


@pytest.mark.django_db
def test_duplicates_are_stored_once_and_out_of_order_is_fine(post_readings, bin_device):
    batch = [
        {"device": "BIN-001", "time": iso(m), "metric": "fill", "value": 50} for m in (5, 20, 10)
    ]
    assert post_readings(batch + batch[:1]).json()["stored"] == 3
    again = post_readings(batch).json()
    assert again["stored"] == 0 and again["duplicates"] == 3
    assert Reading.objects.count() == 3


@pytest.mark.django_db
def test_calibration_is_applied(post_readings, city):
    do_register_device(
        "TILT-1", "manhole_tilt", acting_user=None, calibration_scale=0.5, calibration_offset=-1
    )
    post_readings([{"device": "TILT-1", "time": iso(), "value": 10}])
    r = Reading.objects.get()
    assert (r.metric, r.value) == ("tilt", 4.0)


@pytest.mark.django_db
def test_a_device_token_may_report_only_its_own_device(post_readings, bin_device):
    do_register_device("BIN-002", "bin_fill", acting_user=None)
    r = post_readings(
        [
            {"time": iso(), "value": 30},
            {"device": "BIN-002", "time": iso(), "value": 30},
        ],
        device_token=bin_device.raw_token,
    )
    assert r.status_code == 207
    assert "只能上报本设备" in r.json()["rejected"][0]["reason"]
    assert Reading.objects.get().device_id == bin_device.pk


@pytest.mark.django_db
@pytest.mark.parametrize("who, status", [(None, 401), ("inspector", 403), ("sanitation", 403)])
def test_only_devices_and_centre_staff_may_post(post_readings, bin_device, who, status):
    r = post_readings([{"device": "BIN-001", "time": iso(), "value": 1}], who=who)
    assert r.status_code == status
    assert Reading.objects.count() == 0


@pytest.mark.django_db
def test_a_wrong_device_token_is_a_401(post_readings, bin_device):
    r = post_readings([{"time": iso(), "value": 1}], device_token="gc_wrong")
    assert r.status_code == 401


@pytest.mark.django_db
def test_staff_register_a_device_and_see_its_token_once(client, city):
    client.force_login(city.people["dispatcher"])
    r = client.post(
        "/api/sensors/devices",
        {"code": "MH-7", "kind": "manhole_tilt", "lon": 120.1630, "lat": 30.2448},
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["token"].startswith("gc_") and body["cell"]
    listed = client.get("/api/sensors/devices").json()
    assert listed[0]["code"] == "MH-7" and "token" not in listed[0]
