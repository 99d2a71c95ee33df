import json

import pytest

from gridcity.accounts.actions import do_create_token
from gridcity.sensors.actions import do_register_device
from gridcity.testing import MID_LAT, MID_LON, build_city

# A point inside the test city (湖滨街道).
BIN_POINT = (MID_LON - 0.003, MID_LAT + 0.0012)


@pytest.fixture
def city(db):
    return build_city()


@pytest.fixture
def bin_device(city):
    """A fill sensor on a bin that reports every 10 minutes."""
    device, token = do_register_device(
        "BIN-001",
        "bin_fill",
        acting_user=city.people["admin"],
        name="解放路12号垃圾箱",
        lon=BIN_POINT[0],
        lat=BIN_POINT[1],
        interval_s=600,
    )
    device.raw_token = token
    return device


@pytest.fixture
def post_readings(client, city):
    tokens = {}

    def call(body, *, who="dispatcher", device_token=None, raw=None):
        headers = {}
        if device_token:
            headers["HTTP_X_DEVICE_TOKEN"] = device_token
        elif who:
            if who not in tokens:
                tokens[who] = do_create_token(city.people[who])
            headers["HTTP_AUTHORIZATION"] = f"Bearer {tokens[who]}"
        data = raw if raw is not None else json.dumps(body)
        return client.post(
            "/api/sensors/readings", data, content_type="application/json", **headers
        )

    return call
