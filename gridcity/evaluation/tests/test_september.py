"""Hand-counted figures of the September scenario (see scenario.py), computed on 10 Oct."""

from decimal import Decimal

import pytest

from gridcity.evaluation.actions import do_file_appeal, do_review_appeal
from gridcity.evaluation.compute import (
    LiveSource,
    compute_ranking,
    drill_rows,
    window_for,
)
from gridcity.evaluation.indicators import INDICATORS, parse_period
from gridcity.evaluation.tests.scenario import at, build_september

SEPT = parse_period("2025-09")


def ranking(unit_type):
    src = LiveSource(window_for(SEPT))
    return compute_ranking(SEPT, unit_type, source=src), src


def values(r, name):
    u = next(u for u in r.units if u.unit.name == name)
    return {k: f.value for k, f in u.figures.items()}, u


@pytest.fixture
def september(city):
    return build_september(city)


def test_it_counts_the_enforcement_department(city, september):
    r, _ = ranking("department")
    v, u = values(r, "城市管理执法科室")
    assert v["dispatched"] == 6  # A B C D(first) F G
    assert v["dispatch_accuracy"] == Decimal("83.33")  # D went on to municipal: 5 of 6
    assert v["handle_due"] == 5  # A, C three times, F; B reported back in October
    assert v["handle_on_time_rate"] == Decimal("100.00")
    assert v["reworks"] == 2
    assert v["returns"] == 1
    assert v["close_due"] == 5  # filed in September, last dispatched to it: A B C F G
    assert v["closed"] == 4  # B closed in October still counts: its cohort is September
    assert v["close_rate"] == Decimal("80.00")
    assert v["closed_on_time"] == 3  # B was handled late
    assert v["on_time_close_rate"] == Decimal("60.00")
    assert v["rework_rate"] == Decimal("40.00")  # 2 reworks / 5 due
    assert v["overdue_unhandled"] == 2  # B (handling) and G (signing) at the month's end
    assert v["avg_handle_hours"] == Decimal("0.47")  # (40 + 30 + 20 + 20 + 30) min / 5
    assert v["callback_satisfaction"] == Decimal("100.00")
    # 10 × 5/5 + 30 × 80 % + 30 × 100 % + 30 × 0 (40 % rework is past every band)
    assert (u.score, u.grade, u.rank) == (Decimal("64.00"), "C", 2)


def test_it_counts_the_municipal_department_that_took_the_redispatch(city, september):
    r, _ = ranking("department")
    v, u = values(r, "市政设施科室")
    assert (v["dispatched"], v["dispatch_accuracy"], v["close_due"], v["closed"]) == (
        1,
        Decimal("100.00"),
        1,
        1,
    )
    assert (u.score, u.grade, u.rank) == (Decimal("92.00"), "A", 1)


def test_it_counts_the_grid_manager(city, september):
    r, _ = ranking("inspector")
    v, u = values(r, "网格员小赵")
    assert v["reported"] == 5 and v["valid_report_rate"] == Decimal("100.00")
    assert v["missed"] == 1  # F, a citizen's report in the beat
    assert v["miss_rate"] == Decimal("16.67")  # 1 / (1 + 5)
    assert (v["verify_due"], v["check_due"]) == (1, 6)
    assert u.score == Decimal("92.00")  # 40 + 20 × 60 % + 20 + 20


def test_it_counts_the_centre_staff(city, september):
    v, _ = values(ranking("dispatcher")[0], "派遣员小王")
    assert (v["dispatched"], v["dispatch_accuracy"]) == (2, Decimal("100.00"))
    v, _ = values(ranking("intake")[0], "受理员小李")
    assert (v["filed"], v["file_accuracy"]) == (1, Decimal("100.00"))
    v, _ = values(ranking("shift_lead")[0], "值班长老周")
    assert v["closes"] == 4  # A C D F; B closed in October


def test_it_counts_the_district_including_the_void(city, september):
    r, _ = ranking("area")
    v, _ = values(r, "上城区")
    assert v["reported"] == 7
    assert v["valid_reports"] == 6  # E was voided
    assert v["valid_report_rate"] == Decimal("85.71")
    assert v["filed"] == 6
    assert v["dispatch_accuracy"] == Decimal("85.71")  # 6 of 7 dispatches
    assert (v["close_due"], v["closed"], v["closed_on_time"]) == (6, 5, 4)


def test_it_counts_the_case_closed_next_month_as_open_before_it_closed(city):
    build_september(city, october=False)  # what the figures said on 1 October
    r, _ = ranking("department")
    v, _ = values(r, "城市管理执法科室")
    assert (v["close_due"], v["closed"]) == (5, 3)


def test_an_approved_appeal_removes_the_overdue_mark_from_scores_only(city, september):
    b = september["B"]
    appeal = do_file_appeal(
        b, acting_user=city.people["enforcement"], reason="国庆假期道路封闭", now=at(10, 9, 11)
    )
    do_review_appeal(appeal, acting_user=city.people["dispatcher"], approve=True, now=at(10, 9, 12))
    do_review_appeal(appeal, acting_user=city.people["leader"], approve=True, now=at(10, 9, 13))
    r, src = ranking("department")
    v, _ = values(r, "城市管理执法科室")
    assert (v["closed_on_time"], v["on_time_close_rate"]) == (4, Decimal("80.00"))
    # The raw fact stays: B's report-back record is still overdue.
    assert b.events.get(action="report_back").overdue is True
    oct_src = LiveSource(window_for(parse_period("2025-10")))
    rows = drill_rows(oct_src, "handle", "", "department", str(city.departments["CGZF"].pk))
    assert [(r["raw_overdue"], r["appealed"], r["f1"]) for r in rows] == [(True, True, True)]


def test_every_figure_lists_as_many_rows_as_it_counts(city, september):
    for unit_type, name in (
        ("department", "城市管理执法科室"),
        ("inspector", "网格员小赵"),
        ("area", "湖滨街道"),
        ("dispatcher", "派遣员小王"),
    ):
        r, src = ranking(unit_type)
        _, u = values(r, name)
        for key, fig in u.figures.items():
            d = INDICATORS[key]
            num = drill_rows(src, d.numerator.measure, d.numerator.flag, unit_type, u.unit.key)
            assert len(num) == fig.numerator, (unit_type, key)
            den = sum(
                len(drill_rows(src, ref.measure, ref.flag, unit_type, u.unit.key))
                for ref in d.denominator
            )
            if d.kind == "rate":
                assert den == fig.denominator, (unit_type, key)


def test_the_drilldown_names_the_cases(city, september):
    _, src = ranking("department")
    rows = drill_rows(src, "rework", "", "department", str(city.departments["CGZF"].pk))
    assert [r["case_number"] for r in rows] == [september["C"].number] * 2
