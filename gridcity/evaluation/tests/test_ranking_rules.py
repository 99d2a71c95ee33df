"""Rankings a city can defend: a minimum volume per scheme, cells ranked like areas, and the
figures other apps count (督查扣分) deducted from department scores and frozen with the period.
On the September scenario (scenario.py)."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from gridcity.campaigns.actions import do_create_plan, do_record_finding, do_schedule_inspection
from gridcity.evaluation.actions import do_freeze_period
from gridcity.evaluation.compute import FrozenSource, compute_ranking, drilldown, get_ranking
from gridcity.evaluation.indicators import DeductionSpec, deduct, parse_period
from gridcity.evaluation.models import (
    EvaluationPeriod,
    FrozenUnitFigure,
    PeriodResult,
    Scheme,
    SchemeDeduction,
)
from gridcity.evaluation.reports import build_bulletin
from gridcity.evaluation.tests.scenario import SPOT, at, build_september
from gridcity.grids.models import Area, AreaLevel

ENFORCEMENT, MUNICIPAL = "城市管理执法科室", "市政设施科室"


@pytest.fixture
def september(city):
    return build_september(city)


def unit(r, name):
    return next(u for u in r.units if u.unit.name == name)


def set_minimum(unit_type: str, n: int) -> None:
    Scheme.objects.filter(unit_type=unit_type, is_active=True).update(min_cases_to_rank=n)


def page(client, user, url: str) -> str:
    client.force_login(user)
    resp = client.get(url)
    assert resp.status_code == 200, url
    return resp.content.decode()


# --- the minimum volume ------------------------------------------------------------------------


def test_a_department_below_the_minimum_volume_is_listed_apart_with_its_figures(
    city, september, client
):
    set_minimum("department", 5)
    r = get_ranking("2025-09", "department")
    enforcement, municipal = unit(r, ENFORCEMENT), unit(r, MUNICIPAL)
    assert (enforcement.volume, enforcement.ranked, enforcement.rank) == (6, True, 1)
    # Municipal took one re-dispatched case, handled on time: not a 100 % to top the board.
    assert (municipal.volume, municipal.ranked) == (1, False)
    assert (municipal.score, municipal.grade, municipal.rank) == (None, "", None)
    assert municipal.figures["handle_on_time_rate"].value == Decimal("100.00")
    assert MUNICIPAL not in {u.unit.name for u in build_bulletin("2025-09").praised}

    body = page(client, city.people["leader"], "/evaluation/?period=2025-09")
    assert "参与排名的最低案件量：5" in body
    ranked, apart = body.split('id="below-minimum"')
    assert ENFORCEMENT in ranked and MUNICIPAL not in ranked
    assert "案件量不足，不参与排名" in apart and MUNICIPAL in apart
    card = page(
        client,
        city.people["leader"],
        f"/evaluation/unit/department/{city.departments['SZSS'].pk}/?period=2025-09",
    )
    assert "案件量不足，不参与排名：本期案件量 1，方案要求至少 5" in card


def test_a_frozen_period_keeps_the_minimum_it_was_ranked_with(city, september, client):
    set_minimum("department", 5)
    do_freeze_period("2025-09", acting_user=city.people["leader"], now=at(10, 10, 9))
    set_minimum("department", 0)
    r = get_ranking("2025-09", "department")
    assert r.frozen and r.min_cases == 5
    assert not unit(r, MUNICIPAL).ranked and unit(r, MUNICIPAL).score is None
    assert "参与排名的最低案件量：5" in page(
        client, city.people["leader"], "/evaluation/?period=2025-09"
    )
    # The next, live period reads the scheme as it is now.
    assert get_ranking("2025-10", "department").min_cases == 0


def test_the_admin_edits_the_minimum_and_the_deductions_of_a_scheme(city, client):
    set_minimum("department", 12)
    scheme = Scheme.objects.get(unit_type="department", is_active=True)
    body = page(client, city.people["admin"], f"/admin/evaluation/scheme/{scheme.pk}/change/")
    assert "参与排名的最低案件量" in body
    assert 'name="min_cases_to_rank" value="12"' in body
    assert "外部扣分项" in body and "督查扣分（inspection_deductions）" in body


# --- cells -------------------------------------------------------------------------------------


def cell_of(case) -> Area:
    return Area.objects.get(pk=case.cell_id)


def test_cells_are_ranked_by_the_area_measures(city, september, client):
    set_minimum("cell", 1)
    r = get_ranking("2025-09", "cell")
    assert len(r.units) == Area.objects.filter(level=AreaLevel.CELL, is_active=True).count()
    by_key = {u.unit.key: u for u in r.units}
    a, g, e = (by_key[str(september[k].cell_id)] for k in "AGE")
    # A: filed, handled on time and closed in September, no rework.
    assert (a.score, a.grade, a.rank) == (Decimal("100.00"), "A", 1)
    # G: never signed. 返工率 0 % (20) of the three items with a value (30 + 30 + 20).
    assert a.figures["close_rate"].value == Decimal("100.00")
    assert g.figures["close_rate"].value == Decimal("0.00") and g.score == Decimal("25.00")
    # E was voided before filing: no work, so not ranked.
    assert (e.volume, e.ranked, e.rank) == (0, False, None)
    rows = drilldown("close_due", "cell", a.unit.key, "2025-09")["numerator"]
    assert [row["case_number"] for row in rows] == [september["A"].number]

    body = page(client, city.people["leader"], "/evaluation/?period=2025-09&unit_type=cell")
    assert cell_of(september["A"]).code in body.split('id="below-minimum"')[0]
    body = page(client, city.people["leader"], "/evaluation/map/?period=2025-09&level=4")
    assert f"/evaluation/unit/cell/{a.unit.key}/?period=2025-09" in body
    assert "单元网格综合得分" in body
    card = page(
        client, city.people["leader"], f"/evaluation/unit/cell/{a.unit.key}/?period=2025-09"
    )
    assert "综合得分 100.00 A" in card


def test_a_frozen_cell_ranking_keeps_every_cell_and_stores_only_those_with_cases(city, september):
    set_minimum("cell", 1)
    before = get_ranking("2025-09", "cell")
    do_freeze_period("2025-09", acting_user=city.people["leader"], now=at(10, 10, 9))
    set_minimum("cell", 5)
    after = get_ranking("2025-09", "cell")
    assert after.frozen and after.min_cases == 1
    summary = [(u.unit.key, u.score, u.rank, u.ranked, u.volume) for u in before.units]
    assert [(u.unit.key, u.score, u.rank, u.ranked, u.volume) for u in after.units] == summary
    stored = PeriodResult.objects.get(period__key="2025-09", unit_type="cell").data
    counted = {str(c.cell_id) for c in september.values()}
    assert {u["key"] for u in stored["units"]} == counted  # the rest are ids only


def test_ranking_every_cell_takes_a_few_queries_however_many_cells(
    city, september, django_assert_max_num_queries
):
    period = parse_period("2025-09")
    with django_assert_max_num_queries(8):
        r = compute_ranking(period, "cell")
    assert len(r.units) > 50


# --- deductions from other apps ----------------------------------------------------------------


def inspection_deduction(city, points: int, when) -> None:
    """An inspector finds a fire lane blocked in the enforcement department's street."""
    plan = do_create_plan(
        acting_user=city.people["leader"],
        name="消防通道专项督查",
        content="检查消防通道是否被占用",
        method="planned",
        openness="open",
        scope="thematic",
        frequency="weekly",
        area=city.streets[0],
        items=[("消防通道被占用", points)],
        now=when,
    )
    insp = do_schedule_inspection(
        plan,
        acting_user=city.people["leader"],
        inspector=city.people["inspector"],
        on=when.date(),
        now=when,
    )
    do_record_finding(
        insp,
        acting_user=city.people["inspector"],
        description="消防通道堆放杂物",
        lon=SPOT["A"][0],
        lat=SPOT["A"][1],
        department=city.departments["CGZF"],
        checklist_item=plan.items.get(),
        measures="清理杂物",
        deadline=when.date(),
        now=when,
    )


