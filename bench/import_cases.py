"""History import throughput: `gridcity import-cases` of N synthetic rows (default 200,000).

The rows are a city's closed, voided and open cases with every step's time, written to a CSV
in a temporary directory; the import is timed end to end (reading and checking the whole file,
locating every point, writing cases, reports, events, evaluation facts and the import record)
into a fresh PostgreSQL database (gridcity_bench_import, COPY) and a fresh SQLite file
(executemany). Target on PostgreSQL: ≥ 25,000 rows/s.

`python -m bench import` runs it; GRIDCITY_BENCH_IMPORT_N changes N.
"""

from __future__ import annotations

import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = os.environ.get("GRIDCITY_BENCH_PG", "postgres://postgres@127.0.0.1:5432/postgres")
PG_BENCH_DB = "gridcity_bench_import"
N = int(os.environ.get("GRIDCITY_BENCH_IMPORT_N", "200000"))
TARGET = 25_000

CATEGORIES = ["06042", "06010", "06013", "09006", "09009", "06028", "component:01002", "03008"]
DEPARTMENTS = ["HJWS", "CGZF", "SZSS", "YLLH", "JTGL"]
HEADER = [
    "外部编号", "原案件编号", "上报时间", "立案时间", "派遣时间", "签收时间", "处置反馈时间",
    "核查时间", "结案时间", "处置时限", "类别", "来源", "经度", "纬度", "地址", "问题描述",
    "责任部门", "状态", "结案意见",
]  # fmt: skip


def synthesise(path: Path, n: int, seed: int = 17) -> None:
    """n rows over two years: 85 % closed with every step, 5 % voided, 10 % still open."""
    from gridcity.testing import EAST, NORTH, SOUTH, WEST

    rnd = random.Random(seed)
    start = datetime(2022, 1, 1, 8, 0)
    span = 2 * 365 * 24 * 60
    fmt = "%Y-%m-%d %H:%M:%S"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for i in range(n):
            t = start + timedelta(minutes=rnd.randrange(span))
            steps = [t]
            for gap in (20, 15, 30, 240, 90, 30):
                steps.append(steps[-1] + timedelta(minutes=rnd.randint(1, 2 * gap)))
            deadline = steps[2] + timedelta(hours=6)
            kind = rnd.random()
            if kind < 0.85:
                status, times, note = "已结案", steps, "已处置，现场恢复"
            elif kind < 0.90:
                status, times, note = (
                    "已作废",
                    [steps[0], steps[1], "", "", "", "", steps[2]],
                    "重复上报",
                )
            else:
                status, times, note = "处置中", [*steps[:4], "", "", ""], ""
            cells = [x.strftime(fmt) if x else "" for x in times]
            w.writerow(
                [
                    f"OLD-{i:08d}",
                    f"SC{t:%Y%m%d}{i % 100000:05d}",
                    *cells,
                    deadline.strftime(fmt),
                    CATEGORIES[i % len(CATEGORIES)],
                    "网格员上报" if i % 3 else "12345热线",
                    f"{rnd.uniform(WEST, EAST):.6f}",
                    f"{rnd.uniform(SOUTH, NORTH):.6f}",
                    f"湖滨路{i % 500}号",
                    "垃圾箱满溢，周边散落垃圾",
                    "" if status == "已作废" else DEPARTMENTS[i % len(DEPARTMENTS)],
                    status,
                    note,
                ]
            )


def run() -> None:
    """Entry point for `python -m bench`: each database in its own child process."""
    print(f"import · {N:,} historical cases from CSV · target ≥ {TARGET:,} rows/s on PostgreSQL")
    base = {**os.environ, "DJANGO_SETTINGS_MODULE": "gridcity.settings", "GRIDCITY_DEBUG": "0"}
    with tempfile.TemporaryDirectory(prefix="gridcity-import-") as tmp:
        csv_path = Path(tmp) / "history.csv"
        if _recreate_database():
            env = {
                **base,
                "GRIDCITY_DATABASE_URL": PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + PG_BENCH_DB,
            }
            rate = _child(env, csv_path, "PostgreSQL")
            _drop_database()
            if rate is not None:
                from bench.verdict import record

                record(
                    "import",
                    f"history import of {N:,} rows, PostgreSQL",
                    f"{rate:,.0f} rows/s",
                    f">= {TARGET:,} rows/s",
                    rate >= TARGET,
                )
        else:
            print("  PostgreSQL skipped: not reachable at GRIDCITY_BENCH_PG")
        env = {**base, "GRIDCITY_DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"}
        _child(env, csv_path, "SQLite")


def _child(env: dict, csv_path: Path, label: str) -> float | None:
    """Runs `measure` in a fresh process; returns the rows/s it wrote down."""
    rate_file = csv_path.with_suffix(f".{label}.rate")
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from bench.import_cases import measure; "
            f"measure({str(csv_path)!r}, {label!r}, {str(rate_file)!r})",
        ],
        cwd=REPO,
        env=env,
        check=True,
    )
    return float(rate_file.read_text()) if rate_file.exists() else None


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


def _drop_database() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_BENCH_DB} WITH (FORCE)")


def measure(csv_path: str, label: str, rate_file: str | None = None) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from gridcity.cases.models import Case, CaseEvent, CaseFact
    from gridcity.history import importer
    from gridcity.testing import build_city

    build_city()
    path = Path(csv_path)
    if not path.exists():
        t0 = time.perf_counter()
        synthesise(path, N)
        print(
            f"  wrote {N:,} rows ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s"
        )
    # The two phases, timed apart: what checking costs and what writing costs.
    t0 = time.perf_counter()
    checked = importer.check_file(path)
    check_s = time.perf_counter() - t0
    assert not checked.rejections, checked.rejections[:3]
    t0 = time.perf_counter()
    summary = importer.import_cases(path, source="bench")
    total_s = time.perf_counter() - t0
    assert summary.imported == N, summary
    rate = N / total_s
    if rate_file:
        Path(rate_file).write_text(f"{rate}")
    verdict = "met" if rate >= TARGET else "MISSED"
    target = f"  target ≥ {TARGET:,}/s: {verdict}" if label == "PostgreSQL" else ""
    print(
        f"  {label:10s} {rate:>9,.0f} rows/s  {total_s:6.1f} s end to end "
        f"(checking alone {check_s:.1f} s){target}"
    )
    print(
        f"  {'':10s} wrote {Case.objects.count():,} cases, {CaseEvent.objects.count():,} events, "
        f"{CaseFact.objects.count():,} facts"
    )
    t0 = time.perf_counter()
    again = importer.import_cases(path, source="bench")
    print(
        f"  {'':10s} rerun of the same file: {again.imported} imported, {again.skipped:,} "
        f"skipped in {time.perf_counter() - t0:.1f} s"
    )


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridcity.settings")
    run()
