"""Open311 GeoReport v2 over HTTP on PostgreSQL, gunicorn 2 sync workers.

A throwaway database: `migrate` (which seeds the 404 national categories of GB/T 47678.5, the
services a city publishes), the test city of gridcity.testing with the demo filing standards,
then 50,000 closed cases (`GRIDCITY_BENCH_OPEN311_CASES`) with their report and close steps,
spread over the last 60 days so that the default window (90 days) holds them all. A partner key
is issued with a quota above what the bench sends (ApiKey.reads_per_minute /
writes_per_minute), as a city gives a partner's integration. The servers and the client are
those of bench/intake_http.py.

Phases, each after a warm-up: GET services.json; POST requests.json (distinct points, the
category's duplicate radius set to 0 so each is its own case); GET requests.json with no
parameters (the default page: the last 90 days, newest first); GET requests/{id}.json of random
closed cases. Each prints req/s, p50/p99 and, for lists, items/s, with met/MISSED against the
targets of issue #17. A profile in the set-up process counts the SQL statements of each request
and times it in-process (one core, no HTTP): figures that do not depend on the machine's load.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from bench.intake_http import (
    CONCURRENCY,
    PG_ADMIN_URL,
    drive,
    free_port,
    manage,
    pg_admin,
    start_server,
    stop_server,
)

PG_BENCH_DB = "gridcity_bench_open311"
N_CASES = int(os.environ.get("GRIDCITY_BENCH_OPEN311_CASES", "50000"))
N_REQUESTS = int(os.environ.get("GRIDCITY_BENCH_OPEN311_N", "2000"))
N_LIST = int(os.environ.get("GRIDCITY_BENCH_OPEN311_LIST_N", "300"))
WARMUP = 40
# The cache the rate limits, the keys' and the services' caches share. Redis, as an installation
# with more than one worker process runs it: the file cache's counter rewrites a file for every
# request (a rename: milliseconds on a busy disk). "files" runs the bench on the file cache.
# The database number is the bench's own: it is flushed first.
REDIS_URL = os.environ.get("GRIDCITY_BENCH_REDIS", "redis://127.0.0.1:6379/12")

# The other server of issue #17 (Django 3.2 + DRF, PostGIS, gunicorn 2 workers, same machine).
OTHER_LIST_ITEMS_PER_S = 113 * 100
TARGETS = {
    "services": ("req/s", 1000),
    "post": ("req/s", 870),
    "list": ("items/s", 2 * OTHER_LIST_ITEMS_PER_S),
    "detail": ("req/s", 1000),
}
LIST_P99_MS = 1000

SETUP = r"""
import json, random, time
from datetime import timedelta
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, connection
from django.test import Client
from django.utils import timezone
from gridcity.cases.models import Case, CaseEvent, Channel, Status
from gridcity.grids.models import Area, AreaLevel
from gridcity.open311.keys import do_create_api_key
from gridcity.open311.models import ApiKey
from gridcity.taxonomy.models import Category
from gridcity.testing import build_city, WEST, EAST, SOUTH, NORTH

N_CASES = int(__N_CASES__)
city = build_city()
key = do_create_api_key("bench-partner")
ApiKey.objects.filter(name="bench-partner").update(
    reads_per_minute=10_000_000, writes_per_minute=10_000_000
)
category = Category.objects.get(kind="matter", code="06042")
Category.objects.filter(pk=category.pk).update(duplicate_radius_m=0)
services = Category.objects.filter(is_active=True).count()

