"""A month's evaluation (every unit type, every indicator, scores and ranks) over N generated
cases, on PostgreSQL (throwaway database gridcity_bench_eval) and on SQLite (a temporary file),
against computing the same department figures case by case in Python.

The cases and their event rows are generated here with bulk inserts shaped like the rows the
real actions write (report → file → dispatch → sign → report_back → check → close, with
re-dispatches after returns, reworks, late steps and callbacks mixed in): a benchmark needs
volume, not the actions' per-case checks. The small city (cells, departments, people, rules)
is the test city, built through the real actions.

`python -m bench.evaluation [N]` (default 50,000 cases) — the issue's target is 10,000,000
cases; on a 2-core machine generating them alone takes far longer than a bench run.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time

PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
PG_BENCH = "postgres://postgres@127.0.0.1:5432/gridcity_bench_eval"
DEPT_CODES = ["HJWS", "CGZF", "SZSS", "YLLH", "JTGL"]


def _generate(n: int, seed: int = 7) -> None:
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from gridcity.accounts.actions import get_system_user
    from gridcity.cases.models import Case, CaseEvent, Channel
    from gridcity.grids.models import Area, AreaLevel
    from gridcity.taxonomy.actions import resolve_category
    from gridcity.testing import build_city

    rnd = random.Random(seed)
    city = build_city()
    system = get_system_user()
    cells = list(Area.objects.filter(level=AreaLevel.CELL).values_list("pk", "path"))
    depts = [city.departments[c] for c in DEPT_CODES]
    category = resolve_category("09012")
    p = city.people
    tz = ZoneInfo("Asia/Shanghai")
    t0 = datetime(2025, 9, 1, tzinfo=tz)
    batch = 2000
    for lo in range(0, n, batch):
        cases = []
        for i in range(lo, min(n, lo + batch)):
            cell_id, path = rnd.choice(cells)
            reported = t0 + timedelta(minutes=rnd.randrange(0, 30 * 24 * 60))
            channel = Channel.INSPECTOR if rnd.random() < 0.8 else Channel.HOTLINE
            cases.append(
                Case(
                    number=f"B{i:09d}",
                    status="closed",
                    channel=channel,
                    category=category,
                    cell_id=cell_id,
                    area_path=path,
                    reported_at=reported,
                )
            )
        Case.objects.bulk_create(cases)
        events = []
        for c in cases:
            at = c.reported_at

            def ev(action, frm, to, actor, dept=None, overdue=False, data=None, minutes=10, c=c):
                nonlocal at  # noqa: B023 — one case at a time
                at = at + timedelta(minutes=minutes)
                events.append(  # noqa: B023
                    CaseEvent(
                        case=c,
                        action=action,
                        from_status=frm,
                        to_status=to,
                        actor=actor,
                        actor_role=actor.role,
                        department=dept,
                        at=at,
                        overdue=overdue,
                        data=data or {},
                        step="x" if frm else "",
                    )
                )

            reporter = p["inspector"] if c.channel == Channel.INSPECTOR else system
            ev("report", "", "reported", reporter, minutes=0)
            if rnd.random() < 0.03:
                ev("void", "reported", "voided", p["intake"])
                continue
            ev("file", "reported", "filed", p["intake"], overdue=rnd.random() < 0.05)
            dept = rnd.choice(depts)
            ev("dispatch", "filed", "dispatched", p["dispatcher"], dept, rnd.random() < 0.05)
            if rnd.random() < 0.05:
                ev("return", "dispatched", "returned", p["sanitation"], dept)
                dept = rnd.choice([d for d in depts if d != dept])
                ev(
                    "dispatch",
                    "returned",
                    "dispatched",
                    p["dispatcher"],
                    dept,
                    data={"redispatch": True},
                )
            ev("sign", "dispatched", "handling", p["sanitation"], dept, rnd.random() < 0.08)
            for _ in range(3 if rnd.random() < 0.02 else 2 if rnd.random() < 0.06 else 1):
                late = rnd.random() < 0.1
                ev("report_back", "handling", "handled", p["sanitation"], dept, late, minutes=90)
                if rnd.random() < 0.1 and len(events) < 10**9:
                    ev("check_fail", "handled", "handling", p["inspector"], dept)
                    continue
                break
            if rnd.random() < 0.1:
                continue  # still open (or failed its last check)
            ev("check_pass", "handled", "checked", p["inspector"], dept)
            ev("close", "checked", "closed", p["shift_lead"], dept, rnd.random() < 0.03)
            if c.channel == Channel.HOTLINE:
                s = rnd.randint(1, 5)
                ev("callback", "closed", "closed", p["intake"], dept, data={"satisfied": s >= 4})
        CaseEvent.objects.bulk_create(events, batch_size=5000)


def _python_department_figures(start, end) -> dict[int, tuple[int, int, int, int, int]]:
    """The same department figures (应结案, 结案, 按期结案, 应处置, 按时处置) computed case by
    case in Python from every event row of the month's cases."""
    from itertools import groupby

    from gridcity.cases.models import CaseEvent

    out: dict[int, list[int]] = {}
    rows = (
        CaseEvent.objects.order_by("case_id", "pk")
        .values_list("case_id", "action", "department_id", "overdue", "at")
        .iterator(chunk_size=20000)
    )
    for _, evs in groupby(rows, key=lambda r: r[0]):
        evs = list(evs)
        actions = [e[1] for e in evs]
        for e in evs:
            if e[1] == "report_back" and start <= e[4] < end:
                c = out.setdefault(e[2], [0, 0, 0, 0, 0])
                c[3] += 1
                c[4] += not e[3]
        filed = [e for e in evs if e[1] == "file" and start <= e[4] < end]
        if not filed or "void" in actions or "merge" in actions:
            continue
        dispatches = [e for e in evs if e[1] == "dispatch"]
        if not dispatches:
            continue
        c = out.setdefault(dispatches[-1][2], [0, 0, 0, 0, 0])
        c[0] += 1
        if "close" in actions:
            c[1] += 1
            if not any(e[1] == "report_back" and e[3] for e in evs):
                c[2] += 1
    return {k: tuple(v) for k, v in out.items()}


