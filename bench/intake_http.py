"""Intake through the real HTTP API, against SQLite and against PostgreSQL.

For each database: a fresh database, `migrate`, the small test city of gridcity.testing built
through the real actions, a token for a grid inspector (a trusted channel, so every report is
also filed and dispatched: the heaviest intake path), then gunicorn with 2 sync workers on a
free loopback port. N reports go to POST /api/cases from a few client threads, each point
distinct; then the same number of GET /api/me (token auth and a small JSON body: the floor any
authenticated request pays) the same way. A short profile counts the SQL statements of one
intake with CaptureQueriesContext.

The server runs with GRIDCITY_DEBUG=0 so Django does not keep every query in memory.

It prints issue #17's rows with met/MISSED (and records them for `python -m bench`'s closing
table): cases/s on PostgreSQL (>= 500) and SQLite (>= 300), the intake's req/s over GET /api/me's
in the same run on PostgreSQL (>= 0.35), its p99 on PostgreSQL (<= 50 ms) and the SQL statements
of one intake, BEGIN and COMMIT included (<= 8). The throughput rows depend on what else the
machine runs: note the load (`uptime`) next to them; the ratio and the statement count do not.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PG_ADMIN_URL = os.environ.get("GRIDCITY_BENCH_PG", "postgres://postgres@127.0.0.1:5432/postgres")
PG_BENCH_DB = "gridcity_bench"
N_REQUESTS = int(os.environ.get("GRIDCITY_BENCH_N", "3000"))
CONCURRENCY = int(os.environ.get("GRIDCITY_BENCH_CONCURRENCY", "4"))
PHASE_LIMIT_S = 180.0
WARMUP = 60

# Runs inside `manage.py shell -c` against the fresh database; prints one JSON line.
SETUP = r"""
import json, random, re
from collections import Counter
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.db import connection
from gridcity.testing import build_city, WEST, EAST, SOUTH, NORTH
from gridcity.accounts.actions import do_create_token
from gridcity.dispatch.models import ResponsibilityRule
from gridcity.taxonomy.models import Category

city = build_city()
rule = ResponsibilityRule.objects.filter(category__isnull=False).select_related("category").first()
category = rule.category
# Every report is its own case: no de-duplication merges the synthetic points.
Category.objects.filter(pk=category.pk).update(duplicate_radius_m=0)
token = do_create_token(city.people["inspector"], name="bench")

client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
rng = random.Random(99)
def post():
    body = {"category": category.key, "lon": rng.uniform(WEST + 1e-4, EAST - 1e-4),
            "lat": rng.uniform(SOUTH + 1e-4, NORTH - 1e-4), "description": "bench"}
    r = client.post("/api/cases", json.dumps(body), content_type="application/json")
    assert r.status_code == 201, (r.status_code, r.content[:300])
    return r
for _ in range(5):
    post()
def shapes(ctx):
    out = Counter()
    for q in ctx.captured_queries:
        sql = re.sub(r"'[^']*'|\b\d+(\.\d+)?\b", "?", q["sql"])
        sql = re.sub(r"\(\?(, \?)*\)", "(…)", sql)
        out[sql[:150]] += 1
    return out
with CaptureQueriesContext(connection) as intake:
    r = post()
status = r.json().get("status")
with CaptureQueriesContext(connection) as me:
    client.get("/api/me")
