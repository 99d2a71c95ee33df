"""Sensor ingestion: readings per second with the rules evaluated, HTTP batch and MQTT, on
SQLite and PostgreSQL, against a plain COPY (PostgreSQL) or executemany (SQLite) of the same
rows into a table of the same shape with no rules.

For each database: a fresh database, `migrate`, the small test city, 200 bin sensors. Then
- HTTP: POST /api/sensors/readings through Django's test client (the whole request stack in
  process, no sockets), batches of 5,000 readings (200 devices × 25 minutes);
- MQTT: the same number of readings published to the local Mosquitto as messages of 100
  readings (QoS 1), consumed by the real `gridcity ingest-mqtt --workers N` (N = 1, then 2
  processes sharing one subscription; acks after commit), timed from the first publish to
  the last stored reading;
- plain: the same rows written with no validation and no rules (the ceiling; on PostgreSQL
  one COPY into an unpartitioned table of the same shape).
Each run is one child process so the settings (database) are fresh.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("GRIDCITY_BENCH_PG", "postgres://postgres@127.0.0.1:5432/postgres")
PG_BENCH_DB = "gridcity_bench_sensors"
N_DEVICES = 200
MINUTES = int(os.environ.get("GRIDCITY_BENCH_SENSOR_MINUTES", "500"))  # readings per device

CHILD = r"""
import json, os, sys, threading, time, uuid
from datetime import UTC, datetime, timedelta
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.db import connection, transaction
from django.test import Client
from gridcity.testing import build_city, WEST, EAST, SOUTH, NORTH
from gridcity.accounts.actions import do_create_token
from gridcity.sensors.actions import do_register_device
from gridcity.sensors.models import Reading

