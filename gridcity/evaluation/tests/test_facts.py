"""The facts the evaluation counts are kept current by the case actions; a full rebuild from the
events gives the same rows; responsibility is the one of the day."""

import io

import pytest
from django.core.management import call_command

from gridcity.cases.actions import sweep_deadlines
from gridcity.cases.facts import DIMENSIONS, FACT_COLUMNS, STOCK_MEASURES, rebuild_facts
from gridcity.cases.models import CaseFact, Channel, StaleDay
from gridcity.evaluation.actions import do_file_appeal, do_review_appeal
from gridcity.evaluation.compute import LiveSource, _grouped, get_ranking, window_for
from gridcity.evaluation.indicators import MEASURES, parse_period
from gridcity.evaluation.tests.scenario import act, at, build_september, report, walk
from gridcity.grids.models import Beat

COLUMNS = list(FACT_COLUMNS)


def facts() -> list[tuple]:
    return sorted(CaseFact.objects.values_list(*COLUMNS), key=lambda r: (r[1], r[0]))


def figures(unit_type, name, period="2025-09"):
    r = get_ranking(period, unit_type)
    return {k: f.value for k, f in next(u for u in r.units if u.unit.name == name).figures.items()}


def test_the_facts_kept_by_the_actions_are_those_a_rebuild_computes(city):
    september = build_september(city)
    a = do_file_appeal(september["B"], acting_user=city.people["enforcement"], reason="封路")
    do_review_appeal(a, acting_user=city.people["dispatcher"], approve=True)
    do_review_appeal(a, acting_user=city.people["leader"], approve=True)
    kept = facts()
    assert len(kept) > 50
    assert rebuild_facts(batch=3) == len(kept)  # batches smaller than the scenario
    assert facts() == kept
    call_command("rebuild-facts", stdout=io.StringIO())
    assert facts() == kept


def test_an_approved_appeal_is_on_the_case_record(city):
    b = build_september(city)["B"]
    a = do_file_appeal(b, acting_user=city.people["enforcement"], reason="国庆封路")
    do_review_appeal(a, acting_user=city.people["dispatcher"], approve=True)
    assert not b.events.filter(action="appeal_approved").exists()  # first review only
    do_review_appeal(a, acting_user=city.people["leader"], approve=True, note="属实")
    event = b.events.get(action="appeal_approved")
    assert (event.department, event.actor, event.note) == (
        city.departments["CGZF"],
        city.people["leader"],
        "属实",
    )


def test_a_miss_stays_with_the_grid_manager_whose_beat_it_was_that_day(city):
    case = report(city, "A", at(9, 3, 9), Channel.CITIZEN)  # west street: 小赵's beat
    act(city, case, "verify", "inspector", at(9, 3, 9, 20), verified=True)
    # The beats are redrawn before the problem is filed: 小孙 now has the west street.
    Beat.objects.filter(manager=city.people["inspector"]).update(manager=city.people["inspector2"])
    act(city, case, "file", "intake", at(9, 3, 9, 30))
    assert figures("inspector", "网格员小赵")["missed"] == 1
    assert figures("inspector", "网格员小孙")["missed"] == 0


@pytest.mark.parametrize("done", [False, True])
def test_a_check_left_overdue_at_the_month_end_counts_for_the_grid_manager(city, done):
    case = report(city, "C", at(9, 29, 9))
    act(city, case, "sign", "enforcement", at(9, 29, 9, 10))
    act(city, case, "report_back", "enforcement", at(9, 29, 9, 30))
    sweep_deadlines(at(9, 30, 20))  # the check step is now overdue
    mark = case.events.get(action="overdue")
    assert (mark.step, mark.data["responsible"]) == ("check", city.people["inspector"].pk)
    if done:
        act(city, case, "check_pass", "inspector", at(9, 30, 21))
    inspector = figures("inspector", "网格员小赵")
    assert inspector["overdue_unchecked"] == (0 if done else 1)
    assert figures("area", "湖滨街道")["overdue_unchecked"] == (0 if done else 1)
    # Still open at the end of October unless it was checked.
    assert figures("inspector", "网格员小赵", "2025-10")["overdue_unchecked"] == (0 if done else 1)


def test_a_filing_left_overdue_counts_for_the_area_only(city):
    Beat.objects.all().update(manager=None)  # nobody to verify: the report waits for filing
    case = report(city, "E", at(9, 30, 9), Channel.CITIZEN)
    sweep_deadlines(at(9, 30, 23))
    assert case.events.get(action="overdue").step == "file"
    area = figures("area", "上城区")
    assert (area["overdue_centre_open"], area["overdue_unchecked"]) == (1, 0)
    assert area["close_due"] == 0 and area["close_rate"] is None
    assert figures("department", "城市管理执法科室")["overdue_unhandled"] == 0


def test_rates_over_nothing_are_blank_not_zero(city):
    department = figures("department", "城市管理执法科室")
    assert (department["close_due"], department["close_rate"]) == (0, None)
    area = figures("area", "上城区")
    assert (area["reported"], area["valid_report_rate"]) == (0, None)


def test_the_figures_follow_a_case_closed_days_after_it_was_filed(city):
    cases = build_september(city, october=False)
    assert figures("department", "城市管理执法科室")["closed"] == 3  # counted once: days kept
    assert not StaleDay.objects.filter(day__month=9).exists()
    walk(
        city,
        cases["B"],
        [
            ("report_back", "enforcement", at(10, 9, 9)),
            ("check_pass", "inspector", at(10, 9, 9, 30)),
            ("close", "shift_lead", at(10, 9, 10)),
        ],
    )
    # B's September facts changed on 9 October: its September days were marked stale.
    assert StaleDay.objects.filter(day__month=9).exists()
    assert figures("department", "城市管理执法科室")["closed"] == 4


def test_the_day_counts_add_up_to_the_facts(city):
    build_september(city)
    source = LiveSource(window_for(parse_period("2025-09")))
    for column in DIMENSIONS:
        measures = set(MEASURES) - set(STOCK_MEASURES)
        by_day = sorted((*r[:5], round(r[5] or 0, 6)) for r in source.counted(column, measures))
        direct = sorted(
            (*r[:5], round(r[5] or 0, 6)) for r in _grouped(source.flow(), column, measures)
        )
        assert by_day == direct and len(direct) > 5, column