# Closed cases, written in bulk (the actions would take an hour): the rows and steps a closed
# case has, over the last 60 days.
rng = random.Random(311)
cells = list(Area.objects.filter(level=AreaLevel.CELL).values("pk", "path", "centroid_lon", "centroid_lat"))
cats = list(Category.objects.filter(is_active=True).values_list("pk", flat=True))
depts = list(city.departments.values())
now = timezone.now()
t = time.perf_counter()
for start in range(0, N_CASES, 5000):
    batch = []
    for i in range(start, min(start + 5000, N_CASES)):
        cell = rng.choice(cells)
        reported = now - timedelta(seconds=rng.uniform(3600, 60 * 86400))
        closed = reported + timedelta(hours=rng.uniform(2, 72))
        batch.append(Case(
            number=f"B{i:09d}", status=Status.CLOSED, channel=Channel.INSPECTOR,
            category_id=rng.choice(cats), description=f"历史案件 {i}", address=f"测试路{i % 500}号",
            lon=cell["centroid_lon"], lat=cell["centroid_lat"], cell_id=cell["pk"],
            area_path=cell["path"], department=rng.choice(depts), reported_at=reported,
            filed_at=reported, dispatched_at=reported, closed_at=closed,
            handle_deadline=reported + timedelta(days=2),
        ))
    made = Case.objects.bulk_create(batch)
    events = []
    for case in made:
        events.append(CaseEvent(case=case, action="report", to_status=Status.REPORTED, at=case.reported_at))
        events.append(CaseEvent(case=case, action="close", from_status=Status.CHECKED,
                                to_status=Status.CLOSED, at=case.closed_at, note="已处置完毕"))
    CaseEvent.objects.bulk_create(events)
load_s = time.perf_counter() - t
with connection.cursor() as cur:
    if connection.vendor == "postgresql":
        cur.execute("ANALYZE")

