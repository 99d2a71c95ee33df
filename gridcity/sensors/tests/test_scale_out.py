"""Readings at a big city's scale: monthly partitions on PostgreSQL, retention by dropping a
month, duplicates stored once, and several ingest workers sharing one MQTT subscription
(real Mosquitto on 127.0.0.1:1883) without losing an acknowledged reading when one is killed."""

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from gridcity.sensors import partitions
from gridcity.sensors.actions import do_ingest_readings, do_register_device, purge_old_readings
from gridcity.sensors.models import Reading
from gridcity.sensors.mqtt import Ingestor
from gridcity.sensors.tests.test_mqtt import (
    broker_lock,
    broker_up,
    forget_session,
    publisher,
    restart_broker,
    run_ingestor,
    wait_for,
)
from gridcity.testing import MID_LAT, MID_LON, build_city

REPO = Path(__file__).resolve().parents[3]

pg_only = pytest.mark.skipif(
    os.environ.get("GRIDCITY_DATABASE_URL", "").split(":")[0] not in ("postgres", "postgresql"),
    reason="partitions and concurrent ingest workers need PostgreSQL",
)


def register(*codes):
    for code in codes:
        do_register_device(code, "generic", acting_user=None, lon=MID_LON, lat=MID_LAT)


def reading(code, t, value=1.0):
    return {"device": code, "time": t.isoformat(), "metric": "value", "value": value}


@pytest.fixture
def mqtt_broker():
    if not broker_up():
        pytest.skip("Mosquitto is not running on 127.0.0.1:1883")


# --- partitions and retention ---------------------------------------------------------------


@pg_only
@pytest.mark.django_db
def test_readings_land_in_monthly_partitions_made_on_demand_and_retention_drops_a_month():
    build_city()
    register("P-1")
    now = datetime(2026, 5, 6, 7, 30, tzinfo=UTC)
    old = now - timedelta(days=70)  # late February
    ancient = datetime(2019, 7, 14, 12, 0, tzinfo=UTC)  # a replay of a city's history
    r = do_ingest_readings(
        [reading("P-1", ancient), reading("P-1", old), reading("P-1", now)], now=now
    )
    assert r.stored == 3 and partitions.is_partitioned()
    have = partitions.existing_partitions()
    for ym in [(2019, 7), (2026, 2), (2026, 5)]:
        assert ym in have, f"no partition for {ym}"
    with connection.cursor() as cur:
        cur.execute("SELECT tableoid::regclass::text FROM sensors_reading ORDER BY time")
        assert [row[0] for row in cur.fetchall()] == [
            "sensors_reading_p201907",
            "sensors_reading_p202602",
            "sensors_reading_p202605",
        ]

    # 60 days back from 6 May is 7 March: February and everything before are past it; March,
    # which straddles the cutoff, stays until its last day is.
    assert purge_old_readings(days=60, now=now) == 2
    have = partitions.existing_partitions()
    assert (2019, 7) not in have and (2026, 2) not in have and (2026, 5) in have
    assert list(Reading.objects.values_list("time", flat=True)) == [now]


@pg_only
@pytest.mark.django_db
def test_the_hourly_job_makes_the_coming_months_ahead():
    from gridcity.sensors.tasks import purge_readings_job

    build_city()
    message = purge_readings_job(days=90)
    this = partitions.month_of(timezone.now())
    following = partitions.next_month(*this)
    have = partitions.existing_partitions()
    assert this in have and following in have and partitions.next_month(*following) in have
    assert "新建分区" in message
    # Idempotent: a second run (another node's scheduler) creates nothing more.
    assert partitions.ensure_ahead(now=timezone.now()) == []