N_DEVICES, MINUTES = int(sys.argv[1]), int(sys.argv[2])
city = build_city()
token = do_create_token(city.people["dispatcher"])
for i in range(N_DEVICES):
    lon = WEST + (EAST - WEST) * ((i % 20) + 0.5) / 20
    lat = SOUTH + (NORTH - SOUTH) * ((i // 20) + 0.5) / 10
    do_register_device(f"B{i:04d}", "bin_fill", acting_user=None, lon=lon, lat=lat, interval_s=60)
codes = [f"B{i:04d}" for i in range(N_DEVICES)]
start = datetime.now(UTC) - timedelta(days=3)

def readings(offset_min):
    # A fill that climbs 0.2 %/min and is emptied every 400 minutes: some bins cross the
    # warning levels, so warnings open and clear (no cases: filing is measured elsewhere).
    out = []
    for m in range(MINUTES):
        t = (start + timedelta(minutes=offset_min + m)).isoformat()
        for k, c in enumerate(codes):
            out.append({"device": c, "time": t, "metric": "fill",
                        "value": round(((m + 7 * k) % 400) * 0.25, 1)})
    return out

from django.conf import settings
settings.GRIDCITY_SENSOR_RULES = {"bin_fill": {"predict_full": {"file_case": False}}}
out = {"vendor": connection.vendor, "n": N_DEVICES * MINUTES}

# HTTP
rows = readings(0)
client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
BATCH = N_DEVICES * 25
t0 = time.perf_counter()
warned = 0
for i in range(0, len(rows), BATCH):
    r = client.post("/api/sensors/readings", json.dumps(rows[i:i + BATCH]), content_type="application/json")
    assert r.status_code == 200, r.content[:300]
    warned += r.json()["warnings_opened"]
out["http_s"] = time.perf_counter() - t0
out["http_warnings"] = warned
assert Reading.objects.count() == len(rows)

# MQTT: the real `gridcity ingest-mqtt --workers N` (separate processes sharing one
# subscription), timed from the first publish to the last reading stored.
import subprocess
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

def stored_count(exact=False):
    # Polled every few milliseconds: a count(*) of the growing table would itself load the
    # database. The id sequence (PostgreSQL) or max(id) (SQLite) follows the inserts closely;
    # the end of a run is confirmed with an exact count.
    with connection.cursor() as cur:
        if exact:
            cur.execute("SELECT count(*) FROM sensors_reading")
        elif connection.vendor == "postgresql":
            cur.execute("SELECT last_value FROM " + SEQ)
        else:
            cur.execute("SELECT coalesce(max(id), 0) FROM sensors_reading")
        return cur.fetchone()[0]

SEQ = ""
if connection.vendor == "postgresql":
    with connection.cursor() as cur:
        cur.execute("SELECT pg_get_serial_sequence('sensors_reading', 'id')")
        SEQ = cur.fetchone()[0]

def mqtt_run(workers, offset_min):
    rows = readings(offset_min)
    prefix = f"gcbench-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from gridcity.cli import main; main()", "ingest-mqtt",
         f"--workers={workers}", f"--client-id={prefix}-in", f"--shared-group={prefix}",
         f"--prefix={prefix}", "--no-cases"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{prefix}-pub")
    pub.max_inflight_messages_set(1000)
    pub.connect("127.0.0.1", 1883)
    pub.loop_start()
    try:
        # The group exists once a worker has subscribed: probe until one probe is stored.
        base = stored_count()
        for i in range(600):
            pub.publish(f"{prefix}/devices/{codes[0]}/readings", json.dumps(
                {"time": (start - timedelta(days=1, seconds=i)).isoformat(), "metric": "probe", "value": 1}), qos=1)
            time.sleep(0.1)
            if stored_count() > base:
                break
        time.sleep(1)  # the other workers join
        base = stored_count()
        exact_before = stored_count(exact=True)
        MSG = 100  # readings per message: one device, 100 minutes
        msgs = []
        for k, c in enumerate(codes):
            mine = [{k2: it[k2] for k2 in ("time", "metric", "value")} for it in rows[k::N_DEVICES]]
            for i in range(0, len(mine), MSG):
                msgs.append((c, json.dumps(mine[i:i + MSG])))
        msgs.sort(key=lambda m: m[1][:40])
        # Mosquitto queues at most max_queued_messages (default 1000) per subscriber and drops
        # the rest, QoS 1 or not: the publisher keeps at most 400 messages per worker ahead.
        ahead = 400 * workers * MSG
        t0 = time.perf_counter()
        done = base
        for n, (dev, payload) in enumerate(msgs, start=1):
            while n * MSG - (done - base) > ahead:
                time.sleep(0.01)
                done = stored_count()
            pub.publish(f"{prefix}/devices/{dev}/readings", payload, qos=1)
        deadline = time.time() + 300
        while done - base < len(rows) and time.time() < deadline:
            time.sleep(0.02)
            done = stored_count()
        base_exact = exact_before
        while stored_count(exact=True) - base_exact < len(rows) and time.time() < deadline:
            time.sleep(0.02)
        elapsed = time.perf_counter() - t0
        done = base + stored_count(exact=True) - base_exact
    finally:
        proc.terminate()
        proc.wait(30)
        pub.loop_stop()
        pub.disconnect()
    return elapsed, done - base

out["mqtt1_s"], out["mqtt1_stored"] = mqtt_run(1, MINUTES)
if connection.vendor == "postgresql":
    # SQLite has one writer at a time: a second worker only waits for the lock.
    out["mqtt2_s"], out["mqtt2_stored"] = mqtt_run(2, 2 * MINUTES)
rows = readings(2 * MINUTES)

# Plain: the same rows, same table shape, no validation, no rules.
plain = [(1 + i % N_DEVICES, "fill", datetime.fromisoformat(r["time"]), r["value"]) for i, r in enumerate(rows)]
with connection.cursor() as cur:
    if connection.vendor == "postgresql":
        cur.execute("CREATE TABLE plain_reading (LIKE sensors_reading INCLUDING ALL)")
        raw = cur.cursor
        t0 = time.perf_counter()
        with transaction.atomic():
            with raw.copy("COPY plain_reading (device_id, metric, time, value) FROM STDIN") as cp:
                for row in plain:
                    cp.write_row(row)
        out["plain_s"] = time.perf_counter() - t0
    else:
        cur.execute("CREATE TABLE plain_reading AS SELECT * FROM sensors_reading WHERE 0")
        cur.execute("CREATE UNIQUE INDEX plain_u ON plain_reading (device_id, metric, time)")
        adapt = connection.ops.adapt_datetimefield_value
        t0 = time.perf_counter()
        with transaction.atomic():
            cur.executemany("INSERT INTO plain_reading (device_id, metric, time, value) VALUES (%s, %s, %s, %s)",
                            [(d, m, adapt(t), v) for d, m, t, v in plain])
        out["plain_s"] = time.perf_counter() - t0
print("RESULT " + json.dumps(out))
"""


def _child(env: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(N_DEVICES), str(MINUTES)],
        cwd=REPO,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "gridcity.settings",
            "GRIDCITY_DEBUG": "0",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=1800,
    )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(proc.stderr[-3000:])


def _pg_fresh() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB}")
            conn.execute(f"CREATE DATABASE {PG_BENCH_DB}")
    except Exception as exc:  # noqa: BLE001 - a missing server skips the PostgreSQL half
        print(f"  PostgreSQL unavailable ({exc}); skipped")
        return None
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + PG_BENCH_DB


TARGET = 50_000


def _verdict(row: str, rate: float) -> str:
    # Recorded for the closing table of `python -m bench` (bench/verdict.py).
    try:
        from bench.verdict import record
    except ImportError:  # run as a script from elsewhere
        return "met" if rate >= TARGET else "MISSED"
    return record(
        "sensors", f"PostgreSQL {row}", f"{rate:,.0f} readings/s", f"≥ {TARGET:,}/s", rate >= TARGET
    )


def _report(name: str, r: dict) -> None:
    n = r["n"]
    plain = n / r["plain_s"]
    kind = "COPY" if r["vendor"] == "postgresql" else "executemany"
    print(f"  {name}: {n:,} readings per run from {N_DEVICES} bins, rules on every batch")
    rates = {"HTTP batch (5,000/request)": n / r["http_s"]}
    workers = (1, 2) if "mqtt2_s" in r else (1,)
    for w in workers:
        rates[f"MQTT, {w} worker{'s' if w > 1 else ''} (QoS 1, ack after commit)"] = (
            r[f"mqtt{w}_stored"] / r[f"mqtt{w}_s"]
        )
    for label, rate in rates.items():
        print(
            f"    {label:<42} {rate:>9,.0f} readings/s  ({rate / plain:.0%} of plain)"
            + (
                f"  target ≥ {TARGET:,}/s: {_verdict(label.split(' (')[0], rate)}"
                if r["vendor"] == "postgresql"
                else ""
            )
        )
    for w in workers:
        if r[f"mqtt{w}_stored"] < n:
            print(f"    (MQTT {w}: only {r[f'mqtt{w}_stored']:,} of {n:,} stored in time)")
    if len(workers) == 2:
        one, two = (r[f"mqtt{w}_stored"] / r[f"mqtt{w}_s"] for w in workers)
        print(f"    MQTT 2 workers / 1 worker: {two / one:.2f}×")
    print(f"    plain {kind}, no rules (ceiling):{plain:>17,.0f} readings/s")
    print(f"    warnings opened in the HTTP phase: {r['http_warnings']}")
    print(f"    load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


def run() -> None:
    print("Sensor ingestion (bench/sensors.py)")
    with tempfile.TemporaryDirectory(prefix="gridcity-bench-sensors-") as tmp:
        sqlite = _child(
            {"GRIDCITY_DATA_DIR": tmp, "GRIDCITY_DATABASE_URL": f"sqlite:///{tmp}/b.sqlite3"}
        )
        _report("SQLite", sqlite)
        url = _pg_fresh()
        if url:
            pg = _child({"GRIDCITY_DATA_DIR": tmp, "GRIDCITY_DATABASE_URL": url})
            _report("PostgreSQL (monthly partitions)", pg)


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridcity.settings")
    run()
