"""The pure arithmetic: rates, periods, band tables, scores, grades, ranks."""

from datetime import date
from decimal import Decimal

import pytest

from gridcity.evaluation.indicators import (
    INDICATORS,
    Counts,
    SchemeItemSpec,
    evaluate,
    grade,
    item_share,
    parse_period,
    rank,
    rate,
    score,
)


def test_it_publishes_the_arithmetic_of_the_example():
    assert rate(911, 972) == Decimal("93.72")
    assert rate(737, 972) == Decimal("75.82")
    counts = {"due_close": Counts(n=972, f1=911, f2=737)}
    assert evaluate(INDICATORS["close_rate"], counts).value == Decimal("93.72")
    assert evaluate(INDICATORS["on_time_close_rate"], counts).value == Decimal("75.82")
    assert evaluate(INDICATORS["close_due"], counts).value == 972


def test_it_rounds_half_up_and_leaves_nothing_due_empty():
    assert rate(1, 8) == Decimal("12.50")
    assert rate(1, 800) == Decimal("0.13")  # 0.125 → 0.13, not banker's 0.12
    assert rate(0, 0) is None


@pytest.mark.parametrize(
    "key,start,end",
    [
        ("2025-09", date(2025, 9, 1), date(2025, 10, 1)),
        ("2025-12", date(2025, 12, 1), date(2026, 1, 1)),
        ("2025-Q4", date(2025, 10, 1), date(2026, 1, 1)),
        ("2025-W38", date(2025, 9, 15), date(2025, 9, 22)),
        ("2025", date(2025, 1, 1), date(2026, 1, 1)),
        ("2025-09-15", date(2025, 9, 15), date(2025, 9, 16)),
        ("2025-09-01~2025-09-20", date(2025, 9, 1), date(2025, 9, 21)),
    ],
)
def test_it_reads_every_kind_of_period(key, start, end):
    p = parse_period(key)
    assert (p.start, p.end) == (start, end)


@pytest.mark.parametrize("bad", ["", "2025-13", "2025-Q5", "2025-09-31", "2025-09-20~2025-09-01"])
def test_it_refuses_a_period_that_is_no_period(bad):
    with pytest.raises(ValueError):
        parse_period(bad)


def test_it_steps_back_a_period():
    assert parse_period("2025-01").previous().key == "2024-12"
    assert parse_period("2025-Q1").previous().key == "2024-Q4"


def test_it_scores_a_lower_is_better_indicator_by_its_bands():
    spec = SchemeItemSpec("rework_rate", Decimal(30), "lower", ((2, 100), (5, 80), (10, 60)))
    assert item_share(spec, Decimal("0")) == 100
    assert item_share(spec, Decimal("5.00")) == 80
    assert item_share(spec, Decimal("5.01")) == 60
    assert item_share(spec, Decimal("40")) == 0


def test_it_scores_volume_against_the_busiest_unit():
    spec = SchemeItemSpec("handle_due", Decimal(10), relative=True)
    assert item_share(spec, 5, best=20) == Decimal("25.00")


def test_it_shares_out_the_weight_of_indicators_without_data():
    items = [
        SchemeItemSpec("close_rate", Decimal(50)),
        SchemeItemSpec("handle_on_time_rate", Decimal(50)),
    ]
    total, lines = score(items, {"close_rate": Decimal(80), "handle_on_time_rate": None}, {})
    assert total == Decimal("80.00")
    assert lines[1].share is None


def test_it_grades_and_ranks():
    assert [grade(Decimal(x)) for x in (90, "89.99", 75, 60, 40, "39.99")] == list("ABBCDE")
    assert grade(None) == ""
    assert rank([("a", Decimal(90)), ("b", Decimal(95)), ("c", Decimal(90)), ("d", None)]) == {
        "b": 1,
        "a": 2,
        "c": 2,
    }


def test_the_published_definitions_are_the_ones_in_the_code():
    from pathlib import Path

    from gridcity.evaluation.indicators import INDICATORS

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    for key, indicator in INDICATORS.items():
        assert f"| {indicator.name} | `{key}` |" in readme, key
        assert indicator.definition in readme, key


def test_every_measure_is_one_the_facts_write():
    from gridcity.cases import facts
    from gridcity.evaluation.indicators import MEASURES, STOCK_MEASURES

    assert set(MEASURES) == set(facts.FLOW_MEASURES) | set(facts.STOCK_MEASURES)
    assert STOCK_MEASURES == facts.STOCK_MEASURES
