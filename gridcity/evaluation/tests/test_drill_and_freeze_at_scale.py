"""The paged drill-down and the partitioned freeze give the figures and rows of the plain
queries, and read only the period: the day counts, the month's index ranges, one partition."""

import ast
import inspect
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gridcity.evaluation import actions, compute, tasks
from gridcity.evaluation.actions import do_freeze_period
from gridcity.evaluation.compute import (
    LiveSource,
    compute_rankings,
    drill_rows,
    drilldown,
    get_ranking,
    source_for,
    window_for,
)
from gridcity.evaluation.indicators import INDICATORS, parse_period
from gridcity.evaluation.models import EvaluationPeriod, Fact, FrozenDay
from gridcity.evaluation.tests.scenario import at, build_september

SEPT = parse_period("2025-09")


@pytest.fixture
def september(city):
    return build_september(city)


def every_figure(rankings):
    """(unit type, unit key, indicator) of every figure of a unit with work."""
    for unit_type, r in rankings.items():
        for u in r.units:
            if u.volume:
                for key in r.indicators:
                    yield unit_type, u.unit.key, key


def paged(unit_type, unit, key, size):
    """Every numerator and denominator row, walking the pages of `size` rows."""
    first = drilldown(key, unit_type, unit, "2025-09", 1)
    num, den = list(first["numerator"]), list(first["denominator"])
    for page in range(2, first["pages"] + 1):
        d = drilldown(key, unit_type, unit, "2025-09", page)
        num += d["numerator"]
        den += d["denominator"]
    return first, num, den


def plain(source, unit_type, unit, key):
    d = INDICATORS[key]
    num = drill_rows(source, d.numerator.measure, d.numerator.flag, unit_type, unit)
    den = [
        r
        for ref in d.denominator
        for r in drill_rows(source, ref.measure, ref.flag, unit_type, unit)
    ]
    return num, den


@pytest.mark.parametrize("frozen", [False, True], ids=["live", "frozen"])
def test_the_pages_list_the_rows_of_the_plain_query_in_order(city, september, monkeypatch, frozen):
    monkeypatch.setattr(compute, "DRILL_PAGE", 2)  # many pages out of a few rows
    live = compute_rankings(SEPT)
    if frozen:
        do_freeze_period("2025-09", acting_user=city.people["leader"], now=at(10, 10, 9))
    source = source_for(SEPT)
    assert source.frozen is frozen
    checked = 0
    for unit_type, unit, key in every_figure(live):
        first, num, den = paged(unit_type, unit, key, 2)
        want_num, want_den = plain(source, unit_type, unit, key)
        assert num == want_num, (unit_type, unit, key)
        assert den == want_den, (unit_type, unit, key)
        assert first["numerator_total"] == len(want_num)
        assert first["denominator_total"] == len(want_den)
        checked += len(num) > 2  # more than one page
    assert checked > 20


def test_the_frozen_figures_and_day_counts_are_the_live_ones(city, september):
    live = {u: get_ranking("2025-09", u) for u in ("department", "inspector", "area", "cell")}
    row = do_freeze_period("2025-09", acting_user=city.people["leader"], now=at(10, 10, 9))
    for unit_type, before in live.items():
        after = get_ranking("2025-09", unit_type)
        assert after.frozen
        want = {u.unit.key: (u.figures, u.score, u.rank) for u in before.units if u.volume}
        got = {u.unit.key: (u.figures, u.score, u.rank) for u in after.units if u.volume}
        assert got == want, unit_type
    # The snapshot's day counts add up to its facts, per unit column.
    w = window_for(SEPT)
    flow = LiveSource(w).flow().count()
    stock = LiveSource(w).stock().count()
    assert Fact.objects.filter(period=row).count() == flow + stock > 0
    for column in ("u_dept", "u_actor", "u_area"):
        total = sum(
            FrozenDay.objects.filter(period=row, dimension=column).values_list("n", flat=True)
        )
        assert (
            total
            == Fact.objects.filter(period=row, **{f"{column}__isnull": False})
            .exclude(measure__in=("overdue_open", "overdue_field", "overdue_centre"))
            .count()
        )
    # Unfreezing takes the snapshot and its day counts with it.
    EvaluationPeriod.objects.filter(pk=row.pk).delete()
    assert not Fact.objects.filter(period_id=row.pk).exists()
    assert not FrozenDay.objects.filter(period_id=row.pk).exists()


@pytest.mark.parametrize("frozen", [False, True], ids=["live", "frozen"])
def test_a_page_costs_a_fixed_number_of_statements(city, september, frozen):
    if frozen:
        do_freeze_period("2025-09", acting_user=city.people["leader"], now=at(10, 10, 9))
    dept = str(city.departments["CGZF"].pk)
    drilldown("handle_on_time_rate", "department", dept, "2025-09")  # day counts refreshed
    with CaptureQueriesContext(connection) as q:
        drilldown("handle_on_time_rate", "department", dept, "2025-09")
    # The period; the stale days (live) or whether the snapshot has day counts (frozen); per
    # reference (here two): its day counts and its page of rows.
    assert len(q.captured_queries) <= 6, [x["sql"] for x in q.captured_queries]
    # No statement counts the facts: the totals come from the day counts.
    assert not [
        x for x in q.captured_queries if "COUNT(" in x["sql"].upper() and "_fact" in x["sql"]
    ]


def _plan(sql: str, params) -> str:
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SET LOCAL enable_seqscan = off")  # tiny tables: ask what it can use
            cur.execute(f"EXPLAIN {sql}", params)
        else:
            cur.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return "\n".join(str(r[-1]) for r in cur.fetchall())


def test_the_freeze_and_the_pages_read_only_the_month(city, september):
    live = LiveSource(window_for(SEPT))
    for qs in (live.flow(), live.stock()):
        sql, params = qs.values_list("id").query.sql_with_params()
        plan = _plan(sql, params)
        assert "casefact_measure_at" in plan or "casefact_open_steps" in plan, plan
        assert "Seq Scan" not in plan and "SCAN cases_casefact\n" not in plan + "\n", plan
    do_freeze_period("2025-08", acting_user=city.people["leader"], now=at(10, 10, 9))
    row = do_freeze_period("2025-09", acting_user=city.people["leader"], now=at(10, 10, 9))
    dept = city.departments["CGZF"].pk
    qs = Fact.objects.filter(period=row, measure="handle", u_dept=dept).order_by("at", "event_id")
    sql, params = qs.values_list("case_number").query.sql_with_params()
    plan = _plan(sql, params)
    # The partition's copy of fact_drill_dept is named after its columns.
    assert "fact_drill_dept" in plan or "period_id_measure_u_dept_at_event_id" in plan, plan
    if connection.vendor == "postgresql":
        # One partition: the period's own.
        assert set(re.findall(r"evaluation_fact_p\d+\b", plan)) == {f"evaluation_fact_p{row.pk}"}


def imported(module) -> set[str]:
    """Every module (or module.name) a module imports, at its top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def test_the_actions_do_not_import_the_tasks():
    """One way only: tasks → actions (the worker enqueues, the actions know nothing of it)."""
    assert not [n for n in imported(actions) if n.startswith("gridcity.evaluation.tasks")]
    assert any(n.startswith("gridcity.evaluation.actions") for n in imported(tasks))