def child(backend: str, n: int) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from gridcity.evaluation.compute import compute_ranking
    from gridcity.evaluation.indicators import UNIT_TYPE_LABELS, parse_period

    call_command("migrate", verbosity=0)
    t = time.perf_counter()
    _generate(n)
    gen = time.perf_counter() - t
    from gridcity.cases.models import CaseEvent

    events = CaseEvent.objects.count()
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
    period = parse_period("2025-09")
    t = time.perf_counter()
    rankings = {u: compute_ranking(period, u) for u in UNIT_TYPE_LABELS}
    sql_s = time.perf_counter() - t
    t = time.perf_counter()
    compute_ranking(period, "department")
    dept_s = time.perf_counter() - t
    from gridcity.evaluation.compute import window_for

    t = time.perf_counter()

    w = window_for(period)
    py = _python_department_figures(w.start, w.end)
    py_s = time.perf_counter() - t
    # Compare the department figures both ways.
    mismatches = 0
    for u in rankings["department"].units:
        f = u.figures
        got = (
            f["close_due"].value,
            f["closed"].value,
            f["closed_on_time"].value,
            f["handle_due"].value,
            f["handle_on_time_rate"].numerator,
        )
        want = py.get(int(u.unit.key), (0, 0, 0, 0, 0))
        mismatches += got != want
    print(
        f"  {backend:<10} {n:>9,} cases {events:>10,} events · generate {gen:6.1f} s · "
        f"month's evaluation, 6 unit types, all schemes: {sql_s:6.2f} s · department figures "
        f"case by case in Python (5 figures): {py_s:6.2f} s vs SQL department ranking (all "
        f"{len(rankings['department'].indicators)} indicators): {dept_s:6.2f} s, ratio python/sql "
        f"{py_s / dept_s:4.2f}× · figures agree: {'yes' if not mismatches else 'NO'}"
    )


def run(n: int = 50_000) -> None:
    print(f"Evaluation: a month over {n:,} generated cases (the issue's target: 10,000,000)")
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="gridcity.settings")
    # PostgreSQL: a throwaway database, dropped afterwards.
    import psycopg

    try:
        with psycopg.connect(
            PG_ADMIN.replace("postgres://", "postgresql://"), autocommit=True
        ) as c:
            c.execute("DROP DATABASE IF EXISTS gridcity_bench_eval")
            c.execute("CREATE DATABASE gridcity_bench_eval")
        subprocess.run(
            [sys.executable, "-m", "bench.evaluation", "--child", "postgresql", str(n)],
            env=dict(env, GRIDCITY_DATABASE_URL=PG_BENCH),
            check=True,
        )
        with psycopg.connect(
            PG_ADMIN.replace("postgres://", "postgresql://"), autocommit=True
        ) as c:
            c.execute("DROP DATABASE IF EXISTS gridcity_bench_eval")
    except psycopg.OperationalError as exc:
        print(f"  postgresql skipped: {exc}")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "bench.evaluation", "--child", "sqlite", str(n)],
            env=dict(
                env,
                GRIDCITY_DATABASE_URL=f"sqlite:///{tmp}/bench.sqlite3",
                GRIDCITY_DATA_DIR=tmp,
            ),
            check=True,
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
    else:
        run(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