def test_inspection_deductions_come_off_the_score_and_stay_frozen(city, september, client):
    # The seeded department scheme deducts 1 point per inspection point, at most 10.
    seeded = SchemeDeduction.objects.get(scheme__unit_type="department")
    assert (seeded.source, seeded.points_per_unit, seeded.cap) == (
        "inspection_deductions",
        Decimal(1),
        Decimal(10),
    )
    inspection_deduction(city, 3, at(9, 20, 10))
    live = unit(get_ranking("2025-09", "department"), ENFORCEMENT)
    [line] = live.deductions
    assert (line.label, line.value, line.points) == ("督查扣分", Decimal(3), Decimal("3.00"))
    assert live.score == Decimal("61.00")  # 64.00 from the four items (test_september), − 3

    do_freeze_period("2025-09", acting_user=city.people["leader"], now=at(10, 10, 9))
    # A finding dated in September but recorded after the freeze changes nothing.
    inspection_deduction(city, 4, at(9, 25, 10))
    frozen = unit(get_ranking("2025-09", "department"), ENFORCEMENT)
    assert frozen.score == Decimal("61.00") and frozen.deductions[0].value == Decimal(3)
    row = EvaluationPeriod.objects.get(key="2025-09")
    assert FrozenUnitFigure.objects.get(period=row, source="inspection_deductions").value == 3
    recomputed = compute_ranking(parse_period(row.key), "department", source=FrozenSource(row))
    assert unit(recomputed, ENFORCEMENT).score == Decimal("61.00")

    card = page(
        client,
        city.people["leader"],
        f"/evaluation/unit/department/{city.departments['CGZF'].pk}/?period=2025-09",
    )
    assert '<a href="/campaigns/inspections/">督查扣分</a>' in card and "−3.00" in card


def test_a_deduction_is_capped_and_never_takes_the_score_below_zero():
    spec = DeductionSpec("inspection_deductions", "督查扣分", Decimal(2), Decimal(10))
    score, [line] = deduct(Decimal("8.00"), [spec], {"inspection_deductions": Decimal(7)})
    assert (line.points, score) == (Decimal("10.00"), Decimal("0.00"))
    score, [line] = deduct(Decimal("80.00"), [spec], {"inspection_deductions": None})
    assert (line.points, score) == (Decimal("0.00"), Decimal("80.00"))
    assert deduct(None, [spec], {"inspection_deductions": Decimal(1)})[0] is None


def test_a_deduction_needs_a_registered_source_and_a_department_scheme(city):
    area_scheme = Scheme.objects.get(unit_type="area", is_active=True)
    with pytest.raises(ValidationError) as err:
        SchemeDeduction(scheme=area_scheme, source="inspection_deductions").full_clean()
    assert "只能用于专业部门考评方案" in str(err.value)
    department = Scheme.objects.get(unit_type="department", is_active=True)
    with pytest.raises(ValidationError) as err:
        SchemeDeduction(scheme=department, source="no_such_source").full_clean()
    assert "未注册的扣分来源" in str(err.value)