@pytest.mark.django_db
def test_sqlite_and_postgresql_store_a_redelivered_batch_once():
    build_city()
    register("D-1", "D-2")
    t0 = timezone.now() - timedelta(hours=1)
    batch = [reading(c, t0 + timedelta(minutes=i), i) for c in ("D-1", "D-2") for i in range(50)]
    assert do_ingest_readings(batch).stored == 100
    # The same batch again (a redelivery after a worker died before its ack), then half old
    # and half new: only the new readings are stored, and the first values are kept.
    again = do_ingest_readings([{**it, "value": 999} for it in batch])
    assert again.stored == 0 and again.duplicates == 100
    mixed = batch[:50] + [reading("D-1", t0 + timedelta(minutes=50 + i), 7) for i in range(10)]
    assert do_ingest_readings(mixed).stored == 10
    assert Reading.objects.count() == 110
    assert not Reading.objects.filter(value=999).exists()


# --- several workers on one shared subscription ---------------------------------------------


def publish_all(pub, prefix, messages, qos=1):
    infos = [
        pub.publish(f"{prefix}/devices/{code}/readings", json.dumps(body), qos=qos)
        for code, body in messages
    ]
    for info in infos:
        info.wait_for_publish(20)
    return infos


def stream(codes, n_per_device, start, per_message=5):
    """Messages of `per_message` readings per device, interleaved across devices."""
    out = []
    for i in range(0, n_per_device, per_message):
        for code in codes:
            out.append(
                (
                    code,
                    [
                        {"time": (start + timedelta(seconds=j)).isoformat(), "value": j % 90}
                        for j in range(i, min(i + per_message, n_per_device))
                    ],
                )
            )
    return out


@pg_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_on_one_shared_subscription_split_the_messages_and_store_each_once(mqtt_broker):
    build_city()
    codes = [f"S-{i}" for i in range(8)]
    register(*codes)
    prefix = f"gctest-{uuid.uuid4().hex[:8]}"
    group = f"g{uuid.uuid4().hex[:6]}"
    workers = [
        Ingestor(
            client_id=f"{prefix}-w{n}",
            prefix=prefix,
            shared_group=group,
            session_expiry_s=120,
            flush_s=0.05,
            file_cases=False,
        )
        for n in (1, 2)
    ]
    stops = [threading.Event(), threading.Event()]
    messages = stream(codes, 250, timezone.now() - timedelta(hours=2))  # 400 messages
    with broker_lock(exclusive=False):
        threads = [run_ingestor(w, s) for w, s in zip(workers, stops, strict=True)]
        pub = publisher(f"{prefix}-pub")
        try:
            publish_all(pub, prefix, messages)
            assert wait_for(lambda: sum(w.stats.messages for w in workers) >= 400, 60)
        finally:
            for s in stops:
                s.set()
            for t in threads:
                t.join(10)
            pub.loop_stop()
            pub.disconnect()
            for name in (f"{prefix}-w1", f"{prefix}-w2", f"{prefix}-pub"):
                forget_session(name)
    a, b = (w.stats for w in workers)
    assert a.messages + b.messages == 400, "a message went to both workers or to none"
    assert a.messages > 50 and b.messages > 50, (a.messages, b.messages)
    assert a.stored + b.stored == 2000 == Reading.objects.filter(device__code__in=codes).count()