print("PROFILE " + json.dumps({
    "intake_queries": len(intake.captured_queries),
    "intake_status": status,
    "intake_shapes": shapes(intake).most_common(40),
    "me_queries": len(me.captured_queries),
}))
print("SETUP " + json.dumps({"token": token, "category": category.key,
                             "bounds": [WEST, SOUTH, EAST, NORTH]}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manage(env: dict, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, str(REPO / "manage.py"), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if out.returncode != 0:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


# GRIDCITY_BENCH_SERVER=node runs gunicorn as a node runs it (gridcity/gunicorn_conf.py: gthread,
# 2 × cores + 1 workers × 4 threads) instead of the fixed 2 sync workers the targets are set for.
AS_NODE = os.environ.get("GRIDCITY_BENCH_SERVER", "") == "node"


def start_server(env: dict, port: int) -> subprocess.Popen:
    if AS_NODE:
        args = ["--config", "python:gridcity.gunicorn_conf", "--log-level", "warning"]
        env = {**env, "GRIDCITY_BIND": f"127.0.0.1:{port}"}
    else:
        args = ["--workers", "2", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    proc = subprocess.Popen(
        [str(BIN / "gunicorn"), *args, "gridcity.wsgi:application"],
        cwd=REPO,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("gunicorn did not start listening within 30 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def drive(port: int, make_request, n: int, concurrency: int) -> dict:
    """`n` requests from `concurrency` threads, each on its own keep-alive connection
    (http.client reopens it by itself when the server closes it, as gunicorn's sync workers
    do after every response). Bounded by PHASE_LIMIT_S."""
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    next_i = [0]
    stop_at = time.monotonic() + PHASE_LIMIT_S

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                i = next_i[0]
                if i >= n or time.monotonic() > stop_at:
                    break
                next_i[0] += 1
            method, path, body, headers, expect = make_request(i)
            t = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                elapsed = time.perf_counter() - t
                if resp.status != expect:
                    with lock:
                        errors.append(f"{resp.status} {data[:200]!r}")
                    continue
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                with lock:
                    errors.append(repr(exc))
                continue
            with lock:
                latencies.append(elapsed)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    latencies.sort()
    done = len(latencies)

    def pct(p: float) -> float:
        return latencies[min(done - 1, int(p * done))] * 1000 if done else float("nan")

    return {
        "ok": done,
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
        "rps": done / wall if wall else 0.0,
        "p50": pct(0.50),
        "p99": pct(0.99),
        "mean": statistics.fmean(latencies) * 1000 if done else float("nan"),
        "wall": wall,
    }


def requests_for(setup: dict):
    import random

    rng = random.Random(2024)
    west, south, east, north = setup["bounds"]
    auth = {"Authorization": f"Bearer {setup['token']}"}
    # Distinct points, drawn up front so the client threads do not share the generator.
    points = [
        (rng.uniform(west + 1e-4, east - 1e-4), rng.uniform(south + 1e-4, north - 1e-4))
        for _ in range(N_REQUESTS + WARMUP)
    ]

    def intake(i: int):
        lon, lat = points[i]
        body = json.dumps(
            {"category": setup["category"], "lon": lon, "lat": lat, "description": f"bench {i}"}
        )
        return "POST", "/api/cases", body, {**auth, "Content-Type": "application/json"}, 201

    def trivial(i: int):
        return "GET", "/api/me", None, auth, 200

    return intake, trivial


def pg_admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


def bench_database(label: str, db_url: str | None, data_dir: Path) -> dict | None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "gridcity.settings",
        "GRIDCITY_DATA_DIR": str(data_dir),
        "GRIDCITY_DEBUG": "0",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("GRIDCITY_DATABASE_URL", None)
    if db_url:
        env["GRIDCITY_DATABASE_URL"] = db_url
    t = time.perf_counter()
    manage(env, "migrate", "--noinput", "-v0")
    out = manage(env, "shell", "-c", SETUP)
    setup = profile = None
    for line in out.splitlines():
        if line.startswith("SETUP "):
            setup = json.loads(line[6:])
        elif line.startswith("PROFILE "):
            profile = json.loads(line[8:])
    if setup is None:
        raise RuntimeError(f"set-up printed no token:\n{out}")
    print(f"  {label}: database ready in {time.perf_counter() - t:.1f} s")

    port = free_port()
    server = start_server(env, port)
    try:
        intake, trivial = requests_for(setup)
        # Warm both workers (imports, the spatial index, the rules) before timing; the warm-up
        # uses its own points, after the timed ones.
        drive(port, lambda i: intake(N_REQUESTS + i), WARMUP, CONCURRENCY)
        drive(port, trivial, WARMUP, CONCURRENCY)
        intake_stats = drive(port, intake, N_REQUESTS, CONCURRENCY)
        trivial_stats = drive(port, trivial, N_REQUESTS, CONCURRENCY)
    finally:
        stop_server(server)
    return {"intake": intake_stats, "trivial": trivial_stats, "profile": profile}


# The rows of issue #17's table this benchmark answers for.
TARGET_RPS = {"PostgreSQL": 500, "SQLite": 300}
TARGET_RATIO = 0.35  # intake req/s over GET /api/me req/s, same server, same run
TARGET_P99_MS = 50.0  # PostgreSQL
TARGET_STATEMENTS = 8


def report(label: str, result: dict) -> None:
    from bench.verdict import record

    i, m, p = result["intake"], result["trivial"], result["profile"]
    ratio = i["rps"] / m["rps"] if m["rps"] else float("nan")
    print(f"  {'endpoint':<22} {'ok':>6} {'errors':>6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for name, s in (("POST /api/cases", i), ("GET /api/me", m)):
        print(
            f"  {name:<22} {s['ok']:>6} {s['errors']:>6} {s['rps']:>8.0f} "
            f"{s['p50']:>8.1f} {s['p99']:>8.1f}"
        )
        if s["first_error"]:
            print(f"    first error: {s['first_error']}")
    bench = "intake"
    # A phase with failed requests did not measure what it claims to: never "met".
    clean = not i["errors"] and not m["errors"]
    rows = [
        (
            f"HTTP intake, {label}",
            f"{i['rps']:,.0f} cases/s",
            f">= {TARGET_RPS[label]} cases/s",
            clean and i["rps"] >= TARGET_RPS[label],
        )
    ]
    if label == "PostgreSQL":
        rows += [
            (
                f"HTTP intake / GET /api/me, {label}",
                f"{ratio:.2f} x ({m['rps']:,.0f} req/s)",
                f">= {TARGET_RATIO} x",
                clean and ratio >= TARGET_RATIO,
            ),
            (
                f"HTTP intake p99, {label}",
                f"{i['p99']:.1f} ms",
                f"<= {TARGET_P99_MS:.0f} ms",
                clean and i["p99"] <= TARGET_P99_MS,
            ),
        ]
    if p:
        rows.append(
            (
                f"SQL statements per trusted intake, {label}",
                f"{p['intake_queries']} (case {p['intake_status']})",
                f"<= {TARGET_STATEMENTS}",
                p["intake_queries"] <= TARGET_STATEMENTS and p["intake_status"] == "dispatched",
            )
        )
    for row, measured, target, met in rows:
        verdict = record(bench, row, measured, target, met)
        print(f"  {row:<44} {measured:>26}  {target:<16} {verdict}")
    if p:
        print(
            f"  profile: one intake = {p['intake_queries']} SQL statements "
            f"(case ends {p['intake_status']}); GET /api/me = {p['me_queries']}"
        )
        for sql, count in p["intake_shapes"]:
            if count > 1 or len(p["intake_shapes"]) <= 25:
                print(f"    {count:>3} × {sql}")


def run() -> dict:
    print(
        "intake over HTTP: "
        + ("gunicorn as a node runs it" if AS_NODE else "gunicorn 2 sync workers")
        + f", {CONCURRENCY} client threads, "
        f"{N_REQUESTS} requests per phase (trusted channel: report → file → dispatch)"
    )
    results = {}
    tmp = Path(tempfile.mkdtemp(prefix="gridcity-bench-"))
    try:
        sqlite_dir = tmp / "sqlite"
        sqlite_dir.mkdir()
        results["sqlite"] = bench_database("SQLite", None, sqlite_dir)
        report("SQLite", results["sqlite"])

        try:
            pg_admin(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
            pg_admin(f"CREATE DATABASE {PG_BENCH_DB}")
        except Exception as exc:  # no server, no rights: say so and go on
            print(f"  PostgreSQL: skipped ({exc})")
        else:
            try:
                pg_dir = tmp / "pg"
                pg_dir.mkdir()
                url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_BENCH_DB}"
                results["postgres"] = bench_database("PostgreSQL", url, pg_dir)
                report("PostgreSQL", results["postgres"])
            finally:
                pg_admin(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return results
