"""Sensor ingestion: readings per second with the rules evaluated, HTTP batch and MQTT, on
SQLite and PostgreSQL, against a plain COPY (PostgreSQL) or executemany (SQLite) of the same
rows into a table of the same shape with no rules.

For each database: a fresh database, `migrate`, the small test city, 200 bin sensors. Then
- HTTP: POST /api/sensors/readings through Django's test client (the whole request stack in
  process, no sockets), batches of 5,000 readings (200 devices × 25 minutes);
- MQTT: the same number of readings published to the local Mosquitto as messages of 500
  readings (QoS 1), consumed by the real subscriber (manual acks after commit), timed from
  the first publish to the last stored reading;
- plain: the same rows written with no validation and no rules.
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

# MQTT
from gridcity.sensors.mqtt import Ingestor
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
rows = readings(MINUTES)
prefix = f"gcbench-{uuid.uuid4().hex[:8]}"
ing = Ingestor(client_id=f"{prefix}-in", prefix=prefix, session_expiry_s=60, batch_size=20, flush_s=0.05)
stop = threading.Event()
th = threading.Thread(target=ing.run, kwargs={"stop": stop}, daemon=True)
th.start()
assert ing.subscribed.wait(10)
pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{prefix}-pub")
pub.max_inflight_messages_set(1000)
pub.connect("127.0.0.1", 1883)
pub.loop_start()
# Mosquitto queues at most max_queued_messages (default 1000) per subscriber and drops the
# rest, QoS 1 or not: the publisher keeps at most 500 messages ahead of the subscriber.
MSG = 100  # readings per message: one device, 100 minutes
msgs = []
for k, c in enumerate(codes):
    mine = [{k2: it[k2] for k2 in ("time", "metric", "value")} for it in rows[k::N_DEVICES]]
    for i in range(0, len(mine), MSG):
        msgs.append((c, json.dumps(mine[i:i + MSG])))
msgs.sort(key=lambda m: m[1][:40])
t0 = time.perf_counter()
for n, (dev, payload) in enumerate(msgs, start=1):
    while n - ing.stats.messages > 500:
        time.sleep(0.002)
    pub.publish(f"{prefix}/devices/{dev}/readings", payload, qos=1)
deadline = time.time() + 300
while ing.stats.stored < len(rows) and time.time() < deadline:
    time.sleep(0.05)
out["mqtt_s"] = time.perf_counter() - t0
out["mqtt_stored"] = ing.stats.stored
stop.set(); th.join(10); pub.loop_stop(); pub.disconnect()

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


def _report(name: str, r: dict) -> None:
    n = r["n"]
    http, mqtt_, plain = n / r["http_s"], n / r["mqtt_s"], n / r["plain_s"]
    kind = "COPY" if r["vendor"] == "postgresql" else "executemany"
    print(f"  {name}: {n:,} readings from {N_DEVICES} bins, rules on every batch")
    print(
        f"    HTTP batch (5,000/request): {http:>10,.0f} readings/s  ({http / plain:.1%} of plain)"
    )
    print(
        f"    MQTT (QoS 1, ack after commit): {mqtt_:>6,.0f} readings/s  ({mqtt_ / plain:.1%} of plain)"
        + ("" if r["mqtt_stored"] >= n else f"  — only {r['mqtt_stored']:,} stored in time")
    )
    print(f"    plain {kind}, no rules: {plain:>10,.0f} readings/s")
    print(f"    warnings opened in the HTTP phase: {r['http_warnings']}")


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
            _report("PostgreSQL", pg)
            target = pg["n"] / pg["http_s"]
            print(
                f"    target ≥ 50,000 readings/s batched on PostgreSQL: {'met' if target >= 50_000 else 'NOT met'}"
            )


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridcity.settings")
    run()
