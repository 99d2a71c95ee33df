"""Page weight: the HTML size and server time of every page of every demo person, on the demo
city in the configured database (`gridcity demo` first; GRIDCITY_DATABASE_URL or
GRIDCITY_DATA_DIR choose it).

Each person's pages are walked as in the page-weight test (gridcity/demo/pagewalk.py): the
navigation, one or two of each page it links to, the parts loaded on demand; the time is the
best of three fetches through Django's test client. GRIDCITY_BENCH_DAYS_ON (default 2) looks at
the city that many days after it was built, with the deadline sweep run first, as the scheduler
would have: every late case has its supervision orders. The sweep's rows are rolled back: the
database is left as it was.

`python -m bench pages` runs it."""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta

MAX_KB = 300
MAX_MS = 300
DAYS_ON = float(os.environ.get("GRIDCITY_BENCH_DAYS_ON", "2"))


def run() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridcity.settings")
    django.setup()
    from django.db import transaction
    from django.test.utils import setup_test_environment

    from gridcity.demo.builder import has_data

    setup_test_environment()  # the test client's host and response hooks
    print(f"pages · demo city, {DAYS_ON:g} days after it was built")
    if not has_data():
        print("  skipped: the database holds no demo city (run `gridcity demo` first)")
        return
    with transaction.atomic():
        figures = _walk_everyone()
        transaction.set_rollback(True)
    _report(figures)


def _walk_everyone():
    import time_machine
    from django.utils import timezone

    from gridcity.accounts.models import Role, User
    from gridcity.cases.actions import sweep_deadlines
    from gridcity.demo.pagewalk import walk

    figures = []
    with time_machine.travel(timezone.now() + timedelta(days=DAYS_ON), tick=True):
        sweep_deadlines()
        people = User.objects.filter(is_active=True).order_by("pk")
        # Every centre and department person; the grid managers' pages are alike, one stands
        # for them all.
        inspectors = list(people.filter(role=Role.INSPECTOR)[:1])
        started = time.perf_counter()
        for user in [*people.exclude(role=Role.INSPECTOR), *inspectors]:
            figures += walk(user, runs=3)
        print(f"  {len(figures)} pages weighed in {time.perf_counter() - started:.0f} s")
    return figures


def _report(figures) -> None:
    from bench.verdict import record
    from gridcity.demo.pagewalk import heaviest, slowest, table

    print("  heaviest:")
    print(_indent(table(heaviest(figures, 12))))
    print("  slowest (wall time; work is the request's CPU and database time):")
    print(_indent(table(slowest(figures, 12))))
    top_kb = max(f.kb for f in figures)
    top_ms = max(f.ms for f in figures)
    print(f"  most work: {max(f.work_ms for f in figures):.0f} ms; load average {_load()}")
    broken = [f for f in figures if f.status != 200]
    print(f"  pages not answering 200: {len(broken)}")
    verdict = record(
        "pages", "largest page", f"{top_kb:.0f} KB", f"≤ {MAX_KB} KB", top_kb <= MAX_KB
    )
    print(f"  largest page {top_kb:.0f} KB (target ≤ {MAX_KB} KB): {verdict}")
    verdict = record(
        "pages", "slowest page", f"{top_ms:.0f} ms", f"≤ {MAX_MS} ms", top_ms <= MAX_MS
    )
    print(f"  slowest page {top_ms:.0f} ms (target ≤ {MAX_MS} ms): {verdict}")


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    run()