def worker_process(prefix, client_id, group) -> subprocess.Popen:
    """The real `gridcity ingest-mqtt`, on this test's database."""
    s = connection.settings_dict
    url = f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from gridcity.cli import main; main()",
            "ingest-mqtt",
            "--workers=1",
            f"--client-id={client_id}",
            f"--shared-group={group}",
            f"--prefix={prefix}",
            "--batch=20",
            "--no-cases",
        ],
        cwd=REPO,
        env={
            **os.environ,
            "GRIDCITY_DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "gridcity.settings",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stored(codes) -> int:
    return Reading.objects.filter(device__code__in=codes).count()


@pg_only
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_stream_loses_no_acknowledged_reading(mqtt_broker):
    build_city()
    codes = [f"K-{i}" for i in range(6)]
    register(*codes, "K-probe")
    prefix = f"gctest-{uuid.uuid4().hex[:8]}"
    group = f"g{uuid.uuid4().hex[:6]}"
    ids = [f"{prefix}-w1", f"{prefix}-w2"]
    # 600 messages of 5 readings: under Mosquitto's default queue of 1,000 per session.
    messages = stream(codes, 500, datetime(2026, 3, 31, 23, 55, tzinfo=UTC))
    total = len(messages) * 5
    procs = []
    with broker_lock(exclusive=False):
        try:
            procs = [worker_process(prefix, cid, group) for cid in ids]
            pub = publisher(f"{prefix}-pub")
            # A group exists once a member has subscribed; before that a message has nowhere
            # to go. Probe (on a device of its own) until one is stored.
            probe = datetime(2026, 3, 1, tzinfo=UTC)
            for i in range(120):
                at = (probe + timedelta(seconds=i)).isoformat()
                publish_all(pub, prefix, [("K-probe", [{"time": at, "value": 1}])])
                if wait_for(lambda: stored(["K-probe"]) > 0, 0.5):
                    break
            assert stored(["K-probe"]) > 0, "workers did not start"
            first, rest = messages[:300], messages[300:]
            publish_all(pub, prefix, first)
            assert wait_for(lambda: stored(codes) > 100, 60)
            procs[0].send_signal(signal.SIGKILL)  # mid-stream: batches in flight, unacked
            procs[0].wait(10)
            at_kill = stored(codes)
            publish_all(pub, prefix, rest)  # every one acknowledged by the broker (QoS 1)
            assert at_kill < total
            procs[0] = worker_process(prefix, ids[0], group)  # the supervisor's restart
            assert wait_for(lambda: stored(codes) == total, 120), (
                f"{stored(codes)} of {total} stored"
            )
        finally:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
                    p.wait(20)
            pub.loop_stop()
            pub.disconnect()
            for name in [*ids, f"{prefix}-pub"]:
                forget_session(name)
    # Once each: the unique index holds, and the count equals what was published.
    assert stored(codes) == total
    # The stream crossed a month boundary: both months' partitions hold readings.
    with connection.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT r.tableoid::regclass::text FROM sensors_reading r "
            "JOIN sensors_device d ON d.id = r.device_id WHERE d.code = ANY(%s)",
            [codes],
        )
        assert {r[0] for r in cur.fetchall()} == {
            "sensors_reading_p202603",
            "sensors_reading_p202604",
        }


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_shared_group_member_subscribes_again_after_a_broker_restart(mqtt_broker):
    if not Path("/run/mosquitto/mosquitto.pid").exists():
        pytest.skip("no Mosquitto pid file to restart the broker with")
    build_city()
    register("R-1")
    prefix = f"gctest-{uuid.uuid4().hex[:8]}"
    ing = Ingestor(
        client_id=f"{prefix}-w1",
        prefix=prefix,
        shared_group=f"g{uuid.uuid4().hex[:6]}",
        session_expiry_s=300,
        flush_s=0.05,
        file_cases=False,
    )
    stop = threading.Event()
    start = timezone.now() - timedelta(hours=1)
    with broker_lock(exclusive=True):
        t = run_ingestor(ing, stop)
        try:
            pub = publisher(f"{prefix}-pub")
            publish_all(pub, prefix, [("R-1", [{"time": start.isoformat(), "value": 1}])])
            assert wait_for(lambda: ing.stats.stored == 1)
            pub.loop_stop()
            pub.disconnect()
            ing.subscribed.clear()
            restart_broker()
            # Mosquitto 2.0 forgets shared subscriptions on restart: the member must
            # subscribe again when it reconnects into its resumed session.
            assert wait_for(lambda: ing.subscribed.is_set(), 30)
            pub = publisher(f"{prefix}-pub")
            later = [
                ("R-1", [{"time": (start + timedelta(minutes=i)).isoformat(), "value": i}])
                for i in range(1, 11)
            ]
            publish_all(pub, prefix, later)
            assert wait_for(lambda: ing.stats.stored == 11, 30), ing.stats.stored
        finally:
            stop.set()
            t.join(10)
            pub.loop_stop()
            pub.disconnect()
            if broker_up():
                forget_session(f"{prefix}-w1")
                forget_session(f"{prefix}-pub")
    assert Reading.objects.filter(device__code="R-1").count() == 11