# One connection for the whole profile, as a worker keeps it (CONN_MAX_AGE).
request_started.disconnect(close_old_connections)
request_finished.disconnect(close_old_connections)
client = Client(HTTP_X_API_KEY=key)
def post(i):
    return client.post("/open311/v2/requests.json", {
        "service_code": "matter-06042", "lat": 30.2412 + (i % 50) * 1e-4,
        "long": 120.1605 + (i // 50) * 1e-4, "description": f"profile {i}"})
paths = {
    "services": lambda i: client.get("/open311/v2/services.json"),
    "post": post,
    "list": lambda i: client.get("/open311/v2/requests.json"),
    "detail": lambda i: client.get(f"/open311/v2/requests/B{rng.randrange(N_CASES):09d}.json"),
}
profile = {}
for name, call in paths.items():
    r = call(0)
    assert r.status_code == 200, (name, r.status_code, r.content[:300])
    # Counted as they run: the query log is cleared at each request's start.
    executed = []
    def count(execute, sql, params, many, context):
        executed.append(sql)
        return execute(sql, params, many, context)
    with connection.execute_wrapper(count):
        r = call(1)
    n = 60 if name != "list" else 20
    t0 = time.perf_counter()
    for i in range(n):
        call(2 + i)
    profile[name] = {
        "statements": len(executed),
        "ms": (time.perf_counter() - t0) / n * 1000,
        "bytes": len(r.content),
        "items": len(r.json()) if name == "list" else 1,
        "count_header": r.get("X-Result-Count"),
    }
print("SETUP " + json.dumps({"key": key, "services": services, "cases": N_CASES,
                             "load_s": load_s, "profile": profile}))
"""


def _requests(setup: dict):
    rng = random.Random(2025)
    headers = {"X-Api-Key": setup["key"]}
    n_cases = setup["cases"]
    points = [
        (30.2401 + rng.uniform(0, 0.007), 120.1601 + rng.uniform(0, 0.012))
        for _ in range(N_REQUESTS + WARMUP)
    ]
    ids = [f"B{rng.randrange(n_cases):09d}" for _ in range(N_REQUESTS + WARMUP)]
    form = {**headers, "Content-Type": "application/x-www-form-urlencoded"}

    def services(i):
        return "GET", "/open311/v2/services.json", None, headers, 200

    def post(i):
        lat, lon = points[i]
        body = f"service_code=matter-06042&lat={lat:.7f}&long={lon:.7f}&description=bench+{i}"
        return "POST", "/open311/v2/requests.json", body, form, 200

    def listing(i):
        return "GET", "/open311/v2/requests.json", None, headers, 200

    def detail(i):
        return "GET", f"/open311/v2/requests/{ids[i]}.json", None, headers, 200

    return {"services": services, "post": post, "list": listing, "detail": detail}


def _verdict(name: str, label: str, stats: dict, items: int) -> str:
    from bench.verdict import record

    unit, target = TARGETS[name]
    value = stats["rps"] * (items if unit == "items/s" else 1)
    ok = value >= target
    record("open311", label.strip(), f"{value:,.0f} {unit}", f">= {target:,} {unit}", ok)
    text = f"{value:,.0f} {unit} ({'met' if ok else 'MISSED'} ≥ {target:,})"
    if name == "list":
        p99_ok = stats["p99"] <= LIST_P99_MS
        record(
            "open311",
            f"{label.strip()} p99",
            f"{stats['p99']:.0f} ms",
            f"<= {LIST_P99_MS} ms",
            p99_ok,
        )
        text += f"; p99 {stats['p99']:.0f} ms ({'met' if p99_ok else 'MISSED'} ≤ {LIST_P99_MS})"
    return text


def run() -> dict:
    print(
        f"Open311 over HTTP, PostgreSQL: gunicorn 2 sync workers, {CONCURRENCY} client threads, "
        f"{N_REQUESTS} requests per phase ({N_LIST} for the list), {N_CASES:,} closed cases"
    )
    tmp = Path(tempfile.mkdtemp(prefix="gridcity-bench-open311-"))
    try:
        pg_admin(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
        pg_admin(f"CREATE DATABASE {PG_BENCH_DB}")
    except Exception as exc:  # no server, no rights: say so and go on
        print(f"  PostgreSQL: skipped ({exc})")
        return {}
    try:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "gridcity.settings",
            "GRIDCITY_DATA_DIR": str(tmp),
            "GRIDCITY_DEBUG": "0",
            "PYTHONUNBUFFERED": "1",
            "GRIDCITY_DATABASE_URL": PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_BENCH_DB}",
        }
        cache = "files"
        if REDIS_URL != "files":
            try:
                import redis

                redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).flushdb()
                env["GRIDCITY_REDIS_URL"] = REDIS_URL
                cache = "Redis"
            except Exception as exc:  # noqa: BLE001
                print(f"  Redis at {REDIS_URL} not reachable ({exc}): the file cache it is")
        print(f"  shared cache: {cache}")
        t = time.perf_counter()
        manage(env, "migrate", "--noinput", "-v0")
        out = manage(env, "shell", "-c", SETUP.replace("__N_CASES__", str(N_CASES)))
        line = next((x for x in out.splitlines() if x.startswith("SETUP ")), None)
        if line is None:
            raise RuntimeError(f"set-up printed nothing:\n{out}")
        setup = json.loads(line[6:])
        print(
            f"  database ready in {time.perf_counter() - t:.1f} s: {setup['services']} services, "
            f"{setup['cases']:,} closed cases loaded in {setup['load_s']:.1f} s"
        )
        profile = setup["profile"]
        port = free_port()
        server = start_server(env, port)
        results = {}
        try:
            makers = _requests(setup)
            for name, make in makers.items():
                n = N_LIST if name == "list" else N_REQUESTS
                # The warm-up uses its own points and ids, after the timed ones.
                drive(port, lambda i, make=make, n=n: make(n + i), WARMUP, CONCURRENCY)
                results[name] = drive(port, make, n, CONCURRENCY)
        finally:
            stop_server(server)
        labels = {
            "services": f"GET services.json ({setup['services']})",
            "post": "POST requests.json",
            "list": "GET requests.json (default)",
            "detail": "GET requests/{id}.json",
        }
        print(
            f"  {'endpoint':<31} {'ok':>5} {'err':>4} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}"
            f" {'SQL':>4} {'in-proc ms':>10} {'bytes':>7}"
        )
        for name, stats in results.items():
            p = profile[name]
            print(
                f"  {labels[name]:<31} {stats['ok']:>5} {stats['errors']:>4} {stats['rps']:>7.0f} "
                f"{stats['p50']:>7.1f} {stats['p99']:>7.1f} {p['statements']:>4} "
                f"{p['ms']:>10.2f} {p['bytes']:>7}"
            )
            if stats["first_error"]:
                print(f"    first error: {stats['first_error']}")
        for name, stats in results.items():
            items = profile[name]["items"]
            per = f" × {items} items" if name == "list" else ""
            print(f"  {labels[name]}{per}: {_verdict(name, labels[name], stats, items)}")
        print(
            f"  default page: {profile['list']['items']} items, X-Result-Count "
            f"{profile['list']['count_header']}; in-process ms are one request on one core "
            "through Django's test client (no HTTP, no second worker)"
        )
        return {"results": results, "profile": profile, "setup": setup}
    finally:
        pg_admin(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
        shutil.rmtree(tmp, ignore_errors=True)
