"""Bulk export throughput: rows/s and peak memory for 1,000,000 cases (PostgreSQL).

A fresh database gets the test city's categories and departments, then N cases made in one
`INSERT … SELECT generate_series` (the fastest honest way to get a million rows; the export
reads them exactly as it would read real ones). The CSV and GeoJSON generators of
gridcity.open311.export are then drained as the WSGI server would drain them: once timed
alone, once under tracemalloc for the peak of Python allocations, which must stay flat however
many rows there are. XLSX is timed on the first GRIDCITY_BENCH_XLSX_N rows (openpyxl is
pure Python and slow; Excel stops at 1,048,576 rows anyway).

`python -m bench.export` runs it; GRIDCITY_BENCH_EXPORT_N changes N.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("GRIDCITY_BENCH_PG", "postgres://postgres@127.0.0.1:5432/postgres")
PG_BENCH_DB = "gridcity_bench_export"
N = int(os.environ.get("GRIDCITY_BENCH_EXPORT_N", "1000000"))
XLSX_N = int(os.environ.get("GRIDCITY_BENCH_XLSX_N", "100000"))


def run() -> None:
    """Entry point for `python -m bench`: runs the measurement in a child process so that
    its database settings never meet another benchmark's."""
    print(f"export · {N:,} cases · PostgreSQL")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "gridcity.settings", "GRIDCITY_DEBUG": "0"}
    env["GRIDCITY_DATABASE_URL"] = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + PG_BENCH_DB
    if not _recreate_database():
        print("  skipped: PostgreSQL is not reachable at GRIDCITY_BENCH_PG")
        return
    subprocess.run(
        [sys.executable, "-c", "from bench.export import measure; measure()"],
        cwd=REPO,
        env=env,
        check=True,
    )


def _recreate_database() -> bool:
    try:
        import psycopg
    except ImportError:
        return False
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {PG_BENCH_DB}")
    except psycopg.Error:
        return False
    return True


INSERT = """
INSERT INTO cases_case (
    number, status, channel, category_id, description, address, lon, lat, cell_id, area_path,
    department_id, dispatch_explanation, reporter_name, reporter_phone, is_urgent,
    reported_at, dispatched_at, closed_at, handle_deadline, step, step_started_at,
    step_deadline, step_clock, handle_clock, supervision_level, rework_count, return_count,
    version
)
SELECT
    'B' || lpad(g::text, 12, '0'),
    (ARRAY['verifying','dispatched','handling','handled','closed','closed','closed'])[1 + g %% 7],
    (ARRAY['inspector','citizen','hotline','open311'])[1 + g %% 4],
    %(category)s,
    '第' || g || '号：垃圾桶满溢，周边有散落垃圾，请尽快清运',
    '湖滨路' || (g %% 500) || '号',
    120.160 + (g %% 1000) * 0.0000124,
    30.240 + (g %% 997) * 0.0000072,
    NULL,
    '/330102/330102001/',
    %(department)s,
    '{}'::jsonb, '', '', false,
    now() - (g || ' minutes')::interval,
    now() - (g || ' minutes')::interval + interval '30 minutes',
    CASE WHEN g %% 7 >= 4 THEN now() - (g || ' minutes')::interval + interval '1 day' END,
    now() - (g || ' minutes')::interval + interval '2 days',
    'handle',
    now() - (g || ' minutes')::interval,
    now() - (g || ' minutes')::interval + interval '1 day',
    'work_days', 'work_days', 0, 0, 0, 0
FROM generate_series(1, %(n)s) AS g
"""


def measure() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from gridcity.cases.models import Case
    from gridcity.open311 import export
    from gridcity.taxonomy.models import Category
    from gridcity.testing import build_city

    city = build_city()
    category = Category.objects.get(kind="matter", code="06042")
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute(
            INSERT, {"category": category.pk, "department": city.departments["HJWS"].pk, "n": N}
        )
        cur.execute("ANALYZE cases_case")
    made = time.perf_counter() - t0
    print(f"  made {N:,} cases in {made:.1f} s")
    qs = Case.objects.all()

    def first(n: int):
        return qs.filter(number__lte=f"B{n:012d}")

    def drain(chunks) -> tuple[float, int]:
        start, size = time.perf_counter(), 0
        for chunk in chunks:
            size += len(chunk)
        return time.perf_counter() - start, size

    for name, fn in (("csv", export.csv_chunks), ("geojson", export.geojson_chunks)):
        seconds, size = drain(fn(qs))
        tracemalloc.start()
        drain(fn(first(200_000)))
        peak_200k = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        drain(fn(qs))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(
            f"  {name:8s} {N / seconds:>10,.0f} rows/s  {seconds:6.1f} s  {size / 1e6:8.1f} MB out"
            f"  peak Python memory {peak / 1e6:5.1f} MB (200k rows: {peak_200k / 1e6:5.1f} MB)"
        )
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".xlsx") as tmp:
        start = time.perf_counter()
        rows = export.write_xlsx(first(XLSX_N), tmp.name)
        seconds = time.perf_counter() - start
        print(
            f"  xlsx     {rows / seconds:>10,.0f} rows/s  {seconds:6.1f} s  "
            f"{os.path.getsize(tmp.name) / 1e6:8.1f} MB out  ({rows:,} rows)"
        )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  process peak RSS {rss:.0f} MB (setup included)")


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridcity.settings")
    run()
