"""Readings through the real Mosquitto broker on 127.0.0.1:1883.

Every test uses its own topic prefix and client ids so parallel workers do not see each
other's messages. The broker-restart test takes an exclusive lock; the others a shared one.
"""

import fcntl
import json
import os
import signal
import subprocess
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from django.db import connections
from django.utils import timezone
from paho.mqtt.enums import CallbackAPIVersion

from gridcity.sensors.actions import do_register_device
from gridcity.sensors.models import Reading, SensorWarning
from gridcity.sensors.mqtt import Ingestor
from gridcity.testing import build_city

HOST, PORT = "127.0.0.1", 1883
LOCK = Path("/tmp/gridcity-mosquitto-tests.lock")
MOSQUITTO = ["mosquitto", "-d", "-c", "/etc/mosquitto/mosquitto.conf"]


def broker_up() -> bool:
    import socket

    try:
        socket.create_connection((HOST, PORT), timeout=1).close()
        return True
    except OSError:
        return False


@contextmanager
def broker_lock(exclusive: bool):
    with open(LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture
def broker():
    if not broker_up():
        pytest.skip(
            "Mosquitto is not running on 127.0.0.1:1883 (mosquitto -d -c /etc/mosquitto/mosquitto.conf)"
        )


def publisher(client_id: str) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    c.reconnect_delay_set(min_delay=1, max_delay=2)
    c.connect(HOST, PORT)
    c.loop_start()
    return c


def run_ingestor(ing: Ingestor, stop: threading.Event) -> threading.Thread:
    def body():
        try:
            ing.run(stop=stop)
        finally:
            connections.close_all()

    t = threading.Thread(target=body, daemon=True)
    t.start()
    assert ing.subscribed.wait(10), "subscriber did not subscribe"
    return t


def wait_for(pred, seconds=20.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


def forget_session(client_id: str) -> None:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    c.connect(HOST, PORT, clean_start=True)
    c.disconnect()


@pytest.mark.django_db(transaction=True)
def test_readings_published_to_the_broker_are_stored_and_a_rule_fires(broker):
    build_city()
    do_register_device("BIN-MQ", "bin_fill", acting_user=None, lon=120.1630, lat=30.2448)
    prefix = f"gctest-{uuid.uuid4().hex[:8]}"
    ing = Ingestor(client_id=f"{prefix}-ingest", prefix=prefix, session_expiry_s=120, flush_s=0.1)
    stop = threading.Event()
    now = timezone.now()
    with broker_lock(exclusive=False):
        t = run_ingestor(ing, stop)
        pub = publisher(f"{prefix}-pub")
        try:
            topic = f"{prefix}/devices/BIN-MQ/readings"
            values = [71.5, 73.7, 75.8, 78]
            for i, v in enumerate(values[:3]):
                at = now - timedelta(minutes=10 * (3 - i))
                pub.publish(
                    topic, json.dumps({"time": at.isoformat(), "metric": "fill", "value": v}), qos=1
                ).wait_for_publish(5)
            # The last one as a list, plus a bad reading that is rejected, not fatal.
            batch = [
                {"time": now.isoformat(), "metric": "fill", "value": 78},
                {"time": now.isoformat(), "metric": "fill", "value": -99999},
            ]
            pub.publish(topic, json.dumps(batch), qos=1).wait_for_publish(5)
            pub.publish(topic, b"{not json", qos=1).wait_for_publish(5)
            # Wait on the subscriber's own counts: SQLite's shared in-memory test database
            # does not like a second connection reading while the subscriber writes.
            assert wait_for(lambda: ing.stats.messages == 5 and ing.stats.stored == 4)
        finally:
            stop.set()
            t.join(10)
            pub.loop_stop()
            pub.disconnect()
            forget_session(f"{prefix}-ingest")
            forget_session(f"{prefix}-pub")
    assert ing.stats.rejected == 2 and ing.stats.cases_filed == 1
    assert Reading.objects.filter(device__code="BIN-MQ").count() == 4
    w = SensorWarning.objects.get(rule="predict_full")
    assert w.case is not None and w.case.category.code == "06042"


def restart_broker() -> None:
    pid = int(Path("/run/mosquitto/mosquitto.pid").read_text().strip())
    os.kill(pid, signal.SIGTERM)  # a clean stop: Mosquitto saves its persistence file
    assert wait_for(lambda: not broker_up(), 10)
    for _ in range(50):
        try:
            os.kill(pid, 0)
            time.sleep(0.1)
        except ProcessLookupError:
            break
    subprocess.run(MOSQUITTO, check=True)
    assert wait_for(broker_up, 10)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_broker_restart_during_ingestion_loses_no_acknowledged_reading(broker):
    if not Path("/run/mosquitto/mosquitto.pid").exists():
        pytest.skip("no Mosquitto pid file to restart the broker with")
    build_city()
    do_register_device("BIN-RS", "bin_fill", acting_user=None, lon=120.1630, lat=30.2448)
    prefix = f"gctest-{uuid.uuid4().hex[:8]}"
    ing = Ingestor(client_id=f"{prefix}-ingest", prefix=prefix, session_expiry_s=300, flush_s=0.05)
    stop = threading.Event()
    start = timezone.now() - timedelta(hours=2)
    acked: list[int] = []
    with broker_lock(exclusive=True):
        t = run_ingestor(ing, stop)
        pub = publisher(f"{prefix}-pub")
        pub.on_publish = lambda c, u, mid, rc, props: acked.append(mid)
        infos = {}
        try:
            topic = f"{prefix}/devices/BIN-RS/readings"
            for i in range(600):
                at = start + timedelta(seconds=i)
                info = pub.publish(
                    topic,
                    json.dumps({"time": at.isoformat(), "metric": "fill", "value": i % 50}),
                    qos=1,
                )
                infos[info.mid] = i
                if i == 300:
                    restart_broker()
                time.sleep(0.002)
            # The publisher resends what was in flight once it reconnects.
            assert wait_for(lambda: ing.connected.is_set(), 20)
            assert wait_for(lambda: len(acked) >= 600, 30), f"only {len(acked)} acknowledged"
            acked_times = {start + timedelta(seconds=infos[m]) for m in acked if m in infos}
            assert wait_for(lambda: ing.stats.stored >= len(acked_times), 30)
        finally:
            stop.set()
            t.join(10)
            pub.loop_stop()
            pub.disconnect()
            if broker_up():
                forget_session(f"{prefix}-ingest")
                forget_session(f"{prefix}-pub")
    stored = set(Reading.objects.filter(device__code="BIN-RS").values_list("time", flat=True))
    assert acked_times <= stored, f"lost {len(acked_times - stored)} acknowledged readings"
